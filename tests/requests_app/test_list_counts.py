"""The totals of /requests/ and GET /api/v1/requests/ are counted without testing who may see
each request row by row (services.requests_visible_count); they must still be exactly the
number of requests the list shows the user, whatever the role and the filters."""

import re

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db.models import Q

from requests_app import services
from requests_app.models import FeatureRequest, Status

from ..query_counts import bulk_requests
from .conftest import ROLES, STATES

pytestmark = pytest.mark.django_db

ROW_LINK = re.compile(r'href="/requests/(\d+)/"')
TOTAL = re.compile(r"Page \d+ of \d+ \((\d+) requests\)")


@pytest.fixture
def world(build, cast):
    """One request in every state by each team's rep, and thirty more drafts, submitted and
    escalated requests: more than a page (25) for every role but the admin."""
    for author in (cast.rep, cast.outsider):
        for state in STATES:
            build.make(state, author=author)
    kinds = [
        (Status.DRAFT, cast.rep, None),
        (Status.DRAFT, cast.outsider, None),
        (Status.SUBMITTED, cast.rep, cast.manager),
        (Status.SUBMITTED, cast.outsider, cast.other_manager),
        (Status.ESCALATED, cast.outsider, cast.other_manager),
    ]

    def make(i, now):
        status, author, manager = kinds[i % len(kinds)]
        fr = FeatureRequest(status=status, author=author, manager=manager)
        if status != Status.DRAFT:
            fr.submitted_at = now
        if status == Status.ESCALATED:
            fr.escalated_at, fr.target_quarter = now, build.current
        return fr

    bulk_requests(30, make)


FILTERS = [
    Q(),
    Q(status=Status.ESCALATED),
    Q(status=Status.DRAFT),
    Q(status=Status.SHIPPED),
    Q(title__icontains="bulk request 1"),
    Q(pk__in=[]),
]


@pytest.mark.parametrize("role", ROLES)
def test_the_count_is_the_number_of_requests_the_role_sees(build, world, role):
    user = build.user(role)
    for where in FILTERS:
        expected = services.requests_visible_to(user).filter(where).count()
        assert services.requests_visible_count(user, FeatureRequest.objects.filter(where)) == (
            expected
        ), where
    # A filter across deals (the account), which needs DISTINCT.
    by_account = FeatureRequest.objects.filter(deals__account_name__icontains="acme").distinct()
    assert services.requests_visible_count(user, by_account) == len(
        set(services.requests_visible_to(user).filter(deals__account_name__icontains="acme"))
    )


def test_nobody_signed_in_or_inactive_counts_nothing(build, world, cast):
    assert services.requests_visible_count(AnonymousUser()) == 0
    cast.pm.is_active = False
    assert services.requests_visible_count(cast.pm) == 0


def _listed(client, **params):
    """Every request id /requests/ lists over all its pages, and the total it announces."""
    ids, totals, page = [], set(), 1
    while True:
        html = client.get("/requests/", {**params, "page": page}).content.decode()
        ids += [int(pk) for pk in ROW_LINK.findall(html)]
        totals |= set(TOTAL.findall(html))
        if "Next →" not in html:
            return ids, totals
        page += 1


@pytest.mark.parametrize("role", ["author", "manager", "hos", "pm", "outsider"])
@pytest.mark.parametrize("params", [{}, {"status": "submitted"}, {"q": "Bulk"}])
def test_the_page_announces_as_many_requests_as_it_lists(build, world, login, role, params):
    user = build.user(role)
    ids, totals = _listed(login(user), **params)
    expected = services.requests_visible_to(user)
    if "status" in params:
        expected = expected.filter(status=params["status"])
    if "q" in params:
        expected = expected.filter(
            Q(title__icontains=params["q"]) | Q(problem__icontains=params["q"])
        )
    assert sorted(ids) == sorted(expected.values_list("pk", flat=True))
    assert len(ids) == len(set(ids))
    # The total is printed when there is more than a page.
    assert totals == ({str(len(ids))} if len(ids) > 25 else set())


@pytest.mark.parametrize("role", ["author", "manager", "hos", "pm", "admin"])
def test_the_api_counts_as_many_requests_as_it_lists(build, world, login, role):
    user = build.user(role)
    client, url, ids, counts = login(user), "/api/v1/requests/", [], set()
    while url:
        body = client.get(url).json()
        ids += [row["id"] for row in body["results"]]
        counts.add(body["count"])
        url = body["next"]
    assert counts == {len(ids)}
    assert sorted(ids) == sorted(services.requests_visible_to(user).values_list("pk", flat=True))
