"""Helpers for budget tests: a movable "today" and the check that balances match the ledger."""

import datetime as dt

import pytest
from django.utils import timezone

from budgets.models import Budget, LedgerEntry
from budgets.services import ledger_sums


def balances(budget):
    """What the budget page shows, read fresh from the database."""
    budget = Budget.objects.get(pk=budget.pk)
    return {
        "capacity": budget.capacity,
        "percentage": budget.percentage,
        "allocated": budget.allocated,
        "reserved": budget.reserved,
        "expired": budget.expired,
        "remaining": budget.remaining,
    }


def assert_balances_match_ledger(budget):
    """The running balances on Budget are the ledger's sums, and 0 <= reserved <= allocated."""
    budget = Budget.objects.get(pk=budget.pk)
    sums = ledger_sums(budget)
    assert {
        "allocated": budget.allocated,
        "reserved": budget.reserved,
        "expired": budget.expired,
        "remaining": budget.remaining,
    } == sums
    assert 0 <= budget.reserved <= budget.allocated - budget.expired
    last = budget.entries.order_by("-created_at", "-id").first()
    if last is not None:
        assert (last.allocated_after, last.reserved_after, last.remaining_after) == (
            budget.allocated,
            budget.reserved,
            budget.remaining,
        )
    return sums


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """The cast signs in with force_login; hashing their passwords slowly only costs time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def snapshot(budget):
    """Everything a refused change must leave as it was."""
    return balances(budget), LedgerEntry.objects.filter(budget=budget).count()


@pytest.fixture
def today_is(monkeypatch):
    """Move "today" for every caller of django.utils.timezone.localdate (services, tasks,
    models and views all read the date through it)."""

    def move(day: dt.date):
        monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: day)
        return day

    return move
