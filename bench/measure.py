"""The measurements of `make bench` (see bench/run.py for how it is started)."""

import datetime as dt
import http.client
import json
import os
import platform
import queue as queue_module
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import django

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SMALL = 100  # requests in the small company the query counts are compared with


# --- The machine and the database ------------------------------------------------------------


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        ram = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram": ram,
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_at_start": os.getloadavg(),
        "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def reset_database(url):
    """Drop and create the benchmark database, then migrate it."""
    import psycopg2
    from django.db import connections

    connections.close_all()
    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = psycopg2.connect(
        dbname="postgres",
        user=parsed.username or "postgres",
        password=parsed.password,
        host=parsed.hostname,
        port=parsed.port or 5432,
    )
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def postgres_version():
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        return cur.fetchone()[0]


def analyze():
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")


# --- What is measured ------------------------------------------------------------------------


class Targets:
    """The seeded objects the pages are read for."""

    def __init__(self):
        from django.utils import timezone

        from accounts.models import User
        from budgets.services import quarter_current
        from meetings.models import Meeting
        from requests_app.models import FeatureRequest

        self.users = {
            u.username: u for u in User.objects.filter(username__in=["hos", "hop", "admin"])
        }
        self.quarter = quarter_current()
        self.meeting = (
            Meeting.objects.filter(series__is_active=True, starts_at__gt=timezone.now())
            .order_by("starts_at")
            .first()
        )
        self.request = (
            FeatureRequest.objects.filter(target_quarter=self.quarter, queue_rank__isnull=False)
            .order_by("queue_rank")
            .first()
        )


def pages(t):
    """(label, path, who, admin changelist of the same rows) for every page and list endpoint."""
    q = t.quarter
    fr_admin = "/admin/requests_app/featurerequest/"
    queue_admin = f"{fr_admin}?status__exact=escalated&target_quarter__id__exact={q.pk}"
    roadmap_admin = f"{fr_admin}?status__in=approved,in_progress,shipped,deferred"
    ledger_admin = f"/admin/budgets/ledgerentry/?budget__quarter__id__exact={q.pk}"
    events_admin = f"/admin/requests_app/auditevent/?request__id__exact={t.request.pk}"
    return [
        ("/requests/", "/requests/", "hos", fr_admin),
        ("/inbox/", "/inbox/", "hos", f"{fr_admin}?status__exact=submitted"),
        ("/queue/", f"/queue/?quarter={q.slug}", "hos", queue_admin),
        ("/review/", f"/review/?quarter={q.slug}", "hop", queue_admin),
        ("/roadmap/", "/roadmap/", "hop", roadmap_admin),
        ("/budget/", f"/budget/{q.slug}/", "hop", ledger_admin),
        ("meeting page", f"/meetings/{t.meeting.pk}/", "hop", queue_admin),
        ("request page", f"/requests/{t.request.pk}/", "hop", events_admin),
        ("api requests/", "/api/v1/requests/", "hos", fr_admin),
        ("api queues/<slug>/", f"/api/v1/queues/{q.slug}/", "hos", queue_admin),
        ("api inbox/", "/api/v1/inbox/", "hos", f"{fr_admin}?status__exact=submitted"),
        ("api roadmap/", "/api/v1/roadmap/", "hop", roadmap_admin),
        ("api quarters/", "/api/v1/quarters/", "hos", "/admin/budgets/budget/"),
    ]  # fmt: skip


FLOOR = "/bench/floor/"
API_FLOOR = "/api/v1/me/"


def query_counts(t):
    """Queries each page and endpoint runs, read in-process through Django's test client."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    counts = {}
    for label, path, who, _ in pages(t):
        client = Client(HTTP_X_FORWARDED_PROTO="https")
        user = t.users[who]
        if path.startswith("/api/"):
            token, _ = Token.objects.get_or_create(user=user)
            client = Client(HTTP_X_FORWARDED_PROTO="https", HTTP_AUTHORIZATION=f"Token {token.key}")
        else:
            client.force_login(user)
        client.get(path)  # one-off work (a quarter created on first visit) is not counted
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path, HTTP_X_BENCH_COLD="1")  # read afresh: all it runs
        if response.status_code != 200:
            raise RuntimeError(f"{path} as {who} answered {response.status_code}")
        counts[label] = len(ctx.captured_queries)
    return counts


# --- HTTP against gunicorn -------------------------------------------------------------------


class Server:
    """gunicorn serving the benchmark database on loopback, with request times logged: the
    production settings of gunicorn.conf.py, with the bench's port, workers and threads."""

    def __init__(self, port, workers, threads=2):
        self.port, self.workers, self.threads = port, workers, threads
        self.log = ROOT / "var" / "bench" / "access.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.write_text("")
        self.proc = None

    def __enter__(self):
        gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
        self.proc = subprocess.Popen(  # noqa: S603 (a fixed command line, no user input)
            [
                gunicorn,
                "config.wsgi",
                "--config",
                str(ROOT / "gunicorn.conf.py"),
                "--bind",
                f"{HOST}:{self.port}",
                "--workers",
                str(self.workers),
                "--threads",
                str(self.threads),
                "--access-logfile",
                str(self.log),
                # the X-Bench label, status, microseconds spent in the worker
                "--access-logformat",
                "%({x-bench}i)s %(s)s %(D)s",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=os.environ.copy(),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                status, _, _ = request("GET", self.port, "/healthz")
                if status in (200, 503):
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def worker_pids(self):
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                    pids.append(int(entry.name))
        return pids

    def peak_rss_mib(self):
        """VmHWM: each worker's peak resident memory since it started."""
        peaks = []
        for pid in self.worker_pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        return max(peaks) if peaks else None

    def server_times(self, marker):
        """Milliseconds the workers spent on requests labelled `marker`."""
        times = []
        for line in self.log.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == marker:
                times.append(int(parts[2]) / 1000)
        return times

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def request(method, port, path, *, headers=None, body=None):
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        all_headers = {"X-Forwarded-Proto": "https", **(headers or {})}
        payload = None
        if body is not None:
            payload = json.dumps(body)
            all_headers["Content-Type"] = "application/json"
        conn.request(method, path, body=payload, headers=all_headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, data, response
    finally:
        conn.close()


def credentials(users):
    """The cookies a signed-in browser holds (the session and, after its first page, the CSRF
    cookie) and an API token for each user, made in-process."""
    from django.test import Client
    from rest_framework.authtoken.models import Token

    result = {}
    for name, user in users.items():
        client = Client(HTTP_X_FORWARDED_PROTO="https")
        client.force_login(user)
        client.get("/")
        token, _ = Token.objects.get_or_create(user=user)
        cookies = (f"{c}={client.cookies[c].value}" for c in ("sessionid", "csrftoken"))
        result[name] = {
            "Cookie": "; ".join(cookies),
            "Authorization": f"Token {token.key}",
        }
    return result


def _headers(creds, who, path):
    c = creds[who]
    return (
        {"Authorization": c["Authorization"]}
        if path.startswith("/api/")
        else {"Cookie": c["Cookie"]}
    )


def _timed(server, creds, label, path, who, repeat, floor=None, cold=False):
    """Server times of `repeat` GETs of `path` as `who`. With `floor` (a path), each is
    preceded by one GET of the floor as `who`, and the floor's times come back as "floor": a
    page and its floor then see the same moment of the machine (the floor measured once at
    the start had drifted between runs by 3.8 to 5.3 ms, which alone decided some verdicts).
    `cold`: each GET is read afresh, as the first read after a commit is (config/pagecache.py
    takes X-Bench-Cold only when BENCH_FLOOR is on: never in production)."""
    marker = label.replace(" ", "_") + ("-cold" if cold else "")
    headers = {**_headers(creds, who, path), "X-Bench": marker}
    if cold:
        headers["X-Bench-Cold"] = "1"
    floor_marker = f"floor-for-{marker}"
    floor_headers = {**_headers(creds, who, floor or ""), "X-Bench": floor_marker}
    for _ in range(2):  # warm caches and the worker's imports
        request("GET", server.port, path, headers={**headers, "X-Bench": "warm-up"})
    for _ in range(repeat):
        if floor:
            request("GET", server.port, floor, headers=floor_headers)
        status, data, _ = request("GET", server.port, path, headers=headers)
        if status != 200:
            raise RuntimeError(f"{path} as {who}: {status} {data[:200]!r}")
    times = server.server_times(marker)[-repeat:]
    result = {"median": statistics.median(times), "p95": _pct(times, 95), "bytes": len(data)}
    if floor:
        result["floor"] = statistics.median(server.server_times(floor_marker)[-repeat:])
    return result


def _pct(values, pct):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def page_times(server, creds, t, repeat):
    """Each page's server time, and its ratio to the floor timed alongside it (interleaved),
    served as a repeated read is (from the page cache while nothing is committed) and cold,
    as the first read after a commit is; "floor" and "api_floor" are the medians of the floor
    samples over the whole run."""
    rows, floors = [], {FLOOR: [], API_FLOOR: []}
    for label, path, who, admin in pages(t):
        floor = API_FLOOR if path.startswith("/api/") else FLOOR
        own = _timed(server, creds, label, path, who, repeat, floor=floor)
        cold = _timed(server, creds, label, path, who, repeat, floor=floor, cold=True)
        floors[floor] += [own["floor"], cold["floor"]]
        changelist = _timed(server, creds, f"admin {label}", admin, "admin", repeat)
        rows.append(
            {
                "label": label,
                "path": path,
                "who": who,
                **own,
                "ratio_floor": own["median"] / own["floor"],
                "cold": cold["median"],
                "cold_p95": cold["p95"],
                "ratio_cold": cold["median"] / cold["floor"],
                "admin": changelist["median"],
                "ratio_admin": cold["median"] / changelist["median"],
            }
        )
    return {
        "floor": {"median": statistics.median(floors[FLOOR])},
        "api_floor": {"median": statistics.median(floors[API_FLOOR])},
        "rows": rows,
    }


# --- Under load ------------------------------------------------------------------------------


def _load(port, jobs, clients):
    """Run `jobs` (callables returning (status, ms)) on `clients` threads; returns stats."""
    work = queue_module.Queue()
    for job in jobs:
        work.put(job)
    results, lock = [], threading.Lock()

    def client():
        while True:
            try:
                job = work.get_nowait()
            except queue_module.Empty:
                return
            started = time.perf_counter()
            status = job()
            ms = (time.perf_counter() - started) * 1000
            with lock:
                results.append((status, ms))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    seconds = time.perf_counter() - started
    latencies = [ms for _, ms in results]
    statuses = {}
    for status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "count": len(results),
        "seconds": seconds,
        "per_second": len(results) / seconds,
        "median": statistics.median(latencies),
        "p99": _pct(latencies, 99),
        "statuses": statuses,
    }


def rankings(server, creds, per_client, clients):
    """Each of `clients` sales managers re-orders their own team inbox `per_client` times
    (a swap of two requests, sent with the order they saw), all at once."""
    from accounts.models import Role, User
    from requests_app import services

    managers = list(User.objects.filter(role=Role.SALES_MANAGER).order_by("pk")[:clients])
    creds.update(credentials({m.username: m for m in managers}))
    orders = {m.pk: services.inbox_ids(m.pk) for m in managers}
    locks = {m.pk: threading.Lock() for m in managers}

    def job(manager, k):
        def run():
            # One manager's changes go one after another (as one person's would).
            with locks[manager.pk]:
                seen = orders[manager.pk]
                order = list(seen)
                i = k % max(1, len(order) - 1)
                if len(order) > 1:
                    order[i], order[i + 1] = order[i + 1], order[i]
                status, data, _ = request(
                    "PUT",
                    server.port,
                    "/api/v1/inbox/ranking/",
                    headers={"Authorization": creds[manager.username]["Authorization"]},
                    body={"seen": seen, "order": order, "team": manager.pk},
                )
                if status == 200:
                    orders[manager.pk] = json.loads(data)["order"]
                return status

        return run

    jobs = [job(m, k) for k in range(per_client) for m in managers]
    stats = _load(server.port, jobs, clients)
    stats["inbox_sizes"] = sorted(len(o) for o in orders.values())
    return stats


def approvals(server, creds, count, clients, t):
    """The Head of Product approves `count` requests of the current queue from 32 clients at
    once; the budget is raised first so about three quarters of them fit."""
    from budgets.models import Budget
    from budgets.services import budget_set_capacity
    from requests_app.models import FeatureRequest

    ids = list(
        FeatureRequest.objects.filter(
            target_quarter=t.quarter, queue_rank__isnull=False, estimate__isnull=False
        )
        .order_by("queue_rank")
        .values_list("pk", "estimate")[:count]
    )
    budget = Budget.objects.get(quarter=t.quarter)
    wanted = sum(points for _, points in ids)
    fits = budget.reserved + wanted * 3 // 4
    budget_set_capacity(
        quarter=t.quarter, capacity=-(-fits * 100 // budget.percentage), actor=t.users["hop"]
    )
    header = {"Authorization": creds["hop"]["Authorization"]}

    def job(pk):
        def run():
            status, data, _ = request(
                "POST", server.port, f"/api/v1/requests/{pk}/approve/", headers=header, body={}
            )
            if status not in (200, 409):
                raise RuntimeError(f"approve #{pk}: {status} {data[:300]!r}")
            return status

        return run

    stats = _load(server.port, [job(pk) for pk, _ in ids], clients)
    stats["requested_points"] = wanted
    return stats


def budget_check():
    """Every budget's balances equal its ledger's sums; nothing is overspent."""
    from django.db.models import Sum

    from budgets.models import Budget
    from budgets.services import ledger_sums
    from requests_app.models import FeatureRequest

    problems = []
    for budget in Budget.objects.select_related("quarter"):
        sums = ledger_sums(budget)
        held = (
            FeatureRequest.objects.filter(target_quarter=budget.quarter).aggregate(
                s=Sum("reserved_points")
            )["s"]
            or 0
        )
        balances = {
            "allocated": budget.allocated,
            "reserved": budget.reserved,
            "expired": budget.expired,
            "remaining": budget.remaining,
        }
        if sums != balances:
            problems.append(f"{budget.quarter.label}: ledger {sums} != balances {balances}")
        if budget.remaining < 0 or budget.reserved > budget.allocated:
            problems.append(f"{budget.quarter.label}: overspent {balances}")
        if not budget.quarter.is_closed and held != budget.reserved:
            problems.append(
                f"{budget.quarter.label}: requests hold {held}, budget {budget.reserved}"
            )
    return problems


# --- Digests ---------------------------------------------------------------------------------


def digests(count=200):
    """Build each meeting's agenda, then send every digest (the Celery task, run in-process)."""
    from django.conf import settings
    from django.core import mail

    from config.runtime import settle_gc
    from meetings.models import Delivery, Meeting
    from meetings.services import build_agenda
    from meetings.tasks import send_meeting_digest

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []
    meetings = list(Meeting.objects.select_related("series").order_by("starts_at")[:count])
    # One untimed build first, as the pages get two warm-up requests: the first agenda in a
    # process pays for imports and first-use caches (about 180 ms against 35).
    build_agenda(meetings[0])
    # As in a Celery worker, which settles the collector once it has loaded the app.
    settle_gc()
    builds = []
    for meeting in meetings:
        started = time.perf_counter()
        build_agenda(meeting)
        builds.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    for meeting in meetings:
        send_meeting_digest(meeting.pk)
    seconds = time.perf_counter() - started
    sent = Delivery.objects.filter(kind="digest", status="sent").count()
    return {
        "meetings": len(meetings),
        "build_median": statistics.median(builds),
        "build_p95": _pct(builds, 95),
        "build_max": max(builds),
        "send_seconds": seconds,
        "per_meeting": seconds * 1000 / len(meetings),
        "emails": len(mail.outbox),
        "deliveries_sent": sent,
    }


# --- The run ---------------------------------------------------------------------------------


def _step(name):
    print(f"[bench {time.strftime('%H:%M:%S')}] {name}", flush=True)


def run_all(url, s):
    results = {"machine": machine()}
    django.setup()
    from django.core.management import call_command

    call_command("collectstatic", verbosity=0, interactive=False)  # DEBUG off: hashed names
    from bench.seed import seed

    _step(f"small company ({SMALL} requests) in {urlparse(url).path.lstrip('/')}")
    reset_database(url)
    results["postgres"] = postgres_version()
    seed(n_requests=SMALL, queue_size=SMALL // 4)
    analyze()
    small_counts = query_counts(Targets())

    _step(f"large company ({s['requests']} requests)")
    reset_database(url)
    started = time.monotonic()
    results["seeded"] = seed(n_requests=s["requests"], queue_size=s["queue"])
    analyze()
    results["seed_seconds"] = time.monotonic() - started
    t = Targets()
    large_counts = query_counts(t)
    results["queries"] = {"small": small_counts, "large": large_counts}

    with Server(s["port"], s["workers"], s["threads"]) as server:
        creds = credentials(t.users)
        _step("page and endpoint timings")
        results["pages"] = page_times(server, creds, t, s["repeat"])
        _step("ranking changes under load")
        results["rankings"] = rankings(server, creds, s["rankings"], s["clients"])
        _step("approvals under load")
        results["approvals"] = approvals(server, creds, s["approvals"], s["clients"], t)
        results["budget_problems"] = budget_check()
        results["peak_rss_mib"] = server.peak_rss_mib()
    # The approvals left dead row versions (requests, budget); clean them up as autovacuum would
    # soon after such a burst, so the digests measure the agenda rather than the bloat.
    analyze()
    _step("digests")
    results["digests"] = digests()
    results["load_at_end"] = os.getloadavg()
    return results
