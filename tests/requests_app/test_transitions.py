"""Every move of a request's life, checked against DOMAIN.md's table for every state and role.

The expected outcome comes from the hand-written tables in conftest.py (LIFE, domain_sees),
never from services.MOVES, so a wrong rule in the services fails here.

The matrix builds one scene per state, then tries every move as every role in turn, each
inside a savepoint that is rolled back afterwards, so every attempt meets the same database;
a failure lists every (move, role) that went against the table.
"""

from contextlib import contextmanager

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from budgets.fiscal import FiscalQuarter
from budgets.models import Budget, LedgerEntry, Quarter
from budgets.services import quarter_get_or_create
from config.errors import DomainError, InvalidInput, NotAllowed, NotFound
from requests_app import services
from requests_app.models import AuditEvent, Comment, FeatureRequest, Status

from .conftest import (
    DEFAULT_ESTIMATE,
    LIFE,
    REASON,
    ROLES,
    STATES,
    UNSTARTED,
    assert_all_ranks_strict,
    call_move,
    domain_sees,
    reached_product,
    snapshot,
    status_of,
)

assert 0 < UNSTARTED < DEFAULT_ESTIMATE


def test_the_services_offer_the_moves_domain_md_lists():
    assert set(services.MOVES) == set(LIFE)
    assert set(services.TRANSITION_FUNCTIONS) == set(LIFE)
    for action, (sources, _, target) in LIFE.items():
        move = services.MOVES[action]
        assert ({str(s) for s in move.sources}, move.target) == (sources, target), action


def _expected(state, action, role):
    status = status_of(state)
    sources, who, _ = LIFE[action]
    hidden = not domain_sees(role, status, escalated=reached_product(state))
    # The merge target is a live escalated request: whoever cannot see it cannot name it.
    if action == "merge" and not domain_sees(role, "escalated", escalated=True):
        hidden = True
    if hidden:
        return "not_found"
    # The state is checked first: whoever may see the request is told what it can do now.
    if status not in sources:
        return "wrong_state"
    if role not in who:
        return "not_allowed"
    return "ok"


def _expected_budget_moves(action, from_status):
    """DOMAIN.md's ledger rules for the scene: approved and in-progress requests hold
    DEFAULT_ESTIMATE reserved points, escalated ones are estimated but reserve nothing."""
    if action == "approve":
        return [("reserve", DEFAULT_ESTIMATE)]  # approve as product-funded spends no points
    if action == "defer" and from_status == "approved":
        return [("release", DEFAULT_ESTIMATE)]
    if action == "cancel" and from_status == "approved":
        return [("release", DEFAULT_ESTIMATE)]  # all points released
    if action == "cancel" and from_status == "in_progress":
        # Only the unstarted points are released; the rest is the change cost and stays spent.
        return [("release", UNSTARTED), ("change_cost", DEFAULT_ESTIMATE - UNSTARTED)]
    return []


def _expected_request(action, before, later):
    """What a successful move leaves on the request, beyond its status."""
    if action == "approve":
        return {"funding": "sales", "reserved_points": DEFAULT_ESTIMATE, "queue_rank": None}
    if action == "approve_product":
        return {"funding": "product", "reserved_points": 0, "queue_rank": None}
    if action == "defer":
        return {"reserved_points": 0, "queue_rank": None, "target_quarter_id": later.pk}
    if action == "decline":
        return {"queue_rank": None}
    if action == "cancel":
        return {"reserved_points": 0}
    if action in ("start", "ship"):
        return {"reserved_points": before.reserved_points, "funding": before.funding}
    return {}


class _RollBack(Exception):
    pass


@contextmanager
def rolled_back():
    """Run the block in a savepoint and undo whatever it wrote."""
    try:
        with transaction.atomic():
            yield
            raise _RollBack
    except _RollBack:
        pass


def _reserved_total():
    return Budget.objects.aggregate(total=Sum("reserved"))["total"]


def _attempt(*, state, action, user, fr, target, later, current):
    """Try the move as one user and say what happened: "ok", "not_found", "not_allowed",
    "wrong_state", or what went wrong, including a move that did the wrong thing."""
    before = snapshot()
    last_event = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    last_entry = LedgerEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    reserved = _reserved_total()
    try:
        call_move(action, fr=fr, actor=user, target=target, quarter=current, later=later)
    except DomainError as exc:
        if isinstance(exc, NotFound) and exc.status == 404:
            outcome = "not_found"
        elif isinstance(exc, NotAllowed) and exc.status == 403:
            outcome = "not_allowed"
        elif exc.status == 409 and Status(status_of(state)).label.lower() in exc.message:
            outcome = "wrong_state"
        else:
            outcome = f"refused ({exc.status} {type(exc).__name__}): {exc.message}"
        if snapshot() != before:
            return f"{outcome}, yet the database changed"
        return outcome
    try:
        _check_done(state, action, user, fr, target, later, last_event, last_entry, reserved)
    except AssertionError as exc:
        return f"ok, but {exc}"
    return "ok"


def _check_done(state, action, user, fr, target, later, last_event, last_entry, reserved):
    """A move that went through: its status, audit event, ledger entries and fields."""
    to_status = LIFE[action][2]
    after = FeatureRequest.objects.get(pk=fr.pk)
    assert after.status == to_status
    new_events = AuditEvent.objects.filter(pk__gt=last_event)
    assert new_events.count() == (2 if action == "merge" else 1)
    [event] = new_events.filter(request=fr)
    assert (event.action, event.actor, event.from_status, event.to_status) == (
        action,
        user,
        status_of(state),
        to_status,
    )
    if action == "merge":
        [merged_in] = new_events.filter(request=target, action="merged_in")
        assert merged_in.actor == user and merged_in.new_value["from_request"] == fr.pk

    entries = list(
        LedgerEntry.objects.filter(pk__gt=last_entry)
        .order_by("pk")
        .values_list("kind", "points", "request_id", "actor_id")
    )
    moves = _expected_budget_moves(action, status_of(state))
    assert entries == [(kind, points, fr.pk, user.pk) for kind, points in moves]
    delta = sum(p for k, p in moves if k == "reserve") - sum(p for k, p in moves if k == "release")
    assert _reserved_total() == reserved + delta
    expected = _expected_request(action, fr, later)
    assert {key: getattr(after, key) for key in expected} == expected
    assert_all_ranks_strict()


@pytest.mark.parametrize("state", STATES)
def test_move(build, funded, state):
    """Every move of DOMAIN.md's table, by every role, on a request in `state`."""
    # Around the request: a neighbour in the manager's inbox and an escalated request of the
    # same team in the current quarter's queue, which is also the merge target. Escalated
    # requests are estimated so they can be approved; the quarter's budget has 40 points.
    build.submitted(title="Neighbour in the inbox")
    target = build.escalated(title="Merge target")
    fr = build.make(
        state,
        merge_target=target,
        estimate=DEFAULT_ESTIMATE if state == "escalated" else None,
    )
    # A later quarter to defer to: the one after next, which every scene may defer to.
    later = services.quarter_for_deferral(build.current.fiscal.next().next().slug, fr)

    # Each attempt runs in a savepoint that is rolled back, so all meet the same database.
    mismatches = []
    for action in LIFE:
        for role in ROLES:
            expected = _expected(state, action, role)
            with rolled_back():
                outcome = _attempt(
                    state=state,
                    action=action,
                    user=build.user(role),
                    fr=fr,
                    target=target,
                    later=later,
                    current=build.current,
                )
            if outcome != expected:
                mismatches.append(f"{action} as {role}: expected {expected}, got {outcome}")
    assert not mismatches, f"on the {state} request:\n" + "\n".join(mismatches)


def test_a_refused_move_says_what_the_request_can_do_now(build, cast):
    fr = build.escalated()
    with pytest.raises(DomainError) as caught:
        services.request_submit(fr=fr, actor=cast.rep)
    assert caught.value.status == 409
    assert "escalated" in caught.value.message
    for move in ("withdraw", "merge", "approve", "defer", "decline"):
        assert move in caught.value.message
    assert "start" not in caught.value.message


def test_a_refused_product_move_names_the_state_and_what_is_possible(build, cast):
    fr = build.make("shipped")
    before = snapshot()
    with pytest.raises(DomainError) as caught:
        services.request_cancel(fr=fr, actor=cast.hop, reason=REASON)
    assert caught.value.status == 409 and "shipped" in caught.value.message
    assert "No further moves" in caught.value.message
    assert snapshot() == before


# --- Side effects --------------------------------------------------------------------------


def _positions(*requests, field):
    """Where each request is shown in its inbox or queue (None when in none)."""
    return [getattr(FeatureRequest.objects.get(pk=fr.pk), field) for fr in requests]


def test_submit_goes_to_the_bottom_of_the_authors_managers_inbox(build, cast):
    first, second = build.submitted(), build.submitted()
    fr = build.draft()
    assert fr.manager is None and fr.inbox_rank is None

    services.request_submit(fr=fr, actor=cast.rep)

    fr.refresh_from_db()
    assert fr.manager == cast.manager
    assert fr.submitted_at is not None
    assert services.inbox_ids(cast.manager.pk) == [first.pk, second.pk, fr.pk]
    assert _positions(first, second, fr, field="inbox_position") == [1, 2, 3]


def test_a_returned_request_resubmitted_goes_to_the_bottom_again(build, cast):
    a, fr, b = build.submitted(), build.submitted(), build.submitted()
    services.request_return(fr=fr, actor=cast.manager, reason=REASON)
    assert _positions(a, fr, b, field="inbox_position") == [1, None, 2]

    services.request_submit(fr=FeatureRequest.objects.get(pk=fr.pk), actor=cast.rep)

    assert services.inbox_ids(cast.manager.pk) == [a.pk, b.pk, fr.pk]


@pytest.mark.parametrize("action", ["return", "reject"])
def test_return_and_reject_move_the_rest_of_the_inbox_up(build, cast, action):
    a, fr, b = build.submitted(), build.submitted(), build.submitted()

    call_move(action, fr=fr, actor=cast.manager)

    assert _positions(a, fr, b, field="inbox_position") == [1, None, 2]
    event = AuditEvent.objects.get(request=fr, action=action)
    assert event.reason == REASON and event.old_value == {"inbox_rank": 2}


def test_escalate_leaves_the_inbox_and_joins_the_bottom_of_the_quarter_queue(build, cast):
    queued = build.escalated()
    a, fr, b = build.submitted(), build.submitted(), build.submitted()

    services.request_escalate(fr=fr, actor=cast.hos, quarter=build.current)

    fr.refresh_from_db()
    assert fr.inbox_rank is None
    assert _positions(a, b, field="inbox_position") == [1, 2]
    assert fr.target_quarter == build.current and fr.escalated_at is not None
    assert services.queue_ids(build.current.pk) == [queued.pk, fr.pk]
    assert fr.queue_rank == 2


def test_escalate_to_the_next_quarter_starts_its_queue(build, cast):
    build.escalated()
    fr = build.submitted()

    services.request_escalate(fr=fr, actor=cast.manager, quarter=build.next)

    assert services.queue_ids(build.next.pk) == [fr.pk]
    assert _positions(fr, field="queue_position") == [1]


def test_reopen_puts_a_deferred_request_at_the_top_of_its_quarter_queue(build, cast):
    x = build.escalated(quarter=build.next)
    y = build.escalated(quarter=build.next)
    fr = build.make("deferred")
    assert fr.target_quarter == build.next and fr.queue_rank is None

    services.request_reopen(fr=fr, actor=cast.hos)

    assert services.queue_ids(build.next.pk) == [fr.pk, x.pk, y.pk]
    assert _positions(fr, x, y, field="queue_position") == [1, 2, 3]
    event = AuditEvent.objects.get(request=fr, action="reopen")
    assert (event.from_status, event.to_status) == ("deferred", "escalated")


def test_the_system_reopens_when_the_quarter_opens_and_running_twice_is_harmless(build):
    fr = build.make("deferred")

    services.request_reopen(fr=fr)
    services.request_reopen(fr=FeatureRequest.objects.get(pk=fr.pk))

    fr.refresh_from_db()
    assert fr.status == Status.ESCALATED and fr.queue_rank == 1
    [event] = AuditEvent.objects.filter(request=fr, action="reopen")
    assert event.actor is None


def test_merge_moves_deals_comments_and_followers_to_the_target(build, cast):
    target = build.escalated(title="Target")
    fr = build.escalated(author=cast.outsider, deals=2)
    after = build.escalated()
    services.comment_add(fr=fr, actor=cast.pm, body="Product has seen this before.")
    services.follow_toggle(fr=fr, actor=cast.hop)
    moved_deals = set(fr.deals.values_list("pk", flat=True))

    services.request_merge(fr=fr, target=target, actor=cast.hos, reason="Same need")

    fr.refresh_from_db()
    assert fr.status == Status.MERGED and fr.merged_into == target
    assert set(target.deals.values_list("pk", flat=True)) >= moved_deals
    assert not fr.deals.exists()
    assert list(Comment.objects.filter(request=target).values_list("body", flat=True)) == [
        "Product has seen this before."
    ]
    assert {cast.outsider, cast.hop} <= set(target.followers.all())
    # It leaves the queue; the rest move up.
    assert services.queue_ids(build.current.pk) == [target.pk, after.pk]
    assert fr.queue_rank is None
    merged_in = AuditEvent.objects.get(request=target, action="merged_in")
    assert set(merged_in.new_value["deals"]) == moved_deals
    assert merged_in.reason == "Same need"


def test_withdraw_from_the_queue_moves_the_rest_up(build, cast):
    a, fr, b = build.escalated(), build.escalated(), build.escalated()

    services.request_withdraw(fr=fr, actor=cast.rep)

    assert _positions(a, fr, b, field="queue_position") == [1, None, 2]
    assert FeatureRequest.objects.get(pk=fr.pk).status == Status.WITHDRAWN


def test_withdraw_from_the_inbox_moves_the_rest_up(build, cast):
    a, fr, b = build.submitted(), build.submitted(), build.submitted()

    services.request_withdraw(fr=fr, actor=cast.manager)

    assert _positions(a, fr, b, field="inbox_position") == [1, None, 2]


# --- What each move needs ------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   ", "\n\t", None])
@pytest.mark.parametrize("action", ["return", "reject"])
def test_return_and_reject_need_a_reason(build, cast, action, reason):
    fr = build.submitted()
    before = snapshot()

    with pytest.raises(InvalidInput, match="reason"):
        call_move(action, fr=fr, actor=cast.manager, reason=reason)

    assert snapshot() == before


def test_the_reason_is_kept_without_surrounding_whitespace(build, cast):
    fr = build.submitted()
    services.request_reject(fr=fr, actor=cast.hos, reason="  Not a fit.  ")
    assert AuditEvent.objects.get(request=fr, action="reject").reason == "Not a fit."


def test_a_reason_over_2000_characters_is_refused(build, cast):
    fr = build.submitted()
    before = snapshot()
    with pytest.raises(InvalidInput):
        services.request_return(fr=fr, actor=cast.manager, reason="x" * 2001)
    assert snapshot() == before


@pytest.mark.parametrize(
    "change, says",
    [
        ({"title": "   "}, "title"),
        ({"problem": " \n "}, "problem"),
        ({}, "deal"),  # built without deals
    ],
)
def test_submit_needs_title_problem_and_a_deal(build, cast, change, says):
    fr = build.draft(deals=0 if not change else 1)
    FeatureRequest.objects.filter(pk=fr.pk).update(**change)
    before = snapshot()

    with pytest.raises(InvalidInput, match=says):
        services.request_submit(fr=FeatureRequest.objects.get(pk=fr.pk), actor=cast.rep)

    assert snapshot() == before


def test_escalate_refuses_a_closed_quarter(build, cast):
    fr = build.submitted()
    Quarter.objects.filter(pk=build.next.pk).update(closed_at=timezone.now())
    before = snapshot()

    with pytest.raises(InvalidInput, match="not open"):
        services.request_escalate(
            fr=fr, actor=cast.manager, quarter=Quarter.objects.get(pk=build.next.pk)
        )

    assert snapshot() == before


def test_escalate_refuses_a_past_quarter(build, cast):
    fr = build.submitted()
    past = quarter_get_or_create(FiscalQuarter.containing(timezone.localdate()).previous())
    before = snapshot()

    with pytest.raises(InvalidInput, match="not open"):
        services.request_escalate(fr=fr, actor=cast.manager, quarter=past)

    assert snapshot() == before


def test_escalate_needs_a_quarter(build, cast):
    fr = build.submitted()
    before = snapshot()
    with pytest.raises(InvalidInput):
        services.request_escalate(fr=fr, actor=cast.manager, quarter=None)
    assert snapshot() == before


def test_merge_into_itself_is_refused(build, cast):
    fr = build.escalated()
    before = snapshot()
    with pytest.raises(InvalidInput, match="itself"):
        services.request_merge(fr=fr, target=fr, actor=cast.hos)
    assert snapshot() == before


@pytest.mark.parametrize("target_state", ["withdrawn", "rejected", "merged", "draft"])
def test_merge_into_a_request_that_is_no_longer_live_is_refused(build, cast, target_state):
    fr = build.escalated()
    # The author's draft is hidden from the Head of Sales: it answers like a missing request.
    target = build.make(target_state)
    before = snapshot()
    with pytest.raises((InvalidInput, NotFound)):
        services.request_merge(fr=fr, target=target, actor=cast.hos)
    assert snapshot() == before


def test_a_manager_merges_within_their_own_team_only(build, cast):
    fr = build.escalated()
    other_team = build.escalated(author=cast.outsider)
    before = snapshot()
    with pytest.raises(NotAllowed):
        services.request_merge(fr=fr, target=other_team, actor=cast.manager)
    assert snapshot() == before

    # The Head of Sales merges across teams.
    services.request_merge(fr=fr, target=other_team, actor=cast.hos)
    assert FeatureRequest.objects.get(pk=fr.pk).merged_into == other_team
