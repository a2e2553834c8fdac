"""The budget ledger: every move is one entry, and the balances are always its sums.

`funded` is the current quarter with capacity 400 at 10%: 40 points allocated.
"""

import pytest

from budgets.fiscal import FiscalQuarter
from budgets.models import Budget, LedgerEntry
from budgets.services import (
    budget_re_estimate,
    budget_record_change_cost,
    budget_release,
    budget_reserve,
    budget_set_capacity,
    quarter_get_or_create,
)
from config.errors import InsufficientBudget, InvalidInput, NotAllowed

from .conftest import assert_balances_match_ledger, balances, snapshot


def last_entry(quarter):
    return LedgerEntry.objects.filter(budget__quarter=quarter).order_by("-id").first()


# --- Capacity -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "capacity, percentage, allocated",
    [
        (405, 10, 40),
        (7, 15, 1),
        (400, 10, 40),
        (999, 33, 329),
        (9, 10, 0),
        (1, 100, 1),
        (1_000_000, 100, 1_000_000),
    ],
)
def test_it_allocates_the_floor_of_capacity_times_percentage(
    cast, quarters, capacity, percentage, allocated
):
    quarter = quarters[0]

    entry = budget_set_capacity(
        quarter=quarter, capacity=capacity, percentage=percentage, actor=cast.hop
    )

    assert balances(quarter.budget) == {
        "capacity": capacity,
        "percentage": percentage,
        "allocated": allocated,
        "reserved": 0,
        "expired": 0,
        "remaining": allocated,
    }
    assert (entry.kind, entry.points, entry.actor) == (
        LedgerEntry.Kind.ALLOCATE,
        allocated,
        cast.hop,
    )
    assert assert_balances_match_ledger(quarter.budget)["allocated"] == allocated


def test_it_uses_the_configured_sales_percentage_by_default(cast, settings, db):
    settings.SALES_BUDGET_PERCENT = 15
    quarter = quarter_get_or_create(FiscalQuarter(2031, 2))

    budget_set_capacity(quarter=quarter, capacity=7, actor=cast.hop)

    assert balances(quarter.budget)["percentage"] == 15
    assert balances(quarter.budget)["allocated"] == 1


def test_it_allocates_only_the_difference_when_capacity_changes(cast, funded):
    up = budget_set_capacity(quarter=funded, capacity=500, actor=cast.hop, reason="two hires")
    down = budget_set_capacity(quarter=funded, capacity=305, actor=cast.hop)
    share = budget_set_capacity(quarter=funded, capacity=305, percentage=20, actor=cast.hop)

    assert [up.points, down.points, share.points] == [10, -20, 31]
    assert "capacity 400 at 10% → capacity 500 at 10%" in up.reason
    assert up.reason.endswith("two hires")
    assert balances(funded.budget)["allocated"] == 61
    assert_balances_match_ledger(funded.budget)


def test_it_writes_nothing_when_capacity_is_set_to_what_it_is(cast, funded):
    before = snapshot(funded.budget)

    assert budget_set_capacity(quarter=funded, capacity=400, percentage=10, actor=cast.hop) is None

    assert snapshot(funded.budget) == before


@pytest.mark.parametrize("who", ["rep", "manager", "hos", "pm", "admin", "outsider", None])
def test_it_lets_only_the_head_of_product_set_capacity(cast, funded, who):
    actor = getattr(cast, who) if who else None
    before = snapshot(funded.budget)

    with pytest.raises(NotAllowed, match="Only the Head of Product"):
        budget_set_capacity(quarter=funded, capacity=800, actor=actor)

    assert snapshot(funded.budget) == before


@pytest.mark.parametrize(
    "capacity, percentage, field",
    [
        (0, 10, "Capacity"),
        (-5, 10, "Capacity"),
        ("abc", 10, "Capacity"),
        (1_000_001, 10, "Capacity"),
        (2.5, 10, "Capacity"),
        ("2.5", 10, "Capacity"),
        (True, 10, "Capacity"),
        (None, 10, "Capacity"),
        (400, 0, "Sales percentage"),
        (400, 101, "Sales percentage"),
        (400, "ten", "Sales percentage"),
    ],
)
def test_it_refuses_capacity_that_is_not_a_sane_whole_number(
    cast, funded, capacity, percentage, field
):
    before = snapshot(funded.budget)

    with pytest.raises(InvalidInput, match=field):
        budget_set_capacity(
            quarter=funded, capacity=capacity, percentage=percentage, actor=cast.hop
        )

    assert snapshot(funded.budget) == before


def test_it_refuses_to_lower_capacity_below_what_is_reserved(cast, funded):
    budget_reserve(quarter=funded, points=30, actor=cast.hop)
    before = snapshot(funded.budget)

    with pytest.raises(InvalidInput) as refused:
        budget_set_capacity(quarter=funded, capacity=299, actor=cast.hop)

    assert refused.value.details["needed"] == 30
    assert refused.value.details["remaining"] == 29
    assert refused.value.details["shortfall"] == 1
    assert "below the 30 points already reserved" in refused.value.message
    assert snapshot(funded.budget) == before

    with pytest.raises(InvalidInput):
        budget_set_capacity(quarter=funded, capacity=400, percentage=7, actor=cast.hop)
    assert snapshot(funded.budget) == before


def test_it_allows_lowering_capacity_to_exactly_what_is_reserved(cast, funded):
    budget_reserve(quarter=funded, points=30, actor=cast.hop)

    budget_set_capacity(quarter=funded, capacity=300, actor=cast.hop)

    assert balances(funded.budget)["allocated"] == 30
    assert balances(funded.budget)["remaining"] == 0
    assert_balances_match_ledger(funded.budget)


# --- Reserve and release -------------------------------------------------------------------


def test_it_reserves_points_from_the_remainder(cast, funded):
    entry = budget_reserve(quarter=funded, points=7, actor=cast.hop, reason="SSO for Acme")

    assert (entry.kind, entry.points, entry.actor, entry.reason) == (
        LedgerEntry.Kind.RESERVE,
        7,
        cast.hop,
        "SSO for Acme",
    )
    assert (entry.allocated_after, entry.reserved_after, entry.remaining_after) == (40, 7, 33)
    assert balances(funded.budget)["remaining"] == 33
    assert_balances_match_ledger(funded.budget)


def test_it_reserves_the_last_point_and_no_more(cast, funded):
    budget_reserve(quarter=funded, points=40, actor=cast.hop)
    before = snapshot(funded.budget)

    with pytest.raises(InsufficientBudget) as refused:
        budget_reserve(quarter=funded, points=1, actor=cast.hop)

    assert (refused.value.needed, refused.value.remaining, refused.value.shortfall) == (1, 0, 1)
    assert snapshot(funded.budget) == before


def test_it_refuses_a_reservation_that_does_not_fit_with_the_numbers(cast, funded):
    budget_reserve(quarter=funded, points=28, actor=cast.hop)
    before = snapshot(funded.budget)

    with pytest.raises(InsufficientBudget) as refused:
        budget_reserve(quarter=funded, points=20, actor=cast.hop)

    error = refused.value
    assert (error.needed, error.remaining, error.shortfall) == (20, 12, 8)
    assert error.as_dict() == {
        "detail": f"{funded.label} has 12 points remaining; this needs 20 (short by 8).",
        "code": "insufficient_budget",
        "needed": 20,
        "remaining": 12,
        "shortfall": 8,
    }
    assert snapshot(funded.budget) == before


def test_it_refuses_a_reservation_when_no_capacity_is_set(cast, quarters):
    with pytest.raises(InsufficientBudget) as refused:
        budget_reserve(quarter=quarters[0], points=1, actor=cast.hop)

    assert (refused.value.needed, refused.value.remaining) == (1, 0)
    assert LedgerEntry.objects.count() == 0


@pytest.mark.parametrize("points", [0, -3, 10_001, "x", 2.5, None, True])
def test_it_refuses_points_that_are_not_positive_whole_numbers(cast, funded, points):
    budget_reserve(quarter=funded, points=10, actor=cast.hop)
    before = snapshot(funded.budget)

    for move in (
        lambda: budget_reserve(quarter=funded, points=points, actor=cast.hop),
        lambda: budget_release(quarter=funded, points=points, actor=cast.hop),
        lambda: budget_re_estimate(
            quarter=funded, old_points=10, new_points=points, actor=cast.hop
        ),
        lambda: budget_record_change_cost(
            quarter=funded, points=points, actor=cast.hop, reason="scope change"
        ),
    ):
        with pytest.raises(InvalidInput, match="Points"):
            move()

    assert snapshot(funded.budget) == before


def test_it_releases_reserved_points(cast, funded):
    budget_reserve(quarter=funded, points=20, actor=cast.hop)

    entry = budget_release(quarter=funded, points=5, actor=cast.hop, reason="deferred")

    assert (entry.kind, entry.points, entry.reserved_after, entry.remaining_after) == (
        LedgerEntry.Kind.RELEASE,
        5,
        15,
        25,
    )
    assert_balances_match_ledger(funded.budget)


def test_it_refuses_to_release_more_than_is_reserved(cast, funded):
    budget_reserve(quarter=funded, points=5, actor=cast.hop)
    before = snapshot(funded.budget)

    with pytest.raises(InvalidInput, match="only 5 are reserved"):
        budget_release(quarter=funded, points=6, actor=cast.hop)

    assert snapshot(funded.budget) == before


# --- Re-estimate and change cost -----------------------------------------------------------


def test_it_reserves_or_releases_the_difference_when_re_estimated(cast, funded):
    budget_reserve(quarter=funded, points=10, actor=cast.hop)

    up = budget_re_estimate(quarter=funded, old_points=10, new_points=25, actor=cast.pm)
    assert (up.kind, up.points, up.reserved_after) == (LedgerEntry.Kind.RE_ESTIMATE, 15, 25)
    assert up.reason == "estimate 10 → 25"

    down = budget_re_estimate(quarter=funded, old_points=25, new_points=5, actor=cast.pm)
    assert (down.points, down.reserved_after, down.remaining_after) == (-20, 5, 35)
    assert_balances_match_ledger(funded.budget)


def test_it_refuses_a_re_estimate_the_budget_cannot_cover(cast, funded):
    budget_reserve(quarter=funded, points=30, actor=cast.hop)
    before = snapshot(funded.budget)

    with pytest.raises(InsufficientBudget) as refused:
        budget_re_estimate(quarter=funded, old_points=30, new_points=45, actor=cast.hop)

    assert (refused.value.needed, refused.value.remaining, refused.value.shortfall) == (15, 10, 5)
    assert snapshot(funded.budget) == before


def test_it_refuses_a_re_estimate_that_would_release_more_than_is_reserved(cast, funded):
    budget_reserve(quarter=funded, points=5, actor=cast.hop)
    before = snapshot(funded.budget)

    with pytest.raises(InvalidInput):
        budget_re_estimate(quarter=funded, old_points=20, new_points=5, actor=cast.hop)

    assert snapshot(funded.budget) == before


def test_it_writes_nothing_for_an_unchanged_estimate(cast, funded):
    budget_reserve(quarter=funded, points=5, actor=cast.hop)
    before = snapshot(funded.budget)

    assert budget_re_estimate(quarter=funded, old_points=5, new_points=5, actor=cast.hop) is None

    assert snapshot(funded.budget) == before


def test_it_records_change_cost_without_moving_the_balances(cast, funded):
    budget_reserve(quarter=funded, points=12, actor=cast.hop)
    before = balances(funded.budget)

    entry = budget_record_change_cost(
        quarter=funded, points=4, actor=cast.hop, reason="rewrote the importer mid-sprint"
    )

    assert (entry.kind, entry.points, entry.reason) == (
        LedgerEntry.Kind.CHANGE_COST,
        4,
        "rewrote the importer mid-sprint",
    )
    assert balances(funded.budget) == before
    assert_balances_match_ledger(funded.budget)


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_it_refuses_change_cost_without_a_reason(cast, funded, reason):
    before = snapshot(funded.budget)

    with pytest.raises(InvalidInput, match="Say why"):
        budget_record_change_cost(quarter=funded, points=4, actor=cast.hop, reason=reason)

    assert snapshot(funded.budget) == before


# --- The ledger is the record ---------------------------------------------------------------


def test_it_keeps_balances_equal_to_the_ledger_through_a_busy_quarter(cast, funded):
    moves = [
        lambda: budget_reserve(quarter=funded, points=8, actor=cast.hop),
        lambda: budget_reserve(quarter=funded, points=13, actor=cast.hop),
        lambda: budget_re_estimate(quarter=funded, old_points=8, new_points=11, actor=cast.pm),
        lambda: budget_release(quarter=funded, points=13, actor=cast.hop),
        lambda: budget_set_capacity(quarter=funded, capacity=600, actor=cast.hop),
        lambda: budget_reserve(quarter=funded, points=40, actor=cast.hop),
        lambda: budget_record_change_cost(quarter=funded, points=2, actor=cast.pm, reason="x"),
        lambda: budget_reserve(quarter=funded, points=10, actor=cast.hop),  # refused: 9 left
        lambda: budget_re_estimate(quarter=funded, old_points=40, new_points=30, actor=cast.hop),
        lambda: budget_set_capacity(quarter=funded, capacity=410, percentage=10, actor=cast.hop),
    ]
    for move in moves:
        try:
            move()
        except InsufficientBudget:
            pass
        assert_balances_match_ledger(funded.budget)

    assert balances(funded.budget) == {
        "capacity": 410,
        "percentage": 10,
        "allocated": 41,
        "reserved": 41,
        "expired": 0,
        "remaining": 0,
    }
    assert Budget.objects.get(pk=funded.budget.pk).entries.count() == 1 + len(moves) - 1
