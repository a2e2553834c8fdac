"""The ranked lists build each row with request_row instead of FeatureRequestSerializer; a
client must not be able to tell the two apart."""

import json

import pytest
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from requests_app import services
from requests_app.models import FeatureRequest, ProductTheme
from requests_app.serializers import FeatureRequestSerializer, request_row
from tests.requests_app.conftest import deal_data

from .conftest import API

pytestmark = pytest.mark.django_db


def _as_json(data):
    return json.loads(JSONRenderer().render(data))


@pytest.fixture
def assorted(build, cast):
    """Requests whose rows differ in every optional part: theme, quarter, team, estimate,
    funding, ranks, and deals in one, several or no currencies."""
    theme = ProductTheme.objects.create(name="Platform")
    frs = [
        build.make("draft", deals=0),
        build.make("submitted", theme=theme),
        build.make("escalated", estimate=8),
        build.make("approved", product_funded=True),
        build.make("deferred"),
    ]
    services.deal_add(
        fr=frs[2],
        actor=frs[2].author,
        data=deal_data(account="  acme corp ", amount="1234.5", currency="EUR"),
    )
    return frs


def test_request_row_matches_the_serializer_for_every_kind_of_row(assorted, cast):
    # A team without a name of its own is called after its manager.
    cast.other_manager.team_name = ""
    cast.other_manager.save(update_fields=["team_name"])
    assorted[0].manager = cast.other_manager
    assorted[0].save(update_fields=["manager"])
    ids = [f.pk for f in assorted]
    rows = {r["id"]: r for r in services.list_rows(FeatureRequest.objects.filter(pk__in=ids))}
    demand = services.demand_by_request(ids)
    objects = services.with_list_data(FeatureRequest.objects.filter(pk__in=ids))
    assert len(rows) == len(objects) == len(assorted)
    for fr in objects:
        row = request_row(
            rows[fr.pk],
            demand[fr.pk],
            inbox_rank=fr.inbox_position,
            queue_rank=fr.queue_position,
        )
        assert _as_json(row) == _as_json(FeatureRequestSerializer(fr).data)
    assert _as_json(request_row(rows[assorted[0].pk], demand[assorted[0].pk]))["team"] == (
        "Team Mgr2 Test"
    )


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/St_Johns"])
def test_request_row_writes_timestamps_as_the_serializer_does_in_any_time_zone(assorted, zone):
    fr = assorted[2]
    [row] = services.list_rows(FeatureRequest.objects.filter(pk=fr.pk))
    demand = services.demand_by_request([fr.pk])[fr.pk]
    with timezone.override(zone):
        expected = _as_json(FeatureRequestSerializer(fr).data)
        shown = _as_json(request_row(row, demand))
        passed = _as_json(request_row(row, demand, zone=timezone.get_current_timezone()))
    assert shown["created_at"] == passed["created_at"] == expected["created_at"]
    assert shown["updated_at"] == passed["updated_at"] == expected["updated_at"]
    assert expected["created_at"].endswith("Z") == (zone == "UTC")


def _serialized(pk):
    return _as_json(FeatureRequestSerializer(FeatureRequest.objects.get(pk=pk)).data)


def test_ranked_list_items_are_serializer_rows_with_their_own_columns(api, cast, build, assorted):
    queued, submitted, deferred = assorted[2], assorted[1], assorted[4]
    queue = api(cast.hos).get(f"{API}/queues/{queued.target_quarter.slug}/").json()
    item = next(i for i in queue["items"] if i["id"] == queued.pk)
    extra = {"rank", "running_total", "below_cut_line", "unestimated"}
    assert {k: v for k, v in item.items() if k not in extra} == _serialized(queued.pk)
    assert item["arr_at_stake"]["EUR"] == "1234.50"

    inbox = api(cast.manager).get(f"{API}/inbox/").json()
    [item] = [i for team in inbox["teams"] for i in team["items"] if i["id"] == submitted.pk]
    assert item == _serialized(submitted.pk)

    roadmap = api(cast.hos).get(f"{API}/roadmap/").json()
    item = next(i for i in roadmap["results"] if i["id"] == deferred.pk)
    assert item == {**_serialized(deferred.pk), "committed": False}
