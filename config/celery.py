import os

from celery import Celery
from celery.signals import worker_process_init, worker_ready

from config import logs  # noqa: F401 (one log line per task run: its signal handlers)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
@worker_ready.connect
def _settle_gc(**_):
    """A worker process (prefork child, or the worker itself with another pool), once it has
    loaded the app and its tasks: keep the collector off what it loaded (config/runtime.py)."""
    from config.runtime import settle_gc

    settle_gc()
