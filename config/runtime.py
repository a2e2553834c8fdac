"""Settling long-running processes (gunicorn workers, Celery workers) once they have loaded
the app: templates compiled, then the garbage collector kept off what is loaded.

Templates are compiled on first use and kept (Django's cached loader, Jinja2's cache), in each
worker: without `warm_templates()` the first request for each page in each worker paid for
compiling it (a Jinja2 template costs several milliseconds), which showed as the slow tail of
a freshly started server.

The garbage collector:
A full collection walks every object the process holds; most of them are Django, the apps and
their modules, loaded at start and never freed. Measured on the benchmark company, one such
collection paused an agenda build for about 40 ms (against a median of 20 ms). `settle_gc()`,
run once a process has loaded the app, moves what it holds so far out of the collector's way
(gc.freeze), so later collections walk only what requests and tasks create.
"""

import gc
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def settle_gc():
    """Collect once, then freeze what is left: the app as loaded. Safe to call again."""
    gc.collect()
    gc.freeze()


def warm_templates():
    """Compile every template of the project's own template directories (not the apps'),
    with the engine that owns it: templates/jinja2/ is Jinja2's, the rest Django's. A template
    that fails to compile is logged, not raised: its page fails on its own, the worker starts."""
    from django.template import engines

    for engine in engines.all():
        for directory in map(Path, engine.dirs):
            for path in sorted(directory.rglob("*")):
                name = path.relative_to(directory).as_posix()
                if not path.is_file() or path.suffix not in (".html", ".txt"):
                    continue
                if engine.name != "jinja2" and name.startswith("jinja2/"):
                    continue
                try:
                    engine.get_template(name)
                except Exception:  # noqa: BLE001 (any failure: log it, start anyway)
                    log.exception("Template %s (%s) did not compile", name, engine.name)
