"""A real Celery worker (not eager mode) on Redis sends a meeting's digest: one email per
attendee, with the agenda's numbers matching the database.

The worker is a subprocess of this test, pointed at the test database and writing mail to
files in tmp_path. It listens on a queue of its own, so no other worker on the same Redis
(another test run, another xdist worker, a developer's `make run`) takes its messages.
"""

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from config import celery_app
from meetings import tasks
from meetings.models import Delivery, Meeting

from .conftest import (
    TEXT_KEYS,
    agenda_numbers,
    attendee_emails,
    expected_numbers,
    fund,
    make_meeting,
    numbers_in_text,
    parse_mail_files,
    pick,
    quarter_of,
)

WAIT_SECONDS = 60


def worker_database_url():
    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    host = s["HOST"] or "localhost"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{s['NAME']}"


def celery_binary():
    local = Path(settings.BASE_DIR) / ".venv" / "bin" / "celery"
    return str(local if local.exists() else Path(sys.executable).with_name("celery"))


def start_worker(queue, mail_dir, log_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": worker_database_url(),
        # Three slashes and an absolute path: django-environ drops the first slash after
        # "filemail://", so "filemail:////tmp/x" is the absolute folder /tmp/x.
        "EMAIL_URL": f"filemail:///{mail_dir}",
        "REDIS_URL": os.environ["REDIS_URL"],
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    log = open(log_path, "wb")  # closed in stop_worker
    proc = subprocess.Popen(
        [
            celery_binary(),
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "-l",
            "INFO",
            "-Q",
            queue,
            "-n",
            f"{queue}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return proc, log


def stop_worker(proc, log):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    log.close()


def forget_queue(queue):
    """Remove the test's queue from Redis (messages left by a failed run, and its binding)."""
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    keys = list(client.scan_iter(match=f"*{queue}*"))  # the queue name is unique to this run
    if keys:
        client.delete(*keys)
    client.close()


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_real_worker_sends_the_digest_once_per_attendee(cast, series, reqs, tmp_path, monkeypatch):
    queue = f"fb-meetings-test-{uuid.uuid4().hex[:12]}"
    # Everything this test publishes (the digest, and the notifications the requests below
    # cause) goes to the worker's own queue.
    monkeypatch.setitem(celery_app.conf, "task_default_queue", queue)
    assert not celery_app.conf.task_always_eager

    meeting = make_meeting(series, timezone.now() + dt.timedelta(hours=20))
    quarter = quarter_of(meeting)
    fund(cast, quarter, 500)  # 50 points
    reqs.approved(quarter, 12)
    reqs.approved(quarter, 9)
    reqs.escalated(quarter, estimate=20)
    reqs.escalated(quarter)
    reqs.escalated(quarter, estimate=15, closes_in=10)
    reqs.escalated(quarter, estimate=2)

    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    log_path = tmp_path / "worker.log"
    proc, log = start_worker(queue, mail_dir, log_path)

    def worker_log():
        return log_path.read_text(errors="replace")[-4000:]

    try:
        tasks.send_meeting_digest.delay(meeting.pk)
        attendees = attendee_emails(cast, cast.pm)
        deadline = time.monotonic() + WAIT_SECONDS
        sent, digests = 0, []
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"the worker exited:\n{worker_log()}"
            sent = Delivery.objects.filter(
                meeting=meeting, kind=Delivery.Kind.DIGEST, status=Delivery.Status.SENT
            ).count()
            digests = [
                m for m in parse_mail_files(mail_dir) if str(m["Subject"]).startswith("Agenda")
            ]
            if sent == len(attendees) and len(digests) >= len(attendees):
                break
            time.sleep(0.5)
        else:
            pytest.fail(
                f"after {WAIT_SECONDS} s: {sent} deliveries sent, {len(digests)} digest files\n"
                f"{worker_log()}"
            )
        # The worker ran the task (not this process): its log says so.
        assert "meetings.tasks.send_meeting_digest" in worker_log()

        # A moment more, so a duplicate would have time to show up.
        time.sleep(2)
        digests = [m for m in parse_mail_files(mail_dir) if str(m["Subject"]).startswith("Agenda")]
        assert sorted(str(m["To"]) for m in digests) == attendees

        meeting = Meeting.objects.get(pk=meeting.pk)
        assert meeting.agenda_sent is not None
        expected = expected_numbers(meeting, since=meeting.starts_at - dt.timedelta(days=7))
        assert agenda_numbers(meeting.agenda_sent) == expected
        assert (expected["allocated"], expected["reserved"], expected["remaining"]) == (50, 21, 29)
        assert (expected["size"], expected["unestimated"], expected["below_line"]) == (4, 1, 2)
        url = f"{settings.SITE_URL}/meetings/{meeting.pk}/"
        for message in digests:
            text = message.get_body(preferencelist=("plain",)).get_content()
            html = message.get_body(preferencelist=("html",)).get_content()
            assert numbers_in_text(text) == pick(expected, TEXT_KEYS)
            assert url in text and url in html
            [invite] = list(message.iter_attachments())
            assert invite.get_content_type() == "text/calendar"
            ics = invite.get_content()
            if isinstance(ics, bytes):
                ics = ics.decode()
            start = meeting.starts_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            assert f"DTSTART:{start}" in ics
    finally:
        stop_worker(proc, log)
        forget_queue(queue)
