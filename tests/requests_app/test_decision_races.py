"""Concurrent approvals through the real service, on PostgreSQL.

Threads are released together by a Barrier so their transactions overlap. Each thread uses
its own database connection (Django's are per thread) and closes it when done, so the test
database can be flushed afterwards.

Without the row locks (select_for_update in budgets.services._lock and in
requests_app.services._lock) both tests fail: approvals read the same remaining points and
the same request status, so the budget is overspent (the database constraint then errors)
and one request is reserved twice.
"""

import threading

import pytest
from django.db import connection

from budgets.models import Budget, LedgerEntry
from budgets.services import ledger_sums
from config.errors import DomainError, InsufficientBudget
from requests_app import services
from requests_app.models import AuditEvent, FeatureRequest, Funding, Status

from .conftest import assert_positions

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

JOIN_TIMEOUT = 60


def run_together(jobs):
    """Each job in its own thread, all released at once. Outcomes in order:
    ("ok", result), ("refused", DomainError) or ("error", repr of anything else)."""
    barrier = threading.Barrier(len(jobs))
    outcomes = [None] * len(jobs)

    def worker(i, job):
        try:
            barrier.wait(timeout=JOIN_TIMEOUT)
            outcomes[i] = ("ok", job())
        except DomainError as exc:
            outcomes[i] = ("refused", exc)
        except Exception as exc:  # reported, not swallowed: the tests assert there are none
            outcomes[i] = ("error", repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a thread hung: a lock was never released"
    return outcomes


def approve(fr, actor):
    return lambda: services.request_approve(fr=fr, actor=actor)


def assert_books_balance(quarter):
    budget = Budget.objects.get(quarter=quarter)
    sums = ledger_sums(budget)
    assert {
        "allocated": budget.allocated,
        "reserved": budget.reserved,
        "expired": budget.expired,
        "remaining": budget.remaining,
    } == sums
    assert 0 <= budget.reserved <= budget.allocated
    return budget


def test_thirty_concurrent_approvals_approve_exactly_the_ten_that_fit(build, cast, funded):
    requests = []
    for i in range(30):
        fr = build.escalated(title=f"Race {i}", author=cast.rep if i % 2 else cast.outsider)
        services.request_estimate(fr=fr, actor=cast.pm, points=4)
        requests.append(fr)
    assert Budget.objects.get(quarter=funded).remaining == 40  # room for 10 of 30

    outcomes = run_together([approve(fr, cast.hop) for fr in requests])

    errors = [o for o in outcomes if o[0] == "error"]
    assert errors == []
    ok = [fr for fr, o in zip(requests, outcomes, strict=True) if o[0] == "ok"]
    refused = [o[1] for o in outcomes if o[0] == "refused"]
    assert len(ok) == 10
    assert len(refused) == 20
    for exc in refused:
        assert isinstance(exc, InsufficientBudget), exc.message
        assert (exc.needed, exc.remaining, exc.shortfall) == (4, 0, 4)

    budget = assert_books_balance(funded)
    assert (budget.reserved, budget.remaining) == (40, 0)
    reserves = LedgerEntry.objects.filter(budget=budget, kind=LedgerEntry.Kind.RESERVE)
    assert reserves.count() == 10
    assert {e.request_id for e in reserves} == {fr.pk for fr in ok}
    assert sorted(e.reserved_after for e in reserves) == list(range(4, 41, 4))

    approved = FeatureRequest.objects.filter(status=Status.APPROVED)
    assert set(approved.values_list("pk", flat=True)) == {fr.pk for fr in ok}
    assert set(approved.values_list("funding", "reserved_points")) == {(Funding.SALES, 4)}
    assert AuditEvent.objects.filter(action="approve").count() == 10
    # The twenty left behind are still queued, shown at 1..20 in their old relative order.
    left = [fr.pk for fr in requests if fr not in ok]
    assert services.queue_ids(funded.pk) == left
    assert_positions(left, "queue_position")


def test_two_concurrent_approvals_of_the_same_request_reserve_once(build, cast, funded):
    for _round in range(5):
        fr = build.escalated(title=f"Twice {_round}")
        services.request_estimate(fr=fr, actor=cast.pm, points=3)
        reserved_before = Budget.objects.get(quarter=funded).reserved

        outcomes = run_together([approve(fr, cast.hop), approve(fr, cast.hop)])

        assert sorted(kind for kind, _ in outcomes) == ["ok", "refused"], outcomes
        exc = next(o for kind, o in outcomes if kind == "refused")
        assert type(exc) is DomainError
        assert exc.details["state"] == Status.APPROVED
        assert exc.message.startswith("Cannot approve this request: it is approved.")
        budget = assert_books_balance(funded)
        assert budget.reserved == reserved_before + 3
        assert LedgerEntry.objects.filter(request=fr, kind="reserve").count() == 1
        assert AuditEvent.objects.filter(request=fr, action="approve").count() == 1
        assert FeatureRequest.objects.get(pk=fr.pk).reserved_points == 3
