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


def test_a_gunicorn_worker_compiles_the_templates_before_its_first_request(thawed, settings):
    """The first request for a page in a fresh worker does not pay for compiling it."""
    from django.template import engines
    from django.template.loaders.cached import Loader as CachedLoader

    jinja = engines["jinja2"].env
    jinja.cache.clear()
    django_engine = engines["django"].engine
    cached = [
        loader for loader in django_engine.template_loaders if isinstance(loader, CachedLoader)
    ]
    for loader in cached:
        loader.reset()

    runpy.run_path(str(ROOT / "gunicorn.conf.py"))["post_worker_init"](worker=None)

    assert any(key[1] == "requests_app/_queue_list.html" for key in jinja.cache)
    assert all("requests_app/queue.html" in loader.get_template_cache for loader in cached)
    assert cached, "DEBUG is off in the suite, so Django caches compiled templates"
