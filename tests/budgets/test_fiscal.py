"""Fiscal quarters: names, dates and neighbours for any fiscal-year start month.

Expected dates are written out by hand from DOMAIN.md ("quarters follow the fiscal year,
start month configurable"; "a quarter closes a week after it ends") and budgets/fiscal.py's
naming rule (a fiscal year is named for the calendar year in which it ends).
"""

import datetime as dt

import pytest

from budgets.fiscal import FiscalQuarter

D = dt.date


def test_it_labels_a_quarter_for_people_and_for_urls():
    fq = FiscalQuarter(2026, 4)

    assert fq.label == "FY2026 Q4"
    assert fq.slug == "FY2026Q4"


@pytest.mark.parametrize(
    "text",
    ["FY2027Q1", "fy2027 q1", "FY2027 Q1", "fy2027-q1", "Fy2027-Q1", "  FY2027Q1  ", "FY2027\tQ1"],
)
def test_it_parses_the_ways_people_write_a_quarter(text):
    assert FiscalQuarter.parse(text) == FiscalQuarter(2027, 1)


@pytest.mark.parametrize(
    "text",
    [
        "garbage",
        "",
        None,
        "FY2027",
        "Q1",
        "2027Q1",
        "FY27Q1",
        "FY20271Q1",
        "FY2027Q0",
        "FY2027Q5",
        "FY2027Q1x",
        "xFY2027Q1",
        "FY2027--Q1",
        "FY2027Q1\nFY2027Q2",
    ],
)
def test_it_refuses_to_parse_what_is_not_a_quarter(text):
    assert FiscalQuarter.parse(text) is None


def test_it_parses_what_it_prints():
    for fq in (FiscalQuarter(2026, 4), FiscalQuarter(2031, 1)):
        assert FiscalQuarter.parse(fq.slug) == fq
        assert FiscalQuarter.parse(fq.label) == fq


@pytest.mark.parametrize(
    "start_month, fq, start, end",
    [
        # January start: the fiscal year is the calendar year.
        (1, FiscalQuarter(2026, 1), D(2026, 1, 1), D(2026, 3, 31)),
        (1, FiscalQuarter(2026, 2), D(2026, 4, 1), D(2026, 6, 30)),
        (1, FiscalQuarter(2026, 4), D(2026, 10, 1), D(2026, 12, 31)),
        (1, FiscalQuarter(2028, 1), D(2028, 1, 1), D(2028, 3, 31)),
        # February start: FY2027 runs 1 Feb 2026 to 31 Jan 2027.
        (2, FiscalQuarter(2027, 1), D(2026, 2, 1), D(2026, 4, 30)),
        (2, FiscalQuarter(2027, 3), D(2026, 8, 1), D(2026, 10, 31)),
        (2, FiscalQuarter(2027, 4), D(2026, 11, 1), D(2027, 1, 31)),
        (2, FiscalQuarter(2028, 1), D(2027, 2, 1), D(2027, 4, 30)),
        # July start: FY2027 runs 1 Jul 2026 to 30 Jun 2027.
        (7, FiscalQuarter(2027, 1), D(2026, 7, 1), D(2026, 9, 30)),
        (7, FiscalQuarter(2027, 2), D(2026, 10, 1), D(2026, 12, 31)),
        (7, FiscalQuarter(2027, 3), D(2027, 1, 1), D(2027, 3, 31)),
        (7, FiscalQuarter(2027, 4), D(2027, 4, 1), D(2027, 6, 30)),
        # A leap-year February inside a quarter.
        (12, FiscalQuarter(2028, 1), D(2027, 12, 1), D(2028, 2, 29)),
    ],
)
def test_it_dates_quarters_for_the_configured_start_month(settings, start_month, fq, start, end):
    settings.FISCAL_YEAR_START_MONTH = start_month

    assert (fq.start, fq.end) == (start, end)
    assert fq.closes_on == end + dt.timedelta(days=7)


@pytest.mark.parametrize("start_month", range(1, 13))
def test_it_tiles_the_calendar_without_gaps_or_overlaps(settings, start_month):
    settings.FISCAL_YEAR_START_MONTH = start_month
    fq = FiscalQuarter(2026, 1)
    assert fq.start.month == start_month

    for _ in range(12):
        following = fq.next()
        assert following.start == fq.end + dt.timedelta(days=1)
        assert following > fq
        fq = following

    day = D(2025, 12, 1)
    while day < D(2028, 2, 1):
        containing = FiscalQuarter.containing(day)
        assert containing.start <= day <= containing.end, (start_month, day, containing)
        day += dt.timedelta(days=1)


@pytest.mark.parametrize(
    "start_month, day, expected",
    [
        (1, D(2026, 1, 1), FiscalQuarter(2026, 1)),
        (1, D(2026, 11, 27), FiscalQuarter(2026, 4)),
        (1, D(2026, 12, 31), FiscalQuarter(2026, 4)),
        (1, D(2027, 1, 1), FiscalQuarter(2027, 1)),
        (2, D(2026, 1, 31), FiscalQuarter(2026, 4)),
        (2, D(2026, 2, 1), FiscalQuarter(2027, 1)),
        (2, D(2027, 1, 31), FiscalQuarter(2027, 4)),
        (2, D(2027, 2, 1), FiscalQuarter(2028, 1)),
        (7, D(2026, 6, 30), FiscalQuarter(2026, 4)),
        (7, D(2026, 7, 1), FiscalQuarter(2027, 1)),
        (7, D(2026, 12, 31), FiscalQuarter(2027, 2)),
        (7, D(2027, 1, 1), FiscalQuarter(2027, 3)),
    ],
)
def test_it_finds_the_quarter_containing_a_day(settings, start_month, day, expected):
    settings.FISCAL_YEAR_START_MONTH = start_month

    assert FiscalQuarter.containing(day) == expected


def test_it_steps_to_the_next_and_previous_quarter_across_the_year_boundary():
    assert FiscalQuarter(2026, 4).next() == FiscalQuarter(2027, 1)
    assert FiscalQuarter(2027, 1).previous() == FiscalQuarter(2026, 4)
    assert FiscalQuarter(2026, 2).next() == FiscalQuarter(2026, 3)
    assert FiscalQuarter(2026, 3).previous() == FiscalQuarter(2026, 2)
    for number in range(1, 5):
        fq = FiscalQuarter(2026, number)
        assert fq.next().previous() == fq
        assert fq.previous().next() == fq


def test_it_closes_a_quarter_a_week_after_it_ends(settings):
    assert FiscalQuarter(2026, 4).closes_on == D(2027, 1, 7)
    settings.FISCAL_YEAR_START_MONTH = 2
    assert FiscalQuarter(2027, 4).closes_on == D(2027, 2, 7)
