"""The whole journey over the API alone, as the README's script makes it: each person signs in
for a token; the current quarter is picked with quarters/?current=true (quarters/ lists older,
closed ones first); the rep creates a request with a deal and submits it; the manager escalates
it; the Head of Sales ranks the queue; a product manager estimates; the Head of Product
approves; anyone reads the budget with the reservation; the Head of Sales reads the agenda of
the next meeting from meetings/?when=upcoming.

Only what the API does not offer is set up through the services: the quarter's capacity (the
Head of Product sets it on the budget page) and the weekly meeting series (the admin).
"""

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from budgets.services import quarter_get_or_create
from meetings.models import MeetingSeries
from meetings.services import meetings_schedule

from .conftest import API

pytestmark = pytest.mark.django_db


def signed_in(username):
    client = APIClient()
    response = client.post(
        f"{API}/auth/token/",
        {"username": username, "password": "pw-for-tests-1"},
        format="json",
    )
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client


def ok(response, status=200):
    assert response.status_code == status, response.content[:500]
    return response.json()


def test_the_full_journey_over_the_api(cast, funded):
    rep, mgr, hos, pm, hop = (signed_in(u) for u in ("rep", "mgr", "hos", "pm", "hop"))
    # A quarter from last year, long closed: quarters/ lists it first.
    closed = quarter_get_or_create(funded.fiscal.previous().previous().previous())
    closed.closed_at = timezone.now()
    closed.save(update_fields=["closed_at"])
    assert ok(hos.get(f"{API}/quarters/"))["results"][0]["quarter"] == closed.slug
    # As the README's script does: the quarter today falls in.
    [current] = ok(hos.get(f"{API}/quarters/?current=true"))["results"]
    slug = current["quarter"]
    assert slug == funded.slug and current["current"] and current["state"] == "current"
    close = str(timezone.localdate() + dt.timedelta(days=21))

    # Something already waits in the quarter's queue.
    earlier = ok(
        rep.post(
            f"{API}/requests/",
            {
                "title": "SSO for the admin console",
                "problem": "Security reviews fail without it.",
                "deals": [
                    {"account_name": "Initech", "amount": "40000", "currency": "USD",
                     "expected_close_date": close}
                ],
            },
            format="json",
        ),
        201,
    )  # fmt: skip
    ok(rep.post(f"{API}/requests/{earlier['id']}/submit/"))
    ok(mgr.post(f"{API}/requests/{earlier['id']}/escalate/", {"quarter": slug}, format="json"))

    # 1. The rep creates the request with a deal and submits it.
    created = ok(
        rep.post(
            f"{API}/requests/",
            {
                "title": "Bulk export of invoices",
                "problem": "Finance exports invoices one by one.",
                "importance": "deal_blocker",
                "deals": [
                    {"account_name": "Globex", "amount": "120000", "currency": "USD",
                     "stage": "negotiation", "expected_close_date": close, "crm_ref": "OPP-42"}
                ],
            },
            format="json",
        ),
        201,
    )  # fmt: skip
    fid = created["id"]
    assert created["status"] == "draft"
    assert created["arr_at_stake"] == {"USD": "120000.00"} and created["accounts"] == 1
    submitted = ok(rep.post(f"{API}/requests/{fid}/submit/"))
    assert submitted["status"] == "submitted" and submitted["team"] == "East"

    # 2. The manager finds it in the team inbox and escalates it to this quarter.
    inbox = ok(mgr.get(f"{API}/inbox/"))
    assert [i["id"] for t in inbox["teams"] for i in t["items"]] == [fid]
    escalated = ok(mgr.post(f"{API}/requests/{fid}/escalate/", {"quarter": slug}, format="json"))
    assert escalated["status"] == "escalated" and escalated["quarter"] == slug
    assert escalated["queue_rank"] == 2  # joins at the bottom

    # 3. The Head of Sales ranks it above the earlier one, against the order seen.
    queue = ok(hos.get(f"{API}/queues/{slug}/"))
    assert queue["order"] == [earlier["id"], fid]
    ranked = ok(
        hos.put(
            f"{API}/queues/{slug}/ranking/",
            {"seen": queue["order"], "order": [fid, earlier["id"]]},
            format="json",
        )
    )
    assert ranked["order"] == [fid, earlier["id"]]
    # The same order again is stale now: it is not what the queue holds.
    stale = hos.put(
        f"{API}/queues/{slug}/ranking/",
        {"seen": queue["order"], "order": [fid, earlier["id"]]},
        format="json",
    )
    assert stale.status_code == 409

    # 4. A product manager estimates both; the queue shows the cut line.
    ok(pm.post(f"{API}/requests/{fid}/estimate/", {"estimate": 13}, format="json"))
    ok(pm.post(f"{API}/requests/{earlier['id']}/estimate/", {"estimate": 30}, format="json"))
    queue = ok(pm.get(f"{API}/queues/{slug}/"))
    assert [(i["id"], i["running_total"], i["below_cut_line"]) for i in queue["items"]] == [
        (fid, 13, False),
        (earlier["id"], 43, True),  # 13 + 30 > 40
    ]

    # 5. The Head of Product approves it against the sales budget.
    approved = ok(hop.post(f"{API}/requests/{fid}/approve/"))
    assert approved["status"] == "approved" and approved["funding"] == "sales"
    assert approved["queue_rank"] is None
    # The request below it moves up: shown first everywhere, whatever rank it is stored at.
    assert ok(hos.get(f"{API}/requests/{earlier['id']}/"))["queue_rank"] == 1
    listed = ok(hos.get(f"{API}/requests/?status=escalated&quarter={slug}"))
    assert [(i["id"], i["queue_rank"]) for i in listed["results"]] == [(earlier["id"], 1)]
    queue = ok(hos.get(f"{API}/queues/{slug}/"))
    assert [(i["id"], i["rank"], i["queue_rank"]) for i in queue["items"]] == [
        (earlier["id"], 1, 1)
    ]

    # 6. Anyone signed in reads the budget, with the reservation in the ledger.
    budget = ok(rep.get(f"{API}/quarters/{slug}/"))
    assert (budget["allocated"], budget["reserved"], budget["remaining"]) == (40, 13, 27)
    reserve = budget["ledger"][0]
    assert (reserve["kind"], reserve["points"], reserve["request"], reserve["actor"]) == (
        "reserve",
        13,
        fid,
        "hop",
    )
    assert fid in [i["id"] for i in ok(rep.get(f"{API}/roadmap/"))["results"]]
    # The rest of the queue no longer fits: approving it is refused with the numbers.
    refused = hop.post(f"{API}/requests/{earlier['id']}/approve/")
    assert refused.status_code == 409
    assert (refused.json()["needed"], refused.json()["remaining"]) == (30, 27)

    # 7. The weekly sync: the Head of Sales reads the agenda built from live data.
    meetings_schedule(MeetingSeries.objects.create(time_zone="UTC"))
    upcoming = ok(hos.get(f"{API}/meetings/?when=upcoming"))["results"]
    agenda = ok(hos.get(f"{API}/meetings/{upcoming[0]['id']}/agenda/"))["agenda"]
    assert agenda["budget"]["quarter_slug"] == slug
    assert (agenda["budget"]["reserved"], agenda["budget"]["remaining"]) == (13, 27)
    assert [r["id"] for r in agenda["queue"]["top"]] == [earlier["id"]]
    assert agenda["queue"]["below_line"] == 1
    assert [(d["id"], d["action"]) for d in agenda["decisions"]] == [(fid, "approve")]
    assert {e["id"] for e in agenda["new_escalations"]} == {fid, earlier["id"]}
    assert {d["request"] for d in agenda["deals_closing"]} == {earlier["id"]}

    # The request's history tells the whole story, in order.
    events = ok(rep.get(f"{API}/requests/{fid}/events/"))["results"]
    assert [(e["action"], e["actor"]) for e in events] == [
        ("create", "rep"),
        ("submit", "rep"),
        ("escalate", "mgr"),
        ("rank", "hos"),
        ("estimate", "pm"),
        ("approve", "hop"),
    ]
