"""Queries compiled once and run again with new values (config/compiled.py) answer what
their ORM form answers, for whatever values they are given, and the helper refuses the
queries it cannot run that way (falling back to the ORM, which still answers right)."""

import datetime as dt

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.compiled import Compiled
from meetings import services as meetings
from requests_app import api, services, views
from requests_app.models import AuditEvent, FeatureRequest
from tests.requests_app.conftest import Builder

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def build(cast, quarters):
    return Builder(cast, quarters)


@pytest.fixture
def data(cast, quarters, build):
    """Two queues' worth of requests with deals, and two teams' inboxes."""
    current, later = quarters
    queue = [build.escalated(deals=2), build.escalated(deals=1), build.escalated(deals=3)]
    build.estimate(queue[0], 3)
    other = [build.escalated(quarter=later, deals=1), build.escalated(quarter=later, deals=2)]
    inbox = [build.submitted(), build.submitted(), build.submitted(author=cast.outsider)]
    return {
        "quarters": (current.pk, later.pk),
        "first": [fr.pk for fr in queue] + [inbox[0].pk],
        "second": [fr.pk for fr in other + inbox[1:]],
        "teams": ([cast.manager.pk], [cast.manager.pk, cast.other_manager.pk]),
    }


def _rows(result):
    return sorted(map(repr, result))


APP_QUERIES = {
    "deals": (services._deals_of, "first", "second"),
    "queue order": (services._queue_order, "quarters", None),
    "inbox orders": (services._inbox_orders, "teams", None),
    "ranked rows": (views._ranked_rows_of, "first", "second"),
    "API list rows": (api._list_rows_of, "first", "second"),
}


@pytest.mark.parametrize("name", APP_QUERIES)
def test_each_compiled_query_answers_as_its_orm_form_for_each_set_of_values(data, name):
    compiled, first, second = APP_QUERIES[name]
    calls = [(v,) for v in data[first]] if second is None else [(data[first],), (data[second],)]
    answers = []
    for args in calls:
        with CaptureQueriesContext(connection) as ctx:
            fast = compiled(*args)
        assert len(ctx.captured_queries) == 1
        assert compiled._plans["default"] is not None, "ran through the ORM, not compiled"
        assert _rows(fast) == _rows(compiled.build(*args))
        assert fast, "each set of values has rows to compare"
        answers.append(_rows(fast))
    # The second call's values reached the SQL: it did not answer the first call's rows.
    assert answers[0] != answers[1]


def test_an_empty_list_runs_no_query_as_the_orm_does(data):
    views._ranked_rows_of(data["first"])  # compiled
    with CaptureQueriesContext(connection) as ctx:
        assert views._ranked_rows_of([]) == []
    assert ctx.captured_queries == []


def test_ids_spread_one_parameter_each_are_refused_and_still_answer_right(data):
    by_in = Compiled(
        lambda ids: FeatureRequest.objects.filter(pk__in=ids).values_list("pk", flat=True), list
    )
    assert sorted(by_in(data["first"])) == sorted(data["first"])
    assert sorted(by_in(data["second"])) == sorted(data["second"])
    assert by_in._plans["default"] is None


def test_a_column_that_needs_a_converter_is_refused_and_still_answers_right(data):
    request_id = data["first"][0]
    events = Compiled(
        lambda pk: AuditEvent.objects.filter(request_id=pk).order_by("pk").values("new_value"),
        int,
    )
    answer = events(request_id)
    assert events._plans["default"] is None
    # JSON comes back as Python values, as the ORM gives it.
    assert answer == list(
        AuditEvent.objects.filter(request_id=request_id).order_by("pk").values("new_value")
    )
    assert any(isinstance(row["new_value"], dict) for row in answer)


def test_a_query_that_ignores_its_argument_is_refused(data):
    everything = Compiled(lambda pk: FeatureRequest.objects.values_list("pk", flat=True), int)
    assert sorted(everything(data["first"][0])) == sorted(
        FeatureRequest.objects.values_list("pk", flat=True)
    )
    assert everything._plans["default"] is None


def test_arguments_of_the_wrong_kind_are_refused_before_any_query():
    with pytest.raises(TypeError):
        Compiled(lambda ids: None, tuple)
    with pytest.raises(TypeError):
        views._ranked_rows_of([1], [2])


def test_an_argument_used_twice_takes_the_value_in_both_places(cast, data):
    by_author_or_manager = Compiled(
        lambda pk: (
            FeatureRequest.objects.filter(author_id=pk)
            .union(FeatureRequest.objects.filter(manager_id=pk))
            .values_list("pk", flat=True)
        ),
        int,
    )
    for user in (cast.rep, cast.manager, cast.outsider):
        expected = FeatureRequest.objects.filter(pk__in=[*data["first"], *data["second"]]).filter(
            Q(author_id=user.pk) | Q(manager_id=user.pk)
        )
        assert sorted(by_author_or_manager(user.pk)) == sorted(
            expected.values_list("pk", flat=True)
        )
    assert by_author_or_manager._plans["default"] is not None


def test_the_agendas_reads_are_compiled_and_answer_as_their_orm_form(cast, quarters, build):
    current, _ = quarters
    approved = build.make("approved", deals=2)
    build.estimate(approved, 8)  # a re-estimate: a budget change the agenda lists
    queued = build.escalated(deals=1)
    now = timezone.now()
    today = timezone.localdate()
    week_ago, long_ago = now - dt.timedelta(days=7), now - dt.timedelta(days=700)
    due_by = today + dt.timedelta(days=60)
    calls = {
        meetings._agenda_events: [(week_ago, now), (long_ago, week_ago)],
        meetings._agenda_changes: [(week_ago, now), (long_ago, week_ago)],
        meetings._agenda_requests: [
            (current.pk, due_by, [approved.pk]),
            (current.pk + 1000, due_by, [queued.pk]),
        ],
        meetings._agenda_deals: [([approved.pk], today, due_by), ([queued.pk], today, today)],
    }
    for compiled, argument_sets in calls.items():
        answers = []
        for args in argument_sets:
            answer = compiled(*args)
            assert compiled._plans["default"] is not None, compiled.build
            assert _rows(answer) == _rows(compiled.build(*args))
            answers.append(_rows(answer))
        assert answers[0], compiled.build
        assert answers[0] != answers[1], compiled.build


def _estimated(build, points):
    fr = build.escalated()
    build.estimate(fr, points)
    return fr


def test_a_condition_django_writes_away_for_an_odd_marker_is_refused(cast, build):
    """An estimate is an IntegerField: for a value beyond its range Django drops the
    condition (or the OR branch, or the union's part) from the SQL. Compiled with an odd
    marker alone, the query would then forget the estimate whatever value it is given."""
    for points in (3, 5):
        _estimated(build, points)
    queries = [
        lambda n: FeatureRequest.objects.filter(author_id=n, estimate__gte=n),
        lambda n: FeatureRequest.objects.filter(Q(author_id=n) | Q(estimate=n)),
        lambda n: FeatureRequest.objects.filter(author_id=n).union(
            FeatureRequest.objects.filter(estimate=n)
        ),
    ]
    for query in queries:
        compiled = Compiled(lambda n, query=query: query(n).values_list("pk", flat=True), int)
        for n in (cast.rep.pk, 5):
            assert sorted(compiled(n)) == sorted(query(n).values_list("pk", flat=True))
        assert compiled._plans["default"] is None


def test_a_value_computed_from_an_argument_is_refused(cast, build):
    """`since - 1 day` is worked out once with the marker; the SQL would keep that value."""
    build.escalated()
    events = Compiled(
        lambda since: AuditEvent.objects.filter(
            created_at__gte=since - dt.timedelta(days=1), created_at__lte=since
        ).values_list("pk", flat=True),
        dt.datetime,
    )
    now = timezone.now()
    assert sorted(events(now)) == sorted(AuditEvent.objects.values_list("pk", flat=True))
    assert events(now - dt.timedelta(days=3)) == []
    assert events._plans["default"] is None


def test_arguments_it_does_not_take_are_answered_by_the_orm(data):
    """A generator of ids, a None, a naive time: what the ORM makes of each, not an error."""
    rows = views._ranked_rows_of(pk for pk in data["first"])
    assert sorted(row["id"] for row in rows) == sorted(data["first"])
    assert services._queue_order(None) == []
    naive = dt.datetime(2030, 1, 1)  # noqa: DTZ001 (the point of the test)
    with pytest.warns(RuntimeWarning):  # Django's own warning for a naive time
        assert meetings._agenda_changes(naive, naive) == []
