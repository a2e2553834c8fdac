"""Demo feature requests for seed_demo: every state issue 3's moves can reach, made through
the same services as the pages, so each has a real timeline."""

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from accounts.models import User

from . import services
from .models import FeatureRequest, ProductTheme

THEMES = [
    ("Enterprise security", "SSO, audit and compliance for regulated customers."),
    ("Platform extensibility", "APIs, webhooks and integrations partners build on."),
    ("Self-serve analytics", "Customers answer their own questions from their data."),
]

# title, problem, importance, theme index or None, account, ARR, currency, stage, days to close
REQUESTS = [
    (
        "SAML single sign-on with Okta",
        "Security review blocks the rollout: every user must sign in through Okta.",
        "deal_blocker",
        0,
        "Northwind Bank",
        180000,
        "USD",
        "negotiation",
        25,
    ),
    (
        "Export reports to Excel",
        "Finance teams re-type our tables into Excel every month.",
        "important",
        None,
        "Globex",
        42000,
        "USD",
        "proposal",
        60,
    ),
    (
        "Audit log export to SIEM",
        "The CISO needs our audit trail in Splunk before signing.",
        "deal_blocker",
        0,
        "Initech",
        95000,
        "USD",
        "negotiation",
        20,
    ),
    (
        "Salesforce two-way sync",
        "Reps update opportunities twice: in Salesforce and in our app.",
        "important",
        1,
        "Umbrella Corp",
        120000,
        "USD",
        "qualified",
        90,
    ),
    (
        "Custom fields on projects",
        "Every team tracks a different set of attributes per project.",
        "important",
        None,
        "Stark Industries",
        60000,
        "EUR",
        "proposal",
        45,
    ),
    (
        "EU data residency",
        "Data must stay in the EU under the customer's DPA.",
        "deal_blocker",
        0,
        "Hooli GmbH",
        210000,
        "EUR",
        "negotiation",
        30,
    ),
    (
        "Bulk user import from CSV",
        "Onboarding 3,000 users one by one takes weeks.",
        "important",
        None,
        "Wayne Enterprises",
        75000,
        "USD",
        "qualified",
        70,
    ),
    (
        "Webhook on status change",
        "Their ops tooling must react when an item changes state.",
        "nice_to_have",
        1,
        "Acme Logistics",
        30000,
        "USD",
        "prospecting",
        120,
    ),
    (
        "Dashboard sharing by link",
        "Executives without accounts need to see the weekly dashboard.",
        "nice_to_have",
        2,
        "Soylent",
        18000,
        "GBP",
        "proposal",
        50,
    ),
    (
        "Scheduled PDF reports",
        "Board packs are assembled by hand from screenshots.",
        "important",
        2,
        "Cyberdyne",
        52000,
        "USD",
        "qualified",
        80,
    ),
    (
        "SCIM user provisioning",
        "IT deprovisions leavers by hand across 40 tools.",
        "deal_blocker",
        0,
        "Massive Dynamic",
        140000,
        "USD",
        "negotiation",
        15,
    ),
    (
        "Read-only API tokens",
        "Their BI tool should read data without write access.",
        "important",
        1,
        "Tyrell",
        40000,
        "USD",
        "proposal",
        40,
    ),
    (
        "Multi-currency invoices",
        "Subsidiaries invoice in CAD and AUD.",
        "important",
        None,
        "Oceanic Air",
        66000,
        "CAD",
        "qualified",
        100,
    ),
    (
        "Two-factor for admins",
        "Their insurer requires MFA for every administrator.",
        "deal_blocker",
        0,
        "Vandelay Industries",
        38000,
        "USD",
        "negotiation",
        10,
    ),
    (
        "Gantt view",
        "Project leads plan in a separate tool because we lack a timeline.",
        "nice_to_have",
        None,
        "Pied Piper",
        25000,
        "USD",
        "prospecting",
        150,
    ),
    (
        "Slack notifications",
        "Teams miss updates that only arrive by email.",
        "nice_to_have",
        1,
        "Dunder Mifflin",
        12000,
        "USD",
        "qualified",
        60,
    ),
    (
        "Field-level permissions",
        "Salary fields must be hidden from most users.",
        "important",
        0,
        "Wonka Industries",
        88000,
        "CHF",
        "proposal",
        55,
    ),
    (
        "Zapier integration",
        "Small teams glue us to 20 other apps.",
        "nice_to_have",
        1,
        "Bluth Company",
        9000,
        "USD",
        "prospecting",
        200,
    ),
    (
        "Offline mobile mode",
        "Field engineers work in basements without signal.",
        "important",
        None,
        "Gringotts",
        70000,
        "GBP",
        "qualified",
        110,
    ),
    (
        "Data retention policies",
        "Legal needs records purged after seven years.",
        "important",
        0,
        "Sirius Cybernetics",
        47000,
        "EUR",
        "proposal",
        65,
    ),
    (
        "Cohort analysis",
        "Product teams want retention by signup month.",
        "nice_to_have",
        2,
        "Aperture Science",
        22000,
        "USD",
        "prospecting",
        130,
    ),
    (
        "Approval workflows",
        "Purchases over a threshold need a manager's sign-off.",
        "important",
        None,
        "Monsters Inc",
        58000,
        "USD",
        "negotiation",
        35,
    ),
    (
        "Custom email domain",
        "Notifications must come from their own domain.",
        "nice_to_have",
        None,
        "Prestige Worldwide",
        15000,
        "USD",
        "qualified",
        75,
    ),
    (
        "IP allow-listing",
        "Access only from the corporate network.",
        "deal_blocker",
        0,
        "Nakatomi Trading",
        99000,
        "JPY",
        "negotiation",
        28,
    ),
    (
        "Excel export of reports",
        "Accountants need pivot-ready exports.",
        "important",
        None,
        "Kramerica",
        20000,
        "USD",
        "proposal",
        45,
    ),
    (
        "Okta SSO for contractors",
        "Contractors sign in through the customer's Okta too.",
        "important",
        0,
        "Virtucon",
        30000,
        "USD",
        "qualified",
        60,
    ),
    (
        "Embedded analytics widgets",
        "They want our charts inside their intranet.",
        "nice_to_have",
        2,
        "Duff Beer",
        27000,
        "USD",
        "prospecting",
        140,
    ),
    (
        "Recurring tasks",
        "Monthly checklists are recreated by hand.",
        "nice_to_have",
        None,
        "Los Pollos",
        8000,
        "USD",
        "qualified",
        90,
    ),
    (
        "Sandbox environment",
        "Changes must be tested before production.",
        "important",
        1,
        "Oscorp",
        64000,
        "USD",
        "proposal",
        50,
    ),
    (
        "Granular export permissions",
        "Only some roles may export data.",
        "important",
        0,
        "Weyland-Yutani",
        72000,
        "USD",
        "negotiation",
        22,
    ),
]

REPS = ["rep.east1", "rep.east2", "rep.east3", "rep.west1", "rep.west2", "rep.west3"]


def seed_requests(current, upcoming):
    if FeatureRequest.objects.exists():
        return 0
    themes = [
        ProductTheme.objects.get_or_create(name=name, defaults={"description": desc})[0]
        for name, desc in THEMES
    ]
    users = {u.username: u for u in User.objects.all()}
    hos, hop, pm = users["hos"], users["hop"], users["pm.nora"]
    today = timezone.localdate()
    made = []
    for i, (title, problem, importance, theme, account, arr, cur, stage, days) in enumerate(
        REQUESTS
    ):
        rep = users[REPS[i % len(REPS)]]
        fr = services.request_create(
            actor=rep,
            data={
                "title": title,
                "problem": problem,
                "importance": importance,
                "theme": themes[theme] if theme is not None else None,
            },
            deals=[
                {
                    "account_name": account,
                    "amount": Decimal(arr),
                    "currency": cur,
                    "stage": stage,
                    "expected_close_date": today + dt.timedelta(days=days),
                    "crm_ref": f"OPP-{1000 + i}",
                }
            ],
        )
        made.append(fr)

    def reload(fr):
        return FeatureRequest.objects.get(pk=fr.pk)

    # 0-3 stay drafts. Everything else is submitted first.
    for fr in made[4:]:
        services.request_submit(fr=fr, actor=fr.author)
    lead = {u.pk: u for u in User.objects.filter(username__in=["mgr.east", "mgr.west"])}

    def manager_of(fr):
        return lead[reload(fr).manager_id]

    # 4-9 stay submitted in the inboxes. 10-11 returned, 12-13 rejected.
    services.request_return(
        fr=made[10],
        actor=manager_of(made[10]),
        reason="Which customers besides this one? Add the other deals.",
    )
    services.request_return(
        fr=made[11],
        actor=manager_of(made[11]),
        reason="Please describe the problem, not the solution.",
    )
    services.request_reject(
        fr=made[12], actor=manager_of(made[12]), reason="Handled by finance's existing export."
    )
    services.request_reject(fr=made[13], actor=hos, reason="Out of scope for our product.")
    # 14-25 escalated: most to this quarter, three to the next.
    for i, fr in enumerate(made[14:26]):
        quarter = upcoming if i >= 9 else current
        actor = hos if i % 3 == 0 else manager_of(fr)
        services.request_escalate(fr=fr, actor=actor, quarter=quarter)
    # The Head of Sales moves the deal-blockers to the top of this quarter's queue.
    ids = services.queue_ids(current.pk)
    blockers = [pk for pk in ids if FeatureRequest.objects.get(pk=pk).importance == "deal_blocker"]
    new_order = blockers + [pk for pk in ids if pk not in blockers]
    services.queue_reorder(actor=hos, quarter=current, seen=ids, order=new_order)
    # 26-27 withdrawn; 28-29 merged into look-alikes.
    services.request_withdraw(
        fr=made[26], actor=made[26].author, reason="Customer chose a partner tool."
    )
    services.request_withdraw(fr=made[27], actor=made[27].author)
    services.request_escalate(fr=made[5], actor=hos, quarter=current)
    services.request_merge(
        fr=made[28], target=made[5], actor=hos, reason="Same need as the custom fields request."
    )
    services.request_merge(
        fr=made[29],
        target=made[16],
        actor=hos,
        reason="Export permissions belong with field-level permissions.",
    )
    # Product estimates the top of this quarter's queue; the Head of Product decides.
    queue = services.queue_ids(current.pk)
    for pk, points in zip(queue, [8, 13, 5, 8, 3, 5, 8], strict=False):
        services.request_estimate(fr=FeatureRequest.objects.get(pk=pk), actor=pm, points=points)
    first, second, third, fourth = (FeatureRequest.objects.get(pk=pk) for pk in queue[:4])
    services.request_approve(fr=first, actor=hop)
    services.request_approve(fr=second, actor=hop)
    services.request_start(fr=reload(first), actor=pm)
    services.request_approve(fr=third, actor=hop, product_funded=True)
    services.request_decline(fr=fourth, actor=hop, reason="Covered by the partner integration.")
    services.request_start(fr=reload(second), actor=pm)
    services.request_ship(fr=reload(second), actor=pm)
    deferred = FeatureRequest.objects.get(pk=services.queue_ids(current.pk)[0])
    services.request_defer(
        fr=deferred,
        actor=hop,
        quarter=services.quarter_for_deferral(upcoming.fiscal.next().slug, deferred),
        reason="Depends on the new permissions model.",
    )
    cancelled = FeatureRequest.objects.get(pk=services.queue_ids(current.pk)[0])
    services.request_approve(fr=cancelled, actor=hop)
    services.request_cancel(
        fr=reload(cancelled), actor=hop, reason="The customer signed without it."
    )
    # Conversation on a few.
    top = reload(made[14])
    services.comment_add(
        fr=top, actor=top.author, body="Northwind's CISO confirmed this is the last blocker."
    )
    services.comment_add(
        fr=top,
        actor=pm,
        body="We can reuse the timeline component from reports; estimate coming this week.",
    )
    services.note_add(fr=top, actor=pm, body="Front-end team has capacity in weeks 3-6.")
    services.comment_add(fr=reload(made[15]), actor=hop, body="Is this for the EU region only?")
    return len(made)
