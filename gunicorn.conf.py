"""gunicorn settings for the web service (the Dockerfile's CMD and docker-compose's web use it).

Tuned by environment, like the app:
    PORT                  port to listen on (8000)
    WEB_CONCURRENCY       worker processes (2 x CPU cores + 1, at most 4)
    GUNICORN_THREADS      threads per worker (2; 1 gives sync workers)
    GUNICORN_TIMEOUT      seconds before a silent worker is killed and restarted (30)
    GUNICORN_ACCESS_LOG   "-" to add gunicorn's own access line on stdout (off: the app already
                          logs one JSON line per request, with the user and the request id)
    FORWARDED_ALLOW_IPS   proxies whose X-Forwarded-* gunicorn trusts (read by gunicorn itself)
Each web process is stateless (sessions live in PostgreSQL), so more capacity is more workers
per container or more containers.
"""

import multiprocessing
import os


def _int(name, default):
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {value!r}.") from None
    if number < 1:
        raise SystemExit(f"{name} must be at least 1, not {number}.")
    return number


bind = f"0.0.0.0:{_int('PORT', 8000)}"
# Capped so that a few replicas stay within PostgreSQL's default 100 connections.
workers = _int("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 4))
threads = _int("GUNICORN_THREADS", 2)
worker_class = "gthread" if threads > 1 else "sync"
# A request that takes longer than this is a bug to find, not a wait to extend.
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = 30
# Behind a proxy that keeps connections open to us.
keepalive = 5
# Recycle workers now and then so a slow leak never grows into an outage; the jitter keeps
# them from restarting all at once.
max_requests = 1000
max_requests_jitter = 100
# Workers' heartbeat files in memory, not on a container's possibly slow overlay disk.
_SHM = "/dev/shm"  # noqa: S108 (gunicorn's documented choice for containers)
worker_tmp_dir = _SHM if os.path.isdir(_SHM) else None

accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s agent="%(a)s"'
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


def post_worker_init(worker):
    """Each worker, once it has loaded the app: compile the templates, then keep the
    collector off what it loaded."""
    from config.runtime import settle_gc, warm_templates

    warm_templates()
    settle_gc()
