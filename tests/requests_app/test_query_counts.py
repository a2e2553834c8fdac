"""List pages and the request page run a fixed number of queries, however much data there is.

Each test renders a page with a little data, adds a lot more, renders it again and compares
the number of queries. The data is built in bulk, with valid ranks (1..n per inbox and per
queue), so what the pages show is what the services would have produced.
"""

import datetime as dt
import re
from decimal import Decimal
from itertools import cycle

import pytest
from django.utils import timezone

from requests_app import services
from requests_app.models import (
    AuditEvent,
    Comment,
    Deal,
    FeatureRequest,
    ProductNote,
    ProductTheme,
    Status,
)

from ..query_counts import assert_flat, bulk_requests, page_queries

pytestmark = pytest.mark.django_db


# --- Helpers --------------------------------------------------------------------------------


def add_requests(cast, quarters, n):
    """n more requests in a mix of states, each with two deals, ranks continuing 1..n."""
    current, later = quarters
    theme, _ = ProductTheme.objects.get_or_create(name="Platform")
    kinds = cycle(
        [
            ("submitted", cast.rep, cast.manager, None),
            ("submitted", cast.outsider, cast.other_manager, None),
            ("escalated", cast.rep, cast.manager, current),
            ("escalated", cast.outsider, cast.other_manager, current),
            ("escalated", cast.rep, cast.manager, later),
            ("draft", cast.rep, None, None),
            ("approved", cast.outsider, cast.other_manager, current),
        ]
    )

    def make(i, now):
        status, author, manager, quarter = next(kinds)
        fr = FeatureRequest(
            status=status,
            author=author,
            manager=manager,
            target_quarter=quarter,
            theme=theme if i % 2 else None,
        )
        if status != "draft":
            fr.submitted_at = now
        if status in ("escalated", "approved"):
            fr.escalated_at = now
        if status == "approved":
            fr.estimate = 3
        return fr

    built = bulk_requests(n, make)
    assert_ranks_strict()
    return built


def assert_ranks_strict():
    for field, container, status in (
        ("inbox_rank", "manager_id", Status.SUBMITTED),
        ("queue_rank", "target_quarter_id", Status.ESCALATED),
    ):
        groups = {}
        for key, rank in FeatureRequest.objects.filter(status=status).values_list(container, field):
            groups.setdefault(key, []).append(rank)
        for ranks in groups.values():
            assert sorted(ranks) == list(range(1, len(ranks) + 1))


PAGES = [
    ("/requests/", "hos"),
    ("/requests/", "manager"),
    ("/requests/", "rep"),
    ("/requests/", "pm"),
    ("/requests/?status=escalated", "hos"),
    ("/inbox/", "manager"),
    ("/inbox/", "hos"),
    ("/queue/", "hos"),
    ("/queue/", "manager"),
    ("/queue/", "pm"),
    ("/queue/?quarter={next}", "hos"),
]


@pytest.mark.parametrize("url, who", PAGES)
def test_list_pages_run_the_same_queries_for_5_and_200_requests(client, cast, quarters, url, who):
    url = url.format(next=quarters[1].slug)
    client.force_login(getattr(cast, who))
    add_requests(cast, quarters, 5)
    client.get(url)  # settle one-off work (quarters created on first visit, session)
    few, few_html = page_queries(client, url)

    add_requests(cast, quarters, 195)
    many, many_html = page_queries(client, url)

    assert_flat({5: few, 200: many}, url)
    # The bigger page really shows more (up to the list's page size of 25).
    assert many_html.count("data-id=") >= few_html.count("data-id=")
    assert many_html.count("Bulk request") > few_html.count("Bulk request")


def test_the_inbox_and_queue_show_every_ranked_request_a_page_at_a_time(client, cast, quarters):
    add_requests(cast, quarters, 200)
    client.force_login(cast.manager)

    def shown(url):
        """Every data-id on every page of a ranked list, following its pager."""
        ids, page = [], 1
        while True:
            _, html = page_queries(client, f"{url}&page={page}")
            ids += re.findall(r'<li data-id="(\d+)"', html)
            if "Next →" not in html:
                return [int(pk) for pk in ids]
            page += 1

    assert shown(f"/inbox/?team={cast.manager.pk}") == services.inbox_ids(cast.manager.pk)
    assert shown(f"/queue/?quarter={quarters[0].slug}") == services.queue_ids(quarters[0].pk)
    assert len(services.queue_ids(quarters[0].pk)) > services.RANK_PAGE_SIZE


# --- The request page ----------------------------------------------------------------------


def grow(fr, cast, n):
    """n more deals, comments, audit events, followers' worth of history on fr."""
    start = fr.deals.count()
    people = [cast.rep, cast.outsider, cast.manager, cast.hos, cast.pm, cast.hop]
    Deal.objects.bulk_create(
        Deal(
            request=fr,
            owner=people[i % 2],
            account_name=f"Grown account {i}",
            amount=Decimal("5000"),
            currency=["USD", "EUR", "GBP"][i % 3],
            expected_close_date=timezone.localdate() + dt.timedelta(days=i),
            crm_ref=f"https://crm.example.com/{i}" if i % 2 else f"OPP-{i}",
        )
        for i in range(start, start + n)
    )
    Comment.objects.bulk_create(
        Comment(request=fr, author=people[i % len(people)], body=f"Comment {i}") for i in range(n)
    )
    ProductNote.objects.bulk_create(
        ProductNote(request=fr, author=cast.pm, body=f"Note {i}") for i in range(n)
    )
    AuditEvent.objects.bulk_create(
        AuditEvent(
            request=fr,
            actor=people[i % len(people)] if i % 4 else None,
            action="rank" if i % 2 else "comment",
            old_value={"queue_rank": i} if i % 2 else None,
            new_value={"queue_rank": i + 1} if i % 2 else {"comment": i},
            reason=f"Because {i}",
        )
        for i in range(n)
    )
    fr.followers.add(*people)


@pytest.mark.parametrize("who", ["rep", "outsider", "manager", "hos", "pm", "hop"])
def test_the_request_page_does_not_grow_with_deals_comments_and_events(client, cast, quarters, who):
    fr = services.request_create(
        actor=cast.rep,
        data={"title": "Audit trail export", "problem": "Auditors need a CSV"},
        deals=[
            {
                "account_name": "Acme",
                "amount": Decimal("90000"),
                "expected_close_date": timezone.localdate() + dt.timedelta(days=20),
            }
        ],
    )
    services.request_submit(fr=fr, actor=cast.rep)
    services.request_escalate(fr=fr, actor=cast.manager, quarter=quarters[0])
    # Other requests, so the merge choices on the page have something to list.
    add_requests(cast, quarters, 10)
    client.force_login(getattr(cast, who))
    url = f"/requests/{fr.pk}/"
    client.get(url)

    few, few_html = page_queries(client, url)
    grow(fr, cast, 40)
    many, many_html = page_queries(client, url)

    assert_flat({0: few, 40: many}, url)
    assert many_html.count("Grown account") == 40
    assert many_html.count("Comment 39") == 1


def test_the_request_page_in_the_inbox_does_not_grow_either(client, cast, quarters):
    fr = services.request_create(
        actor=cast.rep,
        data={"title": "SAML login", "problem": "SSO is required"},
        deals=[
            {
                "account_name": "Initech",
                "amount": Decimal("40000"),
                "expected_close_date": timezone.localdate() + dt.timedelta(days=20),
            }
        ],
    )
    services.request_submit(fr=fr, actor=cast.rep)
    add_requests(cast, quarters, 10)
    client.force_login(cast.manager)
    url = f"/requests/{fr.pk}/"
    client.get(url)
    few, _ = page_queries(client, url)
    grow(fr, cast, 30)
    many, _ = page_queries(client, url)
    assert_flat({0: few, 30: many}, url)
