"""The cut line at its edges (DOMAIN.md: The queues and the cut line): walk the queue in rank
order adding estimates; the first request that no longer fits the remaining budget is below
the line. Unestimated requests are flagged, not counted.

First the rule itself (services.cut_line), then what /review/ shows for the same queues.
"""

import re
from types import SimpleNamespace

import pytest

from requests_app import services

from .test_decisions import approved, budget_of, escalated

pytestmark = pytest.mark.django_db


def walk(estimates, remaining):
    rows = services.cut_line([SimpleNamespace(estimate=e) for e in estimates], remaining)
    return [(r["running_total"], r["unestimated"], r["below"], r["first_below"]) for r in rows]


# --- The rule ------------------------------------------------------------------------------


def test_a_queue_that_exactly_fits_is_all_above_the_line():
    assert walk([10, 20, 10], 40) == [
        (10, False, False, False),
        (30, False, False, False),
        (40, False, False, False),
    ]


def test_one_point_over_puts_that_request_first_below_the_line():
    assert walk([10, 20, 11], 40) == [
        (10, False, False, False),
        (30, False, False, False),
        (41, False, True, True),
    ]


def test_everything_after_the_first_misfit_is_below_even_if_it_would_fit():
    # The 5 would fit in the 10 left after the 30, but the line is a line: rank order holds.
    assert walk([30, 20, 5], 40) == [
        (30, False, False, False),
        (50, False, True, True),
        (55, False, True, False),
    ]


def test_unestimated_requests_above_the_line_are_flagged_and_not_counted():
    assert walk([None, 10, None, 30, 5], 40) == [
        (None, True, False, False),
        (10, False, False, False),
        (None, True, False, False),
        (40, False, False, False),
        (45, False, True, True),
    ]


def test_an_empty_queue_has_no_line():
    assert walk([], 40) == []


def test_with_nothing_remaining_the_first_estimated_request_is_below():
    assert walk([None, 1, 3], 0) == [
        (None, True, False, False),
        (1, False, True, True),
        (4, False, True, False),
    ]


def test_a_queue_of_only_unestimated_requests_has_no_line():
    assert walk([None, None], 0) == [(None, True, False, False), (None, True, False, False)]


# --- On /review/ ---------------------------------------------------------------------------


def review_html(client, cast, quarter):
    client.force_login(cast.hop)
    response = client.get(f"/review/?quarter={quarter.slug}")
    assert response.status_code == 200
    return response.content.decode()


def order_on_page(html):
    """Row ids and the cut line, in the order the page shows them."""
    marks = re.finditer(r'data-testid="(cut-line|review-row-(\d+))"', html)
    return ["cut" if m.group(1) == "cut-line" else int(m.group(2)) for m in marks]


def running_totals(html):
    """The last number cell of each request row: its running total."""
    totals = []
    for row in re.findall(r'<tr data-id="\d+".*?</tr>', html, re.S):
        totals.append(re.findall(r'<td class="num">(.*?)</td>', row, re.S)[-1].strip())
    return totals


def test_review_page_has_no_cut_line_when_the_queue_exactly_fits(client, build, cast, funded):
    rows = [escalated(build, cast, estimate=e) for e in (10, 20, 10)]
    html = review_html(client, cast, funded)
    assert order_on_page(html) == [fr.pk for fr in rows]
    assert running_totals(html) == ["10", "30", "40"]
    assert 'class="below"' not in html


def test_review_page_draws_the_line_above_the_request_one_point_over(client, build, cast, funded):
    a, b, c, d = (escalated(build, cast, estimate=e) for e in (10, 20, 11, 1))
    html = review_html(client, cast, funded)
    assert order_on_page(html) == [a.pk, b.pk, "cut", c.pk, d.pk]
    assert html.count('data-testid="cut-line"') == 1
    assert "40 points remain" in html
    assert running_totals(html) == ["10", "30", "41", "42"]
    for fr in (c, d):
        assert re.search(rf'data-id="{fr.pk}" class="below"', html)


def test_review_page_flags_unestimated_requests_above_the_line(client, build, cast, funded):
    a = escalated(build, cast)
    b = escalated(build, cast, estimate=40)
    c = escalated(build, cast)
    d = escalated(build, cast, estimate=1)
    html = review_html(client, cast, funded)
    assert order_on_page(html) == [a.pk, b.pk, c.pk, "cut", d.pk]
    assert running_totals(html) == ["—", "40", "—", "41"]
    assert html.count("not estimated") == 2
    assert re.search(r'<span class="num">2</span><span class="label">Awaiting estimate', html)


def test_review_page_for_an_empty_queue_has_no_line(client, build, cast, funded):
    html = review_html(client, cast, funded)
    assert 'data-testid="cut-line"' not in html
    assert f"Nothing escalated to {funded.label} awaits review" in html


def test_review_page_with_nothing_remaining_cuts_above_the_first_estimate(
    client, build, cast, funded
):
    approved(build, cast, 40)
    a = escalated(build, cast)
    b = escalated(build, cast, estimate=1)
    html = review_html(client, cast, funded)
    assert budget_of(funded).remaining == 0
    assert order_on_page(html) == [a.pk, "cut", b.pk]
    assert "0 points remain" in html


def test_review_page_of_a_quarter_without_capacity_cuts_above_everything(
    client, build, cast, funded, quarters
):
    upcoming = quarters[1]  # no capacity set yet: nothing to spend
    a = escalated(build, cast, estimate=2, quarter=upcoming)
    html = review_html(client, cast, upcoming)
    assert order_on_page(html) == ["cut", a.pk]


def test_approving_moves_the_line_down(client, build, cast, funded):
    a, b, c = (escalated(build, cast, estimate=e) for e in (20, 15, 10))
    assert order_on_page(review_html(client, cast, funded)) == [a.pk, b.pk, "cut", c.pk]
    services.request_approve(fr=a, actor=cast.hop)
    # 20 remain; the queue is now b (15), c (25 running): c is still below.
    assert order_on_page(review_html(client, cast, funded)) == [b.pk, "cut", c.pk]
    services.request_estimate(fr=c, actor=cast.pm, points=5)
    assert order_on_page(review_html(client, cast, funded)) == [b.pk, c.pk]
