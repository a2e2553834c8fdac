"""Approvals under load alone: the approvals part of `make bench`, with where the CPU went.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/fb_bench_load \
        .venv/bin/python -m bench.load

Seeds a fresh database (BENCH_REQUESTS, BENCH_QUEUE, as `make bench`), starts gunicorn as
`make bench` does (BENCH_WORKERS, BENCH_THREADS, BENCH_PORT), then has BENCH_CLIENTS clients approve
BENCH_APPROVALS requests of the current queue at once through the API (bench.measure.approvals)
and checks every budget against its ledger. Prints throughput, median and p99, and the CPU
seconds per approval spent in the gunicorn workers, in this database's PostgreSQL backends
and in the client threads, read from /proc before and after the burst. BENCH_ROUNDS repeats
the burst on the same server (each approves the next requests of the queue); BENCH_SERVERS
(e.g. "4x2,2x2,4x1": workers x threads) runs it against each gunicorn shape in turn (give
BENCH_QUEUE room for all of them)."""

import os
import resource
import sys
import time
from pathlib import Path

from bench.run import _env_int, configure

TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
    return total


def _backend_pids():
    """PostgreSQL server processes serving the benchmark database, seen from a new connection."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return [row[0] for row in cur.fetchall()]


def _client_cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    url = configure()
    import django

    django.setup()
    from django.core.management import call_command

    from bench import measure
    from bench.seed import seed

    call_command("collectstatic", verbosity=0, interactive=False)
    n_requests, queue = _env_int("BENCH_REQUESTS", 20_000), _env_int("BENCH_QUEUE", 1_000)
    count, clients = _env_int("BENCH_APPROVALS", 600), _env_int("BENCH_CLIENTS", 32)
    rounds = _env_int("BENCH_ROUNDS", 1)
    servers = _servers()
    measure.reset_database(url)
    seed(n_requests=n_requests, queue_size=queue)
    measure.analyze()
    t = measure.Targets()
    print(f"seeded {n_requests:,} requests, {queue:,} queued; load {os.getloadavg()}")
    for workers, threads in servers:
        with measure.Server(_env_int("BENCH_PORT", 8101), workers, threads) as server:
            creds = measure.credentials(t.users)
            # Warm each worker (imports, connection) before the timed burst.
            for _ in range(workers * threads * 4):
                measure.request("GET", server.port, "/api/v1/me/", headers=creds["hop"])
            print(f"gunicorn: {workers} workers × {threads} threads")
            for n in range(rounds):
                _burst(server, creds, t, count, clients, n)
    problems = measure.budget_check()
    print("budget check:", "all consistent" if not problems else problems)


def _servers():
    """gunicorn shapes to run the burst against, one after another on the same data:
    BENCH_SERVERS="4x2,2x2" (workers x threads), else BENCH_WORKERS x BENCH_THREADS."""
    given = os.environ.get("BENCH_SERVERS")
    if not given:
        return [(_env_int("BENCH_WORKERS", 4), _env_int("BENCH_THREADS", 2))]
    try:
        return [tuple(int(n) for n in shape.split("x", 1)) for shape in given.split(",")]
    except ValueError:
        sys.exit(f"BENCH_SERVERS must read like 4x2,2x2; got {given!r}.")


def _burst(server, creds, t, count, clients, n):
    from bench import measure

    web, backends = server.worker_pids(), _backend_pids()
    before = (_cpu_seconds(web), _cpu_seconds(backends), _client_cpu())
    stats = measure.approvals(server, creds, count, clients, t)
    backends = set(backends) | set(_backend_pids())
    after = (_cpu_seconds(web), _cpu_seconds(backends), _client_cpu())
    web_s, pg_s, client_s = (b - a for a, b in zip(before, after, strict=True))
    done = stats["count"]
    print(
        f"round {n + 1}: {done} approvals from {clients} clients in "
        f"{stats['seconds']:.2f} s: {stats['per_second']:.0f}/s, median "
        f"{stats['median']:.0f} ms, p99 {stats['p99']:.0f} ms, answers {stats['statuses']}"
    )
    print(
        f"  CPU per approval: web workers {web_s * 1000 / done:.2f} ms, PostgreSQL "
        f"{pg_s * 1000 / done:.2f} ms, clients {client_s * 1000 / done:.2f} ms "
        f"({web_s + pg_s + client_s:.1f} CPU s in {stats['seconds']:.1f} s on "
        f"{os.cpu_count()} cores); load {os.getloadavg()}"
    )
    time.sleep(1)


if __name__ == "__main__":
    main()
