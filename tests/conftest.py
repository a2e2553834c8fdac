"""Shared fixtures: the cast of DOMAIN.md and the gates for real services.

Tests marked postgres, redis or browser need a real service. Without CI=true they are
skipped with the reason when the service is missing (a bare `make test` runs on SQLite);
under CI=true a missing service fails the test instead.
"""

import os
import shutil
import socket
from urllib.parse import urlparse

import pytest
from django.db import connection

from accounts.models import Role, User
from budgets.services import budget_set_capacity, quarters_ensure_open

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = "/usr/bin/chromium"


def _redis_reachable():
    url = os.environ.get("REDIS_URL")
    if not url:
        return False, "REDIS_URL is not set"
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 6379), timeout=2):
            return True, ""
    except OSError as exc:
        return False, f"Redis at {url} is unreachable: {exc}"


def _missing(marker_name):
    if marker_name == "postgres":
        if connection.vendor != "postgresql":
            return "needs PostgreSQL: set DATABASE_URL=postgres://..."
    elif marker_name == "redis":
        ok, why = _redis_reachable()
        if not ok:
            return f"needs Redis: {why}"
    elif marker_name == "browser":
        if not shutil.which(CHROMIUM):
            return f"needs Debian's chromium at {CHROMIUM} (apt-get install -y chromium)"
    return None


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The default hasher takes most of a second per password and `cast` makes eight.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _require_services(request):
    for name in ("postgres", "redis", "browser"):
        if request.node.get_closest_marker(name):
            why = _missing(name)
            if why and IN_CI:
                pytest.fail(f"CI=true and this test {why}")
            elif why:
                pytest.skip(why)


def make_user(username, role, manager=None, **extra):
    user = User(
        username=username,
        first_name=username.split(".")[0].title(),
        last_name="Test",
        email=f"{username}@example.com",
        role=role,
        manager=manager,
        **extra,
    )
    user.set_password("pw-for-tests-1")
    user.full_clean()
    user.save()
    return user


@pytest.fixture
def cast(db):
    """Everyone DOMAIN.md names, plus an outsider (a rep of another team)."""
    hos = make_user("hos", Role.HEAD_OF_SALES)
    manager = make_user("mgr", Role.SALES_MANAGER, hos, team_name="East")
    other_manager = make_user("mgr2", Role.SALES_MANAGER, hos, team_name="West")
    rep = make_user("rep", Role.SALES_REP, manager)
    outsider = make_user("rep2", Role.SALES_REP, other_manager)
    pm = make_user("pm", Role.PRODUCT_MANAGER)
    hop = make_user("hop", Role.HEAD_OF_PRODUCT)
    admin = make_user("admin", Role.ADMIN, is_superuser=True)
    return type(
        "Cast",
        (),
        dict(
            hos=hos,
            manager=manager,
            other_manager=other_manager,
            rep=rep,
            outsider=outsider,
            pm=pm,
            hop=hop,
            admin=admin,
        ),
    )


@pytest.fixture
def quarters(db):
    """The current and next quarters, with no capacity set."""
    return quarters_ensure_open()


@pytest.fixture
def funded(cast, quarters):
    """The current quarter with capacity 400 at 10%: a budget of 40 points."""
    current = quarters[0]
    budget_set_capacity(quarter=current, capacity=400, actor=cast.hop)
    current.budget.refresh_from_db()
    return current
