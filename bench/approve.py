"""Time single approvals in-process at the top and at the bottom of a long sales queue.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/fb_appr_bench BENCH_REQUESTS=2000 \
        .venv/bin/python -m bench.approve

Seeds a fresh database (BENCH_REQUESTS requests, BENCH_QUEUE of them in the current
quarter's queue), raises the quarter's capacity so no approval is refused, then approves
BENCH_APPROVALS requests one at a time from the top of the queue and as many from its
bottom, through requests_app.services.request_approve as the page and the API call it.
Then approves as many through the API (POST /api/v1/requests/<id>/approve/ with the Head of
Product's token, through Django's test client: middleware, authentication, the view and its
answer, without gunicorn and HTTP). Prints per-approval wall time, the CPU time of this
Python process (what a web worker would spend; the rest of the wall time is PostgreSQL and
the round trips), how long the quarter's row lock was held (approvals of one quarter take
it one at a time, so 1000 / that is the most approvals a second one quarter can take), and
the statements run, in all and while the lock is held (from its SELECT ... FOR UPDATE to
COMMIT)."""

import statistics
import time

from bench.run import _env_int, configure


def _timed(approve):
    """(wall ms, CPU ms of this process, ms the quarter's lock was held) of one call: from the
    quarter's SELECT ... FOR UPDATE being sent to the end of COMMIT, when the first on-commit
    hook runs. Timed without capturing the statements (capturing costs time); _statements
    counts them on another call."""
    from django.db import connection, transaction

    held = {}

    def watch(execute, sql, params, many, context):
        if (
            "lock" not in held
            and sql.startswith('SELECT "budgets_quarter"')
            and "FOR UPDATE" in sql
        ):
            held["lock"] = time.perf_counter()
            transaction.on_commit(lambda: held.setdefault("commit", time.perf_counter()))
        return execute(sql, params, many, context)

    start, cpu = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(watch):
        approve()
    wall, cpu = (time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000
    return wall, cpu, (held["commit"] - held["lock"]) * 1000


def _statements(approve):
    """Statements of one call: in all, and from the quarter's SELECT ... FOR UPDATE to COMMIT."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        approve()
    sql = [q["sql"] for q in ctx.captured_queries]
    locked_at = next(i for i, s in enumerate(sql) if "budgets_quarter" in s and "FOR UPDATE" in s)
    committed_at = sql.index("COMMIT", locked_at)
    return len(sql), committed_at + 1 - locked_at


def _summary(label, runs, statements):
    ms = sorted(r[0] for r in runs)
    cpu, held = statistics.median(r[1] for r in runs), statistics.median(r[2] for r in runs)
    return (
        f"{label}: {len(runs)} approvals, median {statistics.median(ms):.1f} ms "
        f"(CPU {cpu:.1f} ms in Python), min {ms[0]:.1f}, max {ms[-1]:.1f}; quarter lock "
        f"held {held:.1f} ms; statements {statements[0]}, under the quarter lock {statements[1]}"
    )


def main():
    url = configure()
    import django

    django.setup()
    from django.db.models import Count, Q
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from accounts.models import Role, User
    from bench.measure import analyze, reset_database
    from bench.seed import seed
    from budgets.models import Quarter
    from budgets.services import budget_set_capacity
    from requests_app.models import FeatureRequest, Status
    from requests_app.services import request_approve

    count = _env_int("BENCH_APPROVALS", 20)
    reset_database(url)
    seeded = seed(
        n_requests=_env_int("BENCH_REQUESTS", 2000), queue_size=_env_int("BENCH_QUEUE", 1000)
    )
    analyze()
    hop = User.objects.get(role=Role.HEAD_OF_PRODUCT, is_active=True)
    # The current quarter holds the long queue; others hold a few requests.
    quarter = (
        Quarter.objects.annotate(queued=Count("requests", filter=Q(requests__status="escalated")))
        .order_by("-queued")
        .first()
    )
    budget_set_capacity(quarter=quarter, capacity=1_000_000, actor=hop, percentage=100)
    queue = FeatureRequest.objects.filter(
        target_quarter=quarter, status=Status.ESCALATED, estimate__isnull=False
    )
    print(f"seeded {seeded['requests']} requests, {seeded['queue']} in {quarter.label}'s queue")
    token, _ = Token.objects.get_or_create(user=hop)
    client = Client(HTTP_X_FORWARDED_PROTO="https", HTTP_AUTHORIZATION=f"Token {token.key}")

    def service(fr):
        request_approve(fr=fr, actor=hop)

    def api(fr):
        response = client.post(
            f"/api/v1/requests/{fr.pk}/approve/", content_type="application/json"
        )
        if response.status_code != 200:
            raise RuntimeError(f"approve #{fr.pk}: {response.status_code} {response.content!r}")

    def next_one(approve, order):
        fr = queue.order_by(order).first()
        return lambda: approve(fr)

    api(queue.order_by("queue_rank").first())  # the first call loads the URL conf
    for label, approve, order in (
        ("top", service, "queue_rank"),
        ("bottom", service, "-queue_rank"),
        ("api", api, "queue_rank"),
    ):
        runs = [_timed(next_one(approve, order)) for _ in range(count)]
        print(_summary(label, runs, _statements(next_one(approve, order))))


if __name__ == "__main__":
    main()
