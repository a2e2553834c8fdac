"""The ranked lists build each row with request_row instead of FeatureRequestSerializer; a
client must not be able to tell the two apart."""

import json

import pytest
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


def test_request_row_matches_the_serializer_for_every_kind_of_row(assorted):
    rows = services.with_list_data(FeatureRequest.objects.filter(pk__in=[f.pk for f in assorted]))
    assert len(rows) == len(assorted)
    for fr in rows:
        assert _as_json(request_row(fr)) == _as_json(FeatureRequestSerializer(fr).data)


def test_queue_items_are_serializer_rows_with_the_queue_columns(api, cast, build, assorted):
    queued = assorted[2]
    body = api(cast.hos).get(f"{API}/queues/{queued.target_quarter.slug}/").json()
    item = next(i for i in body["items"] if i["id"] == queued.pk)
    extra = {"rank", "running_total", "below_cut_line", "unestimated"}
    expected = _as_json(FeatureRequestSerializer(FeatureRequest.objects.get(pk=queued.pk)).data)
    assert {k: v for k, v in item.items() if k not in extra} == expected
    assert item["arr_at_stake"]["EUR"] == "1234.50"
