"""`make bench`: seed a large company on PostgreSQL and measure it; writes bench/RESULTS.md.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/fb_bench_run .venv/bin/python -m bench.run

The benchmark database is dropped and created afresh: it must not be one you keep. Without
BENCH_DATABASE_URL it is DATABASE_URL's server with the database `featurebudget_bench`.
Settings: BENCH_REQUESTS (20000), BENCH_QUEUE (1000), BENCH_REPEAT (timed requests per page,
15), BENCH_APPROVALS (600), BENCH_RANKINGS (per client, 20), BENCH_CLIENTS (32),
BENCH_WORKERS (gunicorn workers, 4), BENCH_THREADS (threads per worker, 2, as gunicorn.conf.py),
BENCH_PORT (8101), BENCH_OUT (bench/RESULTS.md).
"""

import json
import os
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent


def _bench_database_url():
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        # The benchmark drops its database: never the one the app runs on.
        if url.rstrip("/") == os.environ.get("DATABASE_URL", "").rstrip("/"):
            sys.exit("BENCH_DATABASE_URL must name another database than DATABASE_URL.")
        return url
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/featurebudget")
    parsed = urlparse(base)
    if not parsed.scheme.startswith("postgres"):
        sys.exit("make bench needs PostgreSQL: set DATABASE_URL or BENCH_DATABASE_URL.")
    return urlunparse(parsed._replace(path="/featurebudget_bench"))


def _env_int(name, default):
    value = os.environ.get(name, str(default))
    if not value.isdigit():
        sys.exit(f"{name} must be a whole number; got {value!r}.")
    return int(value)


def configure():
    """Environment for this process and the gunicorn it starts; must run before Django loads."""
    url = _bench_database_url()
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["BENCH_FLOOR"] = "true"
    # Served as in production: DEBUG off (no query log, cached templates), HTTPS assumed
    # behind a proxy (the client sends X-Forwarded-Proto), quiet logs.
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", "bench-" + os.urandom(32).hex())
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost,testserver"
    os.environ.setdefault("LOG_LEVEL", "ERROR")  # 409s are expected under load
    os.environ.setdefault("VAR_DIR", str(ROOT / "var" / "bench"))
    return url


def main():
    # A stopped run still stops its gunicorn (Server.__exit__ runs on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    url = configure()
    from bench import measure

    settings = {
        "requests": _env_int("BENCH_REQUESTS", 20_000),
        "queue": _env_int("BENCH_QUEUE", 1_000),
        "repeat": _env_int("BENCH_REPEAT", 15),
        "approvals": _env_int("BENCH_APPROVALS", 600),
        "rankings": _env_int("BENCH_RANKINGS", 20),
        "clients": _env_int("BENCH_CLIENTS", 32),
        "workers": _env_int("BENCH_WORKERS", 4),
        "threads": _env_int("BENCH_THREADS", 2),
        "port": _env_int("BENCH_PORT", 8101),
        "out": Path(os.environ.get("BENCH_OUT", ROOT / "bench" / "RESULTS.md")),
    }
    started = time.monotonic()
    results = measure.run_all(url, settings)
    results["total_seconds"] = time.monotonic() - started
    from bench import report

    settings["out"].write_text(report.markdown(results, settings))
    # The raw figures, so the report can be re-rendered: report.markdown(json.load(...), ...)
    raw = ROOT / "var" / "bench" / "results.json"
    raw.write_text(json.dumps(results, indent=1, default=str))
    print(f"Wrote {settings['out']} in {results['total_seconds']:.0f} s.")


if __name__ == "__main__":
    main()
