"""Outbound webhooks (issue 6, part 5): a real HTTP receiver on 127.0.0.1 checks each POST
with the verification recipe printed in the README; the Celery tasks are called directly.

Time is moved by making a delivery due (`make_due`), never by sleeping. The receiver and the
README's recipe live in tests/accounts/conftest.py.
"""

import datetime as dt
import logging
import threading
import time
import uuid

import pytest
from django.utils import timezone

from accounts import tasks
from accounts.models import WebhookDelivery
from budgets.models import LedgerEntry
from budgets.services import budget_set_capacity
from config.celery import app as celery_app
from config.errors import DomainError
from requests_app import services
from tests.accounts.conftest import verify_signature
from tests.requests_app.conftest import Builder

Delivered, Pending, Failed = (
    WebhookDelivery.Status.DELIVERED,
    WebhookDelivery.Status.PENDING,
    WebhookDelivery.Status.FAILED,
)


@pytest.fixture
def endpoint(db, receiver):
    return receiver.subscribe(description="CRM")


@pytest.fixture
def escalated(cast, funded):
    """An escalated request estimated at 8, built before any endpoint exists."""
    return Builder(cast, (funded, None)).make("escalated", estimate=8, title="Audit log export")


@pytest.fixture
def eager(monkeypatch):
    """Celery's eager mode: a task queued by the sweep runs right here, as a worker would."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


def make_due(delivery):
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )


def only(event_type):
    return WebhookDelivery.objects.get(event_type=event_type)


# --- What a move and a budget change send ---------------------------------------------------


def test_an_approval_sends_a_status_change_and_a_budget_move_signed(
    cast, funded, escalated, endpoint, receiver
):
    services.request_approve(fr=escalated, actor=cast.hop)

    assert WebhookDelivery.objects.count() == 2
    moved, reserved = only("request.status_changed"), only("budget.moved")
    assert tasks.deliver_webhook(moved.pk) == Delivered
    assert tasks.deliver_webhook(reserved.pk) == Delivered

    assert [h["verified"] for h in receiver.hits] == [True, True]
    status_event, budget_event = receiver.events()
    assert status_event["id"] == str(moved.event_id)
    assert status_event["type"] == "request.status_changed"
    assert status_event["data"] == {
        "move": "approve",
        "from_status": "escalated",
        "to_status": "approved",
        "actor": "hop",
        "reason": "",
        "request": {
            "id": escalated.pk,
            "title": "Audit log export",
            "status": "approved",
            "target_quarter": funded.slug,
            "estimate": 8,
            "funding": "sales",
            "reserved_points": 8,
            "merged_into": None,
            "url": f"http://127.0.0.1:8000/requests/{escalated.pk}/",
        },
    }
    entry = LedgerEntry.objects.get(request=escalated, kind=LedgerEntry.Kind.RESERVE)
    assert budget_event["type"] == "budget.moved"
    assert budget_event["data"]["quarter"] == funded.slug
    assert budget_event["data"]["budget"] == {"allocated": 40, "reserved": 8, "remaining": 32}
    assert {k: budget_event["data"]["entry"][k] for k in ("id", "kind", "points", "request")} == {
        "id": entry.pk,
        "kind": "reserve",
        "points": 8,
        "request": escalated.pk,
    }
    assert budget_event["data"]["entry"]["actor"] == "hop"

    headers = receiver.hits[0]["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["X-FeatureBudget-Event"] == "request.status_changed"
    assert headers["X-FeatureBudget-Delivery"] == str(moved.event_id)
    assert abs(int(headers["X-FeatureBudget-Timestamp"]) - time.time()) < 60
    moved.refresh_from_db()
    assert (moved.status, moved.attempts, moved.last_status_code) == (Delivered, 1, 200)
    assert moved.delivered_at is not None


def test_a_capacity_change_sends_a_budget_move(cast, quarters, endpoint, receiver):
    budget_set_capacity(quarter=quarters[1], capacity=200, actor=cast.hop, percentage=15)

    delivery = WebhookDelivery.objects.get()
    assert delivery.event_type == "budget.moved"
    assert tasks.deliver_webhook(delivery.pk) == Delivered
    [event] = receiver.events()
    assert event["data"]["quarter"] == quarters[1].slug
    assert event["data"]["entry"]["kind"] == "allocate"
    assert event["data"]["entry"]["points"] == 30
    assert event["data"]["budget"] == {"allocated": 30, "reserved": 0, "remaining": 30}
    assert receiver.hits[0]["verified"]


def test_every_move_of_a_request_sends_one_event(cast, quarters, endpoint):
    build = Builder(cast, quarters)
    fr = build.draft(title="Single sign-on")
    services.request_submit(fr=fr, actor=cast.rep)
    services.request_return(fr=fr, actor=cast.manager, reason="Which customers?")
    services.request_withdraw(fr=fr, actor=cast.rep)

    moves = [
        (
            d.payload["data"]["move"],
            d.payload["data"]["from_status"],
            d.payload["data"]["to_status"],
        )
        for d in WebhookDelivery.objects.order_by("id")
    ]
    assert moves == [
        ("submit", "draft", "submitted"),
        ("return", "submitted", "returned"),
        ("withdraw", "returned", "withdrawn"),
    ]
    returned = WebhookDelivery.objects.order_by("id")[1].payload["data"]
    assert (returned["actor"], returned["reason"]) == ("mgr", "Which customers?")


def test_a_refused_move_sends_nothing(cast, escalated, endpoint):
    with pytest.raises(DomainError):
        services.request_start(fr=escalated, actor=cast.pm)
    assert not WebhookDelivery.objects.exists()


def test_an_endpoint_gets_only_the_event_types_it_chose(cast, escalated, receiver):
    budget_only = receiver.subscribe(events=["budget.moved"])

    services.request_approve(fr=escalated, actor=cast.hop)

    assert list(WebhookDelivery.objects.values_list("endpoint", "event_type")) == [
        (budget_only.pk, "budget.moved")
    ]


def test_an_inactive_endpoint_gets_nothing(cast, escalated, receiver):
    receiver.subscribe(is_active=False)

    services.request_approve(fr=escalated, actor=cast.hop)

    assert not WebhookDelivery.objects.exists()
    assert tasks.sweep_webhooks() == 0
    assert receiver.hits == []


def test_an_endpoint_deactivated_before_sending_gets_nothing(cast, escalated, endpoint, receiver):
    services.request_approve(fr=escalated, actor=cast.hop)
    endpoint.is_active = False
    endpoint.save()

    for delivery in WebhookDelivery.objects.all():
        assert tasks.deliver_webhook(delivery.pk) == Failed
    assert receiver.hits == []
    assert set(WebhookDelivery.objects.values_list("last_error", flat=True)) == {
        "Endpoint deactivated."
    }


# --- Retries, once, failure -----------------------------------------------------------------


def test_a_receiver_that_fails_twice_gets_the_event_on_the_third_try_once(
    cast, escalated, receiver, eager
):
    """The first try is the task queued with the move; the retries are queued by the sweep."""
    receiver.subscribe(events=["request.status_changed"])
    receiver.script = [500, 503, 200]
    services.request_approve(fr=escalated, actor=cast.hop)
    delivery = WebhookDelivery.objects.get()

    before = timezone.now()
    assert tasks.deliver_webhook(delivery.pk) == Pending
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_status_code) == (1, 500)
    assert delivery.last_error == "HTTP 500 Internal Server Error"
    # The next try waits the base delay: before that the sweep leaves it, and the task run
    # early (a duplicate message) sends nothing.
    wait = delivery.next_attempt_at - before
    assert dt.timedelta(seconds=29) < wait <= dt.timedelta(seconds=31)
    assert tasks.sweep_webhooks() == 0
    assert tasks.deliver_webhook(delivery.pk) is None
    assert len(receiver.hits) == 1

    make_due(delivery)
    assert tasks.sweep_webhooks() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (Pending, 2, 503)
    # ... and the wait doubles after the second failure.
    assert delivery.next_attempt_at - timezone.now() > dt.timedelta(seconds=55)
    assert tasks.sweep_webhooks() == 0

    make_due(delivery)
    assert tasks.sweep_webhooks() == 1
    # Delivered: neither the sweep nor a late duplicate message sends it again.
    make_due(delivery)
    assert tasks.sweep_webhooks() == 0
    assert tasks.deliver_webhook(delivery.pk) is None

    assert [h["code"] for h in receiver.hits] == [500, 503, 200]
    assert all(h["verified"] for h in receiver.hits)
    # The same event each time: same id header and byte-identical body.
    assert {h["headers"]["X-FeatureBudget-Delivery"] for h in receiver.hits} == {
        str(delivery.event_id)
    }
    assert len({h["body"] for h in receiver.hits}) == 1
    assert receiver.accepted == [str(delivery.event_id)]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (Delivered, 3, 200)
    assert delivery.last_error == ""


def test_after_the_last_attempt_it_is_marked_failed(cast, escalated, receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 6
    receiver.subscribe(events=["request.status_changed"])
    receiver.script = [500]
    services.request_approve(fr=escalated, actor=cast.hop)
    delivery = WebhookDelivery.objects.get()

    outcomes = []
    for _ in range(7):
        make_due(delivery)
        outcomes.append(tasks.deliver_webhook(delivery.pk))

    assert outcomes == [Pending] * 5 + [Failed, None]
    assert len(receiver.hits) == 6
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (Failed, 6, 500)
    assert tasks.sweep_webhooks() == 0


def test_a_receiver_that_is_not_listening_is_retried(cast, escalated, receiver):
    receiver.close()  # its port is closed now
    receiver.subscribe(events=["request.status_changed"])
    services.request_approve(fr=escalated, actor=cast.hop)
    delivery = WebhookDelivery.objects.get()

    assert tasks.deliver_webhook(delivery.pk) == Pending
    delivery.refresh_from_db()
    assert delivery.last_status_code is None
    assert "refused" in delivery.last_error.lower()
    assert len(delivery.last_error) <= 300


def test_a_redirect_is_not_followed(cast, escalated, receiver):
    receiver.subscribe(events=["request.status_changed"])
    receiver.script = [302]
    services.request_approve(fr=escalated, actor=cast.hop)
    delivery = WebhookDelivery.objects.get()

    assert tasks.deliver_webhook(delivery.pk) == Pending
    assert [h["path"] for h in receiver.hits] == ["/hook"]
    delivery.refresh_from_db()
    assert delivery.last_status_code == 302


def test_a_slow_receiver_times_out_and_is_retried(cast, escalated, receiver, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    receiver.hold = threading.Event()  # never answers until the test ends
    receiver.subscribe(events=["request.status_changed"])
    services.request_approve(fr=escalated, actor=cast.hop)
    delivery = WebhookDelivery.objects.get()

    assert tasks.deliver_webhook(delivery.pk) == Pending
    delivery.refresh_from_db()
    assert "timed out" in delivery.last_error
    assert delivery.last_status_code is None


def test_a_claimed_delivery_is_not_claimed_again(cast, escalated, endpoint):
    services.request_approve(fr=escalated, actor=cast.hop)
    delivery = only("request.status_changed")
    now = timezone.now()

    assert tasks._claim_webhook(delivery.pk, now) == 1
    assert tasks._claim_webhook(delivery.pk, now) == 0
    # A worker that died mid-send: after the claim expires another may take it over.
    later = now + tasks.WEBHOOK_CLAIM_EXPIRES + dt.timedelta(seconds=1)
    assert tasks._claim_webhook(delivery.pk, later) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_with_the_same_delivery_send_it_once(cast, quarters, receiver, broker):
    """Worker A has claimed the delivery and waits on the receiver; worker B, handed the same
    delivery (a duplicate message, or the sweep), sends nothing."""
    broker.down()  # the commit's own message goes nowhere: the two workers are the test's
    receiver.subscribe()
    budget_set_capacity(quarter=quarters[0], capacity=100, actor=cast.hop)
    delivery = WebhookDelivery.objects.get()
    receiver.hold = threading.Event()

    outcome = {}
    worker_a = threading.Thread(
        target=lambda: outcome.update(a=tasks.deliver_webhook(delivery.pk)), daemon=True
    )
    worker_a.start()
    assert receiver.arrived.wait(10), "worker A never reached the receiver"

    assert tasks.deliver_webhook(delivery.pk) is None  # worker B
    receiver.hold.set()
    worker_a.join(10)

    assert outcome == {"a": Delivered}
    assert len(receiver.hits) == 1 and receiver.hits[0]["verified"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Delivered, 1)


# --- The README recipe refuses what it should ----------------------------------------------


def test_the_recipe_refuses_a_changed_body_a_wrong_secret_and_an_old_timestamp(
    cast, quarters, endpoint, receiver
):
    budget_set_capacity(quarter=quarters[0], capacity=100, actor=cast.hop)
    tasks.deliver_webhook(WebhookDelivery.objects.get().pk)
    [hit] = receiver.hits
    headers, body = hit["headers"], hit["body"]

    assert verify_signature(endpoint.secret, headers, body)
    assert not verify_signature(endpoint.secret, headers, body.replace(b"100", b"900"))
    assert not verify_signature("another-secret", headers, body)
    old = str(int(headers["X-FeatureBudget-Timestamp"]) - 600)
    assert not verify_signature(
        endpoint.secret, {**headers, "X-FeatureBudget-Timestamp": old}, body
    )


def test_each_delivery_has_its_own_event_id(cast, escalated, receiver):
    receiver.subscribe()
    receiver.subscribe("/second")
    services.request_approve(fr=escalated, actor=cast.hop)

    ids = list(WebhookDelivery.objects.values_list("event_id", flat=True))
    assert len(ids) == 4 and len(set(ids)) == 4
    assert all(isinstance(i, uuid.UUID) for i in ids)
    for d in WebhookDelivery.objects.all():
        assert d.payload["id"] == str(d.event_id)


def test_a_move_with_no_endpoints_costs_one_query_for_webhooks(
    cast, escalated, django_assert_num_queries
):
    """What webhooks add to a move when nobody listens: one look for active endpoints."""
    from accounts import webhooks

    with django_assert_num_queries(1):
        assert webhooks.request_status_changed(escalated, cast.hop, "x", from_status="y") == []


# --- The broker is down ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_a_move_succeeds_and_the_sweep_delivers_later(
    client, cast, funded, receiver, broker, caplog, monkeypatch
):
    broker.down()  # down from the start, so the setup's own notifications publish nothing
    fr = Builder(cast, (funded, None)).make("escalated", estimate=8, title="Audit log export")
    receiver.subscribe()
    client.force_login(cast.hop)
    caplog.set_level(logging.WARNING, logger="accounts.webhooks")

    started = time.monotonic()
    response = client.post(f"/requests/{fr.pk}/approve/", {"action": "approve"})
    elapsed = time.monotonic() - started

    assert response.status_code == 302
    fr.refresh_from_db()
    assert fr.status == "approved"
    assert "left for the sweep" in caplog.text  # the commit did try the broker
    assert elapsed < 5
    deliveries = WebhookDelivery.objects.all()
    assert {d.event_type for d in deliveries} == {"request.status_changed", "budget.moved"}
    assert all(d.status == Pending and d.attempts == 0 for d in deliveries)
    assert receiver.hits == []

    broker.back()
    # Fresh rows are left to the message published with them ...
    assert tasks.sweep_webhooks() == 0
    WebhookDelivery.objects.update(next_attempt_at=timezone.now() - dt.timedelta(minutes=1))
    # ... older ones the sweep queues, and Celery's eager mode runs each queued task here.
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    assert tasks.sweep_webhooks() == 2

    assert len(receiver.hits) == 2 and all(h["verified"] for h in receiver.hits)
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {Delivered}
    assert tasks.sweep_webhooks() == 0
