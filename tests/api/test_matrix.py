"""Every request endpoint x method x role over the API, against DOMAIN.md and the services.

Expected outcomes come from the hand-written tables in tests/requests_app/conftest.py (LIFE,
domain_sees, domain_may_estimate), never from requests_app.services. Each move is also made
through the service with the same arguments, from the same database, and the two must leave
exactly the same database behind (requests, ranks, audit events, ledger entries, budgets,
queued emails) and answer with the same status: the API adds no rule and drops none.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Role, User
from config.errors import DomainError
from meetings.models import ActionItem, Decision, Meeting, MeetingSeries
from requests_app import services
from requests_app.models import AuditEvent, Comment, Deal, FeatureRequest, ProductTheme
from tests.conftest import make_user
from tests.requests_app.conftest import (
    DEFAULT_ESTIMATE,
    LIFE,
    REASON,
    ROLES,
    STATES,
    UNSTARTED,
    call_move,
    domain_may_estimate,
    domain_sees,
    reached_product,
    snapshot,
    status_of,
)

from .conftest import API, all_pages, api_state, db_state, rolled_back

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
            call_move(action, fr=fr, actor=actor, target=target, quarter=current, later=later)
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

    roadmap = all_pages(client, f"{API}/roadmap/")
    assert set(_ids(roadmap)) == {
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


# --- Comments and deals: the request page's forms over the API ------------------------------

# DOMAIN.md: reps comment and link deals, product roles comment; managers and the heads do
# everything a rep's chain does; the admin is not a workflow actor. A rep with the same need
# links a deal to an escalated request instead of filing a duplicate.
COMMENTERS = {"author", "manager", "other_manager", "hos", "pm", "hop", "outsider"}


def domain_may_add_deal(role, status):
    return (role == "author" and status in EDITABLE) or (
        role in ("author", "outsider") and status == "escalated"
    )


def new_deal():
    return {
        "account_name": "Initech",
        "amount": "75000.00",
        "currency": "EUR",
        "stage": "proposal",
        "expected_close_date": str(timezone.localdate() + dt.timedelta(days=40)),
        "crm_ref": "OPP-7",
    }


@pytest.mark.parametrize("state", STATES)
def test_comments_and_deals_by_role(api, build, scene, state):
    fr, _, _ = scene(state)
    services.comment_add(fr=fr, actor=build.cast.rep, body="What the customer said")
    status = status_of(state)
    comments = list(Comment.objects.filter(request=fr).order_by("created_at", "id"))
    deals = list(Deal.objects.filter(request=fr).order_by("-amount", "id"))

    for role in [*ROLES, None]:
        user = build.user(role) if role else None
        client, where = api(user), f"{state} as {role}"
        sees = role is not None and domain_sees(role, status, escalated=reached_product(state))
        refused = 401 if role is None else 404

        listed = client.get(f"{API}/requests/{fr.pk}/comments/")
        linked = client.get(f"{API}/requests/{fr.pk}/deals/")
        if sees:
            assert listed.status_code == linked.status_code == 200, where
            assert [(c["id"], c["author"], c["body"]) for c in listed.json()["results"]] == [
                (c.pk, "rep", c.body) for c in comments
            ], where
            assert _ids(linked.json()["results"]) == [d.pk for d in deals], where
        else:
            assert listed.status_code == linked.status_code == refused, where

        expected = 201 if sees and role in COMMENTERS else (403 if sees else refused)
        before = api_state()
        with rolled_back():
            response = client.post(
                f"{API}/requests/{fr.pk}/comments/", {"body": "  Any news?  "}, format="json"
            )
            assert response.status_code == expected, (where, response.content[:200])
            if expected == 201:
                comment = Comment.objects.get(pk=response.json()["id"])
                assert (comment.request_id, comment.author, comment.body) == (
                    fr.pk,
                    user,
                    "Any news?",
                )
                assert AuditEvent.objects.filter(request=fr, action="comment", actor=user).exists()
            else:
                assert response.json()["detail"], where
                assert api_state() == before, where

        may_add = sees and domain_may_add_deal(role, status)
        expected = 201 if may_add else (403 if sees else refused)
        with rolled_back():
            response = client.post(f"{API}/requests/{fr.pk}/deals/", new_deal(), format="json")
            assert response.status_code == expected, (where, response.content[:200])
            if expected == 201:
                deal = Deal.objects.get(pk=response.json()["id"])
                assert (deal.request_id, deal.owner, deal.account_name, deal.amount) == (
                    fr.pk,
                    user,
                    "Initech",
                    Decimal("75000.00"),
                )
                assert fr.followers.filter(pk=user.pk).exists()
                assert AuditEvent.objects.filter(request=fr, action="deal_added").exists()
                body = client.get(f"{API}/requests/{fr.pk}/").json()
                assert body["arr_at_stake"]["EUR"] == "75000.00", where
            else:
                assert api_state() == before, where


# --- Themes: everyone picks from them, product roles keep them --------------------------------

THEME_KEEPERS = {"pm", "hop"}  # "Product themes": the themes page is product's


@pytest.mark.parametrize("role", [*ROLES, None])
def test_themes_by_role(api, build, role):
    platform = ProductTheme.objects.create(name="Platform", description="Core services")
    legacy = ProductTheme.objects.create(name="Legacy", is_active=False)
    user = build.user(role) if role else None
    client = api(user)

    listed = client.get(f"{API}/themes/")
    active = client.get(f"{API}/themes/?active=true")
    one = client.get(f"{API}/themes/{platform.pk}/")
    if role is None:
        assert listed.status_code == active.status_code == one.status_code == 401
    else:
        assert _ids(listed.json()["results"]) == [legacy.pk, platform.pk]  # by name
        assert _ids(active.json()["results"]) == [platform.pk]
        assert one.json() == {
            "id": platform.pk,
            "name": "Platform",
            "description": "Core services",
            "is_active": True,
        }
    expected_refusal = 401 if role is None else 403
    before = api_state()

    with rolled_back():
        created = client.post(
            f"{API}/themes/",
            {"name": " Data  platform ", "description": "Warehouse"},
            format="json",
        )
        if role in THEME_KEEPERS:
            assert created.status_code == 201
            theme = ProductTheme.objects.get(pk=created.json()["id"])
            assert (theme.name, theme.description, theme.is_active) == (
                "Data platform",
                "Warehouse",
                True,
            )
        else:
            assert created.status_code == expected_refusal, created.content
            assert api_state() == before

    with rolled_back():
        changed = client.patch(
            f"{API}/themes/{platform.pk}/", {"name": "Core", "is_active": False}, format="json"
        )
        if role in THEME_KEEPERS:
            assert changed.status_code == 200
            platform.refresh_from_db()
            assert (platform.name, platform.description, platform.is_active) == (
                "Core",
                "Core services",
                False,
            )
        else:
            assert changed.status_code == expected_refusal
            assert api_state() == before

    with rolled_back():
        # Sending nothing to change still needs the right to change it.
        empty = client.patch(f"{API}/themes/{legacy.pk}/", {}, format="json")
        assert empty.status_code == (200 if role in THEME_KEEPERS else expected_refusal)

    missing = client.patch(f"{API}/themes/999999/", {"is_active": True}, format="json")
    assert missing.status_code == (401 if role is None else 404)
    assert api_state() == before


# --- People: names and roles for everyone, who reports to whom where DOMAIN.md shows it -------

# Whose manager each viewer sees, among the cast's people who have one (rep, rep2 report to
# mgr, mgr2; the managers to the Head of Sales): their own line, their manager's, their
# reports' and teammates'; the Head of Sales runs every team and the admin sets teams up.
REPORTING_LINES_SEEN = {
    "author": {"rep", "mgr"},
    "outsider": {"rep2", "mgr2"},
    "manager": {"mgr", "rep", "mgr2"},
    "other_manager": {"mgr2", "rep2", "mgr"},
    "hos": {"rep", "rep2", "mgr", "mgr2"},
    "admin": {"rep", "rep2", "mgr", "mgr2"},
    "pm": set(),
    "hop": set(),
}


@pytest.mark.parametrize("role", ROLES)
def test_users_list_names_and_roles_and_the_lines_the_viewer_may_see(api, build, role):
    cast = build.cast
    make_user("gone", Role.SALES_REP, cast.manager, is_active=False)

    listed = all_pages(api(build.user(role)), f"{API}/users/")

    everyone = [cast.admin, cast.hop, cast.hos, cast.manager, cast.other_manager, cast.pm]
    everyone += [cast.rep, cast.outsider]
    assert [u["username"] for u in listed] == sorted(
        (u.username for u in everyone), key=lambda n: User.objects.get(username=n).first_name
    )  # by name; the deactivated rep is not listed
    seen = REPORTING_LINES_SEEN[role]
    teams = {"mgr": "East", "mgr2": "West", "rep": "East", "rep2": "West"}
    for u in listed:
        person = User.objects.get(pk=u["id"])
        assert set(u) == {"id", "username", "name", "role", "manager", "team"}
        assert (u["name"], u["role"]) == (person.display_name, person.role)
        line_shown = person.username in seen
        assert u["manager"] == (person.manager_id if line_shown else None), (role, u)
        # A manager's team is on every page; a rep's only with their reporting line.
        team = (
            teams.get(person.username) if line_shown or person.role == Role.SALES_MANAGER else None
        )
        assert u["team"] == team, (role, u)


def test_users_list_answers_401_without_credentials(api, cast):
    assert api(None).get(f"{API}/users/").status_code == 401


# --- Meetings: the two heads and the extra attendees ------------------------------------------

MEETING_AUDIENCE = {"hos", "hop", "pm"}  # the series below names the product manager
HEADS = {"hos", "hop"}


@pytest.fixture
def sync(build, funded):
    """A series with the product manager as extra attendee, a past and an upcoming meeting,
    one action item owned by the product manager and one by the rep (who does not attend),
    a decision in the past meeting's minutes, and an estimated escalated request."""
    cast = build.cast
    series = MeetingSeries.objects.create(name="Sync", time_zone="UTC")
    series.extra_attendees.set([cast.pm])
    now = timezone.now()

    def meeting(starts):
        return Meeting.objects.create(
            series=series,
            starts_at=starts,
            ends_at=starts + dt.timedelta(minutes=45),
            digest_due_at=starts - dt.timedelta(hours=24),
        )

    past, upcoming = meeting(now - dt.timedelta(days=6)), meeting(now + dt.timedelta(days=1))
    decided = build.escalated(estimate=3)
    Decision.objects.create(
        meeting=past, request=decided, action="decline", summary="Declined", actor=cast.hop
    )
    items = {
        owner: ActionItem.objects.create(
            meeting=past,
            title=f"Follow up ({owner})",
            owner=getattr(cast, owner),
            due_date=timezone.localdate() + dt.timedelta(days=3),
            created_by=cast.hos,
        )
        for owner in ("pm", "rep")
    }
    fr = build.escalated(estimate=5)
    return type("Sync", (), dict(past=past, upcoming=upcoming, items=items, fr=fr))


@pytest.mark.parametrize("role", [*ROLES, None])
def test_meetings_by_role(api, build, sync, role):
    user = build.user(role) if role else None
    client = api(user)
    attends = role in MEETING_AUDIENCE
    refused = 401 if role is None else 404

    listed = client.get(f"{API}/meetings/")
    if role is None:
        assert listed.status_code == 401
    else:
        assert _ids(all_pages(client, f"{API}/meetings/")) == (
            [sync.past.pk, sync.upcoming.pk] if attends else []
        )
        upcoming = all_pages(client, f"{API}/meetings/?when=upcoming")
        assert _ids(upcoming) == ([sync.upcoming.pk] if attends else [])

    for meeting in (sync.past, sync.upcoming):
        for path in ("", "agenda/", "decisions/", "actions/"):
            response = client.get(f"{API}/meetings/{meeting.pk}/{path}")
            assert response.status_code == (200 if attends else refused), (role, path)
    if attends:
        detail = client.get(f"{API}/meetings/{sync.past.pk}/").json()
        assert {a["username"] for a in detail["attendees"]} == {"hos", "hop", "pm"}
        assert detail["is_past"] is True
        minutes = client.get(f"{API}/meetings/{sync.past.pk}/decisions/").json()["results"]
        assert [(d["request"], d["action"]) for d in minutes] == [
            (Decision.objects.get().request_id, "decline")
        ]
        items = client.get(f"{API}/meetings/{sync.past.pk}/actions/?done=false").json()
        assert _ids(items["results"]) == [sync.items["pm"].pk, sync.items["rep"].pk]

    before = api_state()
    decide = {"request": sync.fr.pk, "action": "approve"}
    with rolled_back():
        response = client.post(
            f"{API}/meetings/{sync.upcoming.pk}/decisions/", decide, format="json"
        )
        # DOMAIN.md: approving is the Head of Product's; the others attending may not.
        expected = refused if not attends else (201 if role == "hop" else 403)
        assert response.status_code == expected, (role, response.content[:200])
        if expected == 201:
            sync.fr.refresh_from_db()
            assert (sync.fr.status, sync.fr.reserved_points) == ("approved", 5)
            decision = Decision.objects.get(pk=response.json()["id"])
            assert (decision.meeting, decision.action, decision.actor) == (
                sync.upcoming,
                "approve",
                user,
            )
        else:
            assert api_state() == before
    with rolled_back():
        # A meeting that is over takes no more decisions: its minutes are closed. As with a
        # request's moves, whoever may see it is told about the state first.
        response = client.post(f"{API}/meetings/{sync.past.pk}/decisions/", decide, format="json")
        assert response.status_code == (409 if attends else refused)
        assert api_state() == before

    due = str(timezone.localdate() + dt.timedelta(days=7))
    with rolled_back():
        response = client.post(
            f"{API}/meetings/{sync.upcoming.pk}/actions/",
            {"title": "Send the roadmap", "owner": build.cast.rep.pk, "due_date": due},
            format="json",
        )
        assert response.status_code == (201 if attends else refused), role
        if attends:
            item = ActionItem.objects.get(pk=response.json()["id"])
            assert (item.meeting, item.owner, item.created_by, str(item.due_date)) == (
                sync.upcoming,
                build.cast.rep,
                user,
                due,
            )
        else:
            assert api_state() == before

    for owner, item in sync.items.items():
        with rolled_back():
            # Open items show on every meeting of the series: any of them will do.
            response = client.patch(
                f"{API}/meetings/{sync.upcoming.pk}/actions/{item.pk}/",
                {"done": True},
                format="json",
            )
            # The owner or one of the heads marks it done, if they can see the meeting.
            may = attends and (role in HEADS or role == owner)
            expected = 200 if may else (403 if attends else refused)
            assert response.status_code == expected, (role, owner)
            item.refresh_from_db()
            assert item.done is (expected == 200)
            if expected != 200:
                assert api_state() == before
