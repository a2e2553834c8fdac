"""One helper for every query-count test: read a URL, count its queries, hold the cap.

Pages and list endpoints must run a fixed number of queries however many rows there are
(the tests compare two sizes) and never more than MAX_QUERIES (issue 7's budget)."""

import datetime as dt
from decimal import Decimal

from django.db import connection
from django.db.models import Max
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from requests_app.models import Deal, FeatureRequest, Funding, Status

MAX_QUERIES = 12


def queries_for(client, url, **headers):
    """(number of queries, response) of one GET that must answer 200."""
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, **headers)
    assert response.status_code == 200, f"{url}: {response.status_code}"
    return len(ctx.captured_queries), response


def assert_flat(counts, what="", cap=MAX_QUERIES):
    """The same number of queries at every size, and within the cap."""
    sizes = ", ".join(f"{n} at size {size}" for size, n in counts.items())
    assert len(set(counts.values())) == 1, f"{what}: queries grow with the data: {sizes}"
    assert max(counts.values()) <= cap, f"{what}: over {cap} queries: {sizes}"


def page_queries(client, url):
    """(number of queries, HTML) of one page that must answer 200."""
    count, response = queries_for(client, url)
    return count, response.content.decode()


def bulk_requests(n, make):
    """n more requests built in bulk, each with two deals (USD and EUR).

    make(i, now) returns an unsaved request with its state and people; this gives it a title,
    a creation time and, when submitted or escalated, the next rank of its inbox or queue, so
    the ranks stay a strict order as the services would leave them."""
    now = timezone.now()
    tops = {}

    def next_rank(field, **container):
        key = (field, *container.values())
        if key not in tops:
            found = FeatureRequest.objects.filter(**container).aggregate(m=Max(field))["m"]
            tops[key] = found or 0
        tops[key] += 1
        return tops[key]

    start = FeatureRequest.objects.count()
    built = []
    for i in range(start, start + n):
        fr = make(i, now)
        fr.title, fr.problem = f"Bulk request {i}", f"Problem {i}"
        fr.created_at = now - dt.timedelta(minutes=i)
        if fr.status == Status.SUBMITTED:
            fr.inbox_rank = next_rank("inbox_rank", manager_id=fr.manager_id)
        if fr.status == Status.ESCALATED:
            fr.queue_rank = next_rank("queue_rank", target_quarter_id=fr.target_quarter_id)
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


def bulk_queue(cast, quarter, n, *, estimate=None, status=Status.ESCALATED):
    """n requests of the East team escalated to `quarter` (or committed to it, by `status`),
    built in bulk at the bottom of its queue; their ids in the order built."""

    def make(i, now):
        fr = FeatureRequest(
            status=status,
            author=cast.rep,
            manager=cast.manager,
            target_quarter=quarter,
            estimate=estimate,
            submitted_at=now,
            escalated_at=now,
        )
        if status in (Status.APPROVED, Status.IN_PROGRESS):
            fr.funding = Funding.SALES
        return fr

    return [fr.pk for fr in bulk_requests(n, make)]
