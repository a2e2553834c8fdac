"""Concurrent approvals never overspend a budget, on real PostgreSQL.

Threads are released together by a Barrier so their transactions overlap. Each thread uses
its own database connection (Django's are per thread) and closes it when done, so the test
database can be flushed afterwards. Without the conditional UPDATE in
budgets.services._move_reserved (the budget row lock and the check against the balances as
they are when it is granted), this test fails: several threads pass the same remaining points
and the balances drift from the ledger or break the CheckConstraints.
"""

import threading

import pytest
from django.db import connection

from budgets.models import Budget, LedgerEntry
from budgets.services import budget_reserve
from config.errors import InsufficientBudget

from .conftest import assert_balances_match_ledger

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 24
POINTS = 7
JOIN_TIMEOUT = 60


def test_it_never_reserves_more_than_the_budget_under_concurrent_approvals(cast, funded):
    assert Budget.objects.get(quarter=funded).allocated == 40
    barrier = threading.Barrier(THREADS)
    outcomes = [None] * THREADS

    def approve(i):
        try:
            barrier.wait(timeout=JOIN_TIMEOUT)
            entry = budget_reserve(
                quarter=funded, points=POINTS, actor=cast.hop, reason=f"request {i}"
            )
            outcomes[i] = ("reserved", entry.pk)
        except InsufficientBudget as exc:
            outcomes[i] = ("refused", exc)
        except Exception as exc:  # reported, not swallowed: the test asserts on it
            outcomes[i] = ("error", repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"

    errors = [o for o in outcomes if o[0] == "error"]
    reserved = [o for o in outcomes if o[0] == "reserved"]
    refused = [o[1] for o in outcomes if o[0] == "refused"]
    assert errors == []
    assert len(reserved) == 5  # 5 x 7 = 35 of 40; a sixth would need 42
    assert len(refused) == THREADS - 5
    for exc in refused:
        assert exc.needed == POINTS
        assert 0 <= exc.remaining < POINTS
        assert exc.shortfall == exc.needed - exc.remaining
    # Every refusal came after the five reservations, so each saw the same 5 points left.
    assert {exc.remaining for exc in refused} == {5}

    budget = Budget.objects.get(quarter=funded)
    assert (budget.allocated, budget.reserved, budget.remaining) == (40, 35, 5)
    assert budget.reserved <= budget.allocated
    assert assert_balances_match_ledger(budget)["reserved"] == 35
    assert LedgerEntry.objects.filter(budget=budget, kind=LedgerEntry.Kind.RESERVE).count() == 5
    assert sorted(e.reserved_after for e in budget.entries.filter(kind="reserve")) == [
        7,
        14,
        21,
        28,
        35,
    ]
