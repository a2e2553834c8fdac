"""People and teams are configured in the Django admin, by admins only."""

from django.urls import reverse

from accounts.models import Role, User

USERS = "/admin/accounts/user/"
# The add page carries the (read-only) direct-reports inline; a browser posts its management form.
NO_INLINE_ROWS = {"reports-TOTAL_FORMS": "0", "reports-INITIAL_FORMS": "0"}


def test_an_admin_opens_the_user_list(client, cast):
    client.force_login(cast.admin)

    response = client.get(USERS)

    assert response.status_code == 200
    assert b"East" in response.content  # the Team column names the manager's team


def test_an_admin_opens_a_managers_page_with_the_team(client, cast):
    client.force_login(cast.admin)

    response = client.get(reverse("admin:accounts_user_change", args=[cast.manager.pk]))

    assert response.status_code == 200
    assert b"team (direct reports)" in response.content.lower()
    assert b"rep" in response.content


def test_the_manager_lookup_searches_users(client, cast):
    client.force_login(cast.admin)

    response = client.get(
        "/admin/autocomplete/",
        {"app_label": "accounts", "model_name": "user", "field_name": "manager", "term": "mgr"},
    )

    assert response.status_code == 200
    assert {r["text"] for r in response.json()["results"]} == {"Mgr Test", "Mgr2 Test"}


def test_a_rep_cannot_open_the_admin(client, cast):
    client.force_login(cast.rep)

    response = client.get(USERS)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_heads_are_not_admins_either(client, cast):
    client.force_login(cast.hos)
    assert client.get(USERS).status_code == 302


def test_the_admin_refuses_a_second_head_of_sales(client, cast):
    client.force_login(cast.admin)

    response = client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "hos.two",
            "usable_password": "true",
            "password1": "a-long-enough-passphrase-1",
            "password2": "a-long-enough-passphrase-1",
            "role": Role.HEAD_OF_SALES,
            "email": "hos.two@example.com",
            **NO_INLINE_ROWS,
        },
    )

    assert response.status_code == 200
    assert b"is already the active Head of Sales; deactivate them first." in response.content
    assert not User.objects.filter(username="hos.two").exists()


def test_the_admin_adds_a_rep_to_a_team(client, cast):
    client.force_login(cast.admin)

    response = client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "rep.new",
            "usable_password": "true",
            "password1": "a-long-enough-passphrase-1",
            "password2": "a-long-enough-passphrase-1",
            "role": Role.SALES_REP,
            "manager": cast.manager.pk,
            "email": "rep.new@example.com",
            **NO_INLINE_ROWS,
        },
    )

    assert response.status_code == 302
    assert User.objects.get(username="rep.new").manager == cast.manager
