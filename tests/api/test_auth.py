"""Token authentication: a token for the right credentials, 401 otherwise, revocable; and
every endpoint answers 401 to a caller without credentials."""

import datetime as dt
import json

import pytest
from django.urls import URLPattern
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config import api as api_module
from meetings.models import ActionItem, MeetingSeries
from meetings.services import meetings_schedule
from requests_app.models import ProductTheme
from tests.requests_app.conftest import snapshot

from .conftest import API, api_state

PASSWORD = "pw-for-tests-1"  # tests/conftest.py's make_user

pytestmark = pytest.mark.django_db


def token_for(username, password=PASSWORD):
    return APIClient().post(
        f"{API}/auth/token/", {"username": username, "password": password}, format="json"
    )


def with_token(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_the_right_credentials_get_a_token_that_authenticates(cast):
    response = token_for("rep")

    assert response.status_code == 200
    key = response.json()["token"]
    assert Token.objects.get(user=cast.rep).key == key

    me = with_token(key).get(f"{API}/me/")
    assert me.status_code == 200
    assert me.json() == {
        "id": cast.rep.pk,
        "username": "rep",
        "name": "Rep Test",
        "role": "sales_rep",
        "manager": cast.manager.pk,
    }


def test_asking_again_returns_the_same_token(cast):
    first = token_for("hop").json()["token"]
    assert token_for("hop").json()["token"] == first
    assert Token.objects.filter(user=cast.hop).count() == 1


def test_a_form_encoded_login_works_too(cast):
    response = APIClient().post(
        f"{API}/auth/token/", {"username": "pm", "password": PASSWORD}, format="multipart"
    )
    assert response.status_code == 200
    assert Token.objects.get(user=cast.pm).key == response.json()["token"]


@pytest.mark.parametrize(
    "username, password",
    [
        ("rep", "wrong password"),
        ("rep", PASSWORD.upper()),
        ("nobody", PASSWORD),
        ("REP ", PASSWORD),
        ("rep", ""),  # blank: a 400 for the shape is fine too, see below
    ],
)
def test_wrong_credentials_answer_401_and_make_no_token(cast, username, password):
    response = token_for(username, password)

    assert response.status_code in (400, 401)
    if password:
        assert response.status_code == 401
        assert response.json() == {
            "detail": "Wrong username or password.",
            "code": "authentication_failed",
        }
    assert not Token.objects.exists()


def test_an_inactive_user_gets_no_token(cast):
    cast.rep.is_active = False
    cast.rep.save()

    assert token_for("rep").status_code == 401
    assert not Token.objects.exists()


def test_a_deactivated_users_token_stops_working(cast):
    key = token_for("rep").json()["token"]
    cast.rep.is_active = False
    cast.rep.save()

    assert with_token(key).get(f"{API}/me/").status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "Token 0123456789abcdef0123456789abcdef01234567",
        "Token ",
        "Token a b",
        "Token abc\x00def",
        "Token " + "a" * 10_000,
        "Bearer abc",
        "Basic cmVwOnB3LWZvci10ZXN0cy0x",  # rep's real password, but Basic is not accepted
    ],
)
def test_a_wrong_or_malformed_token_answers_401(cast, header):
    token_for("rep")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get(f"{API}/me/")

    assert response.status_code == 401
    assert "detail" in response.json()


def test_delete_revokes_the_token(cast):
    key = token_for("mgr").json()["token"]
    client = with_token(key)
    assert client.get(f"{API}/me/").status_code == 200

    assert client.delete(f"{API}/auth/token/").status_code == 204

    assert not Token.objects.filter(user=cast.manager).exists()
    assert client.get(f"{API}/me/").status_code == 401
    assert with_token(key).get(f"{API}/requests/").status_code == 401
    # Signing in again gives a new, different token.
    fresh = token_for("mgr").json()["token"]
    assert fresh != key
    assert with_token(fresh).get(f"{API}/me/").status_code == 200


def test_revoking_one_users_token_leaves_the_others(cast):
    rep_key = token_for("rep").json()["token"]
    pm_key = token_for("pm").json()["token"]

    with_token(rep_key).delete(f"{API}/auth/token/")

    assert with_token(pm_key).get(f"{API}/me/").status_code == 200


def test_delete_without_credentials_answers_401(cast):
    token_for("rep")
    assert APIClient().delete(f"{API}/auth/token/").status_code == 401
    assert Token.objects.filter(user=cast.rep).exists()


def test_the_401_tells_the_client_to_send_a_token(cast):
    response = APIClient().get(f"{API}/me/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_browser_session_works_and_needs_its_csrf_token_to_write(cast, build):
    fr = build.submitted()
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(cast.manager)

    assert client.get(f"{API}/requests/{fr.pk}/").status_code == 200
    before = snapshot()
    response = client.post(
        f"{API}/requests/{fr.pk}/reject/", {"reason": "No CSRF token"}, format="json"
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert snapshot() == before


# --- No credentials: 401 everywhere ---------------------------------------------------------

# Every route of /api/v1/ but the token endpoint (open for signing in) and the schema and
# docs (public), with each method it answers.
ENDPOINTS = [
    ("GET", "api-me", "me/"),
    ("GET", "api-quarters", "quarters/"),
    ("GET", "api-quarter", "quarters/{quarter}/"),
    ("GET", "api-requests", "requests/"),
    ("POST", "api-requests", "requests/"),
    ("GET", "api-request", "requests/{fr}/"),
    ("PATCH", "api-request", "requests/{fr}/"),
    ("GET", "api-request-events", "requests/{fr}/events/"),
    ("GET", "api-queue", "queues/{quarter}/"),
    ("PUT", "api-queue-ranking", "queues/{quarter}/ranking/"),
    ("GET", "api-inbox", "inbox/"),
    ("PUT", "api-inbox-ranking", "inbox/ranking/"),
    ("GET", "api-roadmap", "roadmap/"),
    ("GET", "api-meeting-agenda", "meetings/{meeting}/agenda/"),
    ("GET", "api-request-comments", "requests/{fr}/comments/"),
    ("POST", "api-request-comments", "requests/{fr}/comments/"),
    ("GET", "api-request-deals", "requests/{fr}/deals/"),
    ("POST", "api-request-deals", "requests/{fr}/deals/"),
    ("GET", "api-users", "users/"),
    ("GET", "api-themes", "themes/"),
    ("POST", "api-themes", "themes/"),
    ("GET", "api-theme", "themes/{theme}/"),
    ("PATCH", "api-theme", "themes/{theme}/"),
    ("GET", "api-meetings", "meetings/"),
    ("GET", "api-meeting", "meetings/{meeting}/"),
    ("GET", "api-meeting-decisions", "meetings/{meeting}/decisions/"),
    ("POST", "api-meeting-decisions", "meetings/{meeting}/decisions/"),
    ("GET", "api-meeting-actions", "meetings/{meeting}/actions/"),
    ("POST", "api-meeting-actions", "meetings/{meeting}/actions/"),
    ("PATCH", "api-meeting-action", "meetings/{meeting}/actions/{item}/"),
    ("DELETE", "api-token", "auth/token/"),
] + [("POST", "api-request-action", f"requests/{{fr}}/{action}/") for action in (
    "submit", "return", "reject", "escalate", "withdraw", "merge", "reopen", "approve",
    "approve_product", "defer", "decline", "start", "ship", "cancel", "estimate", "no-such-move",
)]  # fmt: skip
PUBLIC = {"api-schema", "api-docs"}


def test_the_endpoint_list_covers_every_route():
    names = {p.name for p in api_module.urlpatterns if isinstance(p, URLPattern)}
    assert names - PUBLIC == {name for _, name, _ in ENDPOINTS}


@pytest.fixture
def scene(cast, build, funded):
    fr = build.escalated(estimate=5)
    series = MeetingSeries.objects.create()
    [meeting, *_] = meetings_schedule(series)
    item = ActionItem.objects.create(
        meeting=meeting,
        title="Call Globex",
        owner=cast.rep,
        due_date=meeting.starts_at.date(),
        created_by=cast.hos,
    )
    theme = ProductTheme.objects.create(name="Platform")
    return {
        "fr": fr.pk,
        "quarter": funded.slug,
        "meeting": meeting.pk,
        "item": item.pk,
        "theme": theme.pk,
        "owner": cast.rep.pk,
    }


@pytest.mark.parametrize("method, name, path", ENDPOINTS, ids=[f"{m} {p}" for m, _, p in ENDPOINTS])
def test_no_credentials_answers_401_and_changes_nothing(scene, method, name, path):
    body = {"reason": "x", "estimate": 3, "seen": [], "order": [], "title": "t", "problem": "p"}
    # What the other endpoints read: a comment, a deal, a theme, a decision, an action item.
    body |= {"body": "b", "account_name": "Acme", "amount": "1", "currency": "USD"}
    body |= {"expected_close_date": str(dt.date.today()), "name": "Theme", "is_active": False}
    body |= {"request": scene["fr"], "action": "approve", "owner": scene["owner"]}
    body |= {"due_date": str(dt.date.today()), "done": True}
    before = api_state()

    response = APIClient().generic(
        method,
        f"{API}/{path.format(**scene)}",
        data=json.dumps(body),
        content_type="application/json",
    )

    assert response.status_code == 401, response.content
    assert response.json()["detail"]
    assert api_state() == before
