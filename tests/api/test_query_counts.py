"""List endpoints run a fixed number of queries however many objects there are.

Each endpoint is read with 5 objects and again with 60 (and 300, the issue's figure); the
counts must be equal. The data is built in bulk with valid ranks (1..n per inbox and per queue,
as the services would leave them), two deals each, and a theme on every other request.
"""

import datetime as dt
from decimal import Decimal
from itertools import cycle

import pytest
from django.utils import timezone

from accounts.models import Role, User
from budgets.services import budget_set_capacity
from meetings.models import ActionItem, Decision, Meeting, MeetingSeries
from requests_app.models import Comment, Deal, FeatureRequest, ProductTheme, Status

from ..query_counts import assert_flat, bulk_requests, queries_for
from .conftest import API

pytestmark = pytest.mark.django_db


def add_requests(cast, quarters, n):
    """n more requests of every kind a list endpoint shows."""
    current, later = quarters
    theme, _ = ProductTheme.objects.get_or_create(name="Platform")
    kinds = cycle(
        [
            ("submitted", cast.rep, cast.manager, None),
            ("submitted", cast.outsider, cast.other_manager, None),
            ("escalated", cast.rep, cast.manager, current),
            ("escalated", cast.outsider, cast.other_manager, current),
            ("approved", cast.rep, cast.manager, current),
            ("in_progress", cast.outsider, cast.other_manager, current),
            ("shipped", cast.rep, cast.manager, current),
            ("deferred", cast.rep, cast.manager, later),
            ("draft", cast.rep, None, None),
        ]
    )

    def make(i, now):
        status, author, manager, quarter = next(kinds)
        fr = FeatureRequest(
            status=status,
            author=author,
            manager=manager,
            target_quarter=quarter,
            theme=theme if i % 2 else None,
        )
        if status != "draft":
            fr.submitted_at = now
        if status not in ("draft", "submitted"):
            fr.escalated_at = now
            fr.estimate = 3 if i % 3 else None
        if status in ("approved", "in_progress", "shipped"):
            fr.estimate, fr.funding = 3, "product"
        if status == "shipped":
            fr.shipped_at = now  # recently: the roadmap shows 90 days of shipped work
        return fr

    return bulk_requests(n, make)


ENDPOINTS = [
    ("requests/", "hos", Status.SUBMITTED),
    ("requests/", "manager", Status.SUBMITTED),
    ("requests/", "rep", Status.DRAFT),
    ("requests/", "pm", Status.ESCALATED),
    ("requests/", "admin", Status.SHIPPED),
    ("requests/?status=escalated&ordering=queue_rank", "hos", Status.ESCALATED),
    ("requests/?quarter={current}&q=Bulk", "pm", Status.ESCALATED),
    ("queues/{current}/", "hos", Status.ESCALATED),
    ("queues/{current}/", "rep", Status.ESCALATED),
    ("queues/{current}/", "pm", Status.ESCALATED),
    ("inbox/", "hos", Status.SUBMITTED),
    ("inbox/", "manager", Status.SUBMITTED),
    ("roadmap/", "hos", Status.APPROVED),
    ("roadmap/", "rep", Status.SHIPPED),
    ("roadmap/", "admin", Status.IN_PROGRESS),
]


def _shown(body):
    """How many requests the endpoint lists in all (on every page), whatever its shape."""
    if "teams" in body:
        return sum(t["count"] for t in body["teams"])
    return body["count"]


@pytest.mark.parametrize("path, who, kind", ENDPOINTS, ids=[f"{p} {w}" for p, w, _ in ENDPOINTS])
def test_list_endpoints_run_the_same_queries_for_5_60_and_300_objects(
    api, cast, quarters, path, who, kind
):
    url = f"{API}/{path.format(current=quarters[0].slug)}"
    client = api(getattr(cast, who))
    client.get(f"{API}/me/")  # the token lookup is warmed the same way for every count
    counts, shown = {}, {}
    for total in (5, 60, 300):
        # `total` requests of the kind this endpoint shows, plus the others in the mix.
        while FeatureRequest.objects.filter(status=kind).count() < total:
            add_requests(cast, quarters, 9)
        counts[total], response = queries_for(client, url)
        shown[total] = _shown(response.json())
    assert shown[5] < shown[60] <= shown[300]
    assert_flat(counts, url)


LATER_PAGES = [
    ("queues/{current}/?page=2&page_size=20", "hos", Status.ESCALATED),
    ("queues/{current}/?page=3&page_size=20", "pm", Status.ESCALATED),
    ("inbox/?page=2&page_size=10", "hos", Status.SUBMITTED),
    ("inbox/?team={team}&page=2&page_size=10", "hos", Status.SUBMITTED),
    ("inbox/?page=2&page_size=10", "manager", Status.SUBMITTED),
    ("roadmap/?page=2", "rep", Status.APPROVED),
]


@pytest.mark.parametrize(
    "path, who, kind", LATER_PAGES, ids=[f"{p} {w}" for p, w, _ in LATER_PAGES]
)
def test_later_pages_of_the_ranked_lists_run_the_same_queries_for_60_and_300_objects(
    api, cast, quarters, path, who, kind
):
    url = f"{API}/{path.format(current=quarters[0].slug, team=cast.manager.pk)}"
    client = api(getattr(cast, who))
    client.get(f"{API}/me/")
    counts, shown = {}, {}
    for total in (60, 300):
        while FeatureRequest.objects.filter(status=kind).count() < total:
            add_requests(cast, quarters, 9)
        counts[total], response = queries_for(client, url)
        shown[total] = _shown(response.json())
    assert shown[60] < shown[300]
    assert_flat(counts, url)


def test_the_head_of_sales_inbox_runs_the_same_queries_for_6_and_12_teams(api, cast, quarters):
    client = api(cast.hos)
    client.get(f"{API}/me/")
    counts = {}
    for teams in (6, 12):
        for n in range(User.objects.filter(role=Role.SALES_MANAGER).count(), teams):
            manager = User.objects.create(
                username=f"bulk.mgr{n}", role=Role.SALES_MANAGER, team_name=f"Team {n}"
            )
            User.objects.create(username=f"bulk.mgr{n}.rep", role=Role.SALES_REP, manager=manager)
        for manager in User.objects.filter(role=Role.SALES_MANAGER):
            rep = manager.reports.first()

            def make(i, now, manager=manager, rep=rep):
                return FeatureRequest(
                    status=Status.SUBMITTED, author=rep, manager=manager, submitted_at=now
                )

            bulk_requests(3, make)
        counts[teams], response = queries_for(client, f"{API}/inbox/?teams_page=2")
        assert response.json()["teams_count"] == teams
    assert_flat(counts, "inbox/ by teams")


@pytest.mark.parametrize("path", ["quarters/", "quarters/{current}/"])
def test_budget_endpoints_run_a_fixed_number_of_queries(api, cast, quarters, path):
    url = f"{API}/{path.format(current=quarters[0].slug)}"
    client = api(cast.rep)
    client.get(f"{API}/me/")
    counts = {}
    for capacity in (100, 200, 300):
        budget_set_capacity(quarter=quarters[0], capacity=capacity, actor=cast.hop)
        counts[capacity], _ = queries_for(client, url)
    assert_flat(counts, url)


def test_a_requests_events_run_a_fixed_number_of_queries(api, cast, build):
    fr = build.escalated()
    client = api(cast.hos)
    points = iter(range(1, 100))
    counts = {}
    for size in (20, 40, 60):
        for _ in range(20):  # each re-estimate writes an audit event
            build.estimate(fr, next(points))
        counts[size], response = queries_for(client, f"{API}/requests/{fr.pk}/events/")
    assert response.json()["count"] == 3 + 60  # create, submit, escalate; 60 estimates
    assert_flat(counts, "events")


# --- The other list endpoints: people, themes, a request's comments and deals, meetings -------


class Grow:
    """Adds rows in bulk until there are `total` of what the endpoint lists."""

    def __init__(self, cast):
        self.cast = cast
        self.fr = None
        self.series = None
        self.meeting = None

    def request(self):
        if self.fr is None:
            self.fr = FeatureRequest.objects.create(
                title="Busy request",
                problem="Everyone has an opinion.",
                status=Status.ESCALATED,
                author=self.cast.rep,
                manager=self.cast.manager,
                escalated_at=timezone.now(),
                submitted_at=timezone.now(),
            )
        return self.fr

    def sync(self):
        if self.series is None:
            self.series = MeetingSeries.objects.create(name="Sync", time_zone="UTC")
            self.series.extra_attendees.set([self.cast.pm])
            self.meeting = self._meetings(1)[0]
        return self.meeting

    def _meetings(self, n, offset=0):
        start = timezone.now() + dt.timedelta(days=1)
        return Meeting.objects.bulk_create(
            Meeting(
                series=self.series,
                starts_at=start + dt.timedelta(weeks=offset + i),
                ends_at=start + dt.timedelta(weeks=offset + i, minutes=45),
                digest_due_at=start + dt.timedelta(weeks=offset + i, hours=-24),
            )
            for i in range(n)
        )

    def users(self, total):
        have = User.objects.filter(role=Role.SALES_REP).count()
        users = [
            User(
                username=f"bulk.rep{i}",
                first_name=f"Bulk{i:04d}",
                role=Role.SALES_REP,
                manager=self.cast.manager if i % 2 else self.cast.other_manager,
            )
            for i in range(have, total)
        ]
        User.objects.bulk_create(users)

    def themes(self, total):
        have = ProductTheme.objects.count()
        ProductTheme.objects.bulk_create(
            ProductTheme(name=f"Theme {i:04d}", is_active=bool(i % 3)) for i in range(have, total)
        )

    def comments(self, total):
        fr = self.request()
        authors = cycle([self.cast.rep, self.cast.pm, self.cast.hos, self.cast.outsider])
        have = Comment.objects.filter(request=fr).count()
        Comment.objects.bulk_create(
            Comment(request=fr, author=next(authors), body=f"Comment {i}")
            for i in range(have, total)
        )

    def deals(self, total):
        fr = self.request()
        owners = cycle([self.cast.rep, self.cast.outsider])
        have = Deal.objects.filter(request=fr).count()
        Deal.objects.bulk_create(
            Deal(
                request=fr,
                owner=next(owners),
                account_name=f"Account {i}",
                amount=Decimal(1000 + i),
                expected_close_date=timezone.localdate() + dt.timedelta(days=30),
            )
            for i in range(have, total)
        )

    def meetings(self, total):
        self.sync()
        have = Meeting.objects.filter(series=self.series).count()
        self._meetings(total - have, offset=have)

    def decisions(self, total):
        meeting, fr = self.sync(), self.request()
        actors = cycle([self.cast.hop, self.cast.hos])
        have = Decision.objects.filter(meeting=meeting).count()
        Decision.objects.bulk_create(
            Decision(meeting=meeting, request=fr, action="decline", summary=f"#{i}", actor=a)
            for i, a in zip(range(have, total), actors, strict=False)
        )

    def actions(self, total):
        meeting = self.sync()
        owners = cycle([self.cast.rep, self.cast.pm, self.cast.hos, self.cast.manager])
        have = ActionItem.objects.filter(meeting=meeting).count()
        ActionItem.objects.bulk_create(
            ActionItem(
                meeting=meeting,
                title=f"Action {i}",
                owner=next(owners),
                due_date=timezone.localdate() + dt.timedelta(days=i % 20),
                created_by=self.cast.hos,
                done_at=timezone.now() if i % 4 == 0 else None,
            )
            for i in range(have, total)
        )


OTHER_LISTS = [
    ("users/", "rep", "users"),
    ("users/?role=sales_rep&ordering=-name", "hos", "users"),
    ("themes/", "rep", "themes"),
    ("themes/?active=true&ordering=-name", "pm", "themes"),
    ("requests/{fr}/comments/", "pm", "comments"),
    ("requests/{fr}/comments/?ordering=-created_at", "outsider", "comments"),
    ("requests/{fr}/deals/", "hos", "deals"),
    ("requests/{fr}/deals/?stage=qualified&ordering=expected_close_date", "pm", "deals"),
    ("meetings/", "hos", "meetings"),
    ("meetings/?when=upcoming&ordering=-starts_at", "pm", "meetings"),
    ("meetings/{meeting}/decisions/", "hop", "decisions"),
    ("meetings/{meeting}/actions/", "pm", "actions"),
    ("meetings/{meeting}/actions/?done=false&ordering=-due_date", "hos", "actions"),
]


@pytest.mark.parametrize(
    "path, who, what", OTHER_LISTS, ids=[f"{p} {w}" for p, w, _ in OTHER_LISTS]
)
def test_the_other_list_endpoints_run_the_same_queries_for_5_and_300_rows(
    api, cast, path, who, what
):
    grow = Grow(cast)
    getattr(grow, what)(5)
    client = api(getattr(cast, who))
    client.get(f"{API}/me/")  # the token lookup is warmed the same way for every count
    counts, shown = {}, {}
    for total in (5, 300):
        getattr(grow, what)(total)
        url = f"{API}/{path}".format(
            fr=grow.fr.pk if grow.fr else 0, meeting=grow.meeting.pk if grow.meeting else 0
        )
        counts[total], response = queries_for(client, url)
        shown[total] = response.json()["count"]
    assert 0 < shown[5] < shown[300]
    assert_flat(counts, url)
