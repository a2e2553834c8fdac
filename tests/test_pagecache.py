"""Pages and API lists answered again from the cache while the database is unchanged
(config/pagecache.py), and read afresh as soon as anything is committed.

These run outside a test transaction (transaction=True): inside one, as in the other tests,
the cache stands aside, because a transaction's snapshot may hold its own uncommitted rows.
"""

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.models import Role, User
from config import pagecache
from meetings.models import Meeting, MeetingSeries
from requests_app.models import FeatureRequest
from tests.query_counts import queries_for
from tests.requests_app.conftest import Builder

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# A page served from the cache runs what signing in costs (the session and the user) and
# one statement that reads the snapshot; an API list, the token and the snapshot.
HIT_PAGE, HIT_API = 3, 2


def read_twice(client, path, **headers):
    """(queries of the second read, first answer, second answer) of two reads between which
    nothing was committed anywhere on the server. Snapshots are server-wide, so the other
    test process's commits change them too: a pair they came between is read again (the
    snapshot standing still over both reads means no transaction ended meanwhile)."""
    for _ in range(100):
        before = pagecache.snapshot()
        first = client.get(path, **headers)
        count, second = queries_for(client, path, **headers)
        if pagecache.snapshot() == before:
            return count, first, second
    pytest.fail("the database never stood still for two reads")


@pytest.fixture
def build(cast, quarters):
    return Builder(cast, quarters)


@pytest.fixture
def data(cast, quarters, build):
    current = quarters[0]
    queued = build.escalated(title="Queued first")
    build.escalated(title="Queued second")
    build.submitted(title="In the inbox")
    build.make("approved", title="On the roadmap")
    series = MeetingSeries.objects.create(
        name="Weekly sync", weekday=1, start_time=dt.time(9, 0), time_zone="UTC"
    )
    starts = timezone.now() + dt.timedelta(days=2)
    meeting = Meeting.objects.create(
        series=series,
        starts_at=starts,
        ends_at=starts + dt.timedelta(minutes=30),
        digest_due_at=starts - dt.timedelta(hours=12),
    )
    return type("Data", (), dict(quarter=current, request=queued, meeting=meeting))


def _pages(d):
    slug = d.quarter.slug
    return {
        "requests": ("hos", "/requests/"),
        "inbox": ("hos", "/inbox/"),
        "queue": ("hos", f"/queue/?quarter={slug}"),
        "review": ("hop", f"/review/?quarter={slug}"),
        "roadmap": ("hop", "/roadmap/"),
        "budget": ("hop", f"/budget/{slug}/"),
        "meeting": ("hop", f"/meetings/{d.meeting.pk}/"),
        "request": ("hop", f"/requests/{d.request.pk}/"),
        "api requests": ("hos", "/api/v1/requests/"),
        "api queue": ("hos", f"/api/v1/queues/{slug}/"),
        "api inbox": ("hos", "/api/v1/inbox/"),
        "api roadmap": ("hop", "/api/v1/roadmap/"),
    }


def _client(user, path):
    if path.startswith("/api/"):
        token, _ = Token.objects.get_or_create(user=user)
        return Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    client = Client()
    client.force_login(user)
    client.get("/")  # the CSRF cookie a browser holds after its first page
    return client


@pytest.mark.parametrize(
    "page",
    ["requests", "inbox", "queue", "review", "roadmap", "budget", "meeting", "request"]
    + ["api requests", "api queue", "api inbox", "api roadmap"],
)
def test_a_page_asked_for_again_is_answered_from_the_cache(page, cast, data):
    who, path = _pages(data)[page]
    client = _client(getattr(cast, who), path)
    cold, _ = queries_for(client, path)
    warm, first, second = read_twice(client, path)
    assert second.content == first.content
    assert second["Content-Type"] == first["Content-Type"]
    assert warm == (HIT_API if path.startswith("/api/") else HIT_PAGE) < cold


@pytest.mark.parametrize("page", ["queue", "api queue", "request", "roadmap"])
def test_a_commit_from_anywhere_shows_on_the_next_read(page, cast, data):
    who, path = _pages(data)[page]
    client = _client(getattr(cast, who), path)
    assert "Queued first" in client.get(path).content.decode()
    # Not through the app: an UPDATE committed at once, as psql or another worker would.
    FeatureRequest.objects.filter(pk=data.request.pk).update(title="Renamed meanwhile")
    again = client.get(path).content.decode()
    assert "Renamed meanwhile" in again
    assert "Queued first" not in again


def test_a_move_in_the_app_shows_with_its_message(cast, data):
    client = _client(cast.hos, "/queue/")
    path = f"/queue/?quarter={data.quarter.slug}"
    page = client.get(path).content.decode()
    assert page.index("Queued first") < page.index("Queued second")
    second = FeatureRequest.objects.get(title="Queued second")
    client.post(path, {"seen": f"{data.request.pk},{second.pk}", "move": f"{second.pk}:up"})
    page = client.get(path).content.decode()
    assert page.index("Queued second") < page.index("Queued first")
    assert "Order saved." in page
    # The message is shown once; the page after it is the plain one, and is cached again.
    count, _, page = read_twice(client, path)
    page = page.content.decode()
    assert "Order saved." not in page
    assert page.index("Queued second") < page.index("Queued first")
    assert count == HIT_PAGE


def test_each_user_gets_their_own_answer(cast, data, build):
    build.draft(title="Only the rep's draft")
    queue = f"/queue/?quarter={data.quarter.slug}"
    # Signed in first: signing in is a commit, which the reads below must not straddle.
    hos, rep = _client(cast.hos, queue), _client(cast.rep, queue)
    count, _, page = read_twice(hos, queue)
    assert 'name="move"' in page.content.decode()  # only she ranks the queue
    assert count == HIT_PAGE  # and her page is cached
    page = rep.get(queue).content.decode()
    assert "Queued first" in page
    assert 'name="move"' not in page
    hos.get("/requests/")
    assert "Only the rep" not in hos.get("/requests/").content.decode()
    assert "Only the rep" in rep.get("/requests/").content.decode()


def test_each_api_caller_gets_their_own_list(cast, data, build):
    build.draft(title="Only the rep's draft")
    path = "/api/v1/requests/"
    hos, rep = _client(cast.hos, path), _client(cast.rep, path)
    count, _, answer = read_twice(hos, path)
    assert "Only the rep" not in answer.content.decode()
    assert count == HIT_API
    assert "Only the rep" in rep.get(path).content.decode()


def test_an_htmx_fragment_is_not_the_cached_page(cast, data):
    path = f"/queue/?quarter={data.quarter.slug}"
    client = _client(cast.hos, path)
    assert "<html" in client.get(path).content.decode()
    fragment = client.get(path, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment
    assert "Queued first" in fragment


def _move_up(client, path, page, order, moving):
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    seen = ",".join(str(pk) for pk in order)
    data = {"csrfmiddlewaretoken": token, "seen": seen, "move": f"{moving}:up"}
    return client.post(path, data).status_code


def test_a_page_carries_its_own_readers_csrf_token(cast, data):
    """A page rendered for a reader without a CSRF cookie (a new secret) is not kept: another
    such reader of the same account gets a page with its own token and cookie. Once the
    reader holds its cookie, its cached page's form posts."""
    path = f"/queue/?quarter={data.quarter.slug}"
    for _ in range(100):  # a try the other test process committed during is tried again
        a, b = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
        a.force_login(cast.hos)
        b.force_login(cast.hos)
        before = pagecache.snapshot()
        a.get(path)
        answer = b.get(path)
        if pagecache.snapshot() == before:
            break
    assert "csrftoken" in answer.cookies
    first, second = data.request.pk, FeatureRequest.objects.get(title="Queued second").pk
    assert _move_up(b, path, answer.content.decode(), [first, second], second) == 302
    assert "Order saved." in b.get(path).content.decode()  # shown once, not cached
    count, _, page = read_twice(b, path)
    assert count == HIT_PAGE
    assert _move_up(b, path, page.content.decode(), [second, first], first) == 302
    page = b.get(path).content.decode()
    assert page.index("Queued first") < page.index("Queued second")


def test_pages_that_compare_times_are_read_again_each_minute(cast, data, monkeypatch):
    client = _client(cast.hop, "/roadmap/")
    now = 1_800_000_000.0
    monkeypatch.setattr(pagecache, "_clock", lambda: now)
    assert read_twice(client, "/roadmap/")[0] == HIT_PAGE
    monkeypatch.setattr(pagecache, "_clock", lambda: now + 60)
    assert queries_for(client, "/roadmap/")[0] > HIT_PAGE


def test_pages_are_read_again_each_day(cast, data, monkeypatch):
    path = f"/budget/{data.quarter.slug}/"
    client = _client(cast.hop, path)
    assert read_twice(client, path)[0] == HIT_PAGE
    today = timezone.localdate()
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: today + dt.timedelta(days=1))
    assert queries_for(client, path)[0] > HIT_PAGE


def test_switched_off_every_read_runs_its_queries(cast, data, settings):
    settings.PAGE_CACHE = False
    path = reverse("roadmap")
    client = _client(cast.hop, path)
    first, _ = queries_for(client, path)
    assert queries_for(client, path)[0] == first > HIT_PAGE


def test_a_role_changed_just_before_the_snapshot_is_not_served_the_old_roles_page(
    cast, data, monkeypatch
):
    """The signed-in user's row is read before the snapshot: a product manager made an admin
    between the two has the page rendered for a product manager; their next read, as an
    admin, must not be answered with it (the review queue is for product roles)."""
    path = f"/review/?quarter={data.quarter.slug}"
    client = _client(cast.pm, path)
    real = pagecache.snapshot
    for _ in range(100):  # a try the other test process committed during is tried again
        User.objects.filter(pk=cast.pm.pk).update(role=Role.PRODUCT_MANAGER)

        def made_admin_first():
            monkeypatch.setattr(pagecache, "snapshot", real)
            User.objects.filter(pk=cast.pm.pk).update(role=Role.ADMIN)
            return real()

        monkeypatch.setattr(pagecache, "snapshot", made_admin_first)
        assert client.get(path).status_code == 200  # rendered with the role read before
        after = real()
        second = client.get(path)
        if real() == after:
            break
    assert second.status_code == 403
