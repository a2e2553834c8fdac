"""/review/, /roadmap/ and /budget/<slug>/ run the same number of queries with 5 requests as
with 300: nothing on them queries per row.

The requests are built in bulk with valid ranks (1..n per queue) in every state the pages
show, each with deals in two currencies and some with a theme; the budget's ledger grows
through the real service, one reservation per approved request.
"""

import datetime as dt
import re
from itertools import cycle

import pytest

from budgets.services import budget_reserve, budget_set_capacity
from requests_app.models import FeatureRequest, Funding, ProductTheme, Status

from ..query_counts import assert_flat, bulk_requests, page_queries

pytestmark = pytest.mark.django_db


def add_requests(cast, quarters, n):
    current, upcoming = quarters
    themes = [
        ProductTheme.objects.get_or_create(name=name)[0] for name in ("Platform", "Analytics")
    ]
    kinds = cycle(
        [
            (Status.ESCALATED, current, ""),
            (Status.ESCALATED, current, ""),
            (Status.ESCALATED, upcoming, ""),
            (Status.APPROVED, current, Funding.SALES),
            (Status.APPROVED, upcoming, Funding.PRODUCT),
            (Status.IN_PROGRESS, current, Funding.SALES),
            (Status.SHIPPED, current, Funding.SALES),
            (Status.DEFERRED, upcoming, ""),
            (Status.APPROVED, current, Funding.PRODUCT),
        ]
    )

    def make(i, now):
        status, quarter, funding = next(kinds)
        author, manager = (cast.rep, cast.manager) if i % 2 else (cast.outsider, cast.other_manager)
        fr = FeatureRequest(
            status=status,
            author=author,
            manager=manager,
            target_quarter=quarter,
            theme=themes[i % 3] if i % 3 < 2 else None,
            estimate=(i % 7) + 1 if i % 5 else None,
            funding=funding,
            submitted_at=now,
            escalated_at=now,
        )
        if status not in (Status.ESCALATED, Status.DEFERRED) and fr.estimate is None:
            fr.estimate = 2
        if status == Status.SHIPPED:
            fr.shipped_at = now - dt.timedelta(days=i % 30)
        return fr

    built = bulk_requests(n, make)
    # The ledger grows too: each sales-funded commitment of this quarter reserves 1 point.
    for fr in built:
        if fr.funding == Funding.SALES and fr.target_quarter_id == current.pk:
            budget_reserve(quarter=current, points=1, actor=cast.hop, request=fr, reason=fr.title)
            FeatureRequest.objects.filter(pk=fr.pk).update(reserved_points=1)
    return built


@pytest.fixture
def big_budget(cast, quarters):
    budget_set_capacity(quarter=quarters[0], capacity=100_000, actor=cast.hop)
    return quarters[0]


PAGES = [
    ("/review/", "hop"),
    ("/review/", "pm"),
    ("/review/?quarter={next}", "hop"),
    ("/roadmap/", "rep"),
    ("/roadmap/", "hop"),
    ("/roadmap/", "admin"),
    ("/budget/{current}/", "hos"),
    ("/budget/{current}/", "hop"),
]


@pytest.mark.parametrize("url, who", PAGES)
def test_pages_run_the_same_queries_for_5_and_300_requests(
    client, cast, quarters, big_budget, url, who
):
    url = url.format(current=quarters[0].slug, next=quarters[1].slug)
    client.force_login(getattr(cast, who))
    add_requests(cast, quarters, 5)
    client.get(url)  # settle one-off work (session, quarters created on first visit)
    few, few_html = page_queries(client, url)

    add_requests(cast, quarters, 295)
    many, many_html = page_queries(client, url)

    assert_flat({5: few, 300: many}, url)
    # The bigger page really shows more requests (rows, cards or ledger entries).
    links = re.compile(r'href="/requests/\d+/"')
    assert len(links.findall(many_html)) > len(links.findall(few_html))
