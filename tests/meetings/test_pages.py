"""/meetings/ and /meetings/<id>/: who sees them, the Head of Product deciding from the agenda
(recorded in the minutes, through the review queue's services), and action items."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts.models import User
from budgets.models import Budget, LedgerEntry
from budgets.services import quarter_current
from meetings.models import ActionItem, Decision, Meeting
from meetings.services import build_agenda
from requests_app import services as rs
from requests_app.models import AuditEvent, FeatureRequest, Funding, Status

from .conftest import fund, make_meeting, open_and_done_items, quarter_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def meeting(series):
    return make_meeting(series, timezone.now() + dt.timedelta(days=2))


@pytest.fixture
def past(series):
    return make_meeting(series, timezone.now() - dt.timedelta(days=5))


@pytest.fixture
def budget(cast, meeting):
    """The meeting's quarter with a budget of 40 points."""
    return fund(cast, quarter_of(meeting), 400)


def as_user(client, user):
    client.force_login(user)
    return client


# --- Who sees the meetings ------------------------------------------------------------------


@pytest.mark.parametrize("who", ["hos", "hop", "pm"])
def test_heads_and_extra_attendees_see_list_and_page(client, cast, meeting, past, who):
    c = as_user(client, getattr(cast, who))
    listing = c.get("/meetings/")
    assert listing.status_code == 200
    assert f"/meetings/{meeting.pk}/" in listing.content.decode()
    assert f"/meetings/{past.pk}/" in listing.content.decode()
    page = c.get(f"/meetings/{meeting.pk}/")
    assert page.status_code == 200
    assert page.context["agenda"]["budget"]["quarter"] == quarter_of(meeting).label
    assert c.get(f"/meetings/{past.pk}/").status_code == 200


@pytest.mark.parametrize("who", ["manager", "other_manager", "rep", "outsider"])
def test_sales_people_not_attending_get_404(client, cast, meeting, who):
    c = as_user(client, getattr(cast, who))
    listing = c.get("/meetings/")
    assert listing.status_code == 200
    assert f"/meetings/{meeting.pk}/" not in listing.content.decode()
    assert c.get(f"/meetings/{meeting.pk}/").status_code == 404


def test_product_manager_not_attending_gets_404(client, cast, series, meeting):
    series.extra_attendees.clear()
    c = as_user(client, cast.pm)
    assert c.get(f"/meetings/{meeting.pk}/").status_code == 404
    assert f"/meetings/{meeting.pk}/" not in c.get("/meetings/").content.decode()


def test_missing_meeting_is_404(client, cast, meeting):
    assert as_user(client, cast.hop).get(f"/meetings/{meeting.pk + 100}/").status_code == 404


def test_anonymous_is_sent_to_login(client, meeting):
    response = client.get(f"/meetings/{meeting.pk}/")
    assert response.status_code == 302
    assert "/login" in response["Location"]


def test_decide_buttons_only_for_the_head_of_product(client, cast, meeting, budget, reqs):
    fr = reqs.escalated(budget.quarter, estimate=5)
    marker = f'data-testid="meeting-approve-{fr.pk}"'
    assert marker in as_user(client, cast.hop).get(f"/meetings/{meeting.pk}/").content.decode()
    for who in ("hos", "pm"):
        page = as_user(client, getattr(cast, who)).get(f"/meetings/{meeting.pk}/")
        assert marker not in page.content.decode()


# --- Deciding from the meeting ---------------------------------------------------------------


def decide(client, meeting, fr, **data):
    return client.post(f"/meetings/{meeting.pk}/decide/{fr.pk}/", data)


def test_approve_from_the_meeting(client, cast, meeting, budget, reqs):
    fr = reqs.escalated(budget.quarter, estimate=15)
    response = decide(as_user(client, cast.hop), meeting, fr, action="approve")
    assert response.status_code == 302
    fr.refresh_from_db()
    assert (fr.status, fr.funding, fr.reserved_points, fr.queue_rank) == (
        Status.APPROVED,
        Funding.SALES,
        15,
        None,
    )
    # The review queue's own service: its audit event and its ledger reservation.
    event = AuditEvent.objects.filter(request=fr).latest("created_at")
    assert (event.action, event.actor, event.from_status, event.to_status) == (
        "approve",
        cast.hop,
        "escalated",
        "approved",
    )
    entry = LedgerEntry.objects.filter(request=fr).get()
    assert (entry.kind, entry.points, entry.actor) == (LedgerEntry.Kind.RESERVE, 15, cast.hop)
    assert Budget.objects.get(pk=budget.pk).reserved == 15
    # ...and a line in the minutes.
    decision = Decision.objects.get(meeting=meeting)
    assert (decision.request, decision.action, decision.actor) == (fr, "approve", cast.hop)
    assert "15 points" in decision.summary
    page = client.get(f"/meetings/{meeting.pk}/").content.decode()
    assert decision.summary in page


def test_a_meeting_that_is_over_takes_no_decisions(client, cast, past, reqs):
    fr = reqs.escalated(quarter_current(), estimate=5)

    response = decide(as_user(client, cast.hop), past, fr, action="decline", reason="Too late")

    assert response.status_code == 409
    assert "This meeting is over" in response.content.decode()
    fr.refresh_from_db()
    assert fr.status == Status.ESCALATED
    assert not Decision.objects.exists()


def test_approve_as_product_funded_from_the_meeting(client, cast, meeting, budget, reqs):
    fr = reqs.escalated(budget.quarter, estimate=80)
    response = decide(as_user(client, cast.hop), meeting, fr, action="approve_product")
    assert response.status_code == 302
    fr.refresh_from_db()
    assert (fr.status, fr.funding, fr.reserved_points) == (Status.APPROVED, Funding.PRODUCT, 0)
    assert not LedgerEntry.objects.filter(request=fr).exists()
    assert Decision.objects.get(meeting=meeting).action == "approve_product"


def test_defer_from_the_meeting(client, cast, meeting, budget, reqs):
    fr = reqs.escalated(budget.quarter, estimate=5)
    later = budget.quarter.fiscal.next()
    response = decide(
        as_user(client, cast.hop),
        meeting,
        fr,
        action="defer",
        quarter=later.slug,
        reason="After the platform work",
    )
    assert response.status_code == 302
    fr.refresh_from_db()
    assert fr.status == Status.DEFERRED
    assert fr.target_quarter.label == later.label
    event = AuditEvent.objects.filter(request=fr, action="defer").get()
    assert event.reason == "After the platform work"
    decision = Decision.objects.get(meeting=meeting)
    assert decision.action == "defer"
    assert later.label in decision.summary and "After the platform work" in decision.summary


def test_decline_from_the_meeting(client, cast, meeting, budget, reqs):
    fr = reqs.escalated(budget.quarter)
    response = decide(as_user(client, cast.hop), meeting, fr, action="decline", reason="No")
    assert response.status_code == 302
    fr.refresh_from_db()
    assert fr.status == Status.DECLINED
    assert AuditEvent.objects.filter(request=fr, action="decline", reason="No").exists()
    assert Decision.objects.get(meeting=meeting).action == "decline"


def snapshot(fr):
    fr = FeatureRequest.objects.get(pk=fr.pk)
    return (
        fr.status,
        fr.queue_rank,
        fr.reserved_points,
        fr.target_quarter_id,
        Decision.objects.count(),
        AuditEvent.objects.count(),
        LedgerEntry.objects.count(),
        Budget.objects.get(quarter_id=fr.target_quarter_id).reserved,
    )


def test_approval_that_does_not_fit_shows_the_shortfall_and_records_nothing(
    client, cast, meeting, budget, reqs
):
    reqs.approved(budget.quarter, 30)
    fr = reqs.escalated(budget.quarter, estimate=25)
    before = snapshot(fr)
    response = decide(as_user(client, cast.hop), meeting, fr, action="approve")
    assert response.status_code == 409
    page = response.content.decode()
    assert "10 points remaining" in page and "needs 25" in page and "short by 15" in page
    assert snapshot(fr) == before
    assert not Decision.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {"action": "decline", "reason": "  "},
        {"action": "defer", "reason": "Later", "quarter": ""},
        {"action": "defer", "reason": "Later", "quarter": "FY1999Q1"},
        {"action": "defer", "reason": "", "quarter": "NEXT"},
        {"action": "cancel", "reason": "x"},
        {"action": "start"},
        {"action": ""},
    ],
)
def test_bad_decisions_are_refused_and_record_nothing(client, cast, meeting, budget, reqs, data):
    fr = reqs.escalated(budget.quarter, estimate=5)
    if data.get("quarter") == "NEXT":
        data = {**data, "quarter": budget.quarter.fiscal.next().slug}
    before = snapshot(fr)
    response = decide(as_user(client, cast.hop), meeting, fr, **data)
    assert response.status_code == 400
    assert snapshot(fr) == before


def test_deciding_twice_is_refused(client, cast, meeting, budget, reqs):
    fr = reqs.escalated(budget.quarter, estimate=5)
    c = as_user(client, cast.hop)
    assert decide(c, meeting, fr, action="approve").status_code == 302
    before = snapshot(fr)
    response = decide(c, meeting, fr, action="decline", reason="Changed my mind")
    assert response.status_code == 409
    assert "approved" in response.content.decode()
    assert snapshot(fr) == before


@pytest.mark.parametrize("who", ["hos", "pm"])
def test_attendees_other_than_the_head_of_product_get_403_on_decide(
    client, cast, meeting, budget, reqs, who
):
    fr = reqs.escalated(budget.quarter, estimate=5)
    before = snapshot(fr)
    for data in (
        {"action": "approve"},
        {"action": "decline", "reason": "No"},
        {"action": "defer", "reason": "Later", "quarter": budget.quarter.fiscal.next().slug},
    ):
        assert decide(as_user(client, getattr(cast, who)), meeting, fr, **data).status_code == 403
    assert snapshot(fr) == before


@pytest.mark.parametrize("who", ["manager", "rep"])
def test_non_attendees_get_404_on_decide(client, cast, meeting, budget, reqs, who):
    fr = reqs.escalated(budget.quarter, estimate=5)
    before = snapshot(fr)
    c = as_user(client, getattr(cast, who))
    assert decide(c, meeting, fr, action="approve").status_code == 404
    assert snapshot(fr) == before


def test_decide_on_a_request_product_cannot_see_is_404(client, cast, meeting, budget, reqs):
    draft = rs.request_create(actor=cast.rep, data={"title": "Secret", "problem": "p"}, deals=[])
    response = decide(as_user(client, cast.hop), meeting, draft, action="approve")
    assert response.status_code == 404
    assert not Decision.objects.exists()


def test_decide_needs_post(client, cast, meeting, budget, reqs):
    fr = reqs.escalated(budget.quarter, estimate=5)
    response = as_user(client, cast.hop).get(f"/meetings/{meeting.pk}/decide/{fr.pk}/")
    assert response.status_code == 405


# --- Action items ----------------------------------------------------------------------------


def add_item(client, meeting, **data):
    return client.post(f"/meetings/{meeting.pk}/actions/", data)


def item_data(owner, **extra):
    return {
        "title": "Send Acme the roadmap",
        "owner": owner.pk,
        "due_date": (timezone.localdate() + dt.timedelta(days=7)).isoformat(),
        **extra,
    }


@pytest.mark.parametrize("who", ["hos", "hop", "pm"])
def test_attendees_add_action_items(client, cast, meeting, who):
    actor = getattr(cast, who)
    response = add_item(as_user(client, actor), meeting, **item_data(cast.hos))
    assert response.status_code == 302
    item = ActionItem.objects.get(meeting=meeting)
    assert (item.title, item.owner, item.created_by, item.done_at) == (
        "Send Acme the roadmap",
        cast.hos,
        actor,
        None,
    )
    assert item.due_date == timezone.localdate() + dt.timedelta(days=7)
    page = client.get(f"/meetings/{meeting.pk}/").content.decode()
    assert "Send Acme the roadmap" in page


@pytest.mark.parametrize(
    "change",
    [
        {"title": ""},
        {"title": "   "},
        {"owner": ""},
        {"owner": "999999"},
        {"due_date": ""},
        {"due_date": "31/02/2027"},
        {"due_date": "2001-01-01"},
        {"title": "x" * 301},
    ],
)
def test_bad_action_items_are_400_and_add_nothing(client, cast, meeting, change):
    data = {**item_data(cast.hos), **change}
    response = add_item(as_user(client, cast.hop), meeting, **data)
    assert response.status_code == 400
    assert not ActionItem.objects.exists()


def test_inactive_owner_is_refused(client, cast, meeting):
    cast.rep.is_active = False
    cast.rep.save()
    response = add_item(as_user(client, cast.hop), meeting, **item_data(cast.rep))
    assert response.status_code == 400
    assert not ActionItem.objects.exists()


@pytest.mark.parametrize("who", ["manager", "rep"])
def test_non_attendees_cannot_add_action_items(client, cast, meeting, who):
    response = add_item(as_user(client, getattr(cast, who)), meeting, **item_data(cast.hos))
    assert response.status_code == 404
    assert not ActionItem.objects.exists()


@pytest.fixture
def item(cast, meeting, series):
    """An action item owned by the product manager; the sales manager also attends."""
    series.extra_attendees.add(cast.manager)
    return ActionItem.objects.create(
        meeting=meeting,
        title="Estimate the SSO request",
        owner=cast.pm,
        due_date=timezone.localdate() + dt.timedelta(days=3),
        created_by=cast.hop,
    )


def toggle(client, meeting, item):
    return client.post(f"/meetings/{meeting.pk}/actions/{item.pk}/toggle/")


@pytest.mark.parametrize("who", ["pm", "hos", "hop"])
def test_owner_or_heads_toggle_done(client, cast, meeting, item, who):
    c = as_user(client, getattr(cast, who))
    assert toggle(c, meeting, item).status_code == 302
    item.refresh_from_db()
    assert item.done_at is not None
    assert toggle(c, meeting, item).status_code == 302
    item.refresh_from_db()
    assert item.done_at is None


def test_other_attendee_gets_403_on_toggle(client, cast, meeting, item):
    assert toggle(as_user(client, cast.manager), meeting, item).status_code == 403
    item.refresh_from_db()
    assert item.done_at is None


@pytest.mark.parametrize("who", ["other_manager", "rep"])
def test_non_attendee_gets_404_on_toggle(client, cast, meeting, item, who):
    assert toggle(as_user(client, getattr(cast, who)), meeting, item).status_code == 404
    item.refresh_from_db()
    assert item.done_at is None


def test_done_items_leave_the_agenda(client, cast, meeting, item):
    c = as_user(client, cast.pm)
    assert [
        a["title"] for a in c.get(f"/meetings/{meeting.pk}/").context["agenda"]["action_items"]
    ] == [item.title]
    toggle(c, meeting, item)
    assert c.get(f"/meetings/{meeting.pk}/").context["agenda"]["action_items"] == []


def test_page_shows_attendees_both_lists_of_action_items_and_every_active_owner(
    client, cast, meeting, past
):
    cast.rep.is_active = False
    cast.rep.save()
    open_and_done_items(cast, meeting, past)
    page = as_user(client, cast.hop).get(f"/meetings/{meeting.pk}/")
    html = page.content.decode()

    # The heads and the extra attendee, the Head of Sales first.
    attendees = page.context["attendees"]
    assert attendees[0] == cast.hos and set(attendees) == {cast.hos, cast.hop, cast.pm}
    assert "attendees: " + ", ".join(str(u) for u in attendees) in html
    # The minutes: this meeting's items, done ones struck through; the agenda: the series'
    # open items, from earlier meetings too.
    assert [a.title for a in page.context["action_items"]] == [
        a.title for a in meeting.action_items.all()
    ]
    assert "<s>Done here</s>" in html and "Done before" not in html
    assert [a["title"] for a in page.context["agenda"]["action_items"]] == [
        "Open here",
        "Open before",
    ]
    # An action item may go to any active user, attending or not; not to a deactivated one.
    select = re.search(r'<select name="owner"[^>]*>(.*?)</select>', html, re.S).group(1)
    offered = [int(pk) for pk in re.findall(r'<option value="(\d+)"', select)]
    assert offered == [u.pk for u in User.objects.filter(is_active=True)]
    assert cast.manager.pk in offered and cast.rep.pk not in offered


@pytest.mark.parametrize("site_zone", ["UTC", "America/New_York"])
def test_pages_show_the_local_time_of_the_series(client, cast, series, settings, site_zone):
    """A 09:00 Berlin meeting reads 09:00 on the list and the meeting page."""
    settings.TIME_ZONE = site_zone
    starts = dt.datetime.combine(
        timezone.localdate() + dt.timedelta(days=3),
        dt.time(9, 0),
        tzinfo=ZoneInfo(series.time_zone),
    )
    m = make_meeting(series, starts)
    c = as_user(client, cast.hop)
    when = f"{starts:%A %-d %B %Y}, 09:00"
    assert when in c.get("/meetings/").content.decode()
    assert f"{when} (Europe/Berlin)" in c.get(f"/meetings/{m.pk}/").content.decode()


# --- Which agenda the page shows ------------------------------------------------------------


def stored_agenda(meeting):
    """What the digest stored, recognisable by its budget line."""
    agenda = build_agenda(meeting)
    agenda["budget"]["quarter"] = "As emailed"
    Meeting.objects.filter(pk=meeting.pk).update(agenda_sent=agenda)
    return agenda


def test_a_meeting_that_is_over_shows_the_agenda_as_it_was_emailed(client, cast, past):
    stored = stored_agenda(past)
    page = as_user(client, cast.hop).get(f"/meetings/{past.pk}/")
    assert page.context["agenda"] == stored and page.context["agenda_is_snapshot"]
    html = page.content.decode()
    assert "The agenda as it was emailed" in html and "Budget As emailed" in html


def test_an_upcoming_meeting_shows_the_live_agenda_though_its_digest_went_out(
    client, cast, meeting
):
    stored_agenda(meeting)
    page = as_user(client, cast.hop).get(f"/meetings/{meeting.pk}/")
    assert page.context["agenda"]["budget"]["quarter"] == quarter_of(meeting).label
    assert not page.context["agenda_is_snapshot"]
    assert "As emailed" not in page.content.decode()


@pytest.mark.parametrize("sent", [None, {}])
def test_a_meeting_over_without_a_stored_agenda_shows_the_live_one(client, cast, past, sent):
    Meeting.objects.filter(pk=past.pk).update(agenda_sent=sent)
    page = as_user(client, cast.hop).get(f"/meetings/{past.pk}/")
    assert page.context["agenda"]["budget"]["quarter"] == quarter_of(past).label
    assert not page.context["agenda_is_snapshot"]
    assert "The agenda as it was emailed" not in page.content.decode()
