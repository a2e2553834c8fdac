"""The weekly sync in the browser (issue 5): the Head of Product opens this week's meeting,
approves a request from the agenda, adds an action item, and the minutes show both."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from budgets.fiscal import FiscalQuarter
from budgets.models import LedgerEntry
from budgets.services import budget_set_capacity
from meetings.models import ActionItem, Decision, MeetingSeries
from meetings.services import meetings_schedule
from requests_app.models import Funding, Status
from tests.requests_app.conftest import Builder

PASSWORD = "pw-for-tests-1"  # what tests/conftest.py's make_user sets

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/")


@pytest.fixture
def this_weeks_meeting(cast):
    """The weekly sync, tomorrow at 10:00 in the site's time zone, planned four weeks ahead
    by the scheduler; this week's meeting is the first of them."""
    tz = timezone.get_current_timezone()
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    series = MeetingSeries.objects.create(
        weekday=tomorrow.weekday(), start_time=dt.time(10, 0), time_zone=str(tz)
    )
    meetings = meetings_schedule(series)
    assert len(meetings) == 4
    meeting = meetings[0]
    assert meeting.local_start.date() == tomorrow
    return meeting


def test_the_head_of_product_decides_in_the_weekly_sync(
    page, live_server, cast, quarters, this_weeks_meeting
):
    meeting = this_weeks_meeting
    # The agenda shows the quarter the meeting falls in (the next one, on a quarter's last day).
    fq = FiscalQuarter.containing(meeting.local_start.date())
    quarter = next(q for q in quarters if q.fiscal == fq)
    budget_set_capacity(quarter=quarter, capacity=400, actor=cast.hop)  # 40 sales points
    build = Builder(cast, quarters)
    fits = build.make("escalated", quarter=quarter, estimate=8, title="Audit log export")
    too_big = build.make("escalated", quarter=quarter, estimate=35, title="Offline mode")

    sign_in(page, live_server, "hop")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Meetings").click()
    expect(page).to_have_url(f"{live_server.url}/meetings/")
    upcoming = page.get_by_test_id("upcoming-meetings").get_by_role("link")
    expect(upcoming).to_have_count(4)
    upcoming.first.click()
    expect(page).to_have_url(f"{live_server.url}/meetings/{meeting.pk}/")

    # The agenda, from live data: the budget and both requests, the second below the line.
    expect(page.get_by_test_id("agenda-budget")).to_contain_text(
        "Allocated 40 · reserved 0 · remaining 40 points."
    )
    agenda = page.get_by_test_id("agenda")
    expect(agenda).to_contain_text("2 escalated, 0 awaiting an estimate, 1 below the cut line")
    expect(agenda.locator("tr.cut-line")).to_have_count(1)
    minutes = page.get_by_test_id("minutes")
    expect(page.get_by_test_id("minutes-decisions")).to_have_text("None yet.")
    expect(page.get_by_test_id("minutes-actions")).to_have_text("None yet.")

    # --- Approve the request that fits, right from the agenda. ---
    page.get_by_test_id(f"meeting-approve-{fits.pk}").click()
    expect(page.get_by_role("status")).to_contain_text("Decision recorded in the minutes.")
    expect(page).to_have_url(f"{live_server.url}/meetings/{meeting.pk}/")
    decisions = page.get_by_test_id("minutes-decisions").locator("li")
    expect(decisions).to_have_count(1)
    expect(decisions.first).to_contain_text(
        f"#{fits.pk} Audit log export: Approved (8 points from {quarter.label})"
    )
    expect(decisions.first).to_contain_text(str(cast.hop))
    # The agenda follows: reserved 8, the approved request left the queue.
    expect(page.get_by_test_id("agenda-budget")).to_contain_text(
        "Allocated 40 · reserved 8 · remaining 32 points."
    )
    expect(page.get_by_test_id(f"meeting-approve-{fits.pk}")).to_have_count(0)
    expect(page.get_by_test_id(f"meeting-approve-{too_big.pk}")).to_have_count(1)

    fits.refresh_from_db()
    assert (fits.status, fits.funding, fits.reserved_points) == (
        Status.APPROVED,
        Funding.SALES,
        8,
    )
    assert LedgerEntry.objects.filter(
        request=fits, kind=LedgerEntry.Kind.RESERVE, points=8, actor=cast.hop
    ).exists()
    decision = Decision.objects.get(meeting=meeting)
    assert (decision.request_id, decision.action, decision.actor) == (fits.pk, "approve", cast.hop)

    # --- Add an action item: an owner and a due date. ---
    due = meeting.local_start.date() + dt.timedelta(days=7)
    minutes.get_by_text("Add an action item").click()
    minutes.get_by_label("Title").fill("Ask Globex for their security questionnaire")
    minutes.get_by_label("Owner").select_option(label=str(cast.hos))
    minutes.get_by_label("Due date").fill(due.isoformat())
    minutes.get_by_role("button", name="Add").click()

    expect(page.get_by_role("status")).to_contain_text("Action item added.")
    actions = page.get_by_test_id("minutes-actions").locator("li")
    expect(actions).to_have_count(1)
    expect(actions.first).to_contain_text("Ask Globex for their security questionnaire")
    expect(actions.first).to_contain_text(re.compile(rf"{cast.hos}, due {due.day} {due:%b}"))
    # The decision is still in the minutes next to it.
    expect(decisions).to_have_count(1)
    expect(decisions.first).to_contain_text(f"#{fits.pk} Audit log export: Approved")
    # And the agenda lists it among the open action items.
    expect(agenda).to_contain_text(f"Ask Globex for their security questionnaire: {cast.hos}")

    item = ActionItem.objects.get(meeting=meeting)
    assert (item.title, item.owner, item.due_date, item.created_by, item.done_at) == (
        "Ask Globex for their security questionnaire",
        cast.hos,
        due,
        cast.hop,
        None,
    )

    # Reloading shows the same minutes: they are stored, not just flashed.
    page.reload()
    expect(page.get_by_test_id("minutes-decisions").locator("li")).to_have_count(1)
    expect(page.get_by_test_id("minutes-actions")).to_contain_text(
        "Ask Globex for their security questionnaire"
    )
