"""The endpoints beyond a single request, for every role: creating requests, who am I, the
budgets, the queue and the inbox and their rankings, the roadmap and the meeting agenda."""

import datetime as dt

import pytest
from django.utils import timezone

from budgets.models import Budget, Quarter
from budgets.services import quarter_get_or_create
from meetings.models import MeetingSeries
from meetings.services import meetings_schedule
from requests_app import services
from requests_app.models import AuditEvent, Deal, FeatureRequest
from tests.requests_app.conftest import ROLES, snapshot

from .conftest import API

pytestmark = pytest.mark.django_db

ROLE_NAMES = {
    "author": "sales_rep",
    "outsider": "sales_rep",
    "manager": "sales_manager",
    "other_manager": "sales_manager",
    "hos": "head_of_sales",
    "pm": "product_manager",
    "hop": "head_of_product",
    "admin": "admin",
}


def new_request(**overrides):
    return {
        "title": "Bulk export of invoices",
        "problem": "Finance exports invoices one by one.",
        "importance": "deal_blocker",
        "deals": [
            {
                "account_name": "Globex",
                "amount": "120000.00",
                "currency": "EUR",
                "stage": "proposal",
                "expected_close_date": str(timezone.localdate() + dt.timedelta(days=20)),
                "crm_ref": "OPP-1",
            }
        ],
        **overrides,
    }


@pytest.mark.parametrize("role", ROLES)
def test_only_reps_create_requests(api, build, role):
    user = build.user(role)
    before = snapshot()

    response = api(user).post(f"{API}/requests/", new_request(), format="json")

    if role in ("author", "outsider"):
        assert response.status_code == 201
        body = response.json()
        fr = FeatureRequest.objects.get(pk=body["id"])
        assert (fr.status, fr.author, fr.importance) == ("draft", user, "deal_blocker")
        assert body["status"] == "draft" and body["author"] == user.username
        assert body["arr_at_stake"] == {"EUR": "120000.00"} and body["accounts"] == 1
        [deal] = Deal.objects.filter(request=fr)
        assert (deal.account_name, deal.owner, deal.crm_ref) == ("Globex", user, "OPP-1")
        assert AuditEvent.objects.get(request=fr).action == "create"
        # Only its author sees a draft.
        assert api(build.cast.manager).get(f"{API}/requests/{fr.pk}/").status_code == 404
    else:
        assert response.status_code == 403
        assert snapshot() == before


@pytest.mark.parametrize("role", ROLES)
def test_me(api, build, role):
    user = build.user(role)

    body = api(user).get(f"{API}/me/").json()

    assert (body["id"], body["username"], body["role"]) == (
        user.pk,
        user.username,
        ROLE_NAMES[role],
    )
    assert body["manager"] == user.manager_id


@pytest.mark.parametrize("role", ROLES)
def test_everyone_reads_the_budgets(api, build, funded, role):
    build.make("approved", estimate=6)
    client = api(build.user(role))

    listed = client.get(f"{API}/quarters/")
    one = client.get(f"{API}/quarters/{funded.slug}/")

    assert listed.status_code == one.status_code == 200
    current = next(q for q in listed.json()["results"] if q["quarter"] == funded.slug)
    assert (current["allocated"], current["reserved"], current["remaining"]) == (40, 6, 34)
    budget = one.json()
    assert (budget["capacity"], budget["allocated"], budget["reserved"]) == (400, 40, 6)
    assert [e["kind"] for e in budget["ledger"]] == ["reserve", "allocate"]


def test_quarters_current_flag_picks_the_quarter_today_falls_in(api, cast, quarters):
    current, upcoming = quarters
    closed = quarter_get_or_create(current.fiscal.previous())
    closed.closed_at = timezone.now()
    closed.save(update_fields=["closed_at"])
    client = api(cast.rep)

    def slugs(query):
        return [q["quarter"] for q in client.get(f"{API}/quarters/{query}").json()["results"]]

    assert slugs("") == [closed.slug, current.slug, upcoming.slug]
    assert slugs("?current=true") == [current.slug]
    assert slugs("?current=false") == [closed.slug, upcoming.slug]
    assert slugs("?current=maybe") == []
    states = {
        q["quarter"]: (q["state"], q["current"])
        for q in client.get(f"{API}/quarters/").json()["results"]
    }
    assert states == {
        closed.slug: ("closed", False),
        current.slug: ("current", True),
        upcoming.slug: ("next", False),
    }


def test_a_quarter_without_its_budget_reads_as_an_empty_budget(api, cast, quarters):
    # A Quarter row made without its Budget row (a seed script, a shell) gets the empty budget
    # quarter_get_or_create gives every quarter, in the list and the detail alike.
    fq = quarters[1].fiscal.next()
    Quarter.objects.create(
        fiscal_year=fq.fiscal_year, number=fq.number, start_date=fq.start, end_date=fq.end
    )
    client = api(cast.rep)

    listed = client.get(f"{API}/quarters/")
    one = client.get(f"{API}/quarters/{fq.slug}/")
    queue = client.get(f"{API}/queues/{fq.slug}/")

    assert listed.status_code == one.status_code == queue.status_code == 200
    assert [q["quarter"] for q in listed.json()["results"]][-1] == fq.slug
    body = one.json()
    assert (body["capacity"], body["allocated"], body["remaining"], body["ledger"]) == (0, 0, 0, [])
    assert Budget.objects.filter(quarter__fiscal_year=fq.fiscal_year, quarter__number=fq.number)


@pytest.mark.parametrize("slug", ["FY1999Q1", "FY2027Q5", "nonsense", "%00", "FY0000Q1"])
def test_an_unknown_quarter_answers_404(api, cast, quarters, slug):
    client = api(cast.hos)
    assert client.get(f"{API}/quarters/{slug}/").status_code == 404
    assert client.get(f"{API}/queues/{slug}/").status_code == 404
    before = snapshot()
    response = client.put(f"{API}/queues/{slug}/ranking/", {"seen": [], "order": []}, format="json")
    assert response.status_code == 404
    assert snapshot() == before


@pytest.mark.parametrize("role", ROLES)
def test_the_queue_is_for_sales_and_product(api, build, funded, role):
    ids = [build.escalated(estimate=e).pk for e in (20, 15, 10)] + [build.escalated().pk]

    response = api(build.user(role)).get(f"{API}/queues/{funded.slug}/")

    if role == "admin":
        assert response.status_code == 403
        return
    assert response.status_code == 200
    body = response.json()
    assert body["order"] == ids and body["remaining"] == 40
    rows = [
        (i["id"], i["running_total"], i["below_cut_line"], i["unestimated"]) for i in body["items"]
    ]
    # The cut line: 20 + 15 fit in 40, 20 + 15 + 10 does not; the unestimated one is flagged.
    assert rows == [
        (ids[0], 20, False, False),
        (ids[1], 35, False, False),
        (ids[2], 45, True, False),
        (ids[3], None, True, True),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_only_the_head_of_sales_ranks_the_queue(api, build, role):
    ids = [build.escalated().pk for _ in range(3)]
    before = snapshot()

    response = api(build.user(role)).put(
        f"{API}/queues/{build.current.slug}/ranking/",
        {"seen": ids, "order": ids[::-1]},
        format="json",
    )

    if role == "hos":
        assert response.status_code == 200
        assert services.queue_ids(build.current.pk) == ids[::-1]
    else:
        assert response.status_code == 403
        assert snapshot() == before


@pytest.mark.parametrize("role", ROLES)
def test_the_inbox_is_for_managers_and_the_head_of_sales(api, build, role):
    east = [build.submitted().pk for _ in range(2)]
    west = [build.submitted(author=build.cast.outsider).pk]

    response = api(build.user(role)).get(f"{API}/inbox/")

    expected = {
        "manager": {"East": east},
        "other_manager": {"West": west},
        "hos": {"East": east, "West": west},
    }
    if role in expected:
        assert response.status_code == 200
        teams = {t["name"]: [i["id"] for i in t["items"]] for t in response.json()["teams"]}
        assert teams == expected[role]
    else:
        assert response.status_code == 403


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("team", ["own", "east", "west"])
def test_who_ranks_which_inbox(api, build, role, team):
    east = [build.submitted().pk for _ in range(2)]
    west = [build.submitted(author=build.cast.outsider).pk for _ in range(2)]
    user = build.user(role)
    body = {
        "own": {"seen": east, "order": east[::-1]},
        "east": {"seen": east, "order": east[::-1], "team": build.cast.manager.pk},
        "west": {"seen": west, "order": west[::-1], "team": build.cast.other_manager.pk},
    }[team]
    before = snapshot()

    response = api(user).put(f"{API}/inbox/ranking/", body, format="json")

    allowed = {
        ("manager", "own"),
        ("manager", "east"),
        ("other_manager", "west"),
        ("hos", "east"),
        ("hos", "west"),
    }
    if (role, team) in allowed:
        assert response.status_code == 200
        manager = build.cast.other_manager if team == "west" else build.cast.manager
        assert services.inbox_ids(manager.pk) == body["order"]
        assert response.json() == {"team": manager.pk, "order": body["order"]}
        return
    if (role, team) == ("other_manager", "own"):
        # The East order sent to the West inbox: not what that inbox holds.
        assert response.status_code == 409
    elif role in ("manager", "other_manager", "hos"):
        # A manager naming another team, or the Head of Sales naming none: no such inbox.
        assert response.status_code == 404
        assert response.json()["detail"] == "No such team."
    else:
        assert response.status_code == 403
    assert snapshot() == before


@pytest.mark.parametrize("role", ROLES)
def test_the_roadmap_is_for_everyone_signed_in(api, build, role):
    committed = {build.make(s).pk for s in ("approved", "in_progress", "shipped")}
    deferred = build.make("deferred").pk
    build.make("declined")
    build.escalated()

    response = api(build.user(role)).get(f"{API}/roadmap/")

    assert response.status_code == 200
    assert response.json()["count"] == len(committed) + (0 if role == "admin" else 1)
    items = {i["id"]: i["committed"] for i in response.json()["results"]}
    # Deferred work is shown as not committed, to whoever may see it.
    expected = dict.fromkeys(committed, True) | ({} if role == "admin" else {deferred: False})
    assert items == expected


@pytest.mark.parametrize("role", ROLES)
def test_the_meeting_agenda_is_for_its_attendees(api, build, funded, role):
    series = MeetingSeries.objects.create(time_zone="Europe/Berlin")
    series.extra_attendees.add(build.cast.pm)
    [meeting, *_] = meetings_schedule(series)
    build.escalated(estimate=8)

    response = api(build.user(role)).get(f"{API}/meetings/{meeting.pk}/agenda/")

    if role in ("hos", "hop", "pm"):
        assert response.status_code == 200
        body = response.json()
        assert body["meeting"] == meeting.pk
        assert body["agenda"]["budget"]["quarter_slug"] == funded.slug
        assert body["agenda"]["queue"]["size"] == 1
    else:
        assert response.status_code == 404
        assert response.json()["detail"] == "No such meeting."


def test_an_unknown_meeting_answers_404(api, cast):
    assert api(cast.hos).get(f"{API}/meetings/12345/agenda/").status_code == 404


@pytest.mark.parametrize(
    "method, path",
    [
        ("DELETE", "requests/{fr}/"),
        ("PUT", "requests/{fr}/"),
        ("POST", "requests/{fr}/"),
        ("GET", "requests/{fr}/approve/"),
        ("DELETE", "requests/{fr}/events/"),
        ("POST", "roadmap/"),
        ("POST", "queues/{quarter}/"),
        ("GET", "queues/{quarter}/ranking/"),
        ("GET", "inbox/ranking/"),
        ("POST", "quarters/"),
        ("PATCH", "me/"),
        ("GET", "auth/token/"),
        ("DELETE", "requests/{fr}/deals/"),  # the request page removes no deal either
        ("PATCH", "requests/{fr}/comments/"),
        ("DELETE", "requests/{fr}/comments/"),
        ("POST", "users/"),
        ("DELETE", "themes/"),
        ("POST", "meetings/"),
    ],
)
def test_other_methods_answer_405_and_change_nothing(api, build, cast, method, path):
    fr = build.escalated()
    before = snapshot()

    response = api(cast.hos).generic(
        method,
        f"{API}/{path.format(fr=fr.pk, quarter=build.current.slug)}",
        data="{}",
        content_type="application/json",
    )

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert snapshot() == before
