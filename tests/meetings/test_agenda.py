"""build_agenda: every number on the agenda equals what the database says, recomputed here
from the ledger, the queue, the audit trail and the deals; and building it costs the same
number of queries with 10 requests in the quarter as with 500."""

import datetime as dt
import time
from decimal import Decimal
from itertools import cycle
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from budgets.fiscal import FiscalQuarter
from budgets.services import budget_record_change_cost, budget_reserve, quarter_get_or_create
from meetings.models import ActionItem
from meetings.services import build_agenda
from requests_app import services as rs
from requests_app.models import AuditEvent, Deal, FeatureRequest, Funding, Status

from ..query_counts import assert_flat, page_queries
from .conftest import (
    BERLIN,
    agenda_numbers,
    expected_numbers,
    fund,
    make_meeting,
    open_and_done_items,
    quarter_of,
)

pytestmark = pytest.mark.django_db


def tick():
    """Let the clock move on, so what happens next is strictly after what came before."""
    time.sleep(0.002)


def test_agenda_numbers_match_the_database(cast, series, reqs):
    hop, pm = cast.hop, cast.pm
    meeting = make_meeting(series, timezone.now() + dt.timedelta(days=2))
    quarter = quarter_of(meeting)
    later = quarter_get_or_create(quarter.fiscal.next())
    fund(cast, quarter, 600)  # 60 points

    # Before last week's meeting.
    r1 = reqs.approved(quarter, 8)
    r2 = reqs.approved(quarter, 5)
    r_old = reqs.escalated(quarter, estimate=10)
    tick()
    previous = make_meeting(series, timezone.now())
    done = ActionItem.objects.create(
        meeting=previous,
        title="Done already",
        owner=hop,
        due_date=timezone.localdate(),
        created_by=hop,
        done_at=timezone.now(),
    )
    ActionItem.objects.create(
        meeting=previous,
        title="Call Acme",
        owner=cast.hos,
        due_date=timezone.localdate() - dt.timedelta(days=1),
        created_by=hop,
    )
    tick()

    # Since then.
    r3 = reqs.escalated(quarter, estimate=12, closes_in=10)
    r4 = reqs.escalated(quarter, closes_in=45)  # unestimated
    r5 = reqs.escalated(quarter, estimate=30, closes_in=-1)  # closed yesterday: not listed
    r6 = reqs.escalated(quarter, estimate=3, closes_in=30)
    rs.request_start(fr=r1, actor=pm)
    rs.request_estimate(fr=r1, actor=hop, points=10, burned_points=4, reason="Scope grew")
    rs.request_estimate(fr=r2, actor=pm, points=7)
    r7 = reqs.approved(quarter, 4, closes_in=5)  # decided: its deal is not listed
    r8 = reqs.declined(quarter, closes_in=3)
    r9 = reqs.deferred(quarter, later, closes_in=20)
    ActionItem.objects.create(
        meeting=meeting,
        title="Estimate #4",
        owner=pm,
        due_date=timezone.localdate() + dt.timedelta(days=3),
        created_by=hop,
    )

    agenda = build_agenda(meeting)
    got = agenda_numbers(agenda)
    assert got == expected_numbers(meeting, since=previous.starts_at)

    # The same numbers, spelt out for this data set (a check on the recomputation above).
    assert got["quarter"] == quarter.label
    assert (got["allocated"], got["reserved"], got["remaining"]) == (60, 21, 39)
    assert got["reserved_change"] == 8  # +2 and +2 re-estimated, +4 approved
    assert got["queue_top"] == [r_old.pk, r3.pk, r4.pk, r5.pk, r6.pk]
    # 10, 22, (unestimated), 52 > 39: the cut line falls above r5.
    assert (got["size"], got["unestimated"], got["below_line"]) == (5, 1, 2)
    top = {r["id"]: r for r in agenda["queue"]["top"]}
    assert [top[r.pk]["first_below"] for r in (r_old, r3, r4, r5, r6)] == [
        False,
        False,
        False,
        True,
        False,
    ]
    assert top[r4.pk]["unestimated"] and top[r4.pk]["running_total"] is None
    assert got["new_escalations"] == sorted(r.pk for r in (r3, r4, r5, r6, r7, r8, r9))
    assert got["decisions"] == sorted([r7.pk, r8.pk, r9.pk])
    assert got["changes"] == [2, 2, 4]
    assert got["change_cost"] == 4
    accounts = {r.pk: r.deals.get().account_name for r in (r3, r6, r9)}
    assert got["deals_closing"] == sorted(accounts.values())
    assert got["action_items"] == ["Call Acme", "Estimate #4"]
    assert done.title not in got["action_items"]
    overdue = {a["title"]: a["overdue"] for a in agenda["action_items"]}
    assert overdue == {"Call Acme": True, "Estimate #4": False}


def test_first_meeting_looks_back_one_week(cast, series, reqs, funded):
    """With no previous meeting, 'since' is a week before the meeting."""
    meeting = make_meeting(series, timezone.now() + dt.timedelta(days=2))
    quarter = quarter_of(meeting)
    if quarter.pk != funded.pk:
        fund(cast, quarter, 400)
    fr = reqs.approved(quarter, 6)
    since = meeting.starts_at - dt.timedelta(days=7)
    got = agenda_numbers(build_agenda(meeting))
    assert got == expected_numbers(meeting, since=since)
    assert got["reserved_change"] == 6
    assert fr.pk in got["decisions"] and fr.pk in got["new_escalations"]


def test_budget_is_the_quarter_containing_the_meeting(cast, series, reqs, quarters):
    current, upcoming = quarters
    fund(cast, current, 400)
    fund(cast, upcoming, 1000)
    reqs.approved(current, 7)
    in_next = reqs.approved(upcoming, 9)
    queued = reqs.escalated(upcoming, estimate=3)
    reqs.escalated(current, estimate=2)
    # 09:00 Berlin on the second day of the next quarter.
    starts = dt.datetime.combine(
        upcoming.start_date + dt.timedelta(days=1), dt.time(9, 0), tzinfo=ZoneInfo(BERLIN)
    )
    meeting = make_meeting(series, starts)
    agenda = build_agenda(meeting)
    assert agenda["budget"]["quarter"] == upcoming.label
    assert (
        agenda["budget"]["allocated"],
        agenda["budget"]["reserved"],
        agenda["budget"]["remaining"],
    ) == (100, 9, 91)
    assert [r["id"] for r in agenda["queue"]["top"]] == [queued.pk]
    assert in_next.pk not in [r["id"] for r in agenda["queue"]["top"]]
    assert agenda_numbers(agenda) == expected_numbers(
        meeting, since=meeting.starts_at - dt.timedelta(days=7)
    )


def test_deferred_requests_coming_due_within_30_days(cast, series, reqs, quarters):
    current, upcoming = quarters
    after_next = quarter_get_or_create(upcoming.fiscal.next())
    soon = reqs.deferred(current, upcoming)
    far = reqs.deferred(current, after_next)
    meeting = make_meeting(series, timezone.now() + dt.timedelta(days=2))
    since = meeting.starts_at - dt.timedelta(days=7)

    def at(day):
        return dt.datetime.combine(day, dt.time(12, 0), tzinfo=dt.UTC)

    # 20 days before the next quarter opens, only what is deferred to it is coming due.
    now = at(upcoming.start_date - dt.timedelta(days=20))
    agenda = build_agenda(meeting, now=now)
    assert [r["id"] for r in agenda["deferred_due"]] == [soon.pk]
    assert agenda["deferred_due"][0]["quarter"] == upcoming.label
    today = timezone.localdate(now)
    assert agenda_numbers(agenda) == expected_numbers(meeting, since=since, today=today)
    # 40 days before, nothing is.
    assert (
        build_agenda(meeting, now=at(upcoming.start_date - dt.timedelta(days=40)))["deferred_due"]
        == []
    )
    # 30 days before the quarter after next, both are.
    both = build_agenda(meeting, now=at(after_next.start_date - dt.timedelta(days=30)))
    assert sorted(r["id"] for r in both["deferred_due"]) == sorted([soon.pk, far.pk])


def test_deals_closing_within_30_days_only_on_undecided_requests(
    cast, series, reqs, quarters, funded
):
    current, upcoming = quarters
    escalated = reqs.escalated(current, closes_in=30)
    deferred = reqs.deferred(current, upcoming, closes_in=0)
    reqs.escalated(current, closes_in=31)
    reqs.approved(current, 2, closes_in=1)
    reqs.declined(current, closes_in=2)
    reqs.escalated(current, closes_in=-1)
    meeting = make_meeting(series, timezone.now() + dt.timedelta(days=2))
    deals = build_agenda(meeting)["deals_closing"]
    assert sorted(d["request"] for d in deals) == sorted([escalated.pk, deferred.pk])
    # Soonest first.
    assert [d["request"] for d in deals] == [deferred.pk, escalated.pk]


# --- Query count --------------------------------------------------------------------------


def add_requests(cast, quarter, later, n, *, since):
    """n requests in `quarter` in every state the agenda reads, in bulk: valid queue ranks,
    two deals each closing within 30 days, an escalation and a decision in the audit trail,
    and ledger entries (reservations and change costs) through the budget service."""
    now = timezone.now()
    kinds = cycle(
        [
            (Status.ESCALATED, quarter, ""),
            (Status.ESCALATED, quarter, ""),
            (Status.DEFERRED, later, ""),
            (Status.APPROVED, quarter, Funding.SALES),
            (Status.DECLINED, quarter, ""),
            (Status.IN_PROGRESS, quarter, Funding.SALES),
        ]
    )
    top = len(rs.queue_ids(quarter.pk))
    start = FeatureRequest.objects.count()
    built = []
    for i in range(start, start + n):
        status, target, funding = next(kinds)
        fr = FeatureRequest(
            title=f"Bulk {i}",
            problem=f"Problem {i}",
            status=status,
            author=cast.rep if i % 2 else cast.outsider,
            manager=cast.manager if i % 2 else cast.other_manager,
            target_quarter=target,
            estimate=(i % 7) + 1 if i % 4 else None,
            funding=funding,
            submitted_at=now,
            escalated_at=now,
            decided_at=None if status == Status.ESCALATED else now,
        )
        if status == Status.ESCALATED:
            top += 1
            fr.queue_rank = top
        elif fr.estimate is None:
            fr.estimate = 2
        built.append(fr)
    built = FeatureRequest.objects.bulk_create(built)
    Deal.objects.bulk_create(
        Deal(
            request=fr,
            owner=fr.author,
            account_name=f"Account {fr.pk}-{j}",
            amount=Decimal("1000") * (j + 1),
            currency="USD" if j else "EUR",
            expected_close_date=timezone.localdate() + dt.timedelta(days=5 + j),
        )
        for fr in built
        for j in range(2)
    )
    events = []
    for fr in built:
        events.append(AuditEvent(request=fr, actor=cast.manager, action="escalate"))
        decision = {
            Status.DEFERRED: "defer",
            Status.APPROVED: "approve",
            Status.DECLINED: "decline",
            Status.IN_PROGRESS: "approve",
        }.get(fr.status)
        if decision:
            events.append(AuditEvent(request=fr, actor=cast.hop, action=decision, reason="x"))
    AuditEvent.objects.bulk_create(events)
    for fr in built:
        if fr.funding == Funding.SALES:
            budget_reserve(quarter=quarter, points=1, actor=cast.hop, request=fr, reason="r")
            FeatureRequest.objects.filter(pk=fr.pk).update(reserved_points=1)
        if fr.status == Status.IN_PROGRESS:
            budget_record_change_cost(
                quarter=quarter, points=1, actor=cast.hop, request=fr, reason="changed"
            )
    assert all(e.created_at >= since for e in events)
    return built


def test_query_count_is_flat_from_10_to_500_requests(cast, series):
    meeting = make_meeting(series, timezone.now() + dt.timedelta(days=2))
    quarter = quarter_of(meeting)
    later = quarter_get_or_create(FiscalQuarter.containing(quarter.end_date).next())
    fund(cast, quarter, 100_000)
    since = meeting.starts_at - dt.timedelta(days=7)
    for i in range(3):
        ActionItem.objects.create(
            meeting=meeting,
            title=f"Item {i}",
            owner=cast.hos,
            due_date=timezone.localdate(),
            created_by=cast.hop,
        )

    def count():
        with CaptureQueriesContext(connection) as ctx:
            agenda = build_agenda(meeting)
        return len(ctx.captured_queries), agenda

    add_requests(cast, quarter, later, 10, since=since)
    few, small = count()
    add_requests(cast, quarter, later, 490, since=since)
    many, big = count()

    assert FeatureRequest.objects.filter(target_quarter__in=[quarter, later]).count() == 500
    # The big agenda really has more in it, from the same number of queries.
    assert big["queue"]["size"] > small["queue"]["size"] >= 3
    assert len(big["decisions"]) > len(small["decisions"]) > 0
    assert len(big["deals_closing"]) > len(small["deals_closing"]) > 0
    assert len(big["deferred_due"]) >= len(small["deferred_due"])
    assert len(big["changes"]) > len(small["changes"]) > 0
    assert agenda_numbers(big) == expected_numbers(meeting, since=since)
    assert few == many, f"{few} queries with 10 requests, {many} with 500"


def test_the_meeting_page_runs_a_fixed_number_of_queries(client, cast, series):
    meeting = make_meeting(series, timezone.now() + dt.timedelta(days=2))
    previous = make_meeting(series, timezone.now() - dt.timedelta(days=5))
    quarter = quarter_of(meeting)
    later = quarter_get_or_create(FiscalQuarter.containing(quarter.end_date).next())
    fund(cast, quarter, 100_000)
    since = meeting.starts_at - dt.timedelta(days=7)
    # Action items on this meeting and an earlier one, open and done: the page reads them once
    # for both the agenda (the series' open ones) and the minutes (this meeting's).
    open_and_done_items(cast, meeting, previous)
    url = f"/meetings/{meeting.pk}/"
    client.force_login(cast.hop)
    add_requests(cast, quarter, later, 10, since=since)
    client.get(url)
    few, small = page_queries(client, url)
    add_requests(cast, quarter, later, 290, since=since)
    many, big = page_queries(client, url)

    # Issue 7's budget of 12, the same with 10 requests as with 300.
    assert_flat({10: few, 300: many}, url)
    # The bigger agenda really lists more: decisions and deals closing link to requests.
    assert big.count('href="/requests/') > small.count('href="/requests/')
