"""Fixtures for the API tests: clients that authenticate as real users with real tokens.

The request factory (`build`), the cast and the hand-written rules of DOMAIN.md come from the
shared conftests; this file only adds what talking JSON needs.
"""

import datetime as dt
from contextlib import contextmanager

import pytest
from django.db import transaction
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import Notification
from budgets.models import LedgerEntry
from meetings.models import ActionItem, Decision
from requests_app.models import AuditEvent, Comment, Deal, ProductTheme
from tests.requests_app.conftest import Builder, snapshot

API = "/api/v1"


@pytest.fixture
def build(cast, quarters):
    return Builder(cast, quarters)


@pytest.fixture
def api(cast):
    """api(user) is an APIClient that sends that user's token; api(None) sends nothing."""
    clients = {}

    def as_user(user):
        key = user.pk if user is not None else None
        if key not in clients:
            client = APIClient()
            if user is not None:
                token, _ = Token.objects.get_or_create(user=user)
                client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
            clients[key] = client
        return clients[key]

    return as_user


class _RollBack(Exception):
    pass


@contextmanager
def rolled_back():
    """Run the block in a savepoint and undo whatever it wrote, so each caller meets the
    same database."""
    try:
        with transaction.atomic():
            yield
            raise _RollBack
    except _RollBack:
        pass


def db_state():
    """snapshot() plus the content of every audit event, ledger entry and queued email, with
    times reduced to set or not: two runs of the same move give equal db_state()s."""
    state = snapshot()
    state["requests"] = [
        tuple("<set>" if isinstance(v, dt.datetime) else v for v in row)
        for row in state["requests"]
    ]
    state["event_rows"] = list(
        AuditEvent.objects.order_by("pk").values_list(
            "request_id",
            "actor_id",
            "action",
            "from_status",
            "to_status",
            "reason",
            "old_value",
            "new_value",
        )
    )
    state["ledger_rows"] = list(
        LedgerEntry.objects.order_by("pk").values_list(
            "budget_id",
            "kind",
            "points",
            "actor_id",
            "request_id",
            "reason",
            "allocated_after",
            "reserved_after",
            "remaining_after",
        )
    )
    state["notifications"] = list(
        Notification.objects.order_by("pk").values_list(
            "user_id", "request_id", "verb", "subject", "body", "daily"
        )
    )
    return state


def api_state():
    """db_state() plus what the endpoints beyond a request's moves write: comments, deals,
    themes, the meetings' decisions and action items."""
    state = db_state()
    state["comment_rows"] = list(
        Comment.objects.order_by("pk").values_list("request_id", "author_id", "body")
    )
    state["deal_rows"] = list(
        Deal.objects.order_by("pk").values_list(
            "request_id", "owner_id", "account_name", "amount", "currency", "stage"
        )
    )
    state["themes"] = list(
        ProductTheme.objects.order_by("pk").values_list("name", "description", "is_active")
    )
    state["decisions"] = list(
        Decision.objects.order_by("pk").values_list("meeting_id", "request_id", "action")
    )
    state["action_items"] = list(
        ActionItem.objects.order_by("pk").values_list(
            "meeting_id", "title", "owner_id", "due_date", "done_at"
        )
    )
    return state


def all_pages(client, url):
    """The `results` of a paginated list endpoint, page by page."""
    results = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, (url, response.content[:300])
        body = response.json()
        results.extend(body["results"])
        url = body["next"]
    return results
