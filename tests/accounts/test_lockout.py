"""Failed-login lockout (issue 6, part 6): five wrong passwords for one username from one
address pause signing in there for 15 minutes, on the login page and the API token endpoint
alike, with django-axes really on."""

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.test.client import RequestFactory
from django.urls import reverse
from rest_framework.authtoken.models import Token

from accounts.lockout import client_ip

PASSWORD = "pw-for-tests-1"  # what tests/conftest.py's make_user sets
LOGIN = reverse("login")
TOKEN = "/api/v1/auth/token/"
HOME = "10.0.0.7"


def page_login(client, password, username="rep", **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def api_login(client, password, username="rep", **extra):
    return client.post(
        TOKEN,
        {"username": username, "password": password},
        content_type="application/json",
        **extra,
    )


def fail(times, login, client, **extra):
    return [login(client, "wrong", **extra).status_code for _ in range(times)]


def test_the_fifth_wrong_password_pauses_the_login_page(cast):
    client = Client(REMOTE_ADDR=HOME)

    assert fail(4, page_login, client) == [200] * 4
    response = page_login(client, "wrong")

    assert response.status_code == 429
    assert b"Signing in is paused" in response.content
    assert b"15 minutes" in response.content
    assert response["Retry-After"] == "900"
    # Now even the right password does not get in from here.
    response = page_login(client, PASSWORD)
    assert response.status_code == 429
    assert SESSION_KEY not in client.session


def test_four_wrong_passwords_still_let_the_right_one_in(cast):
    client = Client(REMOTE_ADDR=HOME)
    fail(4, page_login, client)

    response = page_login(client, PASSWORD)

    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(cast.rep.pk)


def test_a_successful_sign_in_resets_the_count(cast):
    client = Client(REMOTE_ADDR=HOME)
    fail(4, page_login, client)
    assert page_login(client, PASSWORD).status_code == 302
    client.logout()

    assert fail(4, page_login, client) == [200] * 4
    assert page_login(client, PASSWORD).status_code == 302


def test_the_lockout_is_per_username_and_address(cast):
    fail(5, page_login, Client(REMOTE_ADDR=HOME))

    # The same user from another address, another user from the same address: both fine.
    elsewhere = Client(REMOTE_ADDR="10.0.0.8")
    assert page_login(elsewhere, PASSWORD).status_code == 302
    assert elsewhere.session[SESSION_KEY] == str(cast.rep.pk)
    colleague = Client(REMOTE_ADDR=HOME)
    assert page_login(colleague, PASSWORD, username="pm").status_code == 302


def test_the_pause_ends_after_fifteen_minutes(cast):
    client = Client(REMOTE_ADDR=HOME)
    fail(5, page_login, client)
    assert page_login(client, PASSWORD).status_code == 429

    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=14))
    assert page_login(client, PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16))
    response = page_login(client, PASSWORD)
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(cast.rep.pk)


def test_the_token_endpoint_answers_429_with_the_reason(cast):
    client = Client(REMOTE_ADDR=HOME)

    assert fail(4, api_login, client) == [401] * 4
    response = api_login(client, "wrong")

    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "locked_out"
    assert "Too many failed sign-ins" in body["detail"]
    assert body["retry_after_seconds"] == 900
    assert response["Retry-After"] == "900"
    response = api_login(client, PASSWORD)
    assert response.status_code == 429
    assert not Token.objects.filter(user=cast.rep).exists()
    # From another address the right password still gets a token.
    response = api_login(Client(REMOTE_ADDR="10.0.0.8"), PASSWORD)
    assert response.status_code == 200
    assert Token.objects.filter(user=cast.rep, key=response.json()["token"]).exists()


def test_failures_on_the_page_count_for_the_api_too(cast):
    client = Client(REMOTE_ADDR=HOME)
    fail(5, page_login, client)

    assert api_login(client, PASSWORD).status_code == 429


def test_the_admin_login_is_protected_too(cast):
    client = Client(REMOTE_ADDR=HOME)
    for _ in range(5):
        response = client.post(
            "/admin/login/", {"username": "admin", "password": "wrong", "next": "/admin/"}
        )
    assert response.status_code == 429
    response = client.post(
        "/admin/login/", {"username": "admin", "password": PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 429


def test_the_limits_come_from_settings(cast, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = dt.timedelta(minutes=3)
    client = Client(REMOTE_ADDR=HOME)

    assert fail(2, page_login, client) == [200, 429]
    response = page_login(client, PASSWORD)
    assert response.status_code == 429
    assert b"3 minutes" in response.content


# --- Behind a proxy -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "203.0.113.9", "192.0.2.1"),  # no proxy: the header is the client's to forge
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # a forged entry to the left is ignored
        (2, "6.6.6.6, 203.0.113.9, 10.1.1.1", "203.0.113.9"),
        (1, "", "192.0.2.1"),  # header missing: the socket's address
    ],
)
def test_the_client_address_behind_proxies(settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().post(LOGIN, REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_behind_a_proxy_each_client_is_locked_out_on_its_own(cast, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.9.9.9"}
    attacker = Client(HTTP_X_FORWARDED_FOR="203.0.113.66", **proxy)
    fail(5, page_login, attacker)

    # Forging another address in front does not get the attacker past the lockout ...
    forged = Client(HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.66", **proxy)
    assert page_login(forged, PASSWORD).status_code == 429
    # ... and the real user, behind the same proxy, still signs in.
    user = Client(HTTP_X_FORWARDED_FOR="198.51.100.23", **proxy)
    assert page_login(user, PASSWORD).status_code == 302
