"""Structured logs: one line per request and per Celery task, each carrying a request id.

In production (LOG_FORMAT=json, the default when DEBUG is off) every record is a JSON object on
stdout, so the platform's log collector can index it; in development the same records read as
plain text. The request id comes from the proxy's X-Request-ID when it sends a sane one (so one id
follows a request through proxy and app), else it is made here; it is echoed in the response.
"""

import contextvars
import logging
import re
import time
import uuid

from celery import signals
from pythonjsonlogger.json import JsonFormatter

request_id_var = contextvars.ContextVar("request_id", default=None)
user_var = contextvars.ContextVar("user", default=None)

request_log = logging.getLogger("featurebudget.request")
task_log = logging.getLogger("featurebudget.task")

_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class ContextFilter(logging.Filter):
    """Stamp every record with the request (or task) id and user it was logged under."""

    def filter(self, record):
        if not hasattr(record, "request_id"):
            # django.request logs a 4xx/5xx after the middleware has finished; its record
            # carries the request, which carries the id.
            request = getattr(record, "request", None)
            record.request_id = getattr(request, "request_id", None) or request_id_var.get()
        if not hasattr(record, "user"):
            record.user = user_var.get()
        return True


class JsonLineFormatter(JsonFormatter):
    """python-json-logger with the fields named the same in every line."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("fmt", "%(levelname)s %(name)s %(message)s %(request_id)s %(user)s")
        kwargs.setdefault("rename_fields", {"levelname": "level"})
        # ISO 8601 in UTC, e.g. 2026-11-27T21:09:54.052000+00:00.
        kwargs.setdefault("timestamp", "time")
        super().__init__(*args, **kwargs)


def _incoming_id(request):
    given = request.headers.get("X-Request-ID", "")
    return given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex


class RequestLogMiddleware:
    """Outermost middleware: sets the request id, times the request, logs one line for it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = _incoming_id(request)
        request.request_id = request_id
        id_token = request_id_var.set(request_id)
        user_token = user_var.set(None)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            self._log(request, response.status_code, started)
            return response
        except Exception:
            # Django turns exceptions into 500 responses inside the stack; this is the rare
            # one that escapes it, still worth one line.
            self._log(request, 500, started)
            raise
        finally:
            request_id_var.reset(id_token)
            user_var.reset(user_token)

    def _log(self, request, status, started):
        user = getattr(request, "user", None)
        username = user.get_username() if user is not None and user.is_authenticated else None
        level = logging.ERROR if status >= 500 else logging.INFO
        request_log.log(
            level,
            "%s %s %s",
            request.method,
            request.path,
            status,
            extra={
                "user": username,
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )


# --- Celery: the same, per task run ---------------------------------------------------------
# Per task id a stack: an eager retry runs the same task id inside the first run.
_task_started = {}


@signals.task_prerun.connect
def _task_prerun(task_id=None, task=None, **kwargs):
    started = (time.perf_counter(), request_id_var.set(task_id))
    _task_started.setdefault(task_id, []).append(started)


@signals.task_postrun.connect
def _task_postrun(task_id=None, task=None, state=None, **kwargs):
    runs = _task_started.get(task_id)
    if not runs:
        return
    started, token = runs.pop()
    if not runs:
        del _task_started[task_id]
    task_log.log(
        logging.ERROR if state == "FAILURE" else logging.INFO,
        "%s %s",
        task.name,
        state,
        extra={
            "task": task.name,
            "task_id": task_id,
            "state": state,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    request_id_var.reset(token)


def logging_config(*, json_lines, level):
    formatter = (
        {"()": "config.logs.JsonLineFormatter"}
        if json_lines
        else {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "config.logs.ContextFilter"}},
        "formatters": {"main": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "main",
                "filters": ["context"],
                # The root's level alone is not enough: Django's own config sets the "django"
                # logger to INFO, and records propagated from it (django.request's 4xx
                # warnings) reach this handler without the root's level being consulted.
                "level": level,
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # runserver's own access line: RequestLogMiddleware's says more (user, duration).
            "django.server": {"level": "WARNING"},
        },
    }
