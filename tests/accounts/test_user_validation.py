"""Who reports to whom, and the single seats of the two heads (DOMAIN.md, Roles)."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import Role, User

# PostgreSQL names the constraint; SQLite names the column of the partial unique index.
HEAD_SEAT_VIOLATION = r"one_active_head_per_role|UNIQUE constraint failed: accounts_user\.role"


def build(username, role, manager=None, **extra):
    user = User(
        username=username, email=f"{username}@example.com", role=role, manager=manager, **extra
    )
    user.set_unusable_password()
    return user


def errors_of(user):
    with pytest.raises(ValidationError) as info:
        user.full_clean()
    return info.value.message_dict


def test_it_accepts_the_cast(cast):
    for user in (cast.hos, cast.manager, cast.rep, cast.pm, cast.hop, cast.admin):
        user.full_clean()


def test_it_requires_a_rep_to_have_a_manager(cast):
    errors = errors_of(build("rep.new", Role.SALES_REP))
    assert errors["manager"] == ["A Sales rep needs a manager who is a Sales manager."]


@pytest.mark.parametrize("boss", ["hos", "pm", "hop", "admin", "rep"])
def test_it_refuses_a_rep_whose_manager_is_not_a_sales_manager(cast, boss):
    manager = getattr(cast, boss)
    errors = errors_of(build("rep.new", Role.SALES_REP, manager))
    assert errors["manager"] == [
        f"A Sales rep's manager must be a Sales manager; {manager} is a "
        f"{manager.get_role_display()}."
    ]


def test_it_accepts_a_rep_of_a_sales_manager(cast):
    build("rep.new", Role.SALES_REP, cast.other_manager).full_clean()


def test_it_requires_a_sales_manager_to_report_to_the_head_of_sales(cast):
    errors = errors_of(build("mgr.new", Role.SALES_MANAGER, cast.manager))
    assert "must be a Head of Sales" in errors["manager"][0]

    errors = errors_of(build("mgr.new", Role.SALES_MANAGER))
    assert errors["manager"] == ["A Sales manager needs a manager who is a Head of Sales."]

    build("mgr.new", Role.SALES_MANAGER, cast.hos).full_clean()


@pytest.mark.parametrize(
    "role", [Role.PRODUCT_MANAGER, Role.HEAD_OF_PRODUCT, Role.HEAD_OF_SALES, Role.ADMIN]
)
def test_it_refuses_a_manager_for_roles_that_report_to_nobody(cast, role):
    cast.hop.is_active = False  # free the seat so only the manager is wrong
    cast.hop.save()
    cast.hos.is_active = False
    cast.hos.save()
    errors = errors_of(build("someone", role, cast.manager))
    assert errors["manager"] == [f"A {role.label} does not report to a manager here."]


def test_the_database_refuses_a_manager_for_product_roles(cast):
    with pytest.raises(IntegrityError, match="only_sales_staff_have_a_manager"):
        with transaction.atomic():
            User.objects.filter(pk=cast.pm.pk).update(manager=cast.manager)


def test_only_sales_managers_lead_a_team(cast):
    errors = errors_of(build("rep.new", Role.SALES_REP, cast.manager, team_name="North"))
    assert errors["team_name"] == ["Only sales managers lead a team."]


@pytest.mark.parametrize(
    ("seat", "label"),
    [("hos", "Head of Sales"), ("hop", "Head of Product")],
)
def test_full_clean_refuses_a_second_active_head(cast, seat, label):
    first = getattr(cast, seat)
    second = build("second.head", first.role)

    errors = errors_of(second)

    assert errors["role"] == [f"{first} is already the active {label}; deactivate them first."]


@pytest.mark.parametrize("seat", ["hos", "hop"])
def test_the_database_refuses_a_second_active_head_on_a_raw_save(cast, seat):
    first = getattr(cast, seat)

    with pytest.raises(IntegrityError, match=HEAD_SEAT_VIOLATION), transaction.atomic():
        build("second.head", first.role).save()

    assert User.objects.filter(role=first.role).count() == 1


@pytest.mark.parametrize("seat", ["hos", "hop"])
def test_the_database_refuses_reactivating_a_second_head(cast, seat):
    first = getattr(cast, seat)
    build("second.head", first.role, is_active=False).save()

    with pytest.raises(IntegrityError, match=HEAD_SEAT_VIOLATION), transaction.atomic():
        User.objects.filter(username="second.head").update(is_active=True)


@pytest.mark.parametrize("seat", ["hos", "hop"])
def test_deactivating_the_head_frees_the_seat(cast, seat):
    first = getattr(cast, seat)
    first.is_active = False
    first.save()

    successor = build("successor", first.role)
    successor.full_clean()
    successor.save()

    assert list(User.objects.filter(role=first.role, is_active=True)) == [successor]


def test_a_head_can_be_saved_again_without_clashing_with_itself(cast):
    cast.hos.first_name = "Renamed"
    cast.hos.full_clean()
    cast.hos.save()


def test_admins_are_staff(db):
    admin = build("new.admin", Role.ADMIN)
    admin.save()
    assert admin.is_staff


def test_a_manager_with_a_team_cannot_change_role(cast):
    cast.manager.role = Role.PRODUCT_MANAGER
    cast.manager.manager = None
    cast.manager.team_name = ""

    errors = errors_of(cast.manager)

    assert errors["role"] == [
        "Mgr Test still has 1 direct report(s) who cannot report to a Product manager; "
        "give them another manager first."
    ]


def test_the_head_of_sales_with_managers_cannot_change_role(cast):
    cast.hop.is_active = False
    cast.hop.save()
    cast.hos.role = Role.HEAD_OF_PRODUCT

    errors = errors_of(cast.hos)

    assert "still has 2 direct report(s)" in errors["role"][0]


def test_a_manager_whose_team_moved_can_change_role(cast):
    cast.rep.manager = cast.other_manager
    cast.rep.save()
    cast.manager.role = Role.PRODUCT_MANAGER
    cast.manager.manager = None
    cast.manager.team_name = ""

    cast.manager.full_clean()
