"""Which quarters are open: the current and the next, and a quarter for a week after it ends.

FY2026 Q4 (January start) runs 1 Oct to 31 Dec 2026 and closes on 7 Jan 2027.
"""

import datetime as dt

import pytest
from django.utils import timezone

from budgets.fiscal import FiscalQuarter
from budgets.services import quarter_get_or_create

D = dt.date


@pytest.fixture
def q4(db):
    return quarter_get_or_create(FiscalQuarter(2026, 4))


def test_it_stores_the_fiscal_dates(q4):
    assert (q4.start_date, q4.end_date, q4.closes_on) == (
        D(2026, 10, 1),
        D(2026, 12, 31),
        D(2027, 1, 7),
    )
    assert (q4.label, q4.slug, str(q4)) == ("FY2026 Q4", "FY2026Q4", "FY2026 Q4")
    assert q4.budget.percentage == 10


@pytest.mark.parametrize(
    "today, state, is_open",
    [
        (D(2026, 3, 31), "planned", False),  # two quarters ahead
        (D(2026, 7, 1), "next", True),
        (D(2026, 9, 30), "next", True),
        (D(2026, 10, 1), "current", True),
        (D(2026, 12, 31), "current", True),
        (D(2027, 1, 1), "closing", True),
        (D(2027, 1, 6), "closing", True),
        (D(2027, 1, 7), "ended", False),
        (D(2027, 6, 1), "ended", False),
    ],
)
def test_it_is_open_while_current_next_or_in_its_closing_week(q4, today, state, is_open):
    assert q4.state(today) == state
    assert q4.is_open(today) is is_open


def test_it_is_closed_for_good_once_closed(q4):
    q4.closed_at = timezone.now()
    q4.save(update_fields=["closed_at"])

    for today in (D(2026, 8, 1), D(2026, 11, 15), D(2027, 1, 3)):
        assert q4.state(today) == "closed"
        assert q4.is_open(today) is False


def test_it_reads_today_from_the_clock_when_not_given(q4, today_is):
    today_is(D(2026, 11, 27))
    assert (q4.state(), q4.is_open()) == ("current", True)

    today_is(D(2027, 1, 8))
    assert (q4.state(), q4.is_open()) == ("ended", False)


def test_it_follows_a_february_fiscal_year(settings, db):
    settings.FISCAL_YEAR_START_MONTH = 2
    q4 = quarter_get_or_create(FiscalQuarter(2027, 4))  # 1 Nov 2026 to 31 Jan 2027

    assert (q4.start_date, q4.end_date) == (D(2026, 11, 1), D(2027, 1, 31))
    assert q4.state(D(2027, 1, 31)) == "current"
    assert q4.state(D(2027, 2, 3)) == "closing"
    assert q4.is_open(D(2027, 2, 7)) is False
