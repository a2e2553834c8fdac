"""The digest: one email per attendee per meeting, with HTML and text parts, a link to the
meeting page and an .ics invitation, the agenda stored as sent; exactly once however often the
task runs, concurrently, or after a mail server that fails. And the minutes, after the meeting."""

import datetime as dt
import re
import threading
from smtplib import SMTPServerDisconnected
from zoneinfo import ZoneInfo

import pytest
from celery.exceptions import Retry
from django.conf import settings
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection
from django.utils import timezone

from accounts.models import Role
from config import celery_app
from meetings import tasks
from meetings.models import ActionItem, Decision, Delivery, Meeting
from meetings.services import build_agenda, meetings_schedule, series_save
from tests.conftest import make_user

from .conftest import (
    TEXT_KEYS,
    agenda_numbers,
    attendee_emails,
    expected_numbers,
    fund,
    make_meeting,
    numbers_in_html,
    numbers_in_text,
    pick,
    quarter_of,
)

pytestmark = pytest.mark.django_db


def digests(outbox=None):
    return [
        m for m in (mail.outbox if outbox is None else outbox) if m.subject.startswith("Agenda")
    ]


def minutes(outbox=None):
    return [
        m for m in (mail.outbox if outbox is None else outbox) if m.subject.startswith("Minutes")
    ]


@pytest.fixture
def meeting(series):
    return make_meeting(series, timezone.now() + dt.timedelta(hours=20))


@pytest.fixture
def agenda_data(cast, meeting, reqs):
    """A quarter with a budget, approvals, a queue with a cut line and an unestimated request."""
    quarter = quarter_of(meeting)
    fund(cast, quarter, 500)  # 50 points
    reqs.approved(quarter, 12)
    reqs.approved(quarter, 9)
    reqs.escalated(quarter, estimate=20)
    reqs.escalated(quarter)
    reqs.escalated(quarter, estimate=15, closes_in=10)
    reqs.escalated(quarter, estimate=2)
    return quarter


def ics_of(message):
    [(name, content, mimetype)] = message.attachments
    assert name.endswith(".ics")
    assert mimetype == "text/calendar"
    return content


def ics_value(content, key):
    [line] = [x for x in content.splitlines() if x.startswith(key + ":")]
    return line.split(":", 1)[1]


def test_one_digest_per_attendee_with_parts_link_and_ics(cast, meeting, agenda_data):
    assert tasks.send_meeting_digest.apply(args=[meeting.pk]).get() == meeting.pk
    sent = digests()
    assert sorted(m.to[0] for m in sent) == attendee_emails(cast, cast.pm)
    assert all(len(m.to) == 1 for m in sent)
    url = f"{settings.SITE_URL}/meetings/{meeting.pk}/"
    utc = "%Y%m%dT%H%M%SZ"
    for message in sent:
        [(html, mimetype)] = message.alternatives
        assert mimetype == "text/html"
        assert url in message.body
        assert f'href="{url}"' in html
        ics = ics_of(message)
        assert ics.startswith("BEGIN:VCALENDAR")
        assert "BEGIN:VEVENT" in ics and "END:VEVENT" in ics
        dtstart = ics_value(ics, "DTSTART")
        assert re.fullmatch(r"\d{8}T\d{6}Z", dtstart)
        assert dtstart == meeting.starts_at.astimezone(dt.UTC).strftime(utc)
        assert ics_value(ics, "DTEND") == meeting.ends_at.astimezone(dt.UTC).strftime(utc)
        assert ics_value(ics, "UID") == ics_value(ics_of(sent[0]), "UID")
    # Every attendee's delivery is recorded as sent, once.
    deliveries = Delivery.objects.filter(meeting=meeting, kind=Delivery.Kind.DIGEST)
    assert sorted(d.attendee.email for d in deliveries) == attendee_emails(cast, cast.pm)
    assert {(d.status, d.attempts) for d in deliveries} == {(Delivery.Status.SENT, 1)}


def test_ics_dtstart_is_utc_for_a_berlin_meeting(cast, series):
    """Tuesday 09:00 in Berlin in winter is 08:00 UTC; in summer 07:00 UTC."""
    berlin = ZoneInfo("Europe/Berlin")
    now = timezone.now()
    starts = dt.datetime.combine(
        timezone.localdate(now) + dt.timedelta(days=1), dt.time(9, 0), tzinfo=berlin
    )
    meeting = make_meeting(series, starts)
    tasks.send_meeting_digest(meeting.pk)
    expected = starts.astimezone(dt.UTC)
    for message in digests():
        assert ics_value(ics_of(message), "DTSTART") == expected.strftime("%Y%m%dT%H%M%SZ")
        assert expected.hour in (7, 8)


def test_agenda_is_stored_and_the_email_numbers_match_it(cast, meeting, agenda_data):
    tasks.send_meeting_digest(meeting.pk)
    meeting.refresh_from_db()
    assert meeting.agenda_sent is not None and meeting.digest_sent_at is not None
    stored = meeting.agenda_sent
    since = meeting.starts_at - dt.timedelta(days=7)
    assert agenda_numbers(stored) == expected_numbers(meeting, since=since)
    assert stored["budget"]["allocated"] == 50 and stored["queue"]["size"] == 4
    assert stored["queue"]["unestimated"] == 1 and stored["queue"]["below_line"] == 2
    # Nothing changed since: a fresh build says the same.
    fresh = build_agenda(meeting)
    assert {k: v for k, v in fresh.items() if k != "built_at"} == {
        k: v for k, v in stored.items() if k != "built_at"
    }
    for message in digests():
        [(html, _)] = message.alternatives
        assert numbers_in_text(message.body) == pick(agenda_numbers(stored), TEXT_KEYS)
        assert numbers_in_html(html) == pick(agenda_numbers(stored), TEXT_KEYS[:4])
        for row in stored["queue"]["top"]:
            assert f"#{row['id']} {row['title']}" in message.body
            assert row["title"] in html


def test_email_sends_the_stored_agenda_not_a_newer_one(cast, meeting, agenda_data, reqs):
    """After the first run stored the agenda, a retry sends that snapshot even if the queue
    moved meanwhile: every attendee reads the same numbers."""
    Meeting.objects.filter(pk=meeting.pk).update(
        agenda_sent=build_agenda(meeting), digest_sent_at=timezone.now()
    )
    stored = Meeting.objects.get(pk=meeting.pk).agenda_sent
    reqs.escalated(agenda_data, estimate=1)
    tasks.send_meeting_digest(meeting.pk)
    for message in digests():
        assert numbers_in_text(message.body)["size"] == stored["queue"]["size"] == 4
    assert Meeting.objects.get(pk=meeting.pk).agenda_sent == stored


def test_running_the_task_twice_sends_nothing_more(cast, meeting, agenda_data):
    tasks.send_meeting_digest.apply(args=[meeting.pk])
    tasks.send_meeting_digest.apply(args=[meeting.pk])
    tasks.send_meeting_digest(meeting.pk)
    assert len(digests()) == 3
    assert Delivery.objects.filter(meeting=meeting).count() == 3
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}


def test_inactive_extra_attendee_gets_nothing_and_heads_once(cast, series, meeting):
    gone = make_user("gone", Role.PRODUCT_MANAGER, is_active=False)
    series.extra_attendees.add(gone, cast.hop)  # a head listed again as extra
    tasks.send_meeting_digest(meeting.pk)
    assert sorted(m.to[0] for m in digests()) == attendee_emails(cast, cast.pm)


def test_unknown_meeting_is_a_no_op(cast):
    assert tasks.send_meeting_digest.apply(args=[123456]).get() == 0
    assert mail.outbox == []


# --- A mail server that fails -----------------------------------------------------------------


class FlakyBackend(BaseEmailBackend):
    """Refuses the first `failures` messages, then accepts; counts every attempt."""

    failures = 2
    attempts = 0
    sent = []
    lock = threading.Lock()

    @classmethod
    def reset(cls, failures):
        cls.failures, cls.attempts, cls.sent = failures, 0, []

    def send_messages(self, messages):
        for message in messages:
            with self.lock:
                type(self).attempts += 1
                if self.attempts <= self.failures:
                    raise SMTPServerDisconnected("Connection unexpectedly closed")
                self.sent.append(message)
        return len(messages)


@pytest.fixture
def flaky(settings):
    settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"
    FlakyBackend.reset(2)
    return FlakyBackend


def test_fails_twice_then_accepts_with_eager_retries(cast, meeting, agenda_data, flaky):
    result = tasks.send_meeting_digest.apply(args=[meeting.pk])
    assert result.successful(), result.traceback
    assert sorted(m.to[0] for m in digests(flaky.sent)) == attendee_emails(cast, cast.pm)
    assert flaky.attempts == 2 + 3
    deliveries = Delivery.objects.filter(meeting=meeting)
    assert {d.status for d in deliveries} == {Delivery.Status.SENT}
    assert sum(d.attempts for d in deliveries) == 5
    # And again: nothing more.
    tasks.send_meeting_digest.apply(args=[meeting.pk])
    assert len(flaky.sent) == 3 and flaky.attempts == 5


def test_fails_twice_then_accepts_when_called_repeatedly(cast, meeting, flaky):
    runs = 0
    while True:
        runs += 1
        try:
            tasks.send_meeting_digest(meeting.pk)
        except Retry:
            assert runs < 5
            continue
        break
    assert runs == 2
    assert sorted(m.to[0] for m in digests(flaky.sent)) == attendee_emails(cast, cast.pm)
    failed_once = Delivery.objects.filter(meeting=meeting, attempts=2)
    assert failed_once.count() == 2
    assert all(d.last_error == "" for d in failed_once)


def test_a_server_that_never_accepts_is_tried_a_bounded_number_of_times(cast, meeting, flaky):
    flaky.reset(10_000)
    result = tasks.send_meeting_digest.apply(args=[meeting.pk])
    assert result.failed()
    deliveries = Delivery.objects.filter(meeting=meeting)
    assert {d.status for d in deliveries} == {Delivery.Status.FAILED}
    assert all(1 <= d.attempts <= tasks.MAX_ATTEMPTS for d in deliveries)
    assert all("unexpectedly closed" in d.last_error for d in deliveries)
    tried = flaky.attempts
    assert tried <= 3 * tasks.MAX_ATTEMPTS
    # Further runs do not hammer the server past the bound.
    tasks.send_meeting_digest.apply(args=[meeting.pk])
    assert flaky.attempts == tried == 3 * tasks.MAX_ATTEMPTS
    assert flaky.sent == []


# --- Concurrent runs, on PostgreSQL -------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_send_one_per_attendee(cast, series, monkeypatch):
    # Nothing here may reach a real broker.
    monkeypatch.setattr("accounts.notifications._enqueue", lambda ids: None)
    quarter = quarter_of(make_meeting(series, timezone.now() + dt.timedelta(hours=30)))
    fund(cast, quarter, 300)
    meetings = list(Meeting.objects.filter(series=series))
    meetings.append(make_meeting(series, timezone.now() + dt.timedelta(hours=20)))
    threads_per_meeting = 8
    barrier = threading.Barrier(threads_per_meeting * len(meetings))
    errors = []

    def run(pk):
        try:
            barrier.wait(timeout=30)
            tasks.send_meeting_digest(pk)
        except Exception as exc:  # report, do not hide, anything a thread raised
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(m.pk,))
        for m in meetings
        for _ in range(threads_per_meeting)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    expected = attendee_emails(cast, cast.pm)
    for m in meetings:
        url = f"/meetings/{m.pk}/"
        mine = [x for x in digests() if url in x.body]
        assert sorted(x.to[0] for x in mine) == expected
        m.refresh_from_db()
        # Every email carries the one stored agenda.
        numbers = {tuple(sorted(numbers_in_text(x.body).items())) for x in mine}
        assert numbers == {tuple(sorted(pick(agenda_numbers(m.agenda_sent), TEXT_KEYS).items()))}
        assert Delivery.objects.filter(meeting=m, status=Delivery.Status.SENT).count() == 3
    assert len(digests()) == 3 * len(meetings)


# --- The periodic jobs -----------------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch):
    """The ids the periodic jobs hand to Celery, without a broker."""
    calls = {"digest": [], "minutes": []}
    monkeypatch.setattr(tasks.send_meeting_digest, "delay", lambda pk: calls["digest"].append(pk))
    monkeypatch.setattr(tasks.send_meeting_minutes, "delay", lambda pk: calls["minutes"].append(pk))
    return calls


def test_send_due_digests_queues_only_meetings_whose_lead_time_has_come(cast, series, queued):
    now = timezone.now()
    due = make_meeting(series, now + dt.timedelta(hours=20))  # due 4 h ago
    make_meeting(series, now + dt.timedelta(hours=30))  # due in 6 h
    make_meeting(series, now - dt.timedelta(hours=1))  # already started
    done = make_meeting(series, now + dt.timedelta(hours=10))
    Meeting.objects.filter(pk=done.pk).update(digest_sent_at=now, agenda_sent={})
    assert tasks.send_due_digests() == [due.pk]
    assert queued["digest"] == [due.pk]


def test_send_due_digests_requeues_a_meeting_with_failed_deliveries(cast, series, queued):
    m = make_meeting(series, timezone.now() + dt.timedelta(hours=10))
    Meeting.objects.filter(pk=m.pk).update(digest_sent_at=timezone.now(), agenda_sent={})
    Delivery.objects.create(
        meeting=m, attendee=cast.hos, kind=Delivery.Kind.DIGEST, status=Delivery.Status.SENT
    )
    d = Delivery.objects.create(
        meeting=m, attendee=cast.hop, kind=Delivery.Kind.DIGEST, status=Delivery.Status.FAILED
    )
    assert tasks.send_due_digests() == [m.pk]
    Delivery.objects.filter(pk=d.pk).update(status=Delivery.Status.SENT)
    assert tasks.send_due_digests() == []


def test_a_claim_left_sending_by_a_dead_worker_is_sent_after_it_expires(cast, series, monkeypatch):
    m = make_meeting(series, timezone.now() + dt.timedelta(hours=10))
    calls = []
    monkeypatch.setattr(tasks.send_meeting_digest, "delay", calls.append)
    tasks.send_due_digests()
    assert calls == [m.pk]
    tasks.send_meeting_digest(m.pk)
    assert len(digests()) == 3
    # A worker claimed the Head of Product's copy, then died before sending it.
    mail.outbox.clear()
    d = Delivery.objects.get(meeting=m, attendee=cast.hop, kind=Delivery.Kind.DIGEST)
    Delivery.objects.filter(pk=d.pk).update(
        status=Delivery.Status.SENDING, claimed_at=timezone.now() - dt.timedelta(minutes=2)
    )
    calls.clear()
    assert tasks.send_due_digests() == []  # still fresh: the worker may be sending it
    Delivery.objects.filter(pk=d.pk).update(
        claimed_at=timezone.now() - tasks.CLAIM_EXPIRES - dt.timedelta(minutes=1)
    )
    assert tasks.send_due_digests() == [m.pk]
    tasks.send_meeting_digest(*calls)
    assert [x.to[0] for x in digests()] == [cast.hop.email]
    d.refresh_from_db()
    assert d.status == Delivery.Status.SENT


@pytest.mark.parametrize("lead, due", [(24, False), (48, True), (31, True), (29, False)])
def test_series_lead_time_decides_when_the_digest_goes(cast, series, queued, lead, due):
    """A meeting 30 hours away: its digest is due with a lead of 31 or 48 hours, not 24 or 29."""
    starts = (timezone.now() + dt.timedelta(hours=30)).astimezone(dt.UTC)
    series_save(
        actor=cast.hos,
        series=series,
        data={
            "time_zone": "UTC",
            "weekday": starts.weekday(),
            "start_time": starts.time().replace(second=0, microsecond=0),
            "digest_lead_hours": lead,
        },
        extra_attendees=[],
    )
    meetings_schedule(series)
    first = Meeting.objects.filter(series=series).order_by("starts_at").first()
    assert dt.timedelta(hours=29) < first.starts_at - timezone.now() <= dt.timedelta(hours=30)
    assert tasks.send_due_digests() == ([first.pk] if due else [])


def test_send_due_digests_eagerly_emails_only_due_meetings(cast, series, monkeypatch):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    now = timezone.now()
    due = make_meeting(series, now + dt.timedelta(hours=20))
    later = make_meeting(series, now + dt.timedelta(days=3))
    tasks.send_due_digests()
    tasks.send_due_digests()
    assert sorted(m.to[0] for m in digests()) == attendee_emails(cast, cast.pm)
    assert all(f"/meetings/{due.pk}/" in m.body for m in digests())
    assert not Delivery.objects.filter(meeting=later).exists()


# --- Minutes -------------------------------------------------------------------------------


@pytest.fixture
def held(cast, series, reqs):
    """A meeting that ended an hour ago, with a decision and an action item."""
    m = make_meeting(series, timezone.now() - dt.timedelta(hours=2))
    fr = reqs.escalated(quarter_of(m))
    Decision.objects.create(
        meeting=m, request=fr, action="decline", summary=f"#{fr.pk} Declined", actor=cast.hop
    )
    ActionItem.objects.create(
        meeting=m,
        title="Tell Acme",
        owner=cast.hos,
        due_date=timezone.localdate(),
        created_by=cast.hop,
    )
    return m


def test_minutes_go_after_the_meeting_to_each_attendee_once(cast, series, held, monkeypatch):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    upcoming = make_meeting(series, timezone.now() + dt.timedelta(days=1))
    ActionItem.objects.create(
        meeting=upcoming,
        title="Prepare",
        owner=cast.hop,
        due_date=timezone.localdate(),
        created_by=cast.hop,
    )
    make_meeting(series, timezone.now() - dt.timedelta(days=1))  # nothing to report
    assert tasks.send_due_minutes() == [held.pk]
    sent = minutes()
    assert sorted(m.to[0] for m in sent) == attendee_emails(cast, cast.pm)
    for message in sent:
        assert "Declined" in message.body and "Tell Acme" in message.body
        assert f"/meetings/{held.pk}/" in message.body
        [(html, mimetype)] = message.alternatives
        assert mimetype == "text/html" and "Tell Acme" in html
    held.refresh_from_db()
    assert held.minutes_sent_at is not None
    # Again, and the task itself again: nothing more.
    assert tasks.send_due_minutes() == []
    tasks.send_meeting_minutes(held.pk)
    assert len(minutes()) == 3
    assert digests() == []


def test_minutes_survive_a_failing_mail_server(cast, held, flaky):
    result = tasks.send_meeting_minutes.apply(args=[held.pk])
    assert result.successful(), result.traceback
    assert sorted(m.to[0] for m in minutes(flaky.sent)) == attendee_emails(cast, cast.pm)
    tasks.send_meeting_minutes.apply(args=[held.pk])
    assert len(flaky.sent) == 3


# --- The meeting's time, as its attendees read it ----------------------------------------------


@pytest.mark.parametrize("site_zone", ["UTC", "America/New_York", "Asia/Tokyo"])
@pytest.mark.parametrize("month", [1, 7], ids=["winter", "summer"])
def test_emails_state_the_local_time_of_the_series(cast, series, held, settings, site_zone, month):
    """09:00 Europe/Berlin reads 09:00 in the digest and the minutes whatever the site's
    TIME_ZONE, in winter (UTC+1) and summer (UTC+2)."""
    settings.TIME_ZONE = site_zone
    year = timezone.localdate().year + 1
    starts = dt.datetime(year, month, 12, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    Meeting.objects.filter(pk=held.pk).update(
        starts_at=starts, ends_at=starts + dt.timedelta(minutes=45)
    )
    tasks.send_meeting_digest(held.pk)
    tasks.send_meeting_minutes(held.pk)
    day = starts.strftime("%A %-d %B")
    for message in digests():
        assert message.subject.endswith(f"{starts:%a %-d %b}, 09:00 (Europe/Berlin)")
        assert f"{day}, 09:00 (Europe/Berlin)" in message.body
        [(html, _)] = message.alternatives
        assert f"{day}, 09:00 (Europe/Berlin)" in html
    for message in minutes():
        assert f"{day}, 09:00." in message.body
    assert len(digests()) == len(minutes()) == 3
