"""Long-running processes keep the garbage collector off the app they loaded (config/runtime.py):
a full collection that walked all of it paused an agenda build for about 40 ms."""

import gc
import runpy
from pathlib import Path

import pytest
from celery.signals import worker_process_init, worker_ready

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def thawed():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_a_gunicorn_worker_freezes_what_it_loaded(thawed):
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert gc.get_freeze_count() == 0

    hooks["post_worker_init"](worker=None)

    assert gc.get_freeze_count() > 1000


@pytest.mark.parametrize("signal", [worker_process_init, worker_ready], ids=["prefork", "solo"])
def test_a_celery_worker_freezes_what_it_loaded(thawed, signal):
    import config.celery  # noqa: F401 (connects the handlers)

    assert gc.get_freeze_count() == 0

    signal.send(sender=None)

    assert gc.get_freeze_count() > 1000
