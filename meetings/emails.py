"""The digest and minutes emails, with an .ics invitation."""

import datetime as dt

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from accounts.emails import send_email


def _ics_text(value):
    return (
        str(value)
        .replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\n", "\\n")
    )


def _ics_utc(moment):
    """An aware datetime as an iCalendar UTC stamp, e.g. 20261127T150000Z."""
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def meeting_ics(meeting, url):
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Feature Budget//Weekly sync//EN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:meeting-{meeting.pk}@feature-budget",
        f"DTSTAMP:{_ics_utc(timezone.now())}",
        f"DTSTART:{_ics_utc(meeting.starts_at)}",
        f"DTEND:{_ics_utc(meeting.ends_at)}",
        f"SUMMARY:{_ics_text(meeting.series.name)}",
        f"DESCRIPTION:{_ics_text('Agenda: ' + url)}",
        f"URL:{url}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(lines) + "\r\n"


def send_digest(meeting, attendee, agenda):
    url = settings.SITE_URL + reverse("meetings:detail", args=[meeting.pk])
    return send_email(
        "meeting_digest",
        to=[attendee.email],
        context={"meeting": meeting, "attendee": attendee, "agenda": agenda, "url": url},
        attachments=[("invite.ics", meeting_ics(meeting, url), "text/calendar")],
    )


def send_minutes(meeting, attendee, decisions, action_items):
    url = settings.SITE_URL + reverse("meetings:detail", args=[meeting.pk])
    return send_email(
        "meeting_minutes",
        to=[attendee.email],
        context={
            "meeting": meeting,
            "attendee": attendee,
            "decisions": decisions,
            "action_items": action_items,
            "url": url,
        },
    )
