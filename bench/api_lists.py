"""Time the ranked API lists in-process: the queue, the inbox and the roadmap.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/fb_lists_bench \
        .venv/bin/python -m bench.api_lists

Seeds a fresh database as `make bench` does (BENCH_REQUESTS requests, BENCH_QUEUE of them in
the current quarter's queue; BENCH_SEED=false reuses the one seeded last time), then reads
each endpoint BENCH_REPEAT times through Django's test client with DEBUG off, as the users
`make bench` reads them as, and prints the median and p95 wall time, the queries and the
bytes of each, with the API floor (`/api/v1/me/`) to compare with. In-process times leave out
gunicorn and the socket, so they run a little under `make bench`'s server times."""

import os
import statistics
import time

from bench.run import _env_int, configure


def _client(user):
    from django.test import Client
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=user)
    # DEBUG off redirects plain HTTP; the proxy in front of the app says it was HTTPS.
    return Client(HTTP_X_FORWARDED_PROTO="https", HTTP_AUTHORIZATION=f"Token {token.key}")


def _timed(client, path, repeat):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):  # warm the token lookup, caches and imports
        client.get(path)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.content[:200]!r}")
    with CaptureQueriesContext(connection) as ctx:
        client.get(path)
    ordered = sorted(times)
    return {
        "median": statistics.median(times),
        "p95": ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)],
        "queries": len(ctx.captured_queries),
        "bytes": len(response.content),
    }


def main():
    url = configure()
    import django

    django.setup()
    from accounts.models import User
    from bench.measure import analyze, reset_database
    from bench.seed import seed
    from budgets.services import quarter_current

    if os.environ.get("BENCH_SEED", "true") != "false":
        reset_database(url)
        seeded = seed(
            n_requests=_env_int("BENCH_REQUESTS", 20_000), queue_size=_env_int("BENCH_QUEUE", 1000)
        )
        analyze()
        print(f"seeded {seeded['requests']} requests, {seeded['queue']} in the current queue")
    repeat = _env_int("BENCH_REPEAT", 30)
    users = {u.username: u for u in User.objects.filter(username__in=["hos", "hop"])}
    slug = quarter_current().slug
    paths = [
        ("api floor", "/api/v1/me/", "hos"),
        ("api queues/<slug>/", f"/api/v1/queues/{slug}/", "hos"),
        ("api inbox/", "/api/v1/inbox/", "hos"),
        ("api roadmap/", "/api/v1/roadmap/", "hop"),
        *[(label, path, who) for label, path, who in _extra(slug)],
    ]
    floor = None
    for label, path, who in paths:
        got = _timed(_client(users[who]), path, repeat)
        floor = floor or got["median"]
        print(
            f"{label:<28} median {got['median']:7.1f} ms  p95 {got['p95']:7.1f} ms  "
            f"x{got['median'] / floor:5.1f} floor  {got['queries']:2d} queries  "
            f"{got['bytes']:>8} bytes  {path}"
        )


def _extra(slug):
    """More paths to time, as `label|path|who;...` in BENCH_EXTRA (e.g. a last page)."""
    for part in filter(None, os.environ.get("BENCH_EXTRA", "").split(";")):
        label, path, who = part.split("|")
        yield label, path.replace("{slug}", slug), who


if __name__ == "__main__":
    main()
