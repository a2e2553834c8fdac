"""`make bench` at toy scale: the seed keeps the domain's rules and one measurement runs.

The benchmark itself is not part of the suite (timings are never asserted); this only
proves its seeding and query counting still work against the current models."""

import pytest

from bench.measure import Targets, budget_check, pages, query_counts
from bench.seed import seed
from requests_app.models import FeatureRequest, Status

pytestmark = pytest.mark.django_db


def _strict(field, container, status):
    groups = {}
    for key, rank in FeatureRequest.objects.filter(status=status).values_list(container, field):
        groups.setdefault(key, []).append(rank)
    return all(sorted(r) == list(range(1, len(r) + 1)) for r in groups.values())


def test_the_bench_seeds_a_consistent_company_and_counts_its_queries():
    made = seed(n_requests=80, queue_size=20)

    assert made["users"] == 200 and made["quarters"] == 12 and made["meetings"] == 200
    assert made["requests"] == 80 and made["queue"] == 20
    assert FeatureRequest.objects.filter(status=Status.SHIPPED).exists()
    assert _strict("inbox_rank", "manager_id", Status.SUBMITTED)
    assert _strict("queue_rank", "target_quarter_id", Status.ESCALATED)
    assert not FeatureRequest.objects.filter(queue_rank__isnull=False).exclude(
        status=Status.ESCALATED
    )
    # Every budget's balances are its ledger's sums, and nothing is overspent.
    assert budget_check() == []

    targets = Targets()
    counts = query_counts(targets)
    assert set(counts) == {label for label, *_ in pages(targets)}
    assert all(0 < n <= 20 for n in counts.values()), counts
