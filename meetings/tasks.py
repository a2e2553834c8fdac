import datetime as dt
import logging
from smtplib import SMTPException

from celery import shared_task
from django.db.models import F, Q
from django.utils import timezone

from .emails import send_digest, send_minutes
from .models import Delivery, Meeting
from .services import build_agenda, meetings_schedule

log = logging.getLogger(__name__)
CLAIM_EXPIRES = dt.timedelta(minutes=10)
MAX_ATTEMPTS = 6


def _claim(delivery):
    """Take one delivery for sending with a conditional UPDATE: exactly one worker wins.
    A 'sending' claim older than CLAIM_EXPIRES was left by a worker that died."""
    stale = timezone.now() - CLAIM_EXPIRES
    return bool(
        Delivery.objects.filter(pk=delivery.pk, attempts__lt=MAX_ATTEMPTS)
        .filter(
            Q(status__in=[Delivery.Status.PENDING, Delivery.Status.FAILED])
            | Q(status=Delivery.Status.SENDING, claimed_at__lt=stale)
        )
        .update(
            status=Delivery.Status.SENDING, claimed_at=timezone.now(), attempts=F("attempts") + 1
        )
    )


def _deliver_all(meeting, kind, send):
    """Send `kind` to every attendee who has not had it; returns how many failed."""
    for attendee in meeting.series.attendees():
        Delivery.objects.get_or_create(meeting=meeting, attendee=attendee, kind=kind)
    failed = 0
    for delivery in Delivery.objects.filter(meeting=meeting, kind=kind).select_related("attendee"):
        if delivery.status == Delivery.Status.SENT or not _claim(delivery):
            continue
        try:
            send(delivery.attendee)
        except (SMTPException, OSError) as exc:
            failed += 1
            Delivery.objects.filter(pk=delivery.pk).update(
                status=Delivery.Status.FAILED, last_error=str(exc)[:300]
            )
            log.warning("Mail to %s failed: %s", delivery.attendee.email, exc)
        else:
            Delivery.objects.filter(pk=delivery.pk).update(
                status=Delivery.Status.SENT, sent_at=timezone.now(), last_error=""
            )
    return failed


@shared_task(bind=True, max_retries=5)
def send_meeting_digest(self, meeting_id):
    """Email the agenda to each attendee once. Safe to run twice or concurrently."""
    meeting = Meeting.objects.select_related("series").filter(pk=meeting_id).first()
    if meeting is None:
        return 0
    if meeting.agenda_sent is None:
        # The first run stores the agenda; concurrent runs all send that same snapshot.
        Meeting.objects.filter(pk=meeting.pk, agenda_sent__isnull=True).update(
            agenda_sent=build_agenda(meeting), digest_sent_at=timezone.now()
        )
        meeting.refresh_from_db(fields=["agenda_sent", "digest_sent_at"])
    failed = _deliver_all(
        meeting, Delivery.Kind.DIGEST, lambda who: send_digest(meeting, who, meeting.agenda_sent)
    )
    if failed:
        raise self.retry(countdown=min(30 * 2**self.request.retries, 1800))
    return meeting.pk


@shared_task(bind=True, max_retries=5)
def send_meeting_minutes(self, meeting_id):
    meeting = Meeting.objects.select_related("series").filter(pk=meeting_id).first()
    if meeting is None:
        return 0
    decisions = list(meeting.decisions.select_related("request"))
    items = list(meeting.action_items.select_related("owner"))
    failed = _deliver_all(
        meeting, Delivery.Kind.MINUTES, lambda who: send_minutes(meeting, who, decisions, items)
    )
    if failed:
        raise self.retry(countdown=min(30 * 2**self.request.retries, 1800))
    Meeting.objects.filter(pk=meeting.pk, minutes_sent_at__isnull=True).update(
        minutes_sent_at=timezone.now()
    )
    return meeting.pk


@shared_task
def schedule_meetings():
    return [m.pk for m in meetings_schedule()]


@shared_task
def send_due_digests():
    """Every few minutes: queue the digest of each meeting whose lead time has come."""
    now = timezone.now()
    due = (
        Meeting.objects.filter(digest_due_at__lte=now, starts_at__gt=now)
        .filter(
            Q(digest_sent_at__isnull=True)
            | Q(deliveries__kind="digest", deliveries__status__in=["pending", "failed"])
            # A claim left 'sending' by a worker that died mid-send (see _claim).
            | Q(
                deliveries__kind="digest",
                deliveries__status="sending",
                deliveries__claimed_at__lt=now - CLAIM_EXPIRES,
            )
        )
        .distinct()
        .values_list("pk", flat=True)
    )
    for pk in due:
        send_meeting_digest.delay(pk)
    return list(due)


@shared_task
def send_due_minutes():
    """After a meeting with decisions or action items, send its minutes to the attendees."""
    now = timezone.now()
    due = (
        Meeting.objects.filter(
            ends_at__lte=now, ends_at__gte=now - dt.timedelta(days=7), minutes_sent_at__isnull=True
        )
        .filter(Q(decisions__isnull=False) | Q(action_items__isnull=False))
        .distinct()
        .values_list("pk", flat=True)
    )
    for pk in due:
        send_meeting_minutes.delay(pk)
    return list(due)
