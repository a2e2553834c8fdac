"""Force-ranking: the team inbox (managers, Head of Sales) and the quarter's sales queue (Head
of Sales), as services and as the /inbox/ and /queue/ pages.

DOMAIN.md: a strict order with no ties; a re-ordering is accepted only against the order the
user saw, otherwise the user is told to reload and nothing changes; every rank change writes
an audit event.
"""

import datetime as dt
import random
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.utils import timezone

from config.errors import InvalidInput, NotAllowed, StaleOrder
from requests_app import services
from requests_app.models import AuditEvent, FeatureRequest, Status

from .conftest import assert_all_ranks_strict

pytestmark = pytest.mark.django_db


# --- Helpers --------------------------------------------------------------------------------


def deal_data(account):
    return {
        "account_name": account,
        "amount": Decimal("25000"),
        "currency": "USD",
        "stage": "qualified",
        "expected_close_date": timezone.localdate() + dt.timedelta(days=40),
    }


def new_draft(author, title):
    return services.request_create(
        actor=author,
        data={"title": title, "problem": f"{title}: what the customer cannot do today"},
        deals=[deal_data(f"{title} Inc")],
    )


def new_submitted(author, title):
    return services.request_submit(fr=new_draft(author, title), actor=author)


def new_escalated(author, title, quarter, actor=None):
    fr = new_submitted(author, title)
    return services.request_escalate(fr=fr, actor=actor or author.manager, quarter=quarter)


def inbox_order(manager):
    return services.inbox_ids(manager.pk)


def queue_order(quarter):
    return services.queue_ids(quarter.pk)


def csv(ids):
    return ",".join(map(str, ids))


def state():
    """What a refused reorder must leave as it was."""
    return (
        list(FeatureRequest.objects.order_by("pk").values_list("pk", "inbox_rank", "queue_rank")),
        AuditEvent.objects.count(),
    )


class FormScraper(HTMLParser):
    """The reorder forms' hidden fields and the rank buttons that post to them."""

    def __init__(self):
        super().__init__()
        self.forms = {}  # form id -> {input name: value} (enabled inputs only)
        self.buttons = []  # attrs of every button posting a move
        self._form = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._form = attrs.get("id")
            if self._form:
                self.forms[self._form] = {"_action": attrs.get("action")}
        elif tag == "input" and self._form and "disabled" not in attrs:
            self.forms[self._form][attrs.get("name")] = attrs.get("value", "")
        elif tag == "button" and attrs.get("name") == "move":
            self.buttons.append(attrs)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def scrape(response):
    parser = FormScraper()
    parser.feed(response.content.decode())
    return parser


@pytest.fixture
def team(cast, quarters):
    """Four submitted requests in the East team's inbox (cast.manager), ranked 1..4."""
    return [new_submitted(cast.rep, f"Inbox item {i}").pk for i in range(1, 5)]


@pytest.fixture
def west(cast, quarters):
    """One submitted request in the West team's inbox (cast.other_manager)."""
    return new_submitted(cast.outsider, "West item").pk


@pytest.fixture
def queue(cast, quarters):
    """Four escalated requests in the current quarter's queue, ranked 1..4."""
    current = quarters[0]
    return [new_escalated(cast.rep, f"Queue item {i}", current).pk for i in range(1, 5)]


# --- What the keyboard buttons post ------------------------------------------------------


@pytest.mark.parametrize(
    "move, expected",
    [
        ("20:top", [20, 10, 30]),
        ("30:top", [30, 10, 20]),
        ("20:up", [20, 10, 30]),
        ("20:down", [10, 30, 20]),
        ("10:up", [10, 20, 30]),
        ("30:down", [10, 20, 30]),
        ("10:bottom", [20, 30, 10]),
        ("30:bottom", [10, 20, 30]),
        ("30:1", [30, 10, 20]),
        ("10:2", [20, 10, 30]),
        ("10:3", [20, 30, 10]),
        ("20:99", [10, 30, 20]),
        (" 20 : 1 ", [20, 10, 30]),
    ],
)
def test_a_button_move_gives_the_whole_new_order(move, expected):
    assert services.order_after_move("10,20,30", move) == expected


@pytest.mark.parametrize(
    "move", ["", "40:top", "20:sideways", "20", ":up", "x:up", "²:up", "20:-1", "20:1.5", "40:1"]
)
def test_a_bad_button_move_is_refused(move):
    with pytest.raises(InvalidInput, match="to the top, up, down, the bottom or a position"):
        services.order_after_move("10,20,30", move)


def test_positions_start_at_one():
    with pytest.raises(InvalidInput, match="Positions start at 1"):
        services.order_after_move("10,20,30", "20:0")


# --- inbox_reorder (service) ---------------------------------------------------------------


def test_inbox_ranks_follow_submission_order(cast, team):
    assert inbox_order(cast.manager) == team
    assert_all_ranks_strict()


def test_it_applies_a_new_inbox_order_and_records_each_rank_change(cast, team):
    a, b, c, d = team
    events_before = AuditEvent.objects.count()

    changed = services.inbox_reorder(
        actor=cast.manager, manager=cast.manager, seen=team, order=[c, a, b, d]
    )

    assert changed == 3
    assert inbox_order(cast.manager) == [c, a, b, d]
    assert_all_ranks_strict()
    events = AuditEvent.objects.filter(action="rank").order_by("request_id")
    assert AuditEvent.objects.count() == events_before + 3
    assert {(e.request_id, e.actor_id) for e in events} == {
        (a, cast.manager.pk),
        (b, cast.manager.pk),
        (c, cast.manager.pk),
    }
    by_request = {e.request_id: (e.old_value, e.new_value) for e in events}
    assert by_request[a] == ({"inbox_rank": 1}, {"inbox_rank": 2})
    assert by_request[b] == ({"inbox_rank": 2}, {"inbox_rank": 3})
    assert by_request[c] == ({"inbox_rank": 3}, {"inbox_rank": 1})


def test_it_accepts_the_ids_as_a_comma_separated_string(cast, team):
    a, b, c, d = team
    services.inbox_reorder(
        actor=cast.manager, manager=cast.manager, seen=csv(team), order=f" {d}, {c},{b},{a} "
    )
    assert inbox_order(cast.manager) == [d, c, b, a]
    assert_all_ranks_strict()


def test_an_unchanged_order_writes_nothing(cast, team):
    before = state()
    assert (
        services.inbox_reorder(actor=cast.manager, manager=cast.manager, seen=team, order=team) == 0
    )
    assert state() == before


def test_it_refuses_an_order_made_against_a_stale_view(cast, team):
    a, b, c, d = team
    seen_by_user = list(team)
    # Meanwhile the Head of Sales moved d to the top.
    services.inbox_reorder(actor=cast.hos, manager=cast.manager, seen=team, order=[d, a, b, c])
    before = state()

    with pytest.raises(StaleOrder) as exc:
        services.inbox_reorder(
            actor=cast.manager, manager=cast.manager, seen=seen_by_user, order=[b, a, c, d]
        )

    assert exc.value.status == 409
    assert "reload" in exc.value.message
    assert state() == before
    assert inbox_order(cast.manager) == [d, a, b, c]


def test_a_newly_submitted_request_makes_the_seen_order_stale(cast, team):
    seen = inbox_order(cast.manager)
    new_submitted(cast.rep, "Late arrival")
    before = state()
    with pytest.raises(StaleOrder):
        services.inbox_reorder(
            actor=cast.manager, manager=cast.manager, seen=seen, order=seen[::-1]
        )
    assert state() == before


BAD_ORDERS = {
    "missing": lambda ids, foreign: ids[:-1],
    "extra": lambda ids, foreign: [*ids, 999_999],
    "repeated": lambda ids, foreign: [*ids[:-1], ids[0]],
    "repeated_and_complete": lambda ids, foreign: [*ids, ids[0]],
    "foreign": lambda ids, foreign: [*ids[:-1], foreign],
    "foreign_added": lambda ids, foreign: [*ids, foreign],
    "non_numeric": lambda ids, foreign: [*map(str, ids[:-1]), "abc"],
    "empty": lambda ids, foreign: [],
}


@pytest.mark.parametrize("kind", BAD_ORDERS)
def test_it_refuses_an_order_that_is_not_a_permutation_of_the_inbox(cast, team, west, kind):
    order = BAD_ORDERS[kind](list(team), west)
    before = state()
    with pytest.raises(InvalidInput) as exc:
        services.inbox_reorder(actor=cast.manager, manager=cast.manager, seen=team, order=order)
    assert exc.value.status == 400
    assert state() == before


def test_it_refuses_a_non_numeric_seen_list(cast, team):
    before = state()
    with pytest.raises(InvalidInput):
        services.inbox_reorder(
            actor=cast.manager, manager=cast.manager, seen="1,x", order=team[::-1]
        )
    assert state() == before


def test_a_manager_ranks_only_their_own_team(cast, team, west):
    before = state()
    with pytest.raises(NotAllowed):
        services.inbox_reorder(
            actor=cast.other_manager, manager=cast.manager, seen=team, order=team[::-1]
        )
    with pytest.raises(NotAllowed):
        services.inbox_reorder(
            actor=cast.manager, manager=cast.other_manager, seen=[west], order=[west]
        )
    assert state() == before


@pytest.mark.parametrize("who", ["rep", "pm", "hop", "admin"])
def test_only_managers_and_the_head_of_sales_rank_an_inbox(cast, team, who):
    before = state()
    with pytest.raises(NotAllowed):
        services.inbox_reorder(
            actor=getattr(cast, who), manager=cast.manager, seen=team, order=team[::-1]
        )
    assert state() == before


def test_the_head_of_sales_ranks_any_team(cast, team, west):
    second_west = new_submitted(cast.outsider, "West item 2").pk
    services.inbox_reorder(actor=cast.hos, manager=cast.manager, seen=team, order=team[::-1])
    services.inbox_reorder(
        actor=cast.hos,
        manager=cast.other_manager,
        seen=[west, second_west],
        order=[second_west, west],
    )
    assert inbox_order(cast.manager) == team[::-1]
    assert inbox_order(cast.other_manager) == [second_west, west]
    assert_all_ranks_strict()
    assert set(AuditEvent.objects.filter(action="rank").values_list("actor_id", flat=True)) == {
        cast.hos.pk
    }


def test_inboxes_are_separate_orders(cast, team, west):
    services.inbox_reorder(actor=cast.manager, manager=cast.manager, seen=team, order=team[::-1])
    assert FeatureRequest.objects.get(pk=west).inbox_rank == 1
    assert inbox_order(cast.other_manager) == [west]
    assert_all_ranks_strict()


# --- queue_reorder (service) ---------------------------------------------------------------


def test_the_head_of_sales_reorders_the_quarter_queue(cast, quarters, queue):
    a, b, c, d = queue
    changed = services.queue_reorder(
        actor=cast.hos, quarter=quarters[0], seen=queue, order=[b, a, c, d]
    )
    assert changed == 2
    assert queue_order(quarters[0]) == [b, a, c, d]
    assert_all_ranks_strict()
    events = {
        e.request_id: (e.actor_id, e.old_value, e.new_value)
        for e in AuditEvent.objects.filter(action="rank")
    }
    assert events == {
        a: (cast.hos.pk, {"queue_rank": 1}, {"queue_rank": 2}),
        b: (cast.hos.pk, {"queue_rank": 2}, {"queue_rank": 1}),
    }


@pytest.mark.parametrize("who", ["manager", "other_manager", "rep", "pm", "hop", "admin"])
def test_only_the_head_of_sales_ranks_the_queue(cast, quarters, queue, who):
    before = state()
    with pytest.raises(NotAllowed):
        services.queue_reorder(
            actor=getattr(cast, who), quarter=quarters[0], seen=queue, order=queue[::-1]
        )
    assert state() == before


def test_a_stale_queue_order_is_refused(cast, quarters, queue):
    seen = list(queue)
    new_escalated(cast.outsider, "Escalated meanwhile", quarters[0])
    before = state()
    with pytest.raises(StaleOrder) as exc:
        services.queue_reorder(actor=cast.hos, quarter=quarters[0], seen=seen, order=seen[::-1])
    assert "reload" in exc.value.message
    assert state() == before


@pytest.mark.parametrize("kind", BAD_ORDERS)
def test_a_queue_order_that_is_not_a_permutation_is_refused(cast, quarters, queue, kind):
    # The foreign id: a request in the next quarter's queue.
    foreign = new_escalated(cast.outsider, "Next quarter", quarters[1]).pk
    before = state()
    with pytest.raises(InvalidInput):
        services.queue_reorder(
            actor=cast.hos,
            quarter=quarters[0],
            seen=queue,
            order=BAD_ORDERS[kind](list(queue), foreign),
        )
    assert state() == before


# --- Joining and leaving the orders --------------------------------------------------------


def test_new_escalations_join_the_bottom_of_the_queue(cast, quarters, queue):
    newcomer = new_escalated(cast.outsider, "Newcomer", quarters[0], actor=cast.hos)
    assert queue_order(quarters[0]) == [*queue, newcomer.pk]
    assert newcomer.queue_rank == 5
    assert_all_ranks_strict()


def test_escalating_from_the_middle_of_an_inbox_moves_the_rest_up(cast, quarters, team):
    a, b, c, d = team
    services.request_escalate(
        fr=FeatureRequest.objects.get(pk=b), actor=cast.manager, quarter=quarters[0]
    )
    assert inbox_order(cast.manager) == [a, c, d]
    assert queue_order(quarters[0]) == [b]
    assert_all_ranks_strict()


def test_reopen_joins_the_top_of_the_queue(cast, quarters, queue):
    current = quarters[0]
    deferred = new_escalated(cast.rep, "Deferred earlier", current)
    # Issue 4 (product decisions) defers; until then, defer by hand: it was last in the queue,
    # so taking its rank away leaves no gap.
    FeatureRequest.objects.filter(pk=deferred.pk).update(status=Status.DEFERRED, queue_rank=None)
    assert_all_ranks_strict()

    services.request_reopen(fr=FeatureRequest.objects.get(pk=deferred.pk), actor=cast.hos)

    assert queue_order(current) == [deferred.pk, *queue]
    assert_all_ranks_strict()


def test_every_kind_of_move_leaves_strict_orders(cast, quarters):
    """A seeded random walk through submits, escalations, returns, rejections, withdrawals,
    merges and reorders: after each step every inbox and queue is still 1..n."""
    rng = random.Random(20240601)
    reps = {cast.rep: cast.manager, cast.outsider: cast.other_manager}
    for i in range(6):
        new_submitted(cast.rep, f"East {i}")
        new_submitted(cast.outsider, f"West {i}")
    assert_all_ranks_strict()

    for step in range(60):
        submitted = list(FeatureRequest.objects.filter(status=Status.SUBMITTED))
        escalated = list(FeatureRequest.objects.filter(status=Status.ESCALATED))
        kind = rng.choice(
            ["submit", "escalate", "return", "reject", "withdraw", "merge", "inbox", "queue"]
        )
        if kind == "submit" or not submitted:
            author = rng.choice(list(reps))
            new_submitted(author, f"Step {step}")
        elif kind == "escalate":
            fr = rng.choice(submitted)
            services.request_escalate(fr=fr, actor=cast.hos, quarter=rng.choice(quarters))
        elif kind in ("return", "reject"):
            fn = services.request_return if kind == "return" else services.request_reject
            fn(fr=rng.choice(submitted), actor=cast.hos, reason="step")
        elif kind == "withdraw":
            fr = rng.choice(submitted + escalated)
            services.request_withdraw(fr=fr, actor=fr.author)
        elif kind == "merge":
            fr = rng.choice(submitted + escalated)
            targets = [t for t in submitted + escalated if t.pk != fr.pk]
            if targets:
                services.request_merge(fr=fr, target=rng.choice(targets), actor=cast.hos)
        elif kind == "inbox":
            manager = rng.choice(list(reps.values()))
            ids = inbox_order(manager)
            services.inbox_reorder(
                actor=rng.choice([manager, cast.hos]),
                manager=manager,
                seen=ids,
                order=rng.sample(ids, len(ids)),
            )
        else:
            quarter = rng.choice(quarters)
            ids = queue_order(quarter)
            services.queue_reorder(
                actor=cast.hos, quarter=quarter, seen=ids, order=rng.sample(ids, len(ids))
            )
        assert_all_ranks_strict()


# --- /inbox/ -------------------------------------------------------------------------------


def test_the_inbox_page_shows_the_order_and_buttons_that_post_the_same_form(client, cast, team):
    client.force_login(cast.manager)
    response = client.get("/inbox/")
    assert response.status_code == 200
    html = response.content.decode()
    positions = [html.index(f'data-id="{pk}"') for pk in team]
    assert positions == sorted(positions)

    page = scrape(response)
    form_id = f"reorder-{cast.manager.pk}"
    assert page.forms[form_id]["team"] == str(cast.manager.pk)
    assert page.forms[form_id]["seen"] == csv(team)
    assert "order" not in page.forms[form_id]  # only a button or the drag enables it
    assert f'data-form="reorder-{cast.manager.pk}"' in html
    offered = {(b["title"], b["value"]) for b in page.buttons if b.get("form") == form_id}
    for pk in team:
        for title, key in (("Move to top", "top"), ("Move up", "up"), ("Move down", "down")):
            assert (title, f"{pk}:{key}") in offered


def test_the_move_to_top_button_reorders_the_inbox(client, cast, team):
    a, b, c, d = team
    client.force_login(cast.manager)
    page = scrape(client.get("/inbox/"))
    form = page.forms[f"reorder-{cast.manager.pk}"]
    response = client.post(
        "/inbox/", {"team": form["team"], "seen": form["seen"], "move": f"{c}:top"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/inbox/"
    assert inbox_order(cast.manager) == [c, a, b, d]
    assert_all_ranks_strict()
    follow = client.get("/inbox/")
    assert "Order saved." in follow.content.decode()


@pytest.mark.parametrize("key, expected", [("up", [0, 2, 1, 3]), ("down", [0, 1, 3, 2])])
def test_the_up_and_down_buttons_move_one_place(client, cast, team, key, expected):
    client.force_login(cast.manager)
    client.post("/inbox/", {"team": cast.manager.pk, "seen": csv(team), "move": f"{team[2]}:{key}"})
    assert inbox_order(cast.manager) == [team[i] for i in expected]


def test_an_htmx_reorder_returns_the_fragment(client, cast, team):
    client.force_login(cast.manager)
    order = team[::-1]
    response = client.post(
        "/inbox/",
        {"team": cast.manager.pk, "seen": csv(team), "order": csv(order)},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert 'id="inbox-sections"' in html
    # The fragment carries the new order as the next `seen`.
    assert scrape(response).forms[f"reorder-{cast.manager.pk}"]["seen"] == csv(order)
    assert inbox_order(cast.manager) == order


def test_an_htmx_get_returns_the_fragment_and_a_plain_get_the_page(client, cast, team):
    client.force_login(cast.manager)
    assert "<html" not in client.get("/inbox/", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" in client.get("/inbox/").content.decode()


@pytest.mark.parametrize("htmx", [False, True])
def test_the_inbox_page_refuses_a_stale_order_with_409(client, cast, team, htmx):
    a, b, c, d = team
    services.inbox_reorder(actor=cast.hos, manager=cast.manager, seen=team, order=[d, a, b, c])
    before = state()
    client.force_login(cast.manager)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client.post(
        "/inbox/",
        {"team": cast.manager.pk, "seen": csv(team), "order": csv([b, a, c, d])},
        **headers,
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "reload" in html
    assert ("<html" in html) is not htmx
    assert state() == before
    # What comes back is the current order, ready to try again.
    assert scrape(response).forms[f"reorder-{cast.manager.pk}"]["seen"] == csv([d, a, b, c])


@pytest.mark.parametrize("kind", BAD_ORDERS)
def test_the_inbox_page_refuses_a_bad_order_with_400(client, cast, team, west, kind):
    before = state()
    client.force_login(cast.manager)
    response = client.post(
        "/inbox/",
        {
            "team": cast.manager.pk,
            "seen": csv(team),
            "order": csv(BAD_ORDERS[kind](list(team), west)),
        },
    )
    assert response.status_code == 400
    assert state() == before


def test_a_manager_cannot_post_to_another_team(client, cast, team, west):
    before = state()
    client.force_login(cast.other_manager)
    response = client.post(
        "/inbox/", {"team": cast.manager.pk, "seen": csv(team), "order": csv(team[::-1])}
    )
    assert response.status_code in (403, 404)
    assert state() == before


def test_a_managers_inbox_page_shows_only_their_team(client, cast, team, west):
    client.force_login(cast.other_manager)
    html = client.get("/inbox/").content.decode()
    assert f'data-id="{west}"' in html
    assert not any(f'data-id="{pk}"' in html for pk in team)


def test_the_head_of_sales_ranks_any_team_from_the_page(client, cast, team, west):
    client.force_login(cast.hos)
    html = client.get("/inbox/").content.decode()
    assert all(f'data-id="{pk}"' in html for pk in [*team, west])

    filtered = client.get(f"/inbox/?team={cast.manager.pk}")
    assert f'data-id="{west}"' not in filtered.content.decode()
    form = scrape(filtered).forms[f"reorder-{cast.manager.pk}"]
    assert form["_action"] == f"/inbox/?team={cast.manager.pk}"

    response = client.post(
        f"/inbox/?team={cast.manager.pk}",
        {"team": cast.manager.pk, "seen": csv(team), "order": csv(team[::-1])},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/inbox/?team={cast.manager.pk}"
    assert inbox_order(cast.manager) == team[::-1]
    response = client.post(
        "/inbox/", {"team": cast.other_manager.pk, "seen": str(west), "order": str(west)}
    )
    assert response.status_code == 302


@pytest.mark.parametrize("who", ["rep", "outsider", "pm", "hop", "admin"])
def test_the_inbox_is_for_managers_and_the_head_of_sales(client, cast, team, who):
    client.force_login(getattr(cast, who))
    before = state()
    assert client.get("/inbox/").status_code == 403
    response = client.post(
        "/inbox/", {"team": cast.manager.pk, "seen": csv(team), "order": csv(team[::-1])}
    )
    assert response.status_code == 403
    assert state() == before


def test_the_inbox_needs_a_signed_in_user(client, team):
    response = client.get("/inbox/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# --- /queue/ -------------------------------------------------------------------------------


def test_the_head_of_sales_sees_rank_controls_on_the_queue(client, cast, quarters, queue):
    client.force_login(cast.hos)
    response = client.get(f"/queue/?quarter={quarters[0].slug}")
    assert response.status_code == 200
    html = response.content.decode()
    assert "data-sortable" in html
    page = scrape(response)
    assert page.forms["reorder-queue"]["seen"] == csv(queue)
    assert page.forms["reorder-queue"]["quarter"] == quarters[0].slug
    offered = {(b["title"], b["value"]) for b in page.buttons if b.get("form") == "reorder-queue"}
    assert ("Move up", f"{queue[2]}:up") in offered
    assert ("Move to top", f"{queue[3]}:top") in offered


@pytest.mark.parametrize("who", ["manager", "other_manager", "rep", "outsider", "pm", "hop"])
def test_the_queue_is_read_only_for_everyone_else(client, cast, quarters, queue, who):
    client.force_login(getattr(cast, who))
    response = client.get(f"/queue/?quarter={quarters[0].slug}")
    assert response.status_code == 200
    html = response.content.decode()
    assert all(f'data-id="{pk}"' in html for pk in queue)
    assert "data-sortable" not in html
    assert scrape(response).buttons == []
    assert "Move to top" not in html

    before = state()
    response = client.post(
        f"/queue/?quarter={quarters[0].slug}",
        {"quarter": quarters[0].slug, "seen": csv(queue), "order": csv(queue[::-1])},
    )
    assert response.status_code == 403
    assert state() == before


def test_admin_gets_403_from_the_queue(client, cast, quarters, queue):
    client.force_login(cast.admin)
    assert client.get("/queue/").status_code == 403
    response = client.post(
        f"/queue/?quarter={quarters[0].slug}",
        {"quarter": quarters[0].slug, "seen": csv(queue), "order": csv(queue[::-1])},
    )
    assert response.status_code == 403
    assert queue_order(quarters[0]) == queue


def test_the_up_button_moves_a_request_in_the_queue(client, cast, quarters, queue):
    a, b, c, d = queue
    slug = quarters[0].slug
    client.force_login(cast.hos)
    response = client.post(
        f"/queue/?quarter={slug}",
        {"quarter": slug, "seen": csv(queue), "move": f"{c}:up"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/queue/?quarter={slug}"
    assert queue_order(quarters[0]) == [a, c, b, d]
    assert_all_ranks_strict()
    event = AuditEvent.objects.get(action="rank", request_id=c)
    assert (event.old_value, event.new_value) == ({"queue_rank": 3}, {"queue_rank": 2})


def test_a_button_move_against_a_stale_or_bad_order_changes_nothing(client, cast, quarters, queue):
    a, b, c, d = queue
    slug = quarters[0].slug
    client.force_login(cast.hos)
    before = state()
    stale = client.post(
        f"/queue/?quarter={slug}", {"quarter": slug, "seen": csv([b, a, c, d]), "move": f"{c}:up"}
    )
    bad = client.post(
        f"/queue/?quarter={slug}", {"quarter": slug, "seen": csv(queue), "move": f"{c}:left"}
    )
    assert stale.status_code == 409
    assert bad.status_code == 400
    assert "to the top, up, down, the bottom or a position" in bad.content.decode()
    assert state() == before


def test_an_htmx_queue_reorder_returns_the_fragment(client, cast, quarters, queue):
    slug = quarters[0].slug
    client.force_login(cast.hos)
    response = client.post(
        f"/queue/?quarter={slug}",
        {"quarter": slug, "seen": csv(queue), "order": csv(queue[::-1])},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and 'id="queue-list"' in html
    assert scrape(response).forms["reorder-queue"]["seen"] == csv(queue[::-1])
    assert queue_order(quarters[0]) == queue[::-1]


@pytest.mark.parametrize("htmx", [False, True])
def test_the_queue_page_refuses_a_stale_order_with_409(client, cast, quarters, queue, htmx):
    slug = quarters[0].slug
    newcomer = new_escalated(cast.outsider, "Escalated meanwhile", quarters[0])
    before = state()
    client.force_login(cast.hos)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client.post(
        f"/queue/?quarter={slug}",
        {"quarter": slug, "seen": csv(queue), "order": csv(queue[::-1])},
        **headers,
    )
    assert response.status_code == 409
    assert "reload" in response.content.decode()
    assert state() == before
    assert scrape(response).forms["reorder-queue"]["seen"] == csv([*queue, newcomer.pk])


@pytest.mark.parametrize("kind", BAD_ORDERS)
def test_the_queue_page_refuses_a_bad_order_with_400(client, cast, quarters, queue, kind):
    slug = quarters[0].slug
    foreign = new_escalated(cast.outsider, "Next quarter", quarters[1]).pk
    before = state()
    client.force_login(cast.hos)
    response = client.post(
        f"/queue/?quarter={slug}",
        {"quarter": slug, "seen": csv(queue), "order": csv(BAD_ORDERS[kind](list(queue), foreign))},
    )
    assert response.status_code == 400
    assert state() == before


def test_each_quarter_has_its_own_queue(client, cast, quarters, queue):
    later = [new_escalated(cast.outsider, f"Later {i}", quarters[1]).pk for i in range(2)]
    client.force_login(cast.hos)
    html = client.get(f"/queue/?quarter={quarters[1].slug}").content.decode()
    assert all(f'data-id="{pk}"' in html for pk in later)
    assert not any(f'data-id="{pk}"' in html for pk in queue)
    client.post(
        f"/queue/?quarter={quarters[1].slug}",
        {"quarter": quarters[1].slug, "seen": csv(later), "order": csv(later[::-1])},
    )
    assert queue_order(quarters[1]) == later[::-1]
    assert queue_order(quarters[0]) == queue


def test_an_unknown_quarter_is_404(client, cast, quarters):
    client.force_login(cast.hos)
    assert client.get("/queue/?quarter=FY1999Q1").status_code == 404
    assert client.get("/queue/?quarter=nonsense").status_code == 404


def test_an_htmx_reorder_from_the_all_teams_inbox_keeps_every_team_on_the_page(
    client, cast, team, west
):
    # The fragment replaces #inbox-sections, which on the unfiltered page holds every team.
    client.force_login(cast.hos)
    response = client.post(
        "/inbox/",
        {"team": cast.manager.pk, "seen": csv(team), "order": csv(team[::-1])},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    forms = scrape(response).forms
    assert forms[f"reorder-{cast.manager.pk}"]["seen"] == csv(team[::-1])
    assert forms[f"reorder-{cast.other_manager.pk}"]["seen"] == str(west)
    assert f'data-id="{west}"' in response.content.decode()


def test_a_refused_reorder_from_the_all_teams_inbox_shows_every_team(client, cast, team, west):
    client.force_login(cast.hos)
    response = client.post(
        "/inbox/", {"team": cast.manager.pk, "seen": csv(team[1:]), "order": csv(team)}
    )
    assert response.status_code == 409
    assert f'data-id="{west}"' in response.content.decode()
