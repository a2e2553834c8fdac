"""Ranked lists a page at a time, as the people who use them see them.

The quarter's queue, the review queue and a team's inbox show RANK_PAGE_SIZE positions a page;
ranking still works on the whole order (the page posts it back as `seen`), so the move buttons,
the move-to-position form and a drag move across pages. The review walks running totals and
the cut line over the whole queue. The Head of Sales' all-teams inbox pages through teams with
each team's top few; the roadmap shows the first few of each column and a column's own
paginated view. None of these pages runs more queries for more requests.
"""

import csv
import io
import re
from html import unescape
from urllib.parse import urljoin

import pytest

from accounts.models import Role, User
from budgets.services import budget_set_capacity
from requests_app import services
from requests_app.models import AuditEvent, FeatureRequest, Funding, Status
from requests_app.views import INBOX_PREVIEW, ROADMAP_PREVIEW, TEAMS_PER_PAGE

from ..conftest import make_user
from ..query_counts import assert_flat, bulk_queue, bulk_requests, page_queries
from .test_cut_line import order_on_page, running_totals
from .test_ranking import scrape

pytestmark = pytest.mark.django_db

PAGE = services.RANK_PAGE_SIZE  # 50
HTMX = {"HTTP_HX_REQUEST": "true"}


# --- Builders and readers -------------------------------------------------------------------


def queued(cast, quarter, n, *, estimate=None, status=Status.ESCALATED):
    return bulk_queue(cast, quarter, n, estimate=estimate, status=status)


def submitted_to(manager, author, n):
    """n requests submitted to `manager`'s inbox, built in bulk at its bottom; their ids."""

    def make(i, now):
        return FeatureRequest(
            status=Status.SUBMITTED, author=author, manager=manager, submitted_at=now
        )

    return [fr.pk for fr in bulk_requests(n, make)]


def ranked_rows(html):
    """(id, position shown) of each row of a ranked list (queue or inbox), top to bottom."""
    return [
        (int(pk), int(rank))
        for pk, rank in re.findall(
            r'<li data-id="(\d+)">.*?<span class="rank">(\d+)</span>', html, re.S
        )
    ]


def ids_of(html):
    return [pk for pk, _ in ranked_rows(html)]


def words(response):
    """What the page says, entities decoded and whitespace collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", "", response.content.decode())).split())


def pager_links(html):
    """The hrefs of the pager's Previous and Next links."""
    return {
        label: unescape(href)
        for href, label in re.findall(r'<a href="([^"]*)">(← Previous|Next →)</a>', html)
    }


def posted(form):
    """What a scraped form posts: its enabled fields (the drag's `order` stays disabled)."""
    return {name: value for name, value in form.items() if not name.startswith("_")}


def whole_state():
    """What a refused ranking must leave as it was: every rank, and the audit trail."""
    return (
        list(FeatureRequest.objects.order_by("pk").values_list("pk", "inbox_rank", "queue_rank")),
        AuditEvent.objects.count(),
    )


@pytest.fixture
def queue60(cast, quarters):
    """60 requests in the current quarter's queue, positions 1..60."""
    order = queued(cast, quarters[0], 60)
    assert services.queue_ids(quarters[0].pk) == order
    return order


def queue_url(quarter, page=None):
    return f"/queue/?quarter={quarter.slug}" + (f"&page={page}" if page else "")


# --- /queue/ a page at a time ---------------------------------------------------------------


@pytest.mark.parametrize("who", ["hos", "pm"])
def test_the_queue_shows_fifty_positions_a_page_and_every_request_once(
    client, cast, quarters, queue60, who
):
    client.force_login(getattr(cast, who))
    slug = quarters[0].slug
    first = client.get(queue_url(quarters[0]))
    second = client.get(queue_url(quarters[0], 2))
    assert first.status_code == second.status_code == 200

    assert ranked_rows(first.content.decode()) == list(
        zip(queue60[:PAGE], range(1, 51), strict=True)
    )
    assert ranked_rows(second.content.decode()) == list(
        zip(queue60[PAGE:], range(51, 61), strict=True)
    )
    assert "Positions 1–50 of 60 · page 1 of 2" in words(first)
    assert "Positions 51–60 of 60 · page 2 of 2" in words(second)
    # Previous and Next keep the quarter the page shows.
    assert pager_links(first.content.decode()) == {"Next →": f"?quarter={slug}&page=2"}
    assert pager_links(second.content.decode()) == {"← Previous": f"?quarter={slug}&page=1"}


def test_the_pager_keeps_the_quarter_it_shows(client, cast, quarters):
    upcoming = quarters[1]
    order = queued(cast, upcoming, 55)
    client.force_login(cast.hos)
    response = client.get(queue_url(upcoming, 2))
    assert ids_of(response.content.decode()) == order[PAGE:]
    assert pager_links(response.content.decode()) == {
        "← Previous": f"?quarter={upcoming.slug}&page=1"
    }


@pytest.mark.parametrize(
    "number, shown",
    [("abc", 1), ("", 1), ("2.5", 1), ("0", 1), ("-3", 1), ("99", 2), ("99999999999999999999", 2)],
)
def test_a_junk_or_out_of_range_page_shows_the_nearest_page(
    client, cast, quarters, queue60, number, shown
):
    client.force_login(cast.hos)
    response = client.get(f"/queue/?quarter={quarters[0].slug}&page={number}")
    assert response.status_code == 200
    expected = queue60[:PAGE] if shown == 1 else queue60[PAGE:]
    assert ids_of(response.content.decode()) == expected
    assert f"page {shown} of 2" in words(response)


def test_a_short_queue_has_no_pager_and_no_move_to_form(client, cast, quarters):
    order = queued(cast, quarters[0], PAGE)
    client.force_login(cast.hos)
    response = client.get(queue_url(quarters[0]))
    html = response.content.decode()
    assert ids_of(html) == order
    assert 'data-testid="pager"' not in html
    assert 'name="move_to"' not in html


# --- The move buttons across pages ---------------------------------------------------------


def buttons(response):
    """{(request id, move): enabled} of every rank button on the page."""
    moves = {}
    for attrs in scrape(response).buttons:
        pk, _, move = attrs["value"].partition(":")
        moves[(int(pk), move)] = "disabled" not in attrs
    return moves


def test_the_move_buttons_know_the_whole_order(client, cast, quarters, queue60):
    client.force_login(cast.hos)
    first = buttons(client.get(queue_url(quarters[0])))
    second = buttons(client.get(queue_url(quarters[0], 2)))

    top, last_of_first, p51, p60 = queue60[0], queue60[49], queue60[50], queue60[59]
    assert [first[(top, m)] for m in ("top", "up", "down", "bottom")] == [False, False, True, True]
    # The last of page 1 can still go down: there is more below it on page 2.
    assert [first[(last_of_first, m)] for m in ("top", "up", "down", "bottom")] == [True] * 4
    # The first of page 2 can go up (onto page 1); the last of the queue cannot go down.
    assert [second[(p51, m)] for m in ("top", "up", "down", "bottom")] == [True] * 4
    assert [second[(p60, m)] for m in ("top", "up", "down", "bottom")] == [
        True,
        True,
        False,
        False,
    ]
    assert {pk for pk, _ in second} == set(queue60[PAGE:])


def test_up_from_the_top_of_page_two_moves_onto_page_one_and_comes_back_to_page_two(
    client, cast, quarters, queue60
):
    client.force_login(cast.hos)
    page2 = client.get(queue_url(quarters[0], 2))
    form = scrape(page2).forms["reorder-queue"]
    assert form["seen"] == ",".join(map(str, queue60))  # the whole order, not the page
    p50, p51 = queue60[49], queue60[50]

    response = client.post(form["_action"], {**posted(form), "move": f"{p51}:up"})
    assert response.status_code == 302
    assert response["Location"] == f"/queue/?quarter={quarters[0].slug}&page=2"
    after = services.queue_ids(quarters[0].pk)
    assert after == [*queue60[:49], p51, p50, *queue60[PAGE:][1:]]
    assert after.index(p51) + 1 == 50

    shown = client.get(response["Location"])
    assert ranked_rows(shown.content.decode())[0] == (p50, 51)
    assert "Order saved." in words(shown)


def test_an_htmx_button_move_on_page_two_answers_page_two(client, cast, quarters, queue60):
    client.force_login(cast.hos)
    form = scrape(client.get(queue_url(quarters[0], 2))).forms["reorder-queue"]
    p50, p51 = queue60[49], queue60[50]

    response = client.post(form["_action"], {**posted(form), "move": f"{p51}:up"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and 'id="queue-list"' in html
    assert ranked_rows(html) == list(zip([p50, *queue60[51:]], range(51, 61), strict=True))
    assert "Positions 51–60 of 60 · page 2 of 2" in words(response)
    # The re-rendered form still posts page 2's order back to page 2.
    again = scrape(response).forms["reorder-queue"]
    assert again["page"] == "2"
    assert again["seen"] == ",".join(map(str, services.queue_ids(quarters[0].pk)))


def test_bottom_from_page_one_sends_a_request_to_the_end_of_page_two(
    client, cast, quarters, queue60
):
    client.force_login(cast.hos)
    form = scrape(client.get(queue_url(quarters[0]))).forms["reorder-queue"]
    response = client.post(form["_action"], {**posted(form), "move": f"{queue60[0]}:bottom"})
    assert response.status_code == 302
    assert response["Location"] == f"/queue/?quarter={quarters[0].slug}"
    assert services.queue_ids(quarters[0].pk) == [*queue60[1:], queue60[0]]


# --- Move to position ----------------------------------------------------------------------


def move_to(client, quarter, seen, move_id, position, page=2, **headers):
    return client.post(
        queue_url(quarter, page),
        {
            "quarter": quarter.slug,
            "page": page,
            "seen": ",".join(map(str, seen)) if isinstance(seen, list) else seen,
            "move_id": move_id,
            "move_to": position,
            "move_to_position": "1",
        },
        **headers,
    )


def test_page_two_offers_the_move_to_position_form(client, cast, quarters, queue60):
    client.force_login(cast.hos)
    html = client.get(queue_url(quarters[0], 2)).content.decode()
    assert 'data-testid="move-to-reorder-queue"' in html
    for field in ('name="move_id"', 'name="move_to"', 'name="move_to_position"'):
        tag = re.search(rf"<[^>]*{field}[^>]*>", html).group(0)
        assert 'form="reorder-queue"' in tag
    assert 'max="60"' in re.search(r'<input[^>]*name="move_to"[^>]*>', html).group(0)


@pytest.mark.parametrize("written", ["{pk}", "#{pk}", " {pk} "])
def test_move_a_request_from_page_two_to_position_one(client, cast, quarters, queue60, written):
    client.force_login(cast.hos)
    moving = queue60[54]
    response = move_to(client, quarters[0], queue60, written.format(pk=moving), "1")
    assert response.status_code == 302
    assert response["Location"] == f"/queue/?quarter={quarters[0].slug}&page=2"
    assert services.queue_ids(quarters[0].pk) == [moving, *queue60[:54], *queue60[55:]]

    shown = client.get(response["Location"])
    assert f"#{moving} is now at position 1." in words(shown)
    # Page 2 now starts with what was at position 50.
    assert ranked_rows(shown.content.decode())[0] == (queue60[49], 51)


def test_move_to_position_with_htmx_answers_the_page_with_the_message(
    client, cast, quarters, queue60
):
    client.force_login(cast.hos)
    moving = queue60[3]
    response = move_to(client, quarters[0], queue60, str(moving), "58", **HTMX)
    assert response.status_code == 200
    assert "<html" not in response.content.decode()
    assert f"#{moving} is now at position 58." in words(response)
    after = services.queue_ids(quarters[0].pk)
    assert after.index(moving) + 1 == 58
    assert (moving, 58) in ranked_rows(response.content.decode())


def test_a_position_past_the_end_is_the_bottom(client, cast, quarters, queue60):
    client.force_login(cast.hos)
    response = move_to(client, quarters[0], queue60, str(queue60[0]), "500")
    assert response.status_code == 302
    assert services.queue_ids(quarters[0].pk) == [*queue60[1:], queue60[0]]
    assert f"#{queue60[0]} is now at position 60." in words(client.get(response["Location"]))


@pytest.mark.parametrize(
    "move_id, position, status, says",
    [
        ("{p55}", "", 400, "to the top, up, down, the bottom or a position"),
        ("{p55}", "0", 400, "Positions start at 1."),
        ("{p55}", "-2", 400, "to the top, up, down, the bottom or a position"),
        ("{p55}", "abc", 400, "to the top, up, down, the bottom or a position"),
        ("{p55}", "1.5", 400, "to the top, up, down, the bottom or a position"),
        ("", "1", 400, "to the top, up, down, the bottom or a position"),
        ("abc", "1", 400, "to the top, up, down, the bottom or a position"),
        ("{foreign}", "1", 400, "to the top, up, down, the bottom or a position"),
        ("999999", "1", 400, "to the top, up, down, the bottom or a position"),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_bad_move_to_position_input_is_refused_and_changes_nothing(
    client, cast, quarters, queue60, move_id, position, status, says, htmx
):
    foreign = queued(cast, quarters[1], 1)[0]  # in the next quarter's queue, not this one
    client.force_login(cast.hos)
    before = whole_state()
    response = move_to(
        client,
        quarters[0],
        queue60,
        move_id.format(p55=queue60[54], foreign=foreign),
        position,
        **(HTMX if htmx else {}),
    )
    assert response.status_code == status
    assert says in words(response)
    assert whole_state() == before
    # The page answered is still page 2 of the queue, with nothing moved.
    assert ids_of(response.content.decode()) == queue60[PAGE:]


def test_move_to_position_against_a_stale_order_is_refused(client, cast, quarters, queue60):
    client.force_login(cast.hos)
    stale = [queue60[1], queue60[0], *queue60[2:]]  # someone moved the top two meanwhile
    before = whole_state()
    response = move_to(client, quarters[0], stale, str(queue60[54]), "1")
    assert response.status_code == 409
    assert "reload" in words(response)
    assert whole_state() == before
    assert services.queue_ids(quarters[0].pk) == queue60


def test_a_sales_manager_cannot_move_to_position(client, cast, quarters, queue60):
    client.force_login(cast.manager)
    page2 = client.get(queue_url(quarters[0], 2)).content.decode()
    assert 'name="move_to"' not in page2 and 'name="move"' not in page2
    before = whole_state()
    response = move_to(client, quarters[0], queue60, str(queue60[54]), "1")
    assert response.status_code == 403
    assert whole_state() == before


# --- /review/ a page at a time -------------------------------------------------------------


@pytest.fixture
def review60(cast, quarters):
    """60 requests of 10 points in the current quarter's queue and 555 points left: the
    budget runs out at position 56 (560 points)."""
    current = quarters[0]
    order = queued(cast, current, 60, estimate=10)
    budget_set_capacity(quarter=current, capacity=5550, actor=cast.hop)  # 10% = 555
    current.budget.refresh_from_db()
    assert current.budget.remaining == 555
    return order


def review_url(quarter, page=None):
    return f"/review/?quarter={quarter.slug}" + (f"&page={page}" if page else "")


def test_the_review_says_where_the_budget_runs_out_and_links_to_its_page(
    client, cast, quarters, review60
):
    client.force_login(cast.hop)
    slug = quarters[0].slug
    first = client.get(review_url(quarters[0]))
    html = first.content.decode()
    assert order_on_page(html) == review60[:PAGE]  # no cut line on page 1
    assert running_totals(html) == [str(10 * i) for i in range(1, 51)]
    assert "The budget runs out at position 56 of 60: see the cut line." in words(first)
    link = re.search(r'<a href="([^"]*)">see the cut line</a>', html).group(1)
    assert unescape(link) == f"/review/?quarter={slug}&page=2#cut-line"
    assert "Positions 1–50 of 60 · page 1 of 2" in words(first)


def test_page_two_of_the_review_carries_the_totals_and_the_cut_line(
    client, cast, quarters, review60
):
    client.force_login(cast.pm)
    second = client.get(review_url(quarters[0], 2))
    html = second.content.decode()
    # The cut line sits just before position 56, with the id the link on page 1 points at.
    assert order_on_page(html) == [*review60[50:55], "cut", *review60[55:]]
    assert 'id="cut-line"' in html
    assert running_totals(html) == [str(10 * i) for i in range(51, 61)]
    positions = re.findall(r'data-testid="review-row-\d+">\s*<td class="num">(\d+)</td>', html)
    assert positions == [str(i) for i in range(51, 61)]
    assert "The budget runs out at position 56 of 60." in words(second)
    assert "see the cut line" not in html  # it is on this page
    assert "Positions 51–60 of 60 · page 2 of 2" in words(second)


def test_awaiting_estimate_counts_the_whole_queue(client, cast, quarters, review60):
    unestimated = queued(cast, quarters[0], 3)  # positions 61..63, on page 2
    client.force_login(cast.hop)
    for page in (1, 2):
        html = client.get(review_url(quarters[0], page)).content.decode()
        awaiting = re.search(r'<span class="num">(\d+)</span><span class="label">Awaiting', html)
        assert awaiting.group(1) == str(len(unestimated)), f"page {page}"


def test_a_decision_from_page_two_with_htmx_re_renders_page_two(client, cast, quarters, review60):
    client.force_login(cast.hop)
    page2 = client.get(review_url(quarters[0], 2)).content.decode()
    approving = review60[50]
    form = re.search(
        rf'<form method="post" action="/review/{approving}/decide/".*?</form>', page2, re.S
    ).group(0)
    page_field = re.search(r'<input type="hidden" name="page" value="(\d+)">', form).group(1)
    assert page_field == "2"

    response = client.post(
        f"/review/{approving}/decide/", {"action": "approve", "page": page_field}, **HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and 'id="review-list"' in html
    assert FeatureRequest.objects.get(pk=approving).status == Status.APPROVED
    # Page 2 of what is left: 59 requests, 545 points remain, the cut now before position 55.
    assert "Positions 51–59 of 59 · page 2 of 2" in words(response)
    assert order_on_page(html) == [*review60[51:55], "cut", *review60[55:]]
    assert running_totals(html)[0] == "510"


def test_an_estimate_from_page_two_with_htmx_re_renders_page_two(client, cast, quarters, review60):
    client.force_login(cast.pm)
    page2 = client.get(review_url(quarters[0], 2)).content.decode()
    estimating = review60[57]
    form = re.search(
        rf'<form method="post" action="/review/{estimating}/estimate/".*?</form>', page2, re.S
    ).group(0)
    assert '<input type="hidden" name="page" value="2">' in form
    response = client.post(
        f"/review/{estimating}/estimate/", {"estimate": "20", "page": "2"}, **HTMX
    )
    assert response.status_code == 200
    assert "Positions 51–60 of 60 · page 2 of 2" in words(response)
    assert running_totals(response.content.decode())[-3:] == ["590", "600", "610"]


def test_a_decision_from_page_two_without_htmx_comes_back_to_page_two(
    client, cast, quarters, review60
):
    client.force_login(cast.hop)
    response = client.post(f"/review/{review60[52]}/decide/", {"action": "approve", "page": "2"})
    assert response.status_code == 302
    assert response["Location"] == f"/review/?quarter={quarters[0].slug}&page=2"


def test_the_csv_export_has_the_whole_queue_with_running_totals(client, cast, quarters, review60):
    client.force_login(cast.hop)
    response = client.get(f"/review/export.csv?quarter={quarters[0].slug}&page=2")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [int(row["id"]) for row in rows] == review60
    assert [row["rank"] for row in rows] == [str(i) for i in range(1, 61)]
    assert [row["running_total"] for row in rows] == [str(10 * i) for i in range(1, 61)]
    assert [row["cut_line"] for row in rows] == ["above"] * 55 + ["below"] * 5


# --- /inbox/ a page at a time --------------------------------------------------------------


@pytest.fixture
def inbox60(cast, quarters):
    """60 requests in the East team's inbox (cast.manager), positions 1..60."""
    order = submitted_to(cast.manager, cast.rep, 60)
    assert services.inbox_ids(cast.manager.pk) == order
    return order


def test_a_managers_inbox_shows_fifty_then_ten(client, cast, inbox60):
    client.force_login(cast.manager)
    first = client.get("/inbox/")
    second = client.get("/inbox/?page=2")
    assert ranked_rows(first.content.decode()) == list(
        zip(inbox60[:PAGE], range(1, 51), strict=True)
    )
    assert ranked_rows(second.content.decode()) == list(
        zip(inbox60[PAGE:], range(51, 61), strict=True)
    )
    assert "Positions 1–50 of 60 · page 1 of 2" in words(first)
    assert "Positions 51–60 of 60 · page 2 of 2" in words(second)
    assert pager_links(first.content.decode()) == {"Next →": "?page=2"}
    assert pager_links(second.content.decode()) == {"← Previous": "?page=1"}
    # The team's heading counts the whole inbox, not the page.
    assert "East (60)" in words(second)


def test_a_button_move_on_inbox_page_two_comes_back_to_page_two(client, cast, inbox60):
    client.force_login(cast.manager)
    page2 = client.get("/inbox/?page=2")
    form = scrape(page2).forms[f"reorder-{cast.manager.pk}"]
    assert form["seen"] == ",".join(map(str, inbox60))
    assert form["_action"] == "/inbox/?page=2"
    response = client.post(form["_action"], {**posted(form), "move": f"{inbox60[59]}:top"})
    assert response.status_code == 302
    assert response["Location"] == "/inbox/?page=2"
    assert services.inbox_ids(cast.manager.pk) == [inbox60[59], *inbox60[:59]]


def test_the_head_of_sales_sees_a_team_a_page_at_a_time(client, cast, inbox60):
    client.force_login(cast.hos)
    url = f"/inbox/?team={cast.manager.pk}"
    second = client.get(f"{url}&page=2")
    assert ids_of(second.content.decode()) == inbox60[PAGE:]
    assert pager_links(second.content.decode()) == {"← Previous": f"?team={cast.manager.pk}&page=1"}
    form = scrape(second).forms[f"reorder-{cast.manager.pk}"]
    assert form["_action"] == f"{url}&page=2"


def test_move_to_position_in_a_teams_inbox(client, cast, inbox60):
    client.force_login(cast.manager)
    page2 = client.get("/inbox/?page=2")
    assert f'data-testid="move-to-reorder-{cast.manager.pk}"' in page2.content.decode()
    form = scrape(page2).forms[f"reorder-{cast.manager.pk}"]
    moving = inbox60[58]
    response = client.post(
        form["_action"],
        {**posted(form), "move_id": f"#{moving}", "move_to": "2", "move_to_position": "1"},
        **HTMX,
    )
    assert response.status_code == 200
    assert f"#{moving} is now at position 2." in words(response)
    assert services.inbox_ids(cast.manager.pk) == [inbox60[0], moving, *inbox60[1:58], inbox60[59]]
    assert "page 2 of 2" in words(response)


@pytest.fixture
def many_teams(cast):
    """Ten more sales managers: twelve teams, more than one page of them."""
    return [
        make_user(f"mgr{i:02d}", Role.SALES_MANAGER, cast.hos, team_name=f"Team {i:02d}")
        for i in range(10)
    ]


def test_the_all_teams_inbox_pages_through_teams_with_each_teams_top(
    client, cast, inbox60, many_teams
):
    west = submitted_to(cast.other_manager, cast.outsider, 3)
    client.force_login(cast.hos)
    teams = list(User.objects.filter(role=Role.SALES_MANAGER, is_active=True))
    assert len(teams) == 12 > TEAMS_PER_PAGE

    pages = [client.get("/inbox/"), client.get("/inbox/?page=2")]
    sections = [
        re.findall(r'<section aria-labelledby="team-(\d+)">', p.content.decode()) for p in pages
    ]
    assert len(sections[0]) == TEAMS_PER_PAGE
    assert len(sections[1]) == 12 - TEAMS_PER_PAGE
    assert sorted(int(pk) for pk in sections[0] + sections[1]) == sorted(t.pk for t in teams)
    assert "Teams 1–10 of 12 · page 1 of 2" in words(pages[0])
    assert "Teams 11–12 of 12 · page 2 of 2" in words(pages[1])

    # Each team shows the top of its inbox; a longer one links to its own inbox.
    page_with_east = next(
        p for p in pages if f'data-testid="inbox-{cast.manager.pk}"' in p.content.decode()
    )
    html = page_with_east.content.decode()
    east = re.search(rf'data-testid="inbox-{cast.manager.pk}".*?</ol>', html, re.S).group(0)
    assert ranked_rows(east) == list(zip(inbox60[:INBOX_PREVIEW], range(1, 6), strict=True))
    assert "All 60 in East's inbox →" in words(page_with_east)
    assert f'href="/inbox/?team={cast.manager.pk}"' in html
    page_with_west = next(
        p for p in pages if f'data-testid="inbox-{cast.other_manager.pk}"' in p.content.decode()
    )
    assert all(f'data-id="{pk}"' in page_with_west.content.decode() for pk in west)
    assert "All 3 in West's inbox" not in words(page_with_west)  # it all shows


def test_a_drag_in_the_all_teams_inbox_keeps_the_rest_of_the_teams_order(client, cast, inbox60):
    client.force_login(cast.hos)
    overview = client.get("/inbox/")
    html = overview.content.decode()
    form = scrape(overview).forms[f"reorder-{cast.manager.pk}"]
    assert form["seen"] == ",".join(map(str, inbox60))  # the whole order, for the splice
    offset = re.search(rf'data-offset="(\d+)" data-testid="inbox-{cast.manager.pk}"', html).group(1)
    assert offset == "0"

    # What js/app.js posts after dragging the fifth of the top five to the top: the page's new
    # order spliced into the whole order at the list's offset.
    top = inbox60[:INBOX_PREVIEW]
    dragged = [top[4], *top[:4]]
    whole = [*dragged, *inbox60[INBOX_PREVIEW:]]
    response = client.post(
        form["_action"], {**posted(form), "order": ",".join(map(str, whole))}, **HTMX
    )
    assert response.status_code == 200
    assert services.inbox_ids(cast.manager.pk) == whole
    assert ranked_rows(response.content.decode())[:INBOX_PREVIEW] == list(
        zip(dragged, range(1, 6), strict=True)
    )


def test_a_move_on_the_second_page_of_teams_answers_that_page(client, cast, many_teams):
    last_team = many_teams[-1]  # "Team 09": on the second page of teams
    order = submitted_to(last_team, cast.rep, 3)
    client.force_login(cast.hos)
    page2 = client.get("/inbox/?page=2")
    assert f'data-testid="inbox-{last_team.pk}"' in page2.content.decode()
    form = scrape(page2).forms[f"reorder-{last_team.pk}"]
    assert form["_action"] == "/inbox/?page=2"
    response = client.post(form["_action"], {**posted(form), "move": f"{order[2]}:top"}, **HTMX)
    assert response.status_code == 200
    assert services.inbox_ids(last_team.pk) == [order[2], order[0], order[1]]
    assert "Teams 11–12 of 12 · page 2 of 2" in words(response)
    assert f'data-testid="inbox-{last_team.pk}"' in response.content.decode()


@pytest.mark.parametrize("number, shown", [("0", 1), ("-1", 1), ("x", 1), ("7", 2)])
def test_the_all_teams_inbox_shows_the_nearest_page_of_teams(
    client, cast, many_teams, number, shown
):
    client.force_login(cast.hos)
    response = client.get(f"/inbox/?page={number}")
    assert response.status_code == 200
    assert f"Teams {'1–10' if shown == 1 else '11–12'} of 12 · page {shown} of 2" in words(response)


# --- /roadmap/ ------------------------------------------------------------------------------


def roadmap_column(html, column):
    """Request ids in one roadmap column, top to bottom."""
    block = re.search(rf'data-testid="roadmap-{column}">.*?</ul>', html, re.S)
    return (
        [int(pk) for pk in re.findall(r'href="/requests/(\d+)/"', block.group(0))]
        if block
        else None
    )


@pytest.fixture
def now60(cast, quarters):
    """60 requests in the Now column: 55 escalated (not committed), then 5 approved."""
    escalated = queued(cast, quarters[0], 55)
    approved = queued(cast, quarters[0], 5, estimate=3, status=Status.APPROVED)
    return escalated, approved


def test_the_roadmap_shows_the_first_few_of_a_long_column_committed_first(
    client, cast, quarters, now60
):
    escalated, approved = now60
    client.force_login(cast.rep)
    response = client.get("/roadmap/")
    html = response.content.decode()
    assert roadmap_column(html, "now") == [*approved, *escalated[: ROADMAP_PREVIEW - 5]]
    more = re.search(r'data-testid="roadmap-more-now"><a href="([^"]*)">([^<]*)</a>', html)
    assert (unescape(more.group(1)), more.group(2)) == ("?show=now", "All 60 →")
    assert 'data-testid="roadmap-more-next"' not in html  # a short column says nothing
    for column in ("next", "later", "shipped"):
        assert f'data-testid="roadmap-{column}"' in html


def test_a_columns_own_view_lists_it_all_a_page_at_a_time(client, cast, quarters, now60):
    escalated, approved = now60
    client.force_login(cast.rep)
    first = client.get("/roadmap/?show=now")
    second = client.get("/roadmap/?show=now&page=2")
    shown = roadmap_column(first.content.decode(), "now") + roadmap_column(
        second.content.decode(), "now"
    )
    assert shown == [*approved, *escalated]
    assert len(roadmap_column(first.content.decode(), "now")) == PAGE
    assert "Items 51–60 of 60 · page 2 of 2" in words(second)
    assert pager_links(first.content.decode()) == {"Next →": "?show=now&page=2"}
    for column in ("next", "later", "shipped"):
        assert f'data-testid="roadmap-{column}"' not in first.content.decode()
    assert "The whole roadmap" in words(first)


@pytest.mark.parametrize("number, shown", [("0", 1), ("-1", 1), ("x", 1), ("9", 2)])
def test_a_columns_view_shows_the_nearest_page(client, cast, quarters, now60, number, shown):
    escalated, approved = now60
    client.force_login(cast.rep)
    response = client.get(f"/roadmap/?show=now&page={number}")
    assert response.status_code == 200
    whole = [*approved, *escalated]
    expected = whole[:PAGE] if shown == 1 else whole[PAGE:]
    assert roadmap_column(response.content.decode(), "now") == expected


@pytest.mark.parametrize("show", ["junk", "", "NOW"])
def test_an_unknown_column_shows_the_whole_roadmap(client, cast, quarters, now60, show):
    client.force_login(cast.rep)
    response = client.get(f"/roadmap/?show={show}&page=3")
    assert response.status_code == 200
    html = response.content.decode()
    for column in ("now", "next", "later", "shipped"):
        assert f'data-testid="roadmap-{column}"' in html
    assert len(roadmap_column(html, "now")) == ROADMAP_PREVIEW
    assert 'data-testid="pager"' not in html


# --- Query counts: page 2 runs as many queries as page 1, at any size ----------------------


def grow(cast, quarters, n):
    """n more of each: escalated to this quarter (every other one estimated), submitted to
    the East inbox, approved in this quarter, escalated to the next quarter."""
    current, upcoming = quarters
    kinds = [
        (Status.ESCALATED, current, None),
        (Status.SUBMITTED, None, None),
        (Status.APPROVED, current, 3),
        (Status.ESCALATED, upcoming, None),
    ]
    for status, quarter, estimate in kinds:

        def make(i, now, status=status, quarter=quarter, estimate=estimate):
            return FeatureRequest(
                status=status,
                author=cast.rep,
                manager=cast.manager,
                target_quarter=quarter,
                estimate=estimate if estimate else (10 if i % 2 and quarter else None),
                funding=Funding.SALES if status == Status.APPROVED else "",
                submitted_at=now,
                escalated_at=now if quarter else None,
            )

        bulk_requests(n, make)


FLAT_PAGES = [
    ("/review/?page=2", "hop", "page 2 of"),
    ("/review/?page=2", "pm", "page 2 of"),
    ("/queue/?page=2", "hos", "page 2 of"),
    ("/queue/?page=2", "pm", "page 2 of"),
    ("/inbox/?team={east}&page=2", "manager", "page 2 of"),
    ("/inbox/?team={east}&page=2", "hos", "page 2 of"),
    ("/inbox/?page=2", "manager", "page 2 of"),
    ("/inbox/", "hos", "in East's inbox"),
    ("/roadmap/", "rep", "All "),
    ("/roadmap/", "hos", "All "),
    ("/roadmap/?show=now", "rep", "page 1 of"),
    ("/roadmap/?show=now&page=2", "hop", "page 2 of"),
]


@pytest.mark.parametrize("url, who, says", FLAT_PAGES)
def test_later_pages_run_the_same_queries_for_60_and_240_of_each(
    client, cast, quarters, url, who, says
):
    budget_set_capacity(quarter=quarters[0], capacity=100_000, actor=cast.hop)
    url = url.format(east=cast.manager.pk)
    client.force_login(getattr(cast, who))
    grow(cast, quarters, 60)
    client.get(url)  # settle one-off work (session, quarters created on first visit)
    few, few_html = page_queries(client, url)

    grow(cast, quarters, 180)
    many, many_html = page_queries(client, url)

    assert_flat({60: few, 240: many}, url)
    assert says in unescape(few_html) and says in unescape(many_html)


def test_the_review_links_after_a_refused_decision_lead_back_to_the_review(
    client, cast, quarters, review60
):
    """A refused decision without htmx answers the review page at the decision's own URL;
    its pager and cut-line links must still open the review, not the decision URL."""
    client.force_login(cast.hop)
    for page, deciding, link in ((2, review60[52], "← Previous"), (1, review60[3], "cut")):
        decide = f"/review/{deciding}/decide/"
        response = client.post(decide, {"action": "decline", "reason": "", "page": page})
        assert response.status_code == 400
        html = response.content.decode()
        assert f"page {page} of 2" in words(response)
        if link == "cut":
            href = re.search(r'<a href="([^"]*)">see the cut line</a>', html).group(1)
        else:
            href = pager_links(html)[link]
        followed = client.get(urljoin(decide, unescape(href)))
        assert followed.status_code == 200, href
        assert "Product review" in words(followed)
        # So must the quarter switch above it.
        for switch in re.findall(r'<nav class="quarter-switch".*?</nav>', html, re.S):
            for href in re.findall(r'href="([^"]*)"', switch):
                assert client.get(urljoin(decide, unescape(href))).status_code == 200, href
