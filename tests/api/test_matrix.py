"""Every request endpoint x method x role over the API, against DOMAIN.md and the services.

Expected outcomes come from the hand-written tables in tests/requests_app/conftest.py (LIFE,
domain_sees, domain_may_estimate), never from requests_app.services. Each move is also made
through the service with the same arguments, from the same database, and the two must leave
exactly the same database behind (requests, ranks, audit events, ledger entries, budgets,
queued emails) and answer with the same status: the API adds no rule and drops none.
"""

import pytest

from config.errors import DomainError
from requests_app import services
from requests_app.models import AuditEvent, FeatureRequest
from tests.requests_app.conftest import (
    DEFAULT_ESTIMATE,
    LIFE,
    ROLES,
    STATES,
    domain_may_estimate,
    domain_sees,
    reached_product,
    snapshot,
    status_of,
)

from .conftest import API, all_pages, db_state, rolled_back

REASON = "Because the customer changed their mind"
UNSTARTED = 3  # of DEFAULT_ESTIMATE reserved points, when work in progress is cancelled
NEW_ESTIMATE = 7
BURNED = 1
ESTIMABLE = {"escalated", "deferred", "approved", "in_progress"}
EDITABLE = {"draft", "submitted", "returned"}
ACTIONS = [*LIFE, "estimate"]


def expected_status(state, action, role):
    status = status_of(state)
    if not domain_sees(role, status, escalated=reached_product(state)):
        return 404
    # The merge target is a live escalated request: whoever cannot see it cannot name it.
    if action == "merge" and not domain_sees(role, "escalated", escalated=True):
        return 404
    if action == "estimate":
        if status not in ESTIMABLE:
            return 409
        return 200 if domain_may_estimate(role, status) else 403
    sources, who, _ = LIFE[action]
    # The state is checked first: whoever may see the request is told what it can do now.
    if status not in sources:
        return 409
    return 200 if role in who else 403


def api_body(action, *, target, current, later):
    """What a client posts to /requests/<id>/<action>/: valid arguments for the move."""
    return {
        "submit": {},
        "return": {"reason": REASON},
        "reject": {"reason": REASON},
        "escalate": {"quarter": current.slug},
        "withdraw": {"reason": REASON},
        "merge": {"target": target.pk, "reason": REASON},
        "reopen": {},
        "approve": {},
        "approve_product": {},
        "defer": {"quarter": later.slug, "reason": REASON},
        "decline": {"reason": REASON},
        "start": {},
        "ship": {},
        "cancel": {"reason": REASON, "unstarted_points": UNSTARTED},
        "estimate": {"estimate": NEW_ESTIMATE, "burned_points": BURNED},
    }[action]


def call_service(action, *, fr, actor, target, current, later):
    """The same move through the service, as a page makes it. Returns the HTTP status the
    API should answer with."""
    try:
        if action == "estimate":
            services.request_estimate(
                fr=fr, actor=actor, points=NEW_ESTIMATE, burned_points=BURNED, reason=""
            )
        else:
            kwargs = {"fr": fr, "actor": actor}
            if action in ("return", "reject", "withdraw", "merge", "defer", "decline", "cancel"):
                kwargs["reason"] = REASON
            if action == "escalate":
                kwargs["quarter"] = current
            if action == "defer":
                kwargs["quarter"] = later
            if action == "cancel":
                kwargs["unstarted_points"] = UNSTARTED
            if action == "merge":
                kwargs["target"] = target
            services.TRANSITION_FUNCTIONS[action](**kwargs)
    except DomainError as exc:
        return exc.status
    return 200


@pytest.fixture
def scene(build, funded):
    """Around the request under test: a neighbour in the manager's inbox and an escalated
    request of the same team in the current quarter's queue, which is also the merge target.
    The quarter's budget has 40 points."""

    def make(state):
        build.submitted(title="Neighbour in the inbox")
        target = build.escalated(title="Merge target")
        fr = build.make(
            state,
            merge_target=target,
            estimate=DEFAULT_ESTIMATE if state == "escalated" else None,
        )
        later = services.quarter_for_deferral(build.current.fiscal.next().next().slug, fr)
        return fr, target, later

    return make


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("state", STATES)
def test_move_over_the_api_matches_domain_md_and_the_service(api, build, scene, state, action):
    fr, target, later = scene(state)
    body = api_body(action, target=target, current=build.current, later=later)
    url = f"{API}/requests/{fr.pk}/{action}/"

    outcomes, expected = {}, {}
    for role in ROLES:
        user = build.user(role)
        where = f"{action} on {state} as {role}"
        expected[role] = expected_status(state, action, role)
        before = snapshot()

        with rolled_back():
            response = api(user).post(url, body, format="json")
            got = response.status_code
            after_api = db_state()
            if got >= 400:
                assert snapshot() == before, f"{where}: refused with {got}, yet the db changed"
            json = response.json()
        with rolled_back():
            by_service = call_service(
                action,
                fr=FeatureRequest.objects.get(pk=fr.pk),
                actor=user,
                target=target,
                current=build.current,
                later=later,
            )
            after_service = db_state()

        assert got == by_service, f"{where}: API {got}, service {by_service}: {json}"
        assert after_api == after_service, f"{where}: the API and the service differ"
        outcomes[role] = got
        if got == 200:
            assert json["id"] == fr.pk
            if action == "estimate":
                assert json["estimate"] == NEW_ESTIMATE, where
            else:
                assert json["status"] == LIFE[action][2], where
        elif got == 409:
            # An illegal move names the state it is in and what it can do instead.
            assert json["state"] == status_of(state), where
            assert (
                FeatureRequest(status=status_of(state)).get_status_display().lower()
                in (json["detail"])
            ), where
        else:
            assert json["detail"], where
    assert outcomes == expected


# --- Reading and editing one request ---------------------------------------------------------


@pytest.mark.parametrize("state", STATES)
def test_read_events_and_edit_by_role(api, build, scene, state):
    fr, _, _ = scene(state)
    status = status_of(state)
    for role in ROLES:
        user, where = build.user(role), f"{state} as {role}"
        sees = domain_sees(role, status, escalated=reached_product(state))

        detail = api(user).get(f"{API}/requests/{fr.pk}/")
        events = api(user).get(f"{API}/requests/{fr.pk}/events/")
        if sees:
            assert detail.status_code == 200, where
            assert detail.json()["status"] == status, where
            assert events.status_code == 200, where
            assert [e["id"] for e in events.json()["results"]] == list(
                AuditEvent.objects.filter(request=fr)
                .order_by("created_at", "id")
                .values_list("pk", flat=True)
            ), where
        else:
            assert detail.status_code == 404, where
            assert events.status_code == 404, where
            assert detail.json() == {"detail": "No such request.", "code": "not_found"}

        may_edit = role == "author" and status in EDITABLE
        before = snapshot()
        with rolled_back():
            response = api(user).patch(
                f"{API}/requests/{fr.pk}/", {"title": "Renamed by the API"}, format="json"
            )
            if may_edit:
                assert response.status_code == 200, where
                assert response.json()["title"] == "Renamed by the API"
                assert FeatureRequest.objects.get(pk=fr.pk).title == "Renamed by the API"
                edit = AuditEvent.objects.filter(request=fr, action="edit").get()
                assert edit.actor == user and edit.new_value == {"title": "Renamed by the API"}
            else:
                assert response.status_code == (403 if sees else 404), where
                assert snapshot() == before, where


def test_patch_changes_only_the_fields_sent(api, build, cast):
    fr = build.draft(importance="deal_blocker", proposed_solution="An export button")

    response = api(cast.rep).patch(
        f"{API}/requests/{fr.pk}/", {"problem": "Finance exports by hand."}, format="json"
    )

    assert response.status_code == 200
    fr.refresh_from_db()
    assert (fr.problem, fr.importance, fr.proposed_solution) == (
        "Finance exports by hand.",
        "deal_blocker",
        "An export button",
    )


# --- List endpoints never show what the user could not open ---------------------------------


def _ids(items):
    return [item["id"] for item in items]


@pytest.mark.parametrize("role", ROLES)
def test_list_endpoints_show_exactly_what_the_user_may_open(api, build, role):
    # One request in every state, for two teams, in both quarters' queues.
    for state in STATES:
        build.make(state)
        build.make(state, author=build.cast.outsider)
    build.escalated(quarter=build.next)
    user = build.user(role)
    client = api(user)

    openable = {
        fr.pk
        for fr in FeatureRequest.objects.all()
        if client.get(f"{API}/requests/{fr.pk}/").status_code == 200
    }

    # Independently: what DOMAIN.md lets this user open, naming them as the table does
    # relative to each request (its author, the author's manager, another manager, a rep of
    # another team).
    def relative_role(fr):
        if fr.author == user:
            return "author"
        if user.role == "sales_manager":
            return "manager" if fr.author.manager == user else "other_manager"
        if user.role == "sales_rep":
            return "outsider"
        return role

    assert openable == {
        fr.pk
        for fr in FeatureRequest.objects.select_related("author")
        if domain_sees(relative_role(fr), fr.status, escalated=fr.escalated_at is not None)
    }
    assert openable  # every role opens something: at least the roadmap

    listed = _ids(all_pages(client, f"{API}/requests/"))
    assert len(listed) == len(set(listed))
    assert set(listed) == openable

    for status in ("submitted", "escalated", "approved", "draft"):
        page = all_pages(client, f"{API}/requests/?status={status}")
        assert set(_ids(page)) == {
            pk for pk in openable if FeatureRequest.objects.get(pk=pk).status == status
        }

    roadmap = client.get(f"{API}/roadmap/")
    assert roadmap.status_code == 200
    assert set(_ids(roadmap.json()["items"])) == {
        pk
        for pk in openable
        if FeatureRequest.objects.get(pk=pk).status
        in ("approved", "in_progress", "shipped", "deferred")
    }

    for quarter in (build.current, build.next):
        queue = client.get(f"{API}/queues/{quarter.slug}/")
        if role == "admin":
            assert queue.status_code == 403
            continue
        assert queue.status_code == 200
        items = _ids(queue.json()["items"])
        assert items == services.queue_ids(quarter.pk)
        assert set(items) <= openable

    inbox = client.get(f"{API}/inbox/")
    if role in ("manager", "other_manager", "hos"):
        assert inbox.status_code == 200
        in_inbox = [pk for team in inbox.json()["teams"] for pk in _ids(team["items"])]
        assert in_inbox and set(in_inbox) <= openable
        managers = {
            "manager": [build.cast.manager],
            "other_manager": [build.cast.other_manager],
            "hos": [build.cast.manager, build.cast.other_manager],
        }[role]
        assert in_inbox == [pk for m in managers for pk in services.inbox_ids(m.pk)]
    else:
        assert inbox.status_code == 403
