"""Playwright against Debian's chromium, driving the app on pytest-django's live server.

pytest-playwright's browser fixtures are session-scoped, so pytest sets them up before the
function-scoped gate in tests/conftest.py gets to skip a test. The gate is repeated here as a
session fixture that the launch arguments depend on: without chromium, browser tests are
skipped locally and fail under CI=true, before anything tries to launch it.
"""

import os

import pytest

from tests.conftest import CHROMIUM, IN_CI, _missing

# Playwright's sync API runs an asyncio event loop in this thread for the whole session, and
# Django refuses ORM calls from a thread with a running loop unless told this is deliberate.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def _chromium_available():
    why = _missing("browser")
    if why and IN_CI:
        pytest.fail(f"CI=true and the browser tests {why}")
    elif why:
        pytest.skip(why)


@pytest.fixture(scope="session")
def browser_type_launch_args(_chromium_available, browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The default hasher takes most of a second per password, and `cast` makes eight of them.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def page(page):
    # A missing element should fail a journey in seconds, not after the 30 s default.
    page.set_default_timeout(10_000)
    return page
