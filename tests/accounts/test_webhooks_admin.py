"""Admins register webhook endpoints and read the delivery log in the Django admin."""

import pytest
from django.urls import reverse

from accounts import tasks
from accounts.models import WebhookDelivery, WebhookEndpoint
from budgets.services import budget_set_capacity

ADD = reverse("admin:accounts_webhookendpoint_add")
LOG = reverse("admin:accounts_webhookdelivery_changelist")


def test_an_admin_registers_an_endpoint_with_all_events_and_a_secret(client, cast):
    client.force_login(cast.admin)
    page = client.get(ADD)
    assert page.status_code == 200
    # Both event types are ticked by default.
    assert page.content.count(b'type="checkbox" name="events"') == 2
    assert page.content.count(b"checked") >= 2

    response = client.post(
        ADD,
        {
            "url": "https://crm.example.com/hooks/feature-budget",
            "description": "CRM",
            "events": ["request.status_changed", "budget.moved"],
            "is_active": "on",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["request.status_changed", "budget.moved"]
    assert len(endpoint.secret) == 64
    change = client.get(reverse("admin:accounts_webhookendpoint_change", args=[endpoint.pk]))
    assert endpoint.secret.encode() in change.content


@pytest.mark.parametrize(
    "url",
    [
        "ftp://crm.example.com/hook",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "not a url",
        "",
    ],
)
def test_a_bad_url_is_refused(client, cast, url):
    client.force_login(cast.admin)

    response = client.post(ADD, {"url": url, "events": ["budget.moved"], "is_active": "on"})

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "url" in errors
    assert not WebhookEndpoint.objects.exists()


def test_an_endpoint_needs_at_least_one_event_type(client, cast):
    client.force_login(cast.admin)

    response = client.post(ADD, {"url": "https://crm.example.com/hook", "is_active": "on"})

    assert response.status_code == 200
    assert "events" in response.context["adminform"].form.errors
    assert not WebhookEndpoint.objects.exists()


def test_people_who_are_not_admins_cannot_open_webhooks(client, cast):
    for user in (cast.hop, cast.hos, cast.rep):
        client.force_login(user)
        assert client.get(ADD).status_code == 302
        assert client.get(LOG).status_code == 302
    assert not WebhookEndpoint.objects.exists()


def test_the_delivery_log_is_read_only(client, cast, quarters, receiver):
    receiver.subscribe()
    budget_set_capacity(quarter=quarters[0], capacity=100, actor=cast.hop)
    delivery = WebhookDelivery.objects.get()
    client.force_login(cast.admin)

    listing = client.get(LOG)
    assert listing.status_code == 200
    assert str(delivery.event_id).encode() in listing.content
    page = client.get(reverse("admin:accounts_webhookdelivery_change", args=[delivery.pk]))
    assert page.status_code == 200
    assert b'name="status"' not in page.content  # shown, not editable
    assert client.get(reverse("admin:accounts_webhookdelivery_add")).status_code == 403
    delete = reverse("admin:accounts_webhookdelivery_delete", args=[delivery.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert WebhookDelivery.objects.filter(pk=delivery.pk).exists()


def test_retry_now_gives_a_failed_delivery_one_more_try(
    client, cast, quarters, receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    receiver.script = [500, 200]
    receiver.subscribe()
    budget_set_capacity(quarter=quarters[0], capacity=100, actor=cast.hop)
    delivery = WebhookDelivery.objects.get()
    assert tasks.deliver_webhook(delivery.pk) == WebhookDelivery.Status.FAILED
    client.force_login(cast.admin)

    with django_capture_on_commit_callbacks() as queued:
        response = client.post(
            LOG, {"action": "retry_now", "_selected_action": [delivery.pk]}, follow=True
        )

    assert b"1 delivery queued to retry now." in response.content
    assert len(queued) == 1  # hands it to Celery after the commit
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PENDING
    # What the queued task does once a worker runs it:
    assert tasks.deliver_webhook(delivery.pk) == WebhookDelivery.Status.DELIVERED
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_status_code) == (2, 200)
    assert [h["code"] for h in receiver.hits] == [500, 200]


def test_retry_now_skips_what_was_delivered(client, cast, quarters, receiver):
    receiver.subscribe()
    budget_set_capacity(quarter=quarters[0], capacity=100, actor=cast.hop)
    delivery = WebhookDelivery.objects.get()
    tasks.deliver_webhook(delivery.pk)
    client.force_login(cast.admin)

    response = client.post(
        LOG, {"action": "retry_now", "_selected_action": [delivery.pk]}, follow=True
    )

    assert b"0 deliveries queued to retry now. 1 skipped" in response.content
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert len(receiver.hits) == 1
