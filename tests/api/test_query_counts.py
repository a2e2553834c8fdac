"""List endpoints run a fixed number of queries however many objects there are.

Each endpoint is read with 5 objects and again with 60 (and 300, the issue's figure); the
counts must be equal. The data is built in bulk with valid ranks (1..n per inbox and per queue,
as the services would leave them), two deals each, and a theme on every other request.
"""

import datetime as dt
from decimal import Decimal
from itertools import cycle

import pytest
from django.db.models import Max
from django.utils import timezone

from budgets.services import budget_set_capacity
from requests_app.models import Deal, FeatureRequest, ProductTheme, Status

from ..query_counts import assert_flat, queries_for
from .conftest import API

pytestmark = pytest.mark.django_db


def add_requests(cast, quarters, n):
    """n more requests of every kind a list endpoint shows."""
    current, later = quarters
    theme, _ = ProductTheme.objects.get_or_create(name="Platform")
    now = timezone.now()
    kinds = cycle(
        [
            ("submitted", cast.rep, cast.manager, None),
            ("submitted", cast.outsider, cast.other_manager, None),
            ("escalated", cast.rep, cast.manager, current),
            ("escalated", cast.outsider, cast.other_manager, current),
            ("approved", cast.rep, cast.manager, current),
            ("in_progress", cast.outsider, cast.other_manager, current),
            ("shipped", cast.rep, cast.manager, current),
            ("deferred", cast.rep, cast.manager, later),
            ("draft", cast.rep, None, None),
        ]
    )

    def top(field, **container):
        return FeatureRequest.objects.filter(**container).aggregate(m=Max(field))["m"] or 0

    inbox_top = {m.pk: top("inbox_rank", manager=m) for m in (cast.manager, cast.other_manager)}
    queue_top = {q.pk: top("queue_rank", target_quarter=q) for q in quarters}
    start = FeatureRequest.objects.count()
    built = []
    for i in range(start, start + n):
        status, author, manager, quarter = next(kinds)
        fr = FeatureRequest(
            title=f"Bulk request {i}",
            problem=f"Problem {i}",
            status=status,
            author=author,
            manager=manager,
            target_quarter=quarter,
            theme=theme if i % 2 else None,
            created_at=now - dt.timedelta(minutes=i),
        )
        if status != "draft":
            fr.submitted_at = now
        if status == "submitted":
            inbox_top[manager.pk] += 1
            fr.inbox_rank = inbox_top[manager.pk]
        if status not in ("draft", "submitted"):
            fr.escalated_at = now
            fr.estimate = 3 if i % 3 else None
        if status == "escalated":
            queue_top[quarter.pk] += 1
            fr.queue_rank = queue_top[quarter.pk]
        if status in ("approved", "in_progress", "shipped"):
            fr.estimate, fr.funding = 3, "product"
        if status == "shipped":
            fr.shipped_at = now  # recently: the roadmap shows 90 days of shipped work
        built.append(fr)
    built = FeatureRequest.objects.bulk_create(built)
    Deal.objects.bulk_create(
        Deal(
            request=fr,
            owner=fr.author,
            account_name=f"Account {fr.pk}-{j}",
            amount=Decimal("10000") * (j + 1),
            currency="USD" if j == 0 else "EUR",
            expected_close_date=timezone.localdate() + dt.timedelta(days=30),
        )
        for fr in built
        for j in range(2)
    )
    return built


ENDPOINTS = [
    ("requests/", "hos", Status.SUBMITTED),
    ("requests/", "manager", Status.SUBMITTED),
    ("requests/", "rep", Status.DRAFT),
    ("requests/", "pm", Status.ESCALATED),
    ("requests/", "admin", Status.SHIPPED),
    ("requests/?status=escalated&ordering=queue_rank", "hos", Status.ESCALATED),
    ("requests/?quarter={current}&q=Bulk", "pm", Status.ESCALATED),
    ("queues/{current}/", "hos", Status.ESCALATED),
    ("queues/{current}/", "rep", Status.ESCALATED),
    ("queues/{current}/", "pm", Status.ESCALATED),
    ("inbox/", "hos", Status.SUBMITTED),
    ("inbox/", "manager", Status.SUBMITTED),
    ("roadmap/", "hos", Status.APPROVED),
    ("roadmap/", "rep", Status.SHIPPED),
    ("roadmap/", "admin", Status.IN_PROGRESS),
]


def _shown(body):
    """How many requests the endpoint returned, whatever its shape."""
    if "results" in body:
        return len(body["results"])
    if "teams" in body:
        return sum(len(t["items"]) for t in body["teams"])
    return len(body["items"])


@pytest.mark.parametrize("path, who, kind", ENDPOINTS, ids=[f"{p} {w}" for p, w, _ in ENDPOINTS])
def test_list_endpoints_run_the_same_queries_for_5_60_and_300_objects(
    api, cast, quarters, path, who, kind
):
    url = f"{API}/{path.format(current=quarters[0].slug)}"
    client = api(getattr(cast, who))
    client.get(f"{API}/me/")  # the token lookup is warmed the same way for every count
    counts, shown = {}, {}
    for total in (5, 60, 300):
        # `total` requests of the kind this endpoint shows, plus the others in the mix.
        while FeatureRequest.objects.filter(status=kind).count() < total:
            add_requests(cast, quarters, 9)
        counts[total], response = queries_for(client, url)
        shown[total] = _shown(response.json())
    assert shown[5] < shown[60] <= shown[300]
    assert_flat(counts, url)


@pytest.mark.parametrize("path", ["quarters/", "quarters/{current}/"])
def test_budget_endpoints_run_a_fixed_number_of_queries(api, cast, quarters, path):
    url = f"{API}/{path.format(current=quarters[0].slug)}"
    client = api(cast.rep)
    client.get(f"{API}/me/")
    counts = {}
    for capacity in (100, 200, 300):
        budget_set_capacity(quarter=quarters[0], capacity=capacity, actor=cast.hop)
        counts[capacity], _ = queries_for(client, url)
    assert_flat(counts, url)


def test_a_requests_events_run_a_fixed_number_of_queries(api, cast, build):
    fr = build.escalated()
    client = api(cast.hos)
    points = iter(range(1, 100))
    counts = {}
    for size in (20, 40, 60):
        for _ in range(20):  # each re-estimate writes an audit event
            build.estimate(fr, next(points))
        counts[size], response = queries_for(client, f"{API}/requests/{fr.pk}/events/")
    assert response.json()["count"] == 3 + 60  # create, submit, escalate; 60 estimates
    assert_flat(counts, "events")
