import os

from celery import Celery

from config import logs  # noqa: F401 (one log line per task run: its signal handlers)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
