"""What the API answers when a rule says no: 409 for state conflicts (with the numbers for a
budget that does not fit), 400 for bad arguments, 404 for what the caller may not see; and in
every case the database is left as it was."""

import pytest

from requests_app import services
from requests_app.models import FeatureRequest
from tests.requests_app.conftest import snapshot

from .conftest import API

pytestmark = pytest.mark.django_db

REASON = "The customer went another way"


def post(client, fr, action, body=None):
    return client.post(f"{API}/requests/{fr.pk}/{action}/", body or {}, format="json")


def names(body, field):
    """A 400 names the field: DRF's {"field": [messages]} or a service's "field": "name"."""
    return body.get("field") == field or field in body


def refused(response, status, before):
    assert response.status_code == status, response.content
    assert snapshot() == before
    return response.json()


# --- The budget ------------------------------------------------------------------------------


def test_an_approval_that_does_not_fit_answers_409_with_the_numbers(api, build, cast, funded):
    build.make("approved", estimate=15)  # 40 - 15 = 25 points remain
    fr = build.make("escalated", estimate=30)
    before = snapshot()

    body = refused(post(api(cast.hop), fr, "approve"), 409, before)

    assert body["code"] == "insufficient_budget"
    assert (body["needed"], body["remaining"], body["shortfall"]) == (30, 25, 5)
    assert "25" in body["detail"] and "30" in body["detail"]


def test_the_same_request_fits_as_product_funded(api, build, cast, funded):
    fr = build.make("escalated", estimate=300)

    response = post(api(cast.hop), fr, "approve_product")

    assert response.status_code == 200
    assert response.json()["funding"] == "product"
    funded.budget.refresh_from_db()
    assert funded.budget.reserved == 0


def test_a_re_estimate_of_approved_work_the_budget_cannot_cover_answers_409(
    api, build, cast, funded
):
    fr = build.make("approved", estimate=10)  # 30 remain
    before = snapshot()

    body = refused(post(api(cast.pm), fr, "estimate", {"estimate": 45}), 409, before)

    assert body["code"] == "insufficient_budget"
    assert (body["needed"], body["remaining"], body["shortfall"]) == (35, 30, 5)


def test_approving_without_an_estimate_answers_400(api, build, cast, funded):
    fr = build.make("escalated")
    before = snapshot()

    body = refused(post(api(cast.hop), fr, "approve"), 400, before)

    assert body["field"] == "estimate"


# --- Illegal moves ---------------------------------------------------------------------------


def test_an_illegal_move_answers_409_naming_the_state_and_the_moves_left(api, build, cast):
    fr = build.escalated()
    before = snapshot()

    body = refused(post(api(cast.rep), fr, "submit"), 409, before)

    assert body["code"] == "conflict"
    assert body["state"] == "escalated"
    assert "escalated" in body["detail"]
    assert set(body["allowed"]) >= {"withdraw", "merge", "approve", "defer", "decline"}
    assert "start" not in body["allowed"]


def test_a_final_state_says_nothing_more_is_possible(api, build, cast):
    fr = build.make("shipped")
    before = snapshot()

    body = refused(post(api(cast.hop), fr, "cancel", {"reason": REASON}), 409, before)

    assert body["state"] == "shipped" and body["allowed"] == []
    assert "No further moves" in body["detail"]


def test_estimating_a_draft_answers_409_to_its_author(api, build, cast):
    fr = build.draft()
    before = snapshot()

    body = refused(post(api(cast.rep), fr, "estimate", {"estimate": 3}), 409, before)

    assert body["state"] == "draft"


# --- Arguments a move needs ------------------------------------------------------------------


@pytest.mark.parametrize("action", ["return", "reject"])
@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}])
def test_return_and_reject_need_a_reason(api, build, cast, action, body):
    fr = build.submitted()
    before = snapshot()

    assert refused(post(api(cast.manager), fr, action, body), 400, before)["field"] == "reason"


def test_a_reason_over_2000_characters_answers_400(api, build, cast):
    fr = build.submitted()
    before = snapshot()

    body = refused(post(api(cast.manager), fr, "reject", {"reason": "x" * 2001}), 400, before)

    assert "reason" in body


@pytest.mark.parametrize("quarter", [None, "", "FY1999Q1", "FY2999Q4", "Q5", "next", "x" * 21])
def test_escalating_needs_an_open_quarter(api, build, cast, quarter):
    fr = build.submitted()
    before = snapshot()

    response = post(
        api(cast.manager), fr, "escalate", {} if quarter is None else {"quarter": quarter}
    )

    assert names(refused(response, 400, before), "quarter")


def test_escalating_into_a_past_quarter_answers_400(api, build, cast):
    past = services.quarter_get_or_create(build.current.fiscal.previous())
    fr = build.submitted()
    before = snapshot()

    body = refused(post(api(cast.manager), fr, "escalate", {"quarter": past.slug}), 400, before)

    assert body["field"] == "quarter"


@pytest.mark.parametrize("quarter", [None, "", "nonsense", "CURRENT", "FY2999Q1"])
def test_deferring_needs_a_later_quarter(api, build, cast, quarter):
    fr = build.make("escalated")
    body = {"reason": REASON} | ({} if quarter is None else {"quarter": quarter})
    if quarter == "CURRENT":
        body["quarter"] = build.current.slug
    before = snapshot()

    assert names(refused(post(api(cast.hop), fr, "defer", body), 400, before), "quarter")


def test_cancelling_work_in_progress_needs_the_unstarted_points(api, build, cast):
    fr = build.make("in_progress")  # 5 points reserved
    hop = api(cast.hop)
    before = snapshot()

    body = refused(post(hop, fr, "cancel", {"reason": REASON}), 400, before)
    assert body["field"] == "unstarted_points"
    body = refused(post(hop, fr, "cancel", {"reason": REASON, "unstarted_points": 6}), 400, before)
    assert body["field"] == "unstarted_points"


def test_re_estimating_work_in_progress_needs_the_burned_points(api, build, cast):
    fr = build.make("in_progress")
    before = snapshot()

    body = refused(post(api(cast.hop), fr, "estimate", {"estimate": 8}), 400, before)

    assert body["field"] == "burned_points"


@pytest.mark.parametrize(
    "value", [0, -1, 10_001, 10**30, "abc", "", "1.5", 1.5, True, None, [3], {"points": 3}]
)
def test_a_bad_estimate_answers_400(api, build, cast, value):
    fr = build.make("escalated")
    before = snapshot()

    body = refused(post(api(cast.pm), fr, "estimate", {"estimate": value}), 400, before)

    assert "estimate" in body


def test_an_estimate_needs_a_number(api, build, cast):
    fr = build.make("escalated")
    before = snapshot()

    assert "estimate" in refused(post(api(cast.pm), fr, "estimate"), 400, before)


@pytest.mark.parametrize("value", [1, 10_000, "8"])
def test_the_estimate_bounds_are_accepted(api, build, cast, value):
    fr = build.make("escalated")

    response = post(api(cast.pm), fr, "estimate", {"estimate": value})

    assert response.status_code == 200
    assert response.json()["estimate"] == int(value)


# --- Merging ---------------------------------------------------------------------------------


def test_merging_into_itself_answers_400(api, build, cast):
    fr = build.escalated()
    before = snapshot()

    body = refused(post(api(cast.hos), fr, "merge", {"target": fr.pk}), 400, before)

    assert body["field"] == "target"


def test_merging_without_a_target_answers_400(api, build, cast):
    fr = build.escalated()
    before = snapshot()

    assert refused(post(api(cast.hos), fr, "merge"), 400, before)["field"] == "target"


def test_a_merge_target_the_user_cannot_see_answers_like_one_that_does_not_exist(api, build, cast):
    fr = build.submitted()
    hidden = build.draft()  # the rep's draft: only the rep sees it
    before = snapshot()
    manager = api(cast.manager)

    hidden_body = refused(post(manager, fr, "merge", {"target": hidden.pk}), 404, before)
    missing_body = refused(post(manager, fr, "merge", {"target": 999_999}), 404, before)

    assert hidden_body == missing_body == {"detail": "No such request.", "code": "not_found"}


def test_a_manager_merges_only_within_the_own_team(api, build, cast):
    fr = build.submitted()
    other_team = build.escalated(author=cast.outsider)
    before = snapshot()

    refused(post(api(cast.manager), fr, "merge", {"target": other_team.pk}), 403, before)


def test_merging_into_a_finished_request_answers_400(api, build, cast):
    fr = build.escalated()
    done = build.make("shipped")
    before = snapshot()

    body = refused(post(api(cast.hos), fr, "merge", {"target": done.pk}), 400, before)

    assert body["field"] == "target"


# --- Ranking ---------------------------------------------------------------------------------


@pytest.fixture
def queue(build):
    return [build.escalated(title=f"Queued {i}").pk for i in range(3)]


@pytest.fixture
def inbox(build):
    return [build.submitted(title=f"Submitted {i}").pk for i in range(3)]


def put(client, url, body):
    return client.put(f"{API}/{url}", body, format="json")


def test_the_head_of_sales_reorders_the_queue(api, build, cast, queue):
    a, b, c = queue

    response = put(
        api(cast.hos), f"queues/{build.current.slug}/ranking/", {"seen": queue, "order": [c, a, b]}
    )

    assert response.status_code == 200
    assert response.json()["order"] == [c, a, b]
    assert [i["rank"] for i in response.json()["items"]] == [1, 2, 3]
    assert services.queue_ids(build.current.pk) == [c, a, b]


def test_a_stale_queue_ranking_answers_409_and_changes_nothing(api, build, cast, queue):
    a, b, c = queue
    newcomer = build.escalated(title="Escalated meanwhile").pk
    before = snapshot()

    body = refused(
        put(
            api(cast.hos),
            f"queues/{build.current.slug}/ranking/",
            {"seen": queue, "order": [c, a, b]},
        ),
        409,
        before,
    )

    assert body["code"] == "stale"
    assert "reload" in body["detail"]
    assert services.queue_ids(build.current.pk) == [a, b, c, newcomer]


def test_a_stale_inbox_ranking_answers_409(api, build, cast, inbox):
    seen = list(inbox)
    services.request_withdraw(fr=FeatureRequest.objects.get(pk=inbox[1]), actor=cast.rep)
    before = snapshot()

    body = refused(
        put(api(cast.manager), "inbox/ranking/", {"seen": seen, "order": [inbox[0], inbox[2]]}),
        409,
        before,
    )

    assert body["code"] == "stale"


def _bad_orders(ids):
    a, b, c = ids
    return [
        [a, a, b],  # repeats
        [a, b],  # leaves one out
        [a, b, c, 999_999],  # names one not in the queue
        [a, b, c, c],
    ]


@pytest.mark.parametrize("which", range(4))
def test_a_bad_queue_order_answers_400(api, build, cast, queue, which):
    before = snapshot()

    body = refused(
        put(
            api(cast.hos),
            f"queues/{build.current.slug}/ranking/",
            {"seen": queue, "order": _bad_orders(queue)[which]},
        ),
        400,
        before,
    )

    assert body["field"] == "order"


@pytest.mark.parametrize("which", range(4))
def test_a_bad_inbox_order_answers_400(api, cast, inbox, which):
    before = snapshot()

    body = refused(
        put(
            api(cast.manager), "inbox/ranking/", {"seen": inbox, "order": _bad_orders(inbox)[which]}
        ),
        400,
        before,
    )

    assert body["field"] == "order"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"seen": [1]},
        {"order": [1]},
        {"seen": "1,2,3", "order": "3,2,1"},
        {"seen": ["a"], "order": ["b"]},
        {"seen": None, "order": None},
        {"seen": [[1]], "order": [[1]]},
        {"seen": {"1": 1}, "order": {"1": 1}},
    ],
)
def test_a_malformed_ranking_answers_400(api, build, cast, queue, inbox, body):
    before = snapshot()

    refused(put(api(cast.hos), f"queues/{build.current.slug}/ranking/", body), 400, before)
    refused(put(api(cast.manager), "inbox/ranking/", body), 400, before)


def test_an_unchanged_order_writes_nothing(api, build, cast, queue):
    before = snapshot()

    response = put(
        api(cast.hos), f"queues/{build.current.slug}/ranking/", {"seen": queue, "order": queue}
    )

    assert response.status_code == 200
    assert snapshot() == before


def test_ranking_writes_one_audit_event_per_moved_request(api, build, cast, queue):
    a, b, c = queue

    put(api(cast.hos), f"queues/{build.current.slug}/ranking/", {"seen": queue, "order": [b, a, c]})

    events = {
        e.request_id: e for e in FeatureRequest.objects.get(pk=a).events.filter(action="rank")
    }
    assert events[a].old_value == {"queue_rank": 1} and events[a].new_value == {"queue_rank": 2}
    assert not FeatureRequest.objects.get(pk=c).events.filter(action="rank").exists()
