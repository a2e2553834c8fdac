"""The ledger is append-only and the budget's limits hold in the database, not only in code."""

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F

from budgets.models import Budget, LedgerEntry
from budgets.services import budget_reserve

from .conftest import assert_balances_match_ledger, snapshot


@pytest.fixture
def entry(cast, funded):
    return budget_reserve(quarter=funded, points=7, actor=cast.hop, reason="SSO for Acme")


def test_it_refuses_to_edit_a_saved_entry(entry, funded):
    before = snapshot(funded.budget)
    entry.points = 1

    with pytest.raises(TypeError, match="append-only"):
        entry.save()

    assert LedgerEntry.objects.get(pk=entry.pk).points == 7
    assert snapshot(funded.budget) == before


def test_it_refuses_to_delete_an_entry(entry, funded):
    before = snapshot(funded.budget)

    with pytest.raises(TypeError, match="append-only"):
        entry.delete()

    assert snapshot(funded.budget) == before


@pytest.mark.parametrize(
    "change",
    [
        lambda e: LedgerEntry.objects.filter(pk=e.pk).update(points=1),
        lambda e: LedgerEntry.objects.all().delete(),
        lambda e: e.budget.entries.update(reason="edited"),
        lambda e: e.budget.entries.all().delete(),
        lambda e: LedgerEntry.objects.bulk_update([e], ["points"]),
    ],
    ids=["update", "delete", "related-update", "related-delete", "bulk-update"],
)
def test_it_refuses_bulk_edits_and_deletes(entry, funded, change):
    before = snapshot(funded.budget)

    with pytest.raises(TypeError, match="append-only"):
        # bulk_update opens its own atomic block; a savepoint keeps the test's transaction usable.
        with transaction.atomic():
            change(entry)

    assert snapshot(funded.budget) == before
    assert LedgerEntry.objects.get(pk=entry.pk).reason == "SSO for Acme"


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE budgets_ledgerentry SET points = 1 WHERE id = %s",
        "DELETE FROM budgets_ledgerentry WHERE id = %s",
    ],
    ids=["UPDATE", "DELETE"],
)
def test_it_refuses_raw_sql_edits_in_the_database(entry, funded, sql):
    before = snapshot(funded.budget)

    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [entry.pk])

    assert snapshot(funded.budget) == before
    assert LedgerEntry.objects.get(pk=entry.pk).points == 7


@pytest.mark.parametrize(
    "change",
    [
        {"reserved": F("allocated") + 1},
        {"reserved": -1},
        {"expired": -1},
        {"expired": F("allocated") - F("reserved") + 1},
        {"allocated": F("allocated") + 1},
        {"capacity": F("capacity") + 10},
        {"percentage": 0},
        {"percentage": 101},
    ],
    ids=[
        "reserved-over-allocated",
        "reserved-negative",
        "expired-negative",
        "expired-eats-reservation",
        "allocated-not-the-share",
        "capacity-without-allocation",
        "percentage-0",
        "percentage-101",
    ],
)
def test_it_enforces_the_budget_limits_in_the_database(entry, funded, change):
    """A write that skips budgets.services still cannot break 0 <= reserved <= allocated."""
    before = snapshot(funded.budget)

    with pytest.raises(IntegrityError):
        with transaction.atomic():
            Budget.objects.filter(pk=funded.budget.pk).update(**change)

    assert snapshot(funded.budget) == before
    assert_balances_match_ledger(funded.budget)
