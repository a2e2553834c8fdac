"""Outbound webhooks: events written to the outbox inside the change's transaction, POSTed
signed by a Celery worker afterwards (accounts.tasks.deliver_webhook).

Receivers verify `X-FeatureBudget-Signature: sha256=<hex>`, the HMAC-SHA256 of
"<X-FeatureBudget-Timestamp>.<raw body>" with the endpoint's secret (README, "Webhooks").
"""

import hashlib
import hmac
import http.client
import json
import logging
import time
import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import WebhookDelivery, WebhookEndpoint, WebhookEvent

log = logging.getLogger(__name__)
USER_AGENT = "FeatureBudget-Webhooks/1"


# --- Writing events (inside the change's transaction) --------------------------------------


def active_endpoints():
    """The endpoints that may listen to a change. A move reads them before it takes its locks
    and passes them on, so the locked section only writes the outbox rows."""
    return list(WebhookEndpoint.objects.filter(is_active=True))


def _queue_event(event_type, build_data, endpoints=None):
    """One delivery per active endpoint subscribed to the event; `build_data` runs only when
    someone listens, so a move with no endpoints costs one query, or none when the caller
    read `endpoints` (active_endpoints()) beforehand."""
    if endpoints is None:
        endpoints = active_endpoints()
    endpoints = [e for e in endpoints if e.wants(event_type)]
    if not endpoints:
        return []
    data = build_data()
    now = timezone.now()
    rows = []
    for endpoint in endpoints:
        event_id = uuid.uuid4()
        payload = {
            "id": str(event_id),
            "type": event_type,
            "created_at": now.isoformat().replace("+00:00", "Z"),
            "data": data,
        }
        rows.append(
            WebhookDelivery(
                endpoint=endpoint,
                event_id=event_id,
                event_type=event_type,
                payload=payload,
                next_attempt_at=now,
            )
        )
    made = WebhookDelivery.objects.bulk_create(rows)
    ids = [d.pk for d in made]
    transaction.on_commit(lambda: enqueue(ids))
    return made


def enqueue(ids):
    """Hand deliveries to Celery; if the broker is down, the sweep sends them later."""
    from .tasks import deliver_webhook

    for pk in ids:
        try:
            deliver_webhook.apply_async(args=[pk], retry=False)
        except Exception:  # the broker is down: the row stays pending for the sweep
            log.warning("Broker unavailable; webhook delivery %s left for the sweep", pk)
            return


def _username(user):
    return user.username if user else None


def request_status_changed(fr, actor, move, *, from_status, reason="", endpoints=None):
    """Call inside the move's transaction (requests_app.services._finish does)."""

    def data():
        quarter = fr.target_quarter if fr.target_quarter_id else None
        return {
            "move": move,
            "from_status": from_status,
            "to_status": fr.status,
            "actor": _username(actor),
            "reason": reason,
            "request": {
                "id": fr.pk,
                "title": fr.title,
                "status": fr.status,
                "target_quarter": quarter.slug if quarter else None,
                "estimate": fr.estimate,
                "funding": fr.funding or None,
                "reserved_points": fr.reserved_points,
                "merged_into": fr.merged_into_id,
                "url": f"{settings.SITE_URL}/requests/{fr.pk}/",
            },
        }

    return _queue_event(WebhookEvent.REQUEST_STATUS_CHANGED, data, endpoints)


def budget_moved(entry, *, endpoints=None):
    """Call inside the ledger entry's transaction (budgets.services._entry does)."""

    def data():
        budget = entry.budget
        return {
            "quarter": budget.quarter.slug,
            "entry": {
                "id": entry.pk,
                "kind": entry.kind,
                "points": entry.points,
                "request": entry.request_id,
                "actor": _username(entry.actor),
                "reason": entry.reason,
                "created_at": entry.created_at.isoformat().replace("+00:00", "Z"),
            },
            "budget": {
                "allocated": entry.allocated_after,
                "reserved": entry.reserved_after,
                "remaining": entry.remaining_after,
            },
        }

    return _queue_event(WebhookEvent.BUDGET_MOVED, data, endpoints)


# --- Sending (outside any transaction) ------------------------------------------------------


def body_of(payload):
    """The exact bytes POSTed: the same on every retry of one delivery."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def sign(secret, timestamp, body):
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _connection(url):
    parts = urlsplit(url)
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return conn, target


def post(delivery):
    """POST one delivery. Returns (HTTP status or None, error text or "").

    http.client rather than urllib: it never follows a redirect (a 3xx is the receiver's
    answer, not an instruction to send the payload elsewhere) and keeps header names as
    written."""
    body = body_of(delivery.payload)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-FeatureBudget-Event": delivery.event_type,
        "X-FeatureBudget-Delivery": str(delivery.event_id),
        "X-FeatureBudget-Timestamp": timestamp,
        "X-FeatureBudget-Signature": f"sha256={sign(delivery.endpoint.secret, timestamp, body)}",
    }
    try:
        conn, target = _connection(delivery.endpoint.url)
        try:
            conn.request("POST", target, body=body, headers=headers)
            response = conn.getresponse()
            response.read(64 * 1024)  # enough to finish the exchange; the body is not kept
        finally:
            conn.close()
    except (http.client.HTTPException, OSError, ValueError) as exc:
        # Refused, timed out, unknown host, TLS failure, a garbled answer.
        return None, f"{type(exc).__name__}: {exc}"
    if 200 <= response.status < 300:
        return response.status, ""
    return response.status, f"HTTP {response.status} {response.reason}"
