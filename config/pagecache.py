"""GET answers kept in a cache keyed by the PostgreSQL snapshot they were read at.

A page is read again only when the database has changed. The key holds
`pg_current_snapshot()`: which transactions were committed when the page was asked for. Two
requests that see the same snapshot see the same rows, and any commit, from this process or
another, from a view, the admin, a Celery task or psql, gives later requests another snapshot
and so another key. A cached answer therefore never shows data older than what its reader
could have read itself; nothing needs invalidating, and nothing can be forgotten.

What else the answer depends on is in the key too: the URL with its host, scheme and query
string, the htmx and Accept headers, the user (their whole row, read before the snapshot,
so a role changed just before it cannot be served a page rendered for the old one), the
CSRF secret the page's forms carry, the time zone and language, and the clock as far as
the page reads it: the day for most pages (the current quarter, "today" on the burn chart,
a deal's close date), the minute for the pages that compare times (a meeting is over when it
ends; the roadmap's "recently shipped" is the last 90 days to the moment), so such a page
is at most a minute behind the clock, as its timestamps, which show minutes, are.

Under READ COMMITTED each of a view's statements sees the data as of its own start, so a
commit landing while a page is read can show in some of its parts and not in others, as it
can without a cache; such a page is kept under the snapshot read before it, where only
readers that started before that commit find it. It is never older than their snapshot.

Not cached: anything but a 200 to a GET; a request with flash messages waiting (they are
shown once); a request inside a transaction (tests, and any atomic view: its snapshot may
hold its own uncommitted writes); a page that set a new CSRF cookie while rendering; SQLite,
which has no snapshot to read. The cache is each worker's own memory (the `pages` cache in
settings), so a deploy starts empty.
"""

import hashlib
import time
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.core.cache import caches
from django.db import connection
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.utils import timezone, translation

CACHE = "pages"
# Headers that change what a view answers: htmx asks for fragments, DRF negotiates formats.
VARY_HEADERS = ("HTTP_ACCEPT", "HTTP_HX_REQUEST", "HTTP_HX_TARGET", "HTTP_HX_TRIGGER")


def _clock():
    return time.time()


def enabled():
    return settings.PAGE_CACHE and connection.vendor == "postgresql"


def snapshot():
    """The database snapshot a statement run now would see, or None where it can't be used."""
    if not enabled() or connection.in_atomic_block:
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_snapshot()::text")
        return cursor.fetchone()[0]


def _now_part(clock):
    if clock == "minute":
        return str(int(_clock() // 60))
    return timezone.localdate().isoformat()


def key_for(request, user, *, csrf=True, clock="day"):
    """The cache key of this GET as this user, or None if it must not be cached."""
    if request.method != "GET" or not getattr(user, "is_authenticated", False):
        return None
    if csrf and messages.get_messages(request):  # shown once: never from, nor into, the cache
        return None
    seen = snapshot()
    if seen is None:
        return None
    parts = [
        seen,
        _now_part(clock),
        # The user as signed in: their row was read before the snapshot, so a commit that
        # changed it (a new role, say) can fall between the two; the row itself is keyed.
        repr([getattr(user, field.attname) for field in user._meta.concrete_fields]),
        request.build_absolute_uri(),  # the host and scheme too: API lists link to pages
        timezone.get_current_timezone_name(),
        translation.get_language() or "",
        request.META.get("CSRF_COOKIE", "") if csrf else "",
        *(request.META.get(header, "") for header in VARY_HEADERS),
    ]
    return "page:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _cold(request):
    """The benchmark's cold reads: X-Bench-Cold makes a read miss, as the first read after a
    commit does (honoured only with BENCH_FLOOR on, which production never sets)."""
    return settings.BENCH_FLOOR and request.META.get("HTTP_X_BENCH_COLD") == "1"


def cached_answer(request, key):
    if key is None or _cold(request):
        return None
    hit = caches[CACHE].get(key)
    if hit is None:
        return None
    content, headers = hit
    response = HttpResponse(content)
    for name, value in headers:
        response[name] = value
    return response


def keep(key, response):
    if key is not None and response.status_code == 200 and not response.streaming:
        caches[CACHE].set(key, (response.content, list(response.headers.items())))


def snapshot_cached(view=None, *, clock="day"):
    """Serve a page view's GETs from the cache while the database stays as it was (module
    docstring). Goes under @login_required, so only signed-in users are answered. `clock`
    is "minute" for a page that compares times, "day" for one that reads only the date."""
    if view is None:
        return lambda view: snapshot_cached(view, clock=clock)

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        key = key_for(request, request.user, clock=clock)
        response = cached_answer(request, key)
        if response is not None:
            get_token(request)  # keep the CSRF cookie's expiry renewed, as rendering does
            return response
        secret = request.META.get("CSRF_COOKIE")
        response = view(request, *args, **kwargs)
        # A page rendered with a new CSRF secret carries tokens no later reader holds.
        if request.META.get("CSRF_COOKIE") == secret:
            keep(key, response)
        return response

    return wrapped


class SnapshotCachedList:
    """The same for a DRF view's JSON answers to GET; mixed in before the view class. The
    caller is authenticated and allowed (DRF's initial()) before the cache is looked at."""

    page_clock = "day"
    _page_key = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method != "GET" or request.accepted_renderer.format != "json":
            return
        key = key_for(request._request, request.user, csrf=False, clock=self.page_clock)
        answer = cached_answer(request._request, key)
        if answer is not None:
            self.get = lambda *args, **kwargs: answer  # answered instead of the view's get()
        else:
            self._page_key = key

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if self._page_key is not None and response.status_code == 200:
            response.render()
            keep(self._page_key, response)
        return response
