"""`manage.py seed_demo`: the demo organisation and budgets, safe to run again."""

from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Role, User
from budgets.models import LedgerEntry
from budgets.services import quarters_ensure_open
from requests_app.models import FeatureRequest

DEMO_PASSWORD = "demo-pass-for-tests"


@pytest.fixture
def seed(db, monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", DEMO_PASSWORD)

    def run():
        out = StringIO()
        call_command("seed_demo", stdout=out)
        return out.getvalue()

    return run


def test_it_creates_the_demo_organisation(seed):
    seed()

    assert User.objects.count() == 13
    assert Counter(User.objects.values_list("role", flat=True)) == {
        Role.HEAD_OF_SALES: 1,
        Role.SALES_MANAGER: 2,
        Role.SALES_REP: 6,
        Role.HEAD_OF_PRODUCT: 1,
        Role.PRODUCT_MANAGER: 2,
        Role.ADMIN: 1,
    }
    hos = User.objects.get(role=Role.HEAD_OF_SALES)
    for manager in User.objects.filter(role=Role.SALES_MANAGER):
        assert manager.manager == hos
        assert manager.team_name
        assert manager.reports.filter(role=Role.SALES_REP).count() == 3
    for user in User.objects.all():
        user.full_clean()
    admin = User.objects.get(role=Role.ADMIN)
    assert admin.is_staff and admin.is_superuser
    assert not User.objects.exclude(role=Role.ADMIN).filter(is_staff=True).exists()


def test_it_funds_the_current_and_next_quarters(seed):
    seed()

    for quarter in quarters_ensure_open():
        quarter.budget.refresh_from_db()
        assert quarter.budget.capacity == 400
        assert quarter.budget.percentage == 10
        assert quarter.budget.allocated == 40


def test_it_prints_the_password_from_demo_password(seed):
    out = seed()

    assert f"Password for every demo user: {DEMO_PASSWORD}" in out
    assert "Created 13 demo users." in out
    for user in User.objects.all():
        assert user.check_password(DEMO_PASSWORD), user.username


def test_it_makes_up_a_password_without_demo_password(db, monkeypatch):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    out = StringIO()

    call_command("seed_demo", stdout=out)

    password = out.getvalue().split("Password for every demo user: ", 1)[1].split()[0]
    assert len(password) >= 12
    assert User.objects.get(username="hos").check_password(password)


def test_running_it_twice_changes_nothing(seed):
    seed()
    users = User.objects.count()
    entries = LedgerEntry.objects.count()
    requests = FeatureRequest.objects.count()
    hashes = dict(User.objects.values_list("username", "password"))

    out = seed()

    assert User.objects.count() == users == 13
    assert LedgerEntry.objects.count() == entries
    assert FeatureRequest.objects.count() == requests
    assert dict(User.objects.values_list("username", "password")) == hashes
    assert "nothing changed" in out
    assert DEMO_PASSWORD not in out
