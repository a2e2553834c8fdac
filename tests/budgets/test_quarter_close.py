"""Closing a quarter: a week after it ends, what remains expires once and the ledger freezes.

FY2026 Q4 (January start) runs 1 Oct to 31 Dec 2026 and closes on 7 Jan 2027.
"""

import datetime as dt

import pytest

from budgets.models import LedgerEntry, Quarter
from budgets.services import (
    budget_expire,
    budget_re_estimate,
    budget_record_change_cost,
    budget_release,
    budget_reserve,
    budget_set_capacity,
    quarters_ensure_open,
)
from budgets.tasks import roll_quarters
from config.errors import InvalidInput, QuarterClosed

from .conftest import assert_balances_match_ledger, balances, snapshot

D = dt.date
END = D(2026, 12, 31)
CLOSES_ON = D(2027, 1, 7)


@pytest.fixture
def q4(cast, today_is):
    """FY2026 Q4 while it is current: 40 points allocated, 15 reserved, 25 remaining."""
    today_is(D(2026, 11, 15))
    quarter, _ = quarters_ensure_open()
    assert quarter.slug == "FY2026Q4"
    budget_set_capacity(quarter=quarter, capacity=400, actor=cast.hop)
    budget_reserve(quarter=quarter, points=15, actor=cast.hop)
    return Quarter.objects.get(pk=quarter.pk)


def expiries(quarter):
    return list(LedgerEntry.objects.filter(budget__quarter=quarter, kind=LedgerEntry.Kind.EXPIRE))


def every_entry(quarter, cast):
    """One call per kind of ledger entry, each of which would succeed on an open quarter."""
    return {
        "allocate": lambda: budget_set_capacity(quarter=quarter, capacity=500, actor=cast.hop),
        "reserve": lambda: budget_reserve(quarter=quarter, points=1, actor=cast.hop),
        "release": lambda: budget_release(quarter=quarter, points=1, actor=cast.hop),
        "re_estimate": lambda: budget_re_estimate(
            quarter=quarter, old_points=15, new_points=10, actor=cast.hop
        ),
        "change_cost": lambda: budget_record_change_cost(
            quarter=quarter, points=1, actor=cast.pm, reason="scope change"
        ),
    }


# --- budget_expire ---------------------------------------------------------------------------


def test_it_expires_what_remains_a_week_after_the_end(q4):
    entry = budget_expire(quarter=q4, today=CLOSES_ON)

    assert (entry.kind, entry.points, entry.actor) == (LedgerEntry.Kind.EXPIRE, 25, None)
    assert entry.reason == "FY2026 Q4 closed; 25 unspent points expire."
    assert balances(q4.budget) == {
        "capacity": 400,
        "percentage": 10,
        "allocated": 40,
        "reserved": 15,  # committed work stays committed
        "expired": 25,
        "remaining": 0,
    }
    assert_balances_match_ledger(q4.budget)
    q4.refresh_from_db()
    assert q4.is_closed
    assert q4.state(CLOSES_ON) == "closed"


def test_it_expires_only_once(q4):
    budget_expire(quarter=q4, today=CLOSES_ON)
    after_first = snapshot(q4.budget)

    assert budget_expire(quarter=q4, today=CLOSES_ON) is None
    assert budget_expire(quarter=q4, today=CLOSES_ON + dt.timedelta(days=90)) is None

    assert snapshot(q4.budget) == after_first
    assert len(expiries(q4)) == 1


@pytest.mark.parametrize("today", [D(2026, 11, 15), END, CLOSES_ON - dt.timedelta(days=1)])
def test_it_refuses_to_close_a_quarter_early(q4, today):
    before = snapshot(q4.budget)

    with pytest.raises(InvalidInput, match="closes on 07 Jan 2027"):
        budget_expire(quarter=q4, today=today)

    assert snapshot(q4.budget) == before
    q4.refresh_from_db()
    assert not q4.is_closed


def test_it_expires_nothing_from_a_fully_reserved_budget(cast, q4):
    budget_reserve(quarter=q4, points=25, actor=cast.hop)

    entry = budget_expire(quarter=q4, today=CLOSES_ON)

    assert entry.points == 0
    assert balances(q4.budget)["reserved"] == 40
    assert_balances_match_ledger(q4.budget)


# --- No entries once closed ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["allocate", "reserve", "release", "re_estimate", "change_cost"])
def test_it_refuses_every_entry_once_closed(cast, q4, today_is, kind):
    budget_expire(quarter=q4, today=CLOSES_ON)
    before = snapshot(q4.budget)

    # Closed is closed, whatever the clock says.
    for today in (CLOSES_ON, D(2026, 12, 1)):
        today_is(today)
        with pytest.raises(QuarterClosed, match="its ledger takes no new entries"):
            every_entry(q4, cast)[kind]()

    assert snapshot(q4.budget) == before


@pytest.mark.parametrize("kind", ["allocate", "reserve", "release", "re_estimate", "change_cost"])
def test_it_refuses_entries_after_the_closing_week_even_before_the_task_runs(
    cast, q4, today_is, kind
):
    today_is(CLOSES_ON)
    before = snapshot(q4.budget)

    with pytest.raises(QuarterClosed, match="closed on 07 Jan 2027"):
        every_entry(q4, cast)[kind]()

    assert snapshot(q4.budget) == before


@pytest.mark.parametrize("kind", ["allocate", "reserve", "release", "re_estimate", "change_cost"])
def test_it_takes_entries_in_the_week_after_the_end(cast, q4, today_is, kind):
    today_is(END + dt.timedelta(days=3))

    entry = every_entry(q4, cast)[kind]()

    assert entry.kind == kind
    assert_balances_match_ledger(q4.budget)


# --- The hourly task -------------------------------------------------------------------------


def test_it_closes_nothing_before_the_week_is_over(q4, today_is):
    today_is(CLOSES_ON - dt.timedelta(days=1))
    before = snapshot(q4.budget)

    assert roll_quarters() == []

    assert snapshot(q4.budget) == before
    assert not Quarter.objects.get(pk=q4.pk).is_closed


def test_it_closes_the_quarter_when_its_week_is_over_and_only_once(q4, today_is):
    today_is(CLOSES_ON)

    assert roll_quarters() == ["FY2026Q4"]
    assert roll_quarters() == []
    today_is(CLOSES_ON + dt.timedelta(days=1))
    assert roll_quarters() == []

    [entry] = expiries(q4)
    assert entry.points == 25
    assert balances(q4.budget)["remaining"] == 0
    assert_balances_match_ledger(q4.budget)
    assert Quarter.objects.get(pk=q4.pk).is_closed


def test_it_opens_the_new_current_and_next_quarters(q4, today_is):
    today_is(CLOSES_ON)

    roll_quarters()

    open_now = Quarter.objects.filter(closed_at__isnull=True)
    assert [q.slug for q in open_now] == ["FY2027Q1", "FY2027Q2"]
    assert all(q.is_open(CLOSES_ON) for q in open_now)
    assert not any(expiries(q) for q in open_now)


def test_it_catches_up_on_every_overdue_quarter_after_downtime(cast, q4, today_is):
    q1 = Quarter.objects.get(fiscal_year=2027, number=1)
    today_is(D(2027, 2, 1))
    budget_set_capacity(quarter=q1, capacity=200, actor=cast.hop)
    today_is(D(2027, 8, 1))  # the worker was down through two closes

    assert sorted(roll_quarters()) == ["FY2026Q4", "FY2027Q1"]
    assert roll_quarters() == []

    assert [e.points for e in expiries(q4)] == [25]
    assert [e.points for e in expiries(q1)] == [20]
    # The current quarter, FY2027 Q3, and the next are opened and stay open.
    assert [q.slug for q in Quarter.objects.filter(closed_at__isnull=True)] == [
        "FY2027Q3",
        "FY2027Q4",
    ]


def test_it_runs_as_a_celery_task(q4, today_is):
    today_is(CLOSES_ON)

    result = roll_quarters.apply()

    assert result.successful()
    assert result.result == ["FY2026Q4"]
    assert [e.points for e in expiries(q4)] == [25]
