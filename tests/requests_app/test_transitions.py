"""Every move of a request's life, checked against DOMAIN.md's table for every state and role.

The expected outcome comes from the hand-written tables in conftest.py (LIFE, domain_sees),
never from services.MOVES, so a wrong rule in the services fails here.
"""

import pytest
from django.utils import timezone

from budgets.fiscal import FiscalQuarter
from budgets.models import Quarter
from budgets.services import quarter_get_or_create
from config.errors import DomainError, InvalidInput, NotAllowed, NotFound
from requests_app import services
from requests_app.models import AuditEvent, Comment, FeatureRequest, Status

from .conftest import LIFE, ROLES, STATES, domain_sees, reached_product, snapshot, status_of

REASON = "Because the customer changed their mind"


def test_the_services_offer_the_moves_domain_md_lists():
    # Product's decisions (approve, defer, ...) may be added alongside; these must stay.
    assert set(LIFE) <= set(services.MOVES)
    assert set(LIFE) <= set(services.TRANSITION_FUNCTIONS)


def _call(action, *, fr, actor, target=None, quarter=None, reason=REASON):
    kwargs = {"fr": fr, "actor": actor}
    if action in ("return", "reject", "withdraw", "merge"):
        kwargs["reason"] = reason
    if action == "escalate":
        kwargs["quarter"] = quarter
    if action == "merge":
        kwargs["target"] = target
    return services.TRANSITION_FUNCTIONS[action](**kwargs)


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


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(LIFE))
@pytest.mark.parametrize("state", STATES)
def test_move(build, state, action, role):
    # Around the request: a neighbour in the manager's inbox and an escalated request of the
    # same team in the current quarter's queue, which is also the merge target.
    build.submitted(title="Neighbour in the inbox")
    target = build.escalated(title="Merge target")
    fr = build.make(state, merge_target=target)
    user = build.user(role)
    expected = _expected(state, action, role)
    before = snapshot()
    last_event = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()

    if expected != "ok":
        with pytest.raises(DomainError) as caught:
            _call(action, fr=fr, actor=user, target=target, quarter=build.current)
        exc = caught.value
        if expected == "not_found":
            assert isinstance(exc, NotFound) and exc.status == 404
        elif expected == "not_allowed":
            assert isinstance(exc, NotAllowed) and exc.status == 403
        else:
            assert exc.status == 409 and not isinstance(exc, (NotFound, NotAllowed))
            assert Status(status_of(state)).label.lower() in exc.message
        assert snapshot() == before
        return

    _call(action, fr=fr, actor=user, target=target, quarter=build.current)
    fr.refresh_from_db()
    assert fr.status == LIFE[action][2]
    new_events = AuditEvent.objects.filter(pk__gt=last_event)
    assert new_events.count() == (2 if action == "merge" else 1)
    [event] = new_events.filter(request=fr)
    assert event.action == action
    assert (event.actor, event.from_status, event.to_status) == (
        user,
        status_of(state),
        LIFE[action][2],
    )
    if action == "merge":
        [merged_in] = new_events.filter(request=target, action="merged_in")
        assert merged_in.actor == user and merged_in.new_value["from_request"] == fr.pk


def test_a_refused_move_says_what_the_request_can_do_now(build, cast):
    fr = build.escalated()
    with pytest.raises(DomainError) as caught:
        services.request_submit(fr=fr, actor=cast.rep)
    assert caught.value.status == 409
    assert "escalated" in caught.value.message
    assert "withdraw" in caught.value.message and "merge" in caught.value.message


# --- Side effects --------------------------------------------------------------------------


def _ranks(*requests, field):
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
    assert _ranks(first, second, fr, field="inbox_rank") == [1, 2, 3]


def test_a_returned_request_resubmitted_goes_to_the_bottom_again(build, cast):
    a, fr, b = build.submitted(), build.submitted(), build.submitted()
    services.request_return(fr=fr, actor=cast.manager, reason=REASON)
    assert _ranks(a, fr, b, field="inbox_rank") == [1, None, 2]

    services.request_submit(fr=FeatureRequest.objects.get(pk=fr.pk), actor=cast.rep)

    assert services.inbox_ids(cast.manager.pk) == [a.pk, b.pk, fr.pk]


@pytest.mark.parametrize("action", ["return", "reject"])
def test_return_and_reject_close_the_inbox_gap(build, cast, action):
    a, fr, b = build.submitted(), build.submitted(), build.submitted()

    _call(action, fr=fr, actor=cast.manager)

    assert _ranks(a, fr, b, field="inbox_rank") == [1, None, 2]
    event = AuditEvent.objects.get(request=fr, action=action)
    assert event.reason == REASON and event.old_value == {"inbox_rank": 2}


def test_escalate_leaves_the_inbox_and_joins_the_bottom_of_the_quarter_queue(build, cast):
    queued = build.escalated()
    a, fr, b = build.submitted(), build.submitted(), build.submitted()

    services.request_escalate(fr=fr, actor=cast.hos, quarter=build.current)

    fr.refresh_from_db()
    assert fr.inbox_rank is None
    assert _ranks(a, b, field="inbox_rank") == [1, 2]
    assert fr.target_quarter == build.current and fr.escalated_at is not None
    assert services.queue_ids(build.current.pk) == [queued.pk, fr.pk]
    assert fr.queue_rank == 2


def test_escalate_to_the_next_quarter_starts_its_queue(build, cast):
    build.escalated()
    fr = build.submitted()

    services.request_escalate(fr=fr, actor=cast.manager, quarter=build.next)

    assert services.queue_ids(build.next.pk) == [fr.pk]
    assert _ranks(fr, field="queue_rank") == [1]


def test_reopen_puts_a_deferred_request_at_the_top_of_its_quarter_queue(build, cast):
    x = build.escalated(quarter=build.next)
    y = build.escalated(quarter=build.next)
    fr = build.make("deferred")
    assert fr.target_quarter == build.next and fr.queue_rank is None

    services.request_reopen(fr=fr, actor=cast.hos)

    assert services.queue_ids(build.next.pk) == [fr.pk, x.pk, y.pk]
    assert _ranks(fr, x, y, field="queue_rank") == [1, 2, 3]
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
    # It leaves the queue and the gap closes.
    assert services.queue_ids(build.current.pk) == [target.pk, after.pk]
    assert fr.queue_rank is None
    merged_in = AuditEvent.objects.get(request=target, action="merged_in")
    assert set(merged_in.new_value["deals"]) == moved_deals
    assert merged_in.reason == "Same need"


def test_withdraw_from_the_queue_closes_the_gap(build, cast):
    a, fr, b = build.escalated(), build.escalated(), build.escalated()

    services.request_withdraw(fr=fr, actor=cast.rep)

    assert _ranks(a, fr, b, field="queue_rank") == [1, None, 2]
    assert FeatureRequest.objects.get(pk=fr.pk).status == Status.WITHDRAWN


def test_withdraw_from_the_inbox_closes_the_gap(build, cast):
    a, fr, b = build.submitted(), build.submitted(), build.submitted()

    services.request_withdraw(fr=fr, actor=cast.manager)

    assert _ranks(a, fr, b, field="inbox_rank") == [1, None, 2]


# --- What each move needs ------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   ", "\n\t", None])
@pytest.mark.parametrize("action", ["return", "reject"])
def test_return_and_reject_need_a_reason(build, cast, action, reason):
    fr = build.submitted()
    before = snapshot()

    with pytest.raises(InvalidInput, match="reason"):
        _call(action, fr=fr, actor=cast.manager, reason=reason)

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
