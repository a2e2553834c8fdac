import datetime as dt
import logging
from smtplib import SMTPException

from celery import shared_task
from django.db.models import F, Q
from django.utils import timezone

from .emails import send_email
from .models import Notification

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
