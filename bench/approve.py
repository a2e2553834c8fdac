"""Time single approvals in-process at the top and at the bottom of a long sales queue.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/fb_appr_bench BENCH_REQUESTS=2000 \
        .venv/bin/python -m bench.approve

Seeds a fresh database (BENCH_REQUESTS requests, BENCH_QUEUE of them in the current
quarter's queue), raises the quarter's capacity so no approval is refused, then approves
BENCH_APPROVALS requests one at a time from the top of the queue and as many from its
bottom, through requests_app.services.request_approve as the page and the API call it.
Prints per-approval wall time and the statements run, in all and while the quarter's row
lock is held (from its SELECT ... FOR UPDATE to COMMIT)."""

import statistics
import time

from bench.run import _env_int, configure


def _approve_timed(fr, hop):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from requests_app.services import request_approve

    with CaptureQueriesContext(connection) as ctx:
        start = time.perf_counter()
        request_approve(fr=fr, actor=hop)
        elapsed = time.perf_counter() - start
    sql = [q["sql"] for q in ctx.captured_queries]
    locked_at = next(i for i, s in enumerate(sql) if "budgets_quarter" in s and "FOR UPDATE" in s)
    return elapsed * 1000, len(sql), len(sql) - locked_at


def _summary(label, runs):
    ms = sorted(r[0] for r in runs)
    statements = sorted({r[1] for r in runs})
    under_lock = sorted({r[2] for r in runs})
    return (
        f"{label}: {len(runs)} approvals, median {statistics.median(ms):.1f} ms, "
        f"min {ms[0]:.1f}, max {ms[-1]:.1f}; statements {statements}, "
        f"under the quarter lock {under_lock}"
    )


def main():
    url = configure()
    import django

    django.setup()
    from django.db.models import Count, Q

    from accounts.models import Role, User
    from bench.measure import analyze, reset_database
    from bench.seed import seed
    from budgets.models import Quarter
    from budgets.services import budget_set_capacity
    from requests_app.models import FeatureRequest, Status

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
    for label, order in (("top", "queue_rank"), ("bottom", "-queue_rank")):
        runs = [_approve_timed(queue.order_by(order).first(), hop) for _ in range(count)]
        print(_summary(label, runs))


if __name__ == "__main__":
    main()
