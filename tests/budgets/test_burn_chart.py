"""The burn chart's weeks come from one ledger entry a week (burn_entries), and show what the
whole ledger gives, however many entries a week holds and wherever they fall."""

import datetime as dt

import pytest
from django.utils import timezone

from budgets.dashboard import burn_entries, burn_weeks
from budgets.models import LedgerEntry
from budgets.services import quarters_ensure_open

pytestmark = pytest.mark.django_db


def whole_ledger(budget):
    return list(
        budget.entries.order_by("created_at", "id").values_list(
            "created_at", "allocated_after", "reserved_after", "remaining_after"
        )
    )


@pytest.mark.parametrize("time_zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_the_weeks_from_one_entry_a_week_are_the_weeks_of_the_whole_ledger(settings, time_zone):
    settings.TIME_ZONE = time_zone
    with timezone.override(time_zone):
        quarter = quarters_ensure_open()[0]
        budget = quarter.budget
        local = timezone.get_current_timezone()
        start = dt.datetime.combine(quarter.start_date, dt.time.min, tzinfo=local)
        # Before the quarter, on week boundaries (a microsecond either side), several in one
        # week, two at the same instant, and none in some weeks.
        moments = [
            start - dt.timedelta(days=3),
            start,
            start + dt.timedelta(days=7, microseconds=-1),
            start + dt.timedelta(days=7),
            start + dt.timedelta(days=9, hours=5),
            start + dt.timedelta(days=9, hours=5),
            start + dt.timedelta(days=12),
            start + dt.timedelta(days=40, hours=23, minutes=59),
            start + dt.timedelta(days=60),
        ]
        for i, moment in enumerate(moments, 1):
            LedgerEntry.objects.create(
                budget=budget,
                kind=LedgerEntry.Kind.RESERVE,
                points=1,
                created_at=moment,
                allocated_after=100 + i,
                reserved_after=i,
                remaining_after=100,
            )

        picked = burn_entries(budget, quarter)

        assert len(picked) < len(moments)
        assert burn_weeks(quarter, picked) == burn_weeks(quarter, whole_ledger(budget))


def test_a_budget_without_entries_burns_nothing():
    quarter = quarters_ensure_open()[0]
    assert burn_entries(quarter.budget, quarter) == []
    weeks = burn_weeks(quarter, [])
    assert {w["allocated"] for w in weeks} == {0}
