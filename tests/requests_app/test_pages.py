"""The request pages on their happy paths, and who gets which button."""

import datetime as dt
import re

import pytest
from django.template import Context, Template
from django.utils import timezone

from requests_app import services
from requests_app.models import AuditEvent, Deal, FeatureRequest, ProductTheme, Status

from .conftest import (
    LIFE,
    ROLES,
    STATES,
    domain_allows,
    domain_may_estimate,
    domain_sees,
    reached_product,
    status_of,
)
from .test_bad_input import new_request_post

ROW_LINK = re.compile(r'href="/requests/(\d+)/"')


def listed(response):
    assert response.status_code == 200
    return [int(pk) for pk in ROW_LINK.findall(response.content.decode())]


# --- Create, submit, triage ----------------------------------------------------------------


def test_a_rep_creates_and_submits_a_request_that_lands_in_the_managers_inbox(cast, login):
    response = login(cast.rep).post(
        "/requests/new/", new_request_post(title="Bulk export of invoices")
    )

    fr = FeatureRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/requests/{fr.pk}/"
    assert fr.status == Status.SUBMITTED and fr.author == cast.rep
    assert fr.manager == cast.manager and fr.inbox_rank == 1
    [deal] = fr.deals.all()
    assert (deal.account_name, deal.amount, deal.owner) == ("Globex", 120000, cast.rep)

    inbox = login(cast.manager).get("/inbox/").content.decode()
    assert f'data-id="{fr.pk}"' in inbox and "Bulk export of invoices" in inbox
    assert f'data-id="{fr.pk}"' not in login(cast.other_manager).get("/inbox/").content.decode()


def test_a_rep_saves_a_draft_only_they_see(cast, login):
    response = login(cast.rep).post("/requests/new/", new_request_post("draft"))
    fr = FeatureRequest.objects.get()
    assert response.status_code == 302
    assert fr.status == Status.DRAFT and fr.inbox_rank is None
    assert "only you can see it" in login(cast.rep).get(response["Location"]).content.decode()
    assert login(cast.manager).get(f"/requests/{fr.pk}/").status_code == 404


def untouched_select(html, name):
    """What a browser sends for a select nobody touched: the selected option, else the first."""
    block = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S).group(1)
    selected = re.search(r'<option value="([^"]*)" selected>', block)
    return (selected or re.search(r'<option value="([^"]*)"', block)).group(1)


@pytest.mark.parametrize("button", ["submit", "draft"])
def test_a_request_without_a_deal_is_kept_as_a_draft(cast, login, button):
    client = login(cast.rep)
    page = client.get("/requests/new/").content.decode()
    data = new_request_post(button)
    data.update({k: "" for k in data if k.startswith("deals-0-")})
    for field in ("deals-0-currency", "deals-0-stage"):
        data[field] = untouched_select(page, field)

    response = client.post("/requests/new/", data, follow=True)

    assert response.status_code == 200
    fr = FeatureRequest.objects.get()
    assert fr.status == Status.DRAFT and not fr.deals.exists()
    if button == "submit":
        assert "at least one customer deal" in response.content.decode()


def test_the_new_request_page_offers_the_deal_formset(cast, login):
    html = login(cast.rep).get("/requests/new/").content.decode()
    assert 'name="deals-TOTAL_FORMS"' in html and 'name="deals-0-account_name"' in html


def test_the_manager_escalates_from_the_detail_page(build, cast, login):
    fr = build.make("submitted")
    client = login(cast.manager)
    assert (
        f'<option value="{build.current.pk}"' in client.get(f"/requests/{fr.pk}/").content.decode()
    )

    response = client.post(f"/requests/{fr.pk}/escalate/", {"quarter": build.current.pk})

    assert response.status_code == 302 and response["Location"] == f"/requests/{fr.pk}/"
    fr.refresh_from_db()
    assert fr.status == Status.ESCALATED and fr.target_quarter == build.current
    queue = client.get("/queue/", {"quarter": build.current.slug}).content.decode()
    assert f'data-id="{fr.pk}"' in queue


def test_the_detail_page_shows_the_position_after_others_leave(build, cast, login):
    first, second, third = build.escalated(), build.escalated(), build.escalated()
    inbox = [build.submitted(), build.submitted()]
    services.request_withdraw(fr=first, actor=cast.rep)
    services.request_withdraw(fr=inbox[0], actor=cast.rep)
    client = login(cast.hos)

    assert "rank 2 in the sales queue" in client.get(f"/requests/{third.pk}/").content.decode()
    assert "rank 1 in the sales queue" in client.get(f"/requests/{second.pk}/").content.decode()
    page = client.get(f"/requests/{inbox[1].pk}/").content.decode()
    assert "rank 1 in the team inbox" in page


def test_the_manager_escalates_from_the_inbox_row(build, cast, login):
    fr = build.make("submitted")
    client = login(cast.manager)
    inbox = client.get("/inbox/").content.decode()
    assert f'action="/requests/{fr.pk}/escalate/"' in inbox
    assert f'<option value="{build.next.slug}">' in inbox

    response = client.post(
        f"/requests/{fr.pk}/escalate/", {"quarter": build.next.slug, "next": "/inbox/"}
    )

    assert response.status_code == 302 and response["Location"] == "/inbox/"
    assert f'data-id="{fr.pk}"' not in client.get("/inbox/").content.decode()
    fr.refresh_from_db()
    assert fr.status == Status.ESCALATED and fr.target_quarter == build.next


def test_next_cannot_send_the_user_off_site(build, cast, login):
    fr = build.make("submitted")
    response = login(cast.manager).post(
        f"/requests/{fr.pk}/escalate/",
        {"quarter": build.current.slug, "next": "//evil.example.com/"},
    )
    assert response["Location"] == f"/requests/{fr.pk}/"


def test_a_returned_request_shows_the_reason_on_the_reps_timeline(build, cast, login):
    fr = build.make("submitted")
    response = login(cast.manager).post(
        f"/requests/{fr.pk}/return/", {"reason": "Which customers? Add the second deal."}
    )
    assert response.status_code == 302

    html = login(cast.rep).get(f"/requests/{fr.pk}/").content.decode()
    timeline = html.split('data-testid="timeline"')[1]
    assert "Which customers? Add the second deal." in timeline
    assert "submitted → returned" in timeline
    assert FeatureRequest.objects.get(pk=fr.pk).status == Status.RETURNED


def test_the_merge_choices_show_titles_as_truncatechars_60_would(build, cast, login):
    titles = [
        "Short",
        "x" * 60,
        "Exactly sixty-one characters long, which is one past the cut!",
        'Escape <b>me</b> & "quote" me, and then run on past the sixty character cut',
        "e\u0301" * 59 + "!",  # 119 code points that NFC makes 60 characters: not cut
        "e\u0301" * 61,
    ]
    targets = [build.make("escalated", title=title) for title in titles]
    fr = build.make("escalated")

    html = login(cast.manager).get(f"/requests/{fr.pk}/").content.decode()

    shown = Template("{{ title|truncatechars:60 }}")
    for target in targets:
        title = shown.render(Context({"title": target.title}))
        assert f'<option value="{target.pk}">#{target.pk} {title}</option>' in html
    assert "<b>me</b>" not in html


def test_reject_with_a_reason_from_the_detail_page(build, cast, login):
    fr = build.make("submitted")
    response = login(cast.hos).post(f"/requests/{fr.pk}/reject/", {"reason": "Out of scope"})
    assert response.status_code == 302
    assert FeatureRequest.objects.get(pk=fr.pk).status == Status.REJECTED


def test_merge_from_the_detail_page(build, cast, login):
    target = build.make("escalated")
    fr = build.make("escalated")
    client = login(cast.manager)
    assert f'<option value="{target.pk}">' in client.get(f"/requests/{fr.pk}/").content.decode()

    response = client.post(f"/requests/{fr.pk}/merge/", {"target": target.pk, "reason": "Same"})

    assert response.status_code == 302
    fr.refresh_from_db()
    assert fr.status == Status.MERGED and fr.merged_into == target
    assert (
        f'merged into <a href="/requests/{target.pk}/">'
        in client.get(f"/requests/{fr.pk}/").content.decode()
    )


# --- Deals ---------------------------------------------------------------------------------


def deal_post(**overrides):
    return {
        "deal-account_name": "Initech",
        "deal-amount": "75000",
        "deal-currency": "EUR",
        "deal-stage": "negotiation",
        "deal-expected_close_date": (timezone.localdate() + dt.timedelta(days=20)).isoformat(),
        "deal-crm_ref": "https://crm.example.com/opp/42",
        **overrides,
    }


def test_a_rep_adds_their_deal_to_another_reps_escalated_request(build, cast, login):
    fr = build.make("escalated")
    client = login(cast.outsider)
    assert "Add my deal to this request" in client.get(f"/requests/{fr.pk}/").content.decode()

    response = client.post(f"/requests/{fr.pk}/deals/", deal_post())

    assert response.status_code == 302 and response["Location"] == f"/requests/{fr.pk}/"
    deal = Deal.objects.get(account_name="Initech")
    assert deal.request == fr and deal.owner == cast.outsider and deal.currency == "EUR"
    assert cast.outsider in fr.followers.all()
    assert AuditEvent.objects.filter(request=fr, action="deal_added", actor=cast.outsider).exists()
    html = client.get(f"/requests/{fr.pk}/").content.decode()
    assert 'data-testid="accounts">2<' in html
    assert "EUR 75,000" in html


def test_the_author_adds_a_deal_while_the_request_is_still_theirs(build, cast, login):
    fr = build.make("returned")
    response = login(cast.rep).post(f"/requests/{fr.pk}/deals/", deal_post())
    assert response.status_code == 302
    assert fr.deals.count() == 2


@pytest.mark.parametrize(
    "role, state, status_code",
    [
        ("manager", "escalated", 403),
        ("pm", "escalated", 403),
        ("outsider", "approved", 403),
        ("outsider", "submitted", 404),
        ("manager", "draft", 404),
    ],
)
def test_others_cannot_add_deals(build, login, role, state, status_code):
    fr = build.make(state)
    response = login(build.user(role)).post(f"/requests/{fr.pk}/deals/", deal_post())
    assert response.status_code == status_code
    assert not Deal.objects.filter(account_name="Initech").exists()


# --- Similar titles ------------------------------------------------------------------------


def test_similar_titles_list_visible_matches_only(build, cast, login):
    own = build.make("submitted", title="Salesforce sync for leads")
    escalated = build.make("escalated", title="Salesforce sync for contacts", author=cast.outsider)
    others_draft = build.make("draft", title="Salesforce sync draft", author=cast.outsider)
    own_draft = build.make("draft", title="Salesforce sync of my own draft")
    withdrawn = build.make("withdrawn", title="Salesforce sync withdrawn")
    unrelated = build.make("escalated", title="Excel export")

    def similar(user, title="salesforce SYNC please"):
        response = login(user).get("/requests/similar/", {"title": title})
        assert response.status_code == 200
        return set(listed(response))

    assert similar(cast.rep) == {own.pk, escalated.pk}
    assert similar(cast.pm) == {escalated.pk}
    assert similar(cast.manager) == {own.pk, escalated.pk}
    assert similar(cast.outsider) == {escalated.pk}
    assert similar(cast.admin) == set()
    assert similar(cast.rep, "a an of") == set()  # short words do not match everything
    hidden = {others_draft.pk, own_draft.pk, withdrawn.pk, unrelated.pk}
    assert not similar(cast.hos) & hidden


# --- The list: filters and pages -----------------------------------------------------------


@pytest.fixture
def catalogue(build, cast):
    security = ProductTheme.objects.create(name="Enterprise security")
    return {
        "sso": build.make("escalated", title="SSO", importance="deal_blocker", theme=security),
        "excel": build.make("escalated", title="Excel export", quarter=build.next),
        "west": build.make("escalated", title="West coast need", author=cast.outsider),
        "inbox": build.make("submitted", title="Still in the inbox", importance="nice_to_have"),
        "theme": security,
    }


@pytest.mark.parametrize(
    "params, expected",
    [
        ({}, {"sso", "excel", "west", "inbox"}),
        ({"status": "escalated"}, {"sso", "excel", "west"}),
        ({"status": "submitted"}, {"inbox"}),
        ({"quarter": "{current}"}, {"sso", "west"}),
        ({"quarter": "{next}"}, {"excel"}),
        ({"quarter": "FY1999Q1"}, set()),
        ({"team": "{manager}"}, {"sso", "excel", "inbox"}),
        ({"team": "{other_manager}"}, {"west"}),
        ({"importance": "deal_blocker"}, {"sso"}),
        ({"importance": "nice_to_have"}, {"inbox"}),
        ({"theme": "{theme}"}, {"sso"}),
        ({"theme": "tactical"}, {"excel", "west", "inbox"}),
        ({"q": "excel"}, {"excel"}),
        ({"status": "escalated", "team": "{manager}", "theme": "tactical"}, {"excel"}),
    ],
)
def test_list_filters(build, cast, catalogue, login, params, expected):
    values = {
        "current": build.current.slug,
        "next": build.next.slug,
        "manager": cast.manager.pk,
        "other_manager": cast.other_manager.pk,
        "theme": catalogue["theme"].pk,
    }
    params = {key: str(value).format(**values) for key, value in params.items()}
    assert build.current.slug.startswith("FY") and "Q" in build.current.slug

    shown = set(listed(login(cast.hos).get("/requests/", params)))

    assert shown == {catalogue[name].pk for name in expected}


def test_the_account_filter_matches_deal_accounts(build, cast, login):
    fr = build.make("escalated")
    services.deal_add(fr=fr, actor=cast.outsider, data=_deal("Wayne Enterprises"))
    build.make("escalated")
    assert listed(login(cast.pm).get("/requests/", {"account": "wayne"})) == [fr.pk]


def _deal(account):
    return {
        "account_name": account,
        "amount": 1000,
        "currency": "USD",
        "stage": "qualified",
        "expected_close_date": timezone.localdate() + dt.timedelta(days=5),
        "crm_ref": "",
    }


def test_the_list_shows_25_requests_a_page(build, cast, login):
    made = [build.make("draft") for _ in range(30)]
    client = login(cast.rep)

    first = client.get("/requests/")
    second = client.get("/requests/", {"page": 2})

    assert len(listed(first)) == 25 and len(listed(second)) == 5
    assert set(listed(first)) | set(listed(second)) == {fr.pk for fr in made}
    assert "Page 1 of 2 (30 requests)" in first.content.decode()
    assert "Next →" in first.content.decode() and "← Previous" in second.content.decode()


@pytest.mark.parametrize("number, shown", [("0", 1), ("-2", 1), ("abc", 1), ("99", 2)])
def test_a_page_number_out_of_range_shows_the_nearest_page(build, cast, login, number, shown):
    for _ in range(30):
        build.make("draft")
    html = login(cast.rep).get("/requests/", {"page": number}).content.decode()
    assert f"Page {shown} of 2 (30 requests)" in html


def test_pagination_links_keep_the_filters(build, cast, login):
    for _ in range(26):
        build.make("draft", importance="deal_blocker")
    html = login(cast.rep).get("/requests/", {"importance": "deal_blocker"}).content.decode()
    assert 'href="?importance=deal_blocker&page=2"' in html


# --- Comments, notes, following ------------------------------------------------------------


def test_sales_and_product_comment_and_product_writes_internal_notes(build, cast, login):
    fr = build.make("escalated")

    for user, kind, body in [
        (cast.rep, "comments", "Two more asks"),
        (cast.pm, "comments", "Planned"),
        (cast.pm, "notes", "Needs the new auth"),
    ]:
        response = login(user).post(f"/requests/{fr.pk}/{kind}/", {"body": body})
        assert response.status_code == 302

    rep_page = login(cast.rep).get(f"/requests/{fr.pk}/").content.decode()
    assert "Two more asks" in rep_page and "Planned" in rep_page
    assert "Needs the new auth" not in rep_page
    hop_page = login(cast.hop).get(f"/requests/{fr.pk}/").content.decode()
    assert "Needs the new auth" in hop_page and 'id="note-body"' in hop_page
    assert AuditEvent.objects.filter(request=fr, action="comment").count() == 2


def test_admin_reads_the_roadmap_but_does_not_comment(build, cast, login):
    fr = build.make("shipped")
    client = login(cast.admin)
    html = client.get(f"/requests/{fr.pk}/").content.decode()
    assert 'id="comment-body"' not in html
    assert client.post(f"/requests/{fr.pk}/comments/", {"body": "Hi"}).status_code == 403
    assert not fr.comments.exists()


def test_follow_and_unfollow(build, cast, login):
    fr = build.make("escalated")
    client = login(cast.pm)
    assert cast.pm not in fr.followers.all()

    response = client.post(f"/requests/{fr.pk}/follow/", follow=True)
    assert cast.pm in fr.followers.all()
    assert "Unfollow" in response.content.decode()

    response = client.post(f"/requests/{fr.pk}/follow/", follow=True)
    assert cast.pm not in fr.followers.all()
    assert "You no longer follow it." in response.content.decode()


def test_a_hidden_request_cannot_be_followed(build, cast, login):
    fr = build.make("submitted")
    assert login(cast.pm).post(f"/requests/{fr.pk}/follow/").status_code == 404
    assert cast.pm not in fr.followers.all()


# --- Editing -------------------------------------------------------------------------------


def edit_post(fr, **changes):
    return {
        "title": fr.title,
        "problem": fr.problem,
        "proposed_solution": fr.proposed_solution,
        "importance": fr.importance,
        "theme": fr.theme_id or "",
        **changes,
    }


@pytest.mark.parametrize("state", ["draft", "submitted", "returned"])
def test_the_author_edits_until_escalation(build, cast, login, state):
    fr = build.make(state)
    client = login(cast.rep)
    assert client.get(f"/requests/{fr.pk}/edit/").status_code == 200

    response = client.post(f"/requests/{fr.pk}/edit/", edit_post(fr, title="  Sharper   title "))

    assert response.status_code == 302
    fresh = FeatureRequest.objects.get(pk=fr.pk)
    assert fresh.title == "Sharper title" and fresh.status == fr.status
    assert fresh.inbox_rank == fr.inbox_rank
    event = AuditEvent.objects.get(request=fr, action="edit")
    assert event.old_value == {"title": fr.title} and event.new_value == {"title": "Sharper title"}


@pytest.mark.parametrize(
    "role, state, status_code",
    [
        ("author", "escalated", 403),
        ("author", "rejected", 403),
        ("author", "withdrawn", 403),
        ("author", "approved", 403),
        ("manager", "submitted", 403),
        ("hos", "returned", 403),
        ("pm", "escalated", 403),
        ("outsider", "escalated", 403),
        ("manager", "draft", 404),
        ("pm", "submitted", 404),
    ],
)
def test_nobody_else_edits(build, login, role, state, status_code):
    fr = build.make(state)
    client = login(build.user(role))
    assert client.get(f"/requests/{fr.pk}/edit/").status_code == status_code
    response = client.post(f"/requests/{fr.pk}/edit/", edit_post(fr, title="Hijacked"))
    assert response.status_code == status_code
    assert FeatureRequest.objects.get(pk=fr.pk).title == fr.title


# --- The buttons each role gets ------------------------------------------------------------

MOVE_FORM = re.compile(r'action="/requests/(\d+)/([a-z_]+)/"')


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("state", STATES)
def test_the_detail_page_offers_exactly_the_allowed_moves(build, login, state, role):
    build.make("escalated", title="Something to merge into")
    fr = build.make(state)
    status = status_of(state)
    response = login(build.user(role)).get(f"/requests/{fr.pk}/")

    if not domain_sees(role, status, escalated=reached_product(state)):
        assert response.status_code == 404
        return
    html = response.content.decode()
    forms = MOVE_FORM.findall(html)
    # Every other form on the page posts to a move DOMAIN.md knows, or is no move at all.
    not_moves = {"deals", "comments", "notes", "follow"}
    assert {name for pk, name in forms if int(pk) == fr.pk} - not_moves - set(LIFE) == set()
    offered = {name for pk, name in forms if int(pk) == fr.pk and name in LIFE}
    assert offered == {action for action in LIFE if domain_allows(action, status, role)}
    may_edit = role == "author" and status in {"draft", "submitted", "returned"}
    assert (f'href="/requests/{fr.pk}/edit/"' in html) is may_edit
    estimate_form = f'action="/review/{fr.pk}/estimate/"' in html
    assert estimate_form is domain_may_estimate(role, status)
    if estimate_form:
        # Re-planning work in progress names the points already burned (the change cost).
        assert ('name="burned_points"' in html) is (status == "in_progress")


# --- Product's decisions from the detail page ----------------------------------------------


def test_a_product_manager_estimates_from_the_detail_page(build, cast, login):
    fr = build.make("escalated")
    response = login(cast.pm).post(
        f"/review/{fr.pk}/estimate/", {"estimate": "8", "next": f"/requests/{fr.pk}/"}
    )
    assert response.status_code == 302 and response["Location"] == f"/requests/{fr.pk}/"
    assert FeatureRequest.objects.get(pk=fr.pk).estimate == 8
    assert " · 8 points" in login(cast.rep).get(f"/requests/{fr.pk}/").content.decode()


def test_the_head_of_product_approves_from_the_detail_page(build, cast, funded, login):
    fr = build.make("escalated", estimate=8)
    response = login(cast.hop).post(f"/requests/{fr.pk}/approve/")

    assert response.status_code == 302 and response["Location"] == f"/requests/{fr.pk}/"
    fr.refresh_from_db()
    assert (fr.status, fr.funding, fr.reserved_points) == (Status.APPROVED, "sales", 8)
    funded.budget.refresh_from_db()
    assert funded.budget.remaining == 32
    html = login(cast.rep).get(f"/requests/{fr.pk}/").content.decode()
    assert "sales budget" in html and "not committed" not in html


def test_an_approval_that_does_not_fit_shows_the_shortfall_and_offers_defer(
    build, cast, funded, login
):
    fr = build.make("escalated", estimate=50)
    response = login(cast.hop).post(f"/requests/{fr.pk}/approve/")

    assert response.status_code == 409
    html = response.content.decode()
    panel = html.split('data-testid="shortfall"')[1].split("</div>")[0]
    assert re.findall(r"<strong>(\d+)</strong>", panel) == ["50", "40", "10"]
    assert "<details open><summary>Defer to a later quarter" in html
    assert f'action="/requests/{fr.pk}/approve_product/"' in html
    assert FeatureRequest.objects.get(pk=fr.pk).status == Status.ESCALATED


def test_the_head_of_product_defers_from_the_detail_page(build, cast, funded, login):
    fr = build.make("approved")
    later = funded.fiscal.next().next()
    client = login(cast.hop)
    assert f'<option value="{later.slug}">' in client.get(f"/requests/{fr.pk}/").content.decode()

    response = client.post(
        f"/requests/{fr.pk}/defer/", {"quarter": later.slug, "reason": "After the migration"}
    )

    assert response.status_code == 302
    fr.refresh_from_db()
    assert fr.status == Status.DEFERRED and fr.target_quarter.slug == later.slug
    assert fr.reserved_points == 0
    funded.budget.refresh_from_db()
    assert funded.budget.reserved == 0


def test_a_product_manager_starts_and_ships_from_the_detail_page(build, cast, login):
    fr = build.make("approved")
    client = login(cast.pm)
    assert client.post(f"/requests/{fr.pk}/start/").status_code == 302
    assert FeatureRequest.objects.get(pk=fr.pk).status == Status.IN_PROGRESS
    assert client.post(f"/requests/{fr.pk}/ship/").status_code == 302
    fr.refresh_from_db()
    assert fr.status == Status.SHIPPED and fr.shipped_at is not None
    assert f'href="/requests/{fr.pk}/"' in client.get("/roadmap/").content.decode()


def test_cancelling_work_in_progress_asks_for_the_unstarted_points(build, cast, funded, login):
    fr = build.make("in_progress", estimate=8)
    client = login(cast.hop)
    assert 'name="unstarted_points"' in client.get(f"/requests/{fr.pk}/").content.decode()

    response = client.post(
        f"/requests/{fr.pk}/cancel/", {"reason": "Customer churned", "unstarted_points": "5"}
    )

    assert response.status_code == 302
    fr.refresh_from_db()
    assert fr.status == Status.CANCELLED and fr.reserved_points == 0
    funded.budget.refresh_from_db()
    # 5 unstarted points come back; the 3 already burned stay spent as the change cost.
    assert funded.budget.reserved == 3
    assert list(fr.ledger_entries.order_by("pk").values_list("kind", "points")) == [
        ("reserve", 8),
        ("release", 5),
        ("change_cost", 3),
    ]
