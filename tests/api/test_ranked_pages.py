"""The ranked lists a page at a time: the queue and the inbox answer one page of requests with
the whole order (for ranking) and positions, running totals and the cut line counted over all
of it; the roadmap is a paginated list like the others."""

import pytest

from accounts.models import Role
from budgets.services import budget_set_capacity
from requests_app import services
from requests_app.models import FeatureRequest, Status
from tests.conftest import make_user

from ..query_counts import bulk_queue, bulk_requests
from .conftest import API, db_state

pytestmark = pytest.mark.django_db

ORIGIN = "http://testserver"


def queue_of(cast, quarter, n, *, unestimated=()):
    """n escalated requests at the bottom of the quarter's queue, 1 point each except the
    positions in `unestimated` (1-based); their ids in rank order."""

    ids = bulk_queue(cast, quarter, n, estimate=1)
    unestimated_ids = [ids[position - 1] for position in unestimated]
    FeatureRequest.objects.filter(pk__in=unestimated_ids).update(estimate=None)
    return ids


def inbox_of(manager, rep, n):
    def make(i, now):
        return FeatureRequest(
            status=Status.SUBMITTED, author=rep, manager=manager, submitted_at=now
        )

    return [fr.pk for fr in bulk_requests(n, make)]


@pytest.fixture
def sixty(cast, quarters):
    """A queue of 60 against a budget of 54 points; position 3 is unestimated, so the running
    total passes 54 at position 56."""
    current = quarters[0]
    budget_set_capacity(quarter=current, capacity=540, actor=cast.hop)
    return queue_of(cast, current, 60, unestimated={3})


def queue_url(quarter, query=""):
    return f"{API}/queues/{quarter.slug}/{query}"


# --- The queue -------------------------------------------------------------------------------


def test_page_two_of_a_60_request_queue_continues_page_one(api, cast, quarters, sixty):
    client = api(cast.hos)
    first = client.get(queue_url(quarters[0])).json()
    second = client.get(queue_url(quarters[0], "?page=2")).json()

    for body in (first, second):
        assert body["order"] == sixty  # the whole queue on every page, to rank it
        assert (body["count"], body["pages"], body["remaining"]) == (60, 2, 54)
        assert body["cut_line_position"] == 56
    assert (first["page"], first["previous"]) == (1, None)
    assert first["next"] == f"{ORIGIN}{queue_url(quarters[0], '?page=2')}"
    assert (second["page"], second["next"]) == (2, None)
    assert second["previous"] == f"{ORIGIN}{queue_url(quarters[0])}"

    assert [i["rank"] for i in first["items"]] == list(range(1, 51))
    rows = [
        (i["id"], i["rank"], i["queue_rank"], i["running_total"], i["below_cut_line"])
        for i in second["items"]
    ]
    # Positions 51..60; the totals go on from page 1's (position 3 counts nothing).
    assert rows == [
        (pk, position, position, position - 1, position >= 56)
        for pk, position in zip(sixty[50:], range(51, 61), strict=True)
    ]
    assert first["items"][2]["unestimated"] and first["items"][2]["running_total"] is None
    assert first["items"][-1]["running_total"] == 49


def test_page_size_picks_the_slice_and_the_links_keep_it(api, cast, quarters, sixty):
    body = api(cast.pm).get(queue_url(quarters[0], "?page=3&page_size=20")).json()

    assert (body["page"], body["pages"], body["next"]) == (3, 3, None)
    assert body["previous"] == f"{ORIGIN}{queue_url(quarters[0], '?page=2&page_size=20')}"
    assert [i["id"] for i in body["items"]] == sixty[40:]
    assert [i["rank"] for i in body["items"]] == list(range(41, 61))


def test_an_empty_queue_is_one_empty_page(api, cast, funded):
    body = api(cast.hos).get(queue_url(funded)).json()

    assert (body["count"], body["page"], body["pages"], body["items"]) == (0, 1, 1, [])
    assert (body["order"], body["next"], body["previous"], body["cut_line_position"]) == (
        [],
        None,
        None,
        None,
    )


def test_a_reorder_posted_with_the_order_from_page_two_works(api, cast, quarters, sixty):
    client = api(cast.hos)
    seen = client.get(queue_url(quarters[0], "?page=2")).json()["order"]
    new_order = seen[::-1]

    response = client.put(
        f"{API}/queues/{quarters[0].slug}/ranking/?page=2",
        {"seen": seen, "order": new_order},
        format="json",
    )

    assert response.status_code == 200
    assert services.queue_ids(quarters[0].pk) == new_order
    body = response.json()
    assert body["order"] == new_order
    # The answer is the page asked for, of the new order, linking to the queue's own pages.
    assert body["page"] == 2
    assert [(i["id"], i["rank"]) for i in body["items"]] == list(
        zip(new_order[50:], range(51, 61), strict=True)
    )
    assert body["previous"] == f"{ORIGIN}{queue_url(quarters[0])}"
    # Without ?page= it answers the first page.
    again = client.put(
        f"{API}/queues/{quarters[0].slug}/ranking/",
        {"seen": new_order, "order": seen},
        format="json",
    )
    assert [i["id"] for i in again.json()["items"]] == seen[:50]


BAD_PAGES = [
    ("?page=abc", 400, "page"),
    ("?page=1.5", 400, "page"),
    ("?page=%00", 400, "page"),
    ("?page_size=x", 400, "page_size"),
    ("?page_size=0", 400, "page_size"),
    ("?page_size=501", 400, "page_size"),
    ("?page=3", 404, None),
    ("?page=0", 404, None),
    ("?page=-1", 404, None),
    ("?page=99999999999999999999", 404, None),
    ("?page=7&page_size=10", 404, None),
]


@pytest.mark.parametrize("query, status, field", BAD_PAGES)
def test_a_bad_page_of_the_queue_is_refused_and_changes_nothing(
    api, cast, quarters, sixty, query, status, field
):
    client = api(cast.hos)
    before = db_state()

    got = client.get(queue_url(quarters[0], query))
    ranked = client.put(
        f"{API}/queues/{quarters[0].slug}/ranking/{query}",
        {"seen": sixty, "order": sixty[::-1]},
        format="json",
    )

    for response in (got, ranked):
        assert response.status_code == status, response.content
        body = response.json()
        if status == 404:
            assert body["detail"].startswith("Invalid page: pages run from 1 to ")
        else:
            assert body["field"] == field and body[field] == [body["detail"]]
    assert db_state() == before
    assert services.queue_ids(quarters[0].pk) == sixty


# --- The inbox -------------------------------------------------------------------------------


@pytest.fixture
def teams(cast):
    """East with 60 submitted requests, West with 3."""
    return {
        "east": inbox_of(cast.manager, cast.rep, 60),
        "west": inbox_of(cast.other_manager, cast.outsider, 3),
    }


def test_the_team_filter_narrows_the_head_of_sales_inbox_to_one_team(api, cast, teams):
    body = api(cast.hos).get(f"{API}/inbox/?team={cast.other_manager.pk}").json()

    [west] = body["teams"]
    assert (west["team"], west["name"], west["count"]) == (cast.other_manager.pk, "West", 3)
    assert west["order"] == [i["id"] for i in west["items"]] == teams["west"]
    assert (body["teams_count"], body["teams_pages"]) == (1, 1)


@pytest.mark.parametrize(
    "who, team, status, message",
    [
        ("hos", "999999", 404, "No such team."),
        ("hos", "{rep}", 404, "No such team."),  # a rep leads no team
        ("manager", "{other}", 404, "No such team."),  # another manager's team
        ("hos", "east", 400, "team must be a whole number."),
        ("hos", "1e3", 400, "team must be a whole number."),
    ],
)
def test_a_team_that_is_not_there_is_refused(api, cast, teams, who, team, status, message):
    team = team.format(rep=cast.rep.pk, other=cast.other_manager.pk)

    response = api(getattr(cast, who)).get(f"{API}/inbox/?team={team}")

    assert response.status_code == status
    assert response.json()["detail"] == message


def test_a_manager_may_name_their_own_team(api, cast, teams):
    body = api(cast.manager).get(f"{API}/inbox/?team={cast.manager.pk}").json()
    assert [t["team"] for t in body["teams"]] == [cast.manager.pk]


def test_a_teams_next_page_continues_its_positions_and_ranks_with_its_order(api, cast, teams):
    client = api(cast.hos)
    first = client.get(f"{API}/inbox/").json()
    east = next(t for t in first["teams"] if t["team"] == cast.manager.pk)
    assert (east["count"], east["pages"], len(east["items"])) == (60, 2, 50)
    assert east["next"] == f"{ORIGIN}{API}/inbox/?page=2&team={cast.manager.pk}"

    second = client.get(east["next"]).json()
    [east] = second["teams"]
    assert [(i["id"], i["inbox_rank"]) for i in east["items"]] == list(
        zip(teams["east"][50:], range(51, 61), strict=True)
    )
    assert east["previous"] == f"{ORIGIN}{API}/inbox/?team={cast.manager.pk}"

    response = client.put(
        f"{API}/inbox/ranking/",
        {"seen": east["order"], "order": east["order"][::-1], "team": cast.manager.pk},
        format="json",
    )
    assert response.status_code == 200
    assert services.inbox_ids(cast.manager.pk) == teams["east"][::-1]


def test_page_two_of_every_team_is_empty_for_the_teams_that_end_before_it(api, cast, teams):
    body = api(cast.hos).get(f"{API}/inbox/?page=2").json()

    pages = {t["name"]: (t["page"], t["pages"], len(t["items"])) for t in body["teams"]}
    assert pages == {"East": (2, 2, 10), "West": (2, 1, 0)}


@pytest.mark.parametrize("query, status, field", BAD_PAGES)
def test_a_bad_page_of_the_inbox_is_refused(api, cast, teams, query, status, field):
    response = api(cast.hos).get(f"{API}/inbox/{query}")

    assert response.status_code == status
    if field:
        assert response.json()["field"] == field


def test_the_head_of_sales_gets_the_teams_a_page_at_a_time(api, cast, teams):
    for n in range(6):  # 8 teams: East, West and six more, by manager name
        make_user(f"team{n}", Role.SALES_MANAGER, cast.hos, team_name=f"Team {n}")
    client = api(cast.hos)

    first = client.get(f"{API}/inbox/").json()
    second = client.get(first["teams_next"]).json()

    assert (first["teams_count"], first["teams_pages"], first["teams_previous"]) == (8, 2, None)
    assert first["teams_next"] == f"{ORIGIN}{API}/inbox/?teams_page=2"
    assert (second["teams_page"], second["teams_next"]) == (2, None)
    assert second["teams_previous"] == f"{ORIGIN}{API}/inbox/"
    names = [t["name"] for t in first["teams"] + second["teams"]]
    assert len(first["teams"]) == 5 and len(names) == len(set(names)) == 8
    assert {"East", "West"} <= set(names)
    missing = client.get(f"{API}/inbox/?teams_page=3")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "Invalid teams_page: pages run from 1 to 2."


# --- The roadmap -----------------------------------------------------------------------------


def test_the_roadmap_is_a_paginated_list_by_quarter(api, cast, quarters):
    current, later = quarters

    def make(i, now):
        later_one = i % 3 == 0
        return FeatureRequest(
            status=Status.DEFERRED if later_one else Status.APPROVED,
            author=cast.rep,
            manager=cast.manager,
            target_quarter=later if later_one else current,
            submitted_at=now,
            escalated_at=now,
            estimate=2,
            funding="" if later_one else "product",
        )

    built = bulk_requests(60, make)
    # The current quarter's first, then the next one's; by id within a quarter.
    expected = sorted(fr.pk for fr in built if fr.target_quarter == current) + sorted(
        fr.pk for fr in built if fr.target_quarter == later
    )
    client = api(cast.rep)

    first = client.get(f"{API}/roadmap/").json()
    second = client.get(first["next"]).json()

    assert (first["count"], len(first["results"]), first["previous"]) == (60, 50, None)
    assert first["next"] == f"{ORIGIN}{API}/roadmap/?page=2"
    assert (second["count"], len(second["results"]), second["next"]) == (60, 10, None)
    results = first["results"] + second["results"]
    assert [r["id"] for r in results] == expected
    assert {r["committed"] for r in results if r["quarter"] == later.slug} == {False}
    assert client.get(f"{API}/roadmap/?page=3").status_code == 404
