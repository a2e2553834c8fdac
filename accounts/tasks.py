import datetime as dt
import logging
from smtplib import SMTPException

from celery import shared_task
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from . import webhooks
from .emails import send_email
from .models import Notification, WebhookDelivery

log = logging.getLogger(__name__)
CLAIM_EXPIRES = dt.timedelta(minutes=10)
MAX_ATTEMPTS = 6


def _claim(queryset):
    """Claim unsent rows with a conditional UPDATE, so two workers never send the same one.
    A claim older than CLAIM_EXPIRES belongs to a worker that died and may be taken over."""
    now = timezone.now()
    stale = now - CLAIM_EXPIRES
    claimed = []
    for pk in queryset.values_list("pk", flat=True):
        won = (
            Notification.objects.filter(pk=pk, sent_at__isnull=True)
            .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=stale))
            .update(claimed_at=now)
        )
        if won:
            claimed.append(pk)
    return Notification.objects.filter(pk__in=claimed).select_related("user", "request")


def _deliver(notes, *, name, subject=None):
    failures = 0
    for user_id in sorted({n.user_id for n in notes}):
        mine = [n for n in notes if n.user_id == user_id]
        user = mine[0].user
        try:
            send_email(
                name,
                to=[user.email],
                context={"user": user, "notes": mine, "subject": subject or mine[0].subject},
            )
        except (SMTPException, OSError) as exc:
            failures += 1
            Notification.objects.filter(pk__in=[n.pk for n in mine]).update(
                claimed_at=None, last_error=str(exc)[:300], attempts=F("attempts") + 1
            )
        else:
            Notification.objects.filter(pk__in=[n.pk for n in mine]).update(sent_at=timezone.now())
    return failures


@shared_task(bind=True, max_retries=5, retry_backoff=True)
def send_notifications(self, ids):
    """Send these immediate notifications, each once. Safe to run twice."""
    notes = list(
        _claim(Notification.objects.filter(pk__in=ids, daily=False, attempts__lt=MAX_ATTEMPTS))
    )
    if not notes:
        return 0
    failures = 0
    for note in notes:
        failures += _deliver([note], name="notification")
    if failures:
        raise self.retry(countdown=min(60 * 2**self.request.retries, 3600))
    return len(notes)


@shared_task
def sweep_notifications():
    """Every few minutes: send immediate notifications still unsent (for example because the
    broker was down when they were written)."""
    cutoff = timezone.now() - dt.timedelta(seconds=30)
    ids = list(
        Notification.objects.filter(
            sent_at__isnull=True, daily=False, created_at__lte=cutoff, attempts__lt=MAX_ATTEMPTS
        ).values_list("pk", flat=True)[:500]
    )
    if ids:
        _send_now(ids)
    return len(ids)


def _send_now(ids):
    notes = list(_claim(Notification.objects.filter(pk__in=ids)))
    for note in notes:
        _deliver([note], name="notification")


@shared_task
def send_daily_summaries():
    """Once a day: one email per user with everything held for their summary."""
    notes = list(_claim(Notification.objects.filter(sent_at__isnull=True, daily=True)))
    if notes:
        _deliver(notes, name="notification_summary", subject="Your daily Feature Budget summary")
    return len(notes)


# --- Webhooks -------------------------------------------------------------------------------

WEBHOOK_CLAIM_EXPIRES = dt.timedelta(minutes=5)  # far beyond a send's few-second timeout


def webhook_backoff(attempts):
    """Seconds before the next try after `attempts` failed ones: base, 2x base, 4x base ..."""
    return settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempts - 1)


def _claim_webhook(delivery_id, now):
    """pending and due -> sending, with a conditional UPDATE: of two workers handed the same
    delivery, one wins and the other sends nothing. A row left `sending` longer than
    WEBHOOK_CLAIM_EXPIRES belongs to a worker that died mid-send and may be taken over."""
    Status = WebhookDelivery.Status
    return (
        WebhookDelivery.objects.filter(pk=delivery_id)
        .filter(
            Q(status=Status.PENDING, next_attempt_at__lte=now)
            | Q(status=Status.SENDING, claimed_at__lt=now - WEBHOOK_CLAIM_EXPIRES)
        )
        .update(status=Status.SENDING, claimed_at=now, updated_at=now)
    )


@shared_task
def deliver_webhook(delivery_id):
    """POST one delivery if it is due; on failure schedule the next try or give up.
    Safe to run twice and at the same time: returns the final status, or None if there was
    nothing to do. No transaction or row lock is held while the receiver answers."""
    if not _claim_webhook(delivery_id, timezone.now()):
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None:  # its endpoint was deleted meanwhile
        return None
    if not delivery.endpoint.is_active:
        # Deactivated after the event was written: nothing goes out.
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            status=WebhookDelivery.Status.FAILED, last_error="Endpoint deactivated."
        )
        return WebhookDelivery.Status.FAILED
    code, error = webhooks.post(delivery)
    attempts = delivery.attempts + 1
    now = timezone.now()
    done = {"attempts": attempts, "last_status_code": code, "claimed_at": None, "updated_at": now}
    if code is not None and 200 <= code < 300:
        outcome = WebhookDelivery.Status.DELIVERED
        done.update(status=outcome, delivered_at=now, last_error="")
    elif attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        outcome = WebhookDelivery.Status.FAILED
        done.update(status=outcome, last_error=error[:300])
    else:
        outcome = WebhookDelivery.Status.PENDING
        next_at = now + dt.timedelta(seconds=webhook_backoff(attempts))
        done.update(status=outcome, last_error=error[:300], next_attempt_at=next_at)
    # Only the claim's holder records the outcome.
    WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDelivery.Status.SENDING, claimed_at=delivery.claimed_at
    ).update(**done)
    return outcome


@shared_task
def sweep_webhooks():
    """Every minute: queue the deliveries that are due: retries whose wait is over, new ones
    whose publish failed (left 30 s for the message sent with them), and ones a worker died
    sending. Retries go through here rather than as delayed Celery messages, which a worker
    holds in memory and a restart can lose or run twice. The claim keeps each from going
    twice."""
    now = timezone.now()
    Status = WebhookDelivery.Status
    ids = list(
        WebhookDelivery.objects.filter(
            Q(status=Status.PENDING, attempts__gt=0, next_attempt_at__lte=now)
            | Q(status=Status.PENDING, next_attempt_at__lte=now - dt.timedelta(seconds=30))
            | Q(status=Status.SENDING, claimed_at__lt=now - WEBHOOK_CLAIM_EXPIRES)
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:500]
    )
    if ids:
        webhooks.enqueue(ids)
    return len(ids)
