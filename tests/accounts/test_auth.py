"""Signing in and out, changing a password, and resetting a forgotten one by email."""

import re
from urllib.parse import urlparse

from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse

PASSWORD = "pw-for-tests-1"  # what tests/conftest.py's make_user sets
NEW_PASSWORD = "a-new-long-passphrase-42"


def test_the_login_page_renders(client, db):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b"Sign in" in response.content
    assert reverse("password_reset").encode() in response.content


def test_it_signs_in_and_goes_home(client, cast):
    response = client.post(reverse("login"), {"username": "rep", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.session[SESSION_KEY] == str(cast.rep.pk)


def test_it_follows_next_after_signing_in(client, cast):
    response = client.post(
        reverse("login"), {"username": "rep", "password": PASSWORD, "next": "/budget/"}
    )
    assert response["Location"] == "/budget/"


def test_it_refuses_a_wrong_password(client, cast):
    response = client.post(reverse("login"), {"username": "rep", "password": "wrong"})
    assert response.status_code == 200
    assert b"enter a correct username and password" in response.content
    assert SESSION_KEY not in client.session


def test_it_refuses_a_deactivated_user(client, cast):
    cast.rep.is_active = False
    cast.rep.save()
    response = client.post(reverse("login"), {"username": "rep", "password": PASSWORD})
    assert response.status_code == 200
    assert SESSION_KEY not in client.session


def test_pages_offer_sign_out_as_a_post_form(client, cast):
    client.force_login(cast.rep)
    response = client.get(reverse("home"))
    assert f'<form method="post" action="{reverse("logout")}"'.encode() in response.content


def test_logout_refuses_get(client, cast):
    client.force_login(cast.rep)
    response = client.get(reverse("logout"))
    assert response.status_code == 405
    assert client.session[SESSION_KEY] == str(cast.rep.pk)


def test_logout_by_post_signs_out(client, cast):
    client.force_login(cast.rep)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert SESSION_KEY not in client.session
    assert client.get(reverse("home")).status_code == 302


def test_password_change_needs_a_signed_in_user(client, db):
    response = client.get(reverse("password_change"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_changes_the_password(client, cast):
    client.force_login(cast.rep)
    assert client.get(reverse("password_change")).status_code == 200

    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("password_change_done")
    assert client.get(reverse("password_change_done")).status_code == 200
    cast.rep.refresh_from_db()
    assert cast.rep.check_password(NEW_PASSWORD)
    # The session that changed it stays signed in.
    assert client.session[SESSION_KEY] == str(cast.rep.pk)


def test_it_refuses_a_password_change_with_the_wrong_old_password(client, cast):
    client.force_login(cast.rep)
    response = client.post(
        reverse("password_change"),
        {"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 200
    cast.rep.refresh_from_db()
    assert cast.rep.check_password(PASSWORD)


def test_it_refuses_a_weak_new_password(client, cast):
    client.force_login(cast.rep)
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "12345678", "new_password2": "12345678"},
    )
    assert response.status_code == 200
    assert b"too common" in response.content
    cast.rep.refresh_from_db()
    assert cast.rep.check_password(PASSWORD)


def _reset_link(message):
    match = re.search(r"https?://\S+/accounts/reset/\S+/\S+/", message.body)
    assert match, message.body
    return urlparse(match.group(0)).path


def test_it_resets_a_forgotten_password_by_email(client, cast, mailoutbox):
    response = client.post(reverse("password_reset"), {"email": "rep@example.com"})
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_done")

    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["rep@example.com"]
    assert message.subject == "Reset your Feature Budget password"
    link = _reset_link(message)

    # Django swaps the token in the link for one kept in the session, then redirects.
    response = client.get(link)
    assert response.status_code == 302
    set_password_url = response["Location"]
    response = client.get(set_password_url)
    assert response.status_code == 200
    assert b"Choose a new password" in response.content

    response = client.post(
        set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_complete")

    cast.rep.refresh_from_db()
    assert cast.rep.check_password(NEW_PASSWORD)
    # Signing in with it through the login page works.
    signed_in = Client()
    response = signed_in.post(reverse("login"), {"username": "rep", "password": NEW_PASSWORD})
    assert response.status_code == 302
    assert signed_in.session[SESSION_KEY] == str(cast.rep.pk)


def test_a_reset_link_works_only_once(client, cast, mailoutbox):
    client.post(reverse("password_reset"), {"email": "rep@example.com"})
    link = _reset_link(mailoutbox[0])
    set_password_url = client.get(link)["Location"]
    client.post(set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    response = Client().get(link, follow=True)

    assert b"Link expired" in response.content
    cast.rep.refresh_from_db()
    assert cast.rep.check_password(NEW_PASSWORD)


def test_an_unknown_address_gets_the_same_answer_and_no_mail(client, cast, mailoutbox):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_done")
    assert mailoutbox == []
