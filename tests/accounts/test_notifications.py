"""Notifications (issue 5, section 5): who hears about a change, the outbox written in the
move's own transaction, each email sent once, the daily summary, and the settings page.

Who hears what is written out here from DOMAIN.md and the issue, not read from
accounts.notifications: the manager when a rep submits; the author and followers on return,
reject, escalate, approve, defer, decline, ship and merge; every active product role on a new
escalation; never the person who made the change; nobody who chose "none".
"""

import datetime as dt
import re
import threading
from smtplib import SMTPServerDisconnected

import pytest
from celery.exceptions import Retry
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection, transaction
from django.utils import timezone

from accounts import tasks
from accounts.models import Notification, NotificationMode, Role, User
from config.errors import DomainError, InsufficientBudget, InvalidInput
from requests_app import services
from requests_app.models import AuditEvent, FeatureRequest, Status
from tests.conftest import make_user
from tests.requests_app.conftest import Builder

PRODUCT = {Role.PRODUCT_MANAGER, Role.HEAD_OF_PRODUCT}


@pytest.fixture
def build(cast, quarters):
    return Builder(cast, quarters)


@pytest.fixture(autouse=True)
def enqueued(monkeypatch):
    """What reached the broker: the ids handed to send_notifications.apply_async. Nothing is
    published, so no test here leaves messages in a real queue."""
    calls = []
    task_class = type(tasks.send_notifications._get_current_object())

    def record(self, args=None, kwargs=None, **options):
        calls.append(list(args[0]))

    monkeypatch.setattr(task_class, "apply_async", record)
    return calls


@pytest.fixture
def fan(cast):
    """A rep of the same team who follows requests they did not raise."""
    return make_user("fan", Role.SALES_REP, cast.manager)


def mark():
    """The newest notification id so far: what a move writes comes after it."""
    return Notification.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def written_since(watermark):
    return Notification.objects.filter(pk__gt=watermark).select_related("user")


def recipients(watermark):
    return {n.user.username for n in written_since(watermark)}


def immediate_ids(watermark):
    return list(written_since(watermark).filter(daily=False).values_list("pk", flat=True))


def fail_mail(monkeypatch, times=None):
    """Make the mail server refuse connections, `times` times or until `server["down"]` is
    set to False."""
    real = EmailBackend.send_messages
    server = {"down": True, "failures_left": times}

    def refuse(self, messages):
        if server["down"]:
            if server["failures_left"] is not None:
                server["failures_left"] -= 1
                server["down"] = server["failures_left"] > 0
            raise SMTPServerDisconnected("Connection unexpectedly closed")
        return real(self, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", refuse)
    return server


def age(ids, seconds=60):
    """Backdate rows past the sweep's grace period (it leaves fresh rows to the queued task)."""
    Notification.objects.filter(pk__in=ids).update(
        created_at=timezone.now() - dt.timedelta(seconds=seconds)
    )


# --- Who hears about what ------------------------------------------------------------------


def test_the_manager_hears_when_a_rep_submits(build, cast):
    fr = build.draft(title="SAML single sign-on")
    watermark = mark()

    services.request_submit(fr=fr, actor=cast.rep)

    notes = list(written_since(watermark))
    assert [(n.user, n.verb, n.request_id) for n in notes] == [(cast.manager, "submit", fr.pk)]
    assert notes[0].subject.startswith(f"#{fr.pk} SAML single sign-on")
    # Nobody else: not the rep who submitted, not the Head of Sales, not product.
    assert not written_since(watermark).exclude(user=cast.manager).exists()


def _setup(build, cast, move):
    """A request one step before `move`, and the function that makes the move (with its
    usual actor, who is never told about their own move)."""
    if move in ("return", "reject", "escalate"):
        fr = build.submitted()
        actor = cast.manager
        call = {
            "return": lambda: services.request_return(fr=fr, actor=actor, reason="More detail"),
            "reject": lambda: services.request_reject(fr=fr, actor=actor, reason="Out of scope"),
            "escalate": lambda: services.request_escalate(
                fr=fr, actor=actor, quarter=build.current
            ),
        }[move]
    elif move == "merge":
        fr = build.submitted()
        target = build.submitted(title="The original")
        actor = cast.manager
        call = lambda: services.request_merge(fr=fr, target=target, actor=actor)  # noqa: E731
    elif move in ("approve", "approve_product", "defer", "decline"):
        fr = build.make("escalated", estimate=3)
        build.fund(build.current)
        actor = cast.hop
        later = build.next.slug
        call = {
            "approve": lambda: services.request_approve(fr=fr, actor=actor),
            "approve_product": lambda: services.request_approve(
                fr=fr, actor=actor, product_funded=True
            ),
            "defer": lambda: services.request_defer(
                fr=fr, actor=actor, quarter=later, reason="After the platform work"
            ),
            "decline": lambda: services.request_decline(
                fr=fr, actor=actor, reason="Not where the product is going"
            ),
        }[move]
    else:
        assert move == "ship"
        fr = build.make("in_progress")
        actor = cast.pm
        call = lambda: services.request_ship(fr=fr, actor=actor)  # noqa: E731
    return fr, actor, call


AUTHOR_AND_FOLLOWER_MOVES = [
    "return",
    "reject",
    "escalate",
    "approve",
    "approve_product",
    "defer",
    "decline",
    "ship",
    "merge",
]


@pytest.mark.parametrize("move", AUTHOR_AND_FOLLOWER_MOVES)
def test_the_author_and_followers_hear_about_a_move(build, cast, fan, move):
    fr, actor, call = _setup(build, cast, move)
    fr.followers.add(fan)
    watermark = mark()

    call()

    expected = {"rep", "fan"}
    if move == "escalate":
        # A new escalation goes to every active product role.
        expected |= {u.username for u in User.objects.filter(role__in=PRODUCT, is_active=True)}
    expected.discard(actor.username)
    assert recipients(watermark) == expected
    verbs = {n.verb for n in written_since(watermark)}
    assert verbs == {move}
    assert all(n.request_id == fr.pk for n in written_since(watermark))


@pytest.mark.parametrize("move", AUTHOR_AND_FOLLOWER_MOVES)
def test_the_actor_never_hears_about_their_own_move(build, cast, move):
    fr, actor, call = _setup(build, cast, move)
    fr.followers.add(actor)  # following the request does not change that
    watermark = mark()

    call()

    assert actor.username not in recipients(watermark)
    assert "rep" in recipients(watermark)


def test_every_active_product_role_hears_of_a_new_escalation(build, cast):
    second_pm = make_user("pm2", Role.PRODUCT_MANAGER)
    gone_pm = make_user("pm3", Role.PRODUCT_MANAGER)
    gone_pm.is_active = False
    gone_pm.save()
    fr = build.submitted()
    watermark = mark()

    services.request_escalate(fr=fr, actor=cast.manager, quarter=build.current)

    assert recipients(watermark) == {"rep", "pm", "pm2", "hop"}
    assert second_pm.notifications.filter(verb="escalate", request=fr).exists()
    assert not gone_pm.notifications.exists()
    # Sales leadership other than the author's chain is not told.
    assert not cast.hos.notifications.filter(request=fr).exists()
    assert not cast.other_manager.notifications.exists()


def test_a_user_who_chose_none_gets_nothing(build, cast, fan, funded):
    User.objects.filter(pk__in=[cast.rep.pk, cast.manager.pk, cast.pm.pk]).update(
        notification_mode=NotificationMode.NONE
    )
    fr = build.draft()
    fr.followers.add(fan)
    watermark = mark()

    services.request_submit(fr=fr, actor=cast.rep)  # the manager chose none
    fr = services.request_escalate(fr=fr, actor=cast.manager, quarter=build.current)
    build.estimate(fr, 3, actor=cast.hop)
    services.request_approve(fr=fr, actor=cast.hop)

    assert recipients(watermark) == {"fan", "hop"}  # hop hears of the escalation
    assert not Notification.objects.filter(
        user__in=[cast.rep, cast.manager, cast.pm], pk__gt=watermark
    ).exists()
    # And nothing is mailed to them by any of the senders.
    tasks.send_notifications(immediate_ids(watermark))
    age(immediate_ids(watermark))
    tasks.sweep_notifications()
    tasks.send_daily_summaries()
    mailed = {address for m in mail.outbox for address in m.to}
    assert mailed == {cast.hop.email, "fan@example.com"}


# --- The outbox and the transaction --------------------------------------------------------


def test_the_notification_is_written_in_the_moves_transaction_and_sent_after_commit(
    build, cast, enqueued, django_capture_on_commit_callbacks
):
    fr = build.submitted()
    watermark = mark()

    with django_capture_on_commit_callbacks() as callbacks:
        services.request_return(fr=fr, actor=cast.manager, reason="Which customers?")
        # Written with the move, before any commit ...
        assert recipients(watermark) == {"rep"}
        # ... but not handed to Celery until the transaction commits.
        assert enqueued == []

    assert len(callbacks) == 1
    callbacks[0]()
    assert enqueued == [immediate_ids(watermark)]


def test_a_rolled_back_move_leaves_no_notification(build, cast, django_capture_on_commit_callbacks):
    fr = build.submitted()
    watermark = mark()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                services.request_escalate(fr=fr, actor=cast.manager, quarter=build.current)
                assert recipients(watermark) == {"rep", "pm", "hop"}
                raise RuntimeError("something later in the same transaction failed")

    assert recipients(watermark) == set()
    assert callbacks == []  # nothing was queued for sending either
    assert FeatureRequest.objects.get(pk=fr.pk).status == Status.SUBMITTED


def test_a_refused_move_leaves_no_notification(build, cast, funded):
    big = build.make("escalated", estimate=41)  # the budget holds 40
    unreasoned = build.escalated()
    watermark = mark()

    with pytest.raises(InsufficientBudget):
        services.request_approve(fr=big, actor=cast.hop)
    with pytest.raises(InvalidInput, match="reason"):
        services.request_decline(fr=unreasoned, actor=cast.hop, reason="  ")
    with pytest.raises(DomainError, match="Cannot ship"):
        services.request_ship(fr=unreasoned, actor=cast.pm)

    assert recipients(watermark) == set()


def test_if_the_outbox_cannot_be_written_the_move_does_not_happen(build, cast, monkeypatch):
    fr = build.submitted()
    events = AuditEvent.objects.filter(request=fr).count()

    def broken(*args, **kwargs):
        raise RuntimeError("outbox table unavailable")

    monkeypatch.setattr(Notification.objects, "bulk_create", broken)
    with pytest.raises(RuntimeError):
        services.request_return(fr=fr, actor=cast.manager, reason="More detail")

    fr.refresh_from_db()
    assert (fr.status, fr.inbox_rank) == (Status.SUBMITTED, 1)
    assert AuditEvent.objects.filter(request=fr).count() == events


# --- Sending -------------------------------------------------------------------------------


def test_each_notification_is_sent_once_however_often_the_task_runs(
    build, cast, fan, enqueued, django_capture_on_commit_callbacks
):
    fr = build.submitted(title="Audit log export")
    fr.followers.add(fan)
    watermark = mark()
    with django_capture_on_commit_callbacks(execute=True):
        services.request_escalate(fr=fr, actor=cast.manager, quarter=build.current)
    [ids] = enqueued
    assert sorted(ids) == sorted(immediate_ids(watermark))
    assert len(ids) == 4  # rep, fan, pm, hop

    assert tasks.send_notifications(ids) == 4
    assert tasks.send_notifications(ids) == 0  # a retry or a duplicate message
    age(ids)
    assert tasks.sweep_notifications() == 0

    assert len(mail.outbox) == 4
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        ["rep@example.com", "fan@example.com", "pm@example.com", "hop@example.com"]
    )
    message = next(m for m in mail.outbox if m.to == ["rep@example.com"])
    assert message.subject == f"#{fr.pk} Audit log export: escalated"
    assert "Mgr Test escalated “Audit log export”" in message.body
    assert f"/requests/{fr.pk}/" in message.body
    html = message.alternatives[0][0]
    assert f"/requests/{fr.pk}/" in html
    assert not Notification.objects.filter(pk__in=ids, sent_at__isnull=True).exists()


def test_a_row_claimed_by_another_worker_is_left_to_it(build, cast):
    fr = build.submitted()
    watermark = mark()
    services.request_escalate(fr=fr, actor=cast.manager, quarter=build.current)
    ids = immediate_ids(watermark)
    taken, stale, *free = ids
    now = timezone.now()
    Notification.objects.filter(pk=taken).update(claimed_at=now)  # a live worker has it
    # A worker that died ten minutes ago: its claim may be taken over.
    Notification.objects.filter(pk=stale).update(
        claimed_at=now - tasks.CLAIM_EXPIRES - dt.timedelta(seconds=1)
    )

    assert tasks.send_notifications(ids) == len(ids) - 1

    sent = set(Notification.objects.filter(sent_at__isnull=False).values_list("pk", flat=True))
    assert sent == {stale, *free}
    assert len(mail.outbox) == len(ids) - 1


def test_the_claim_is_a_conditional_update(build, cast, monkeypatch):
    """Between reading the unsent rows and claiming them, another worker claims one: the
    UPDATE's condition makes us lose that race, so that row is not sent twice."""
    fr = build.submitted()
    watermark = mark()
    services.request_escalate(fr=fr, actor=cast.manager, quarter=build.current)
    ids = immediate_ids(watermark)
    rival = Notification.objects.select_related("user").get(pk=ids[0])
    queryset_class = type(Notification.objects.all())
    real_values_list = queryset_class.values_list

    def read_then_lose_the_race(self, *fields, **kw):
        rows = list(real_values_list(self, *fields, **kw))
        Notification.objects.filter(pk=rival.pk).update(claimed_at=timezone.now())
        return rows

    with monkeypatch.context() as m:
        m.setattr(queryset_class, "values_list", read_then_lose_the_race)
        sent = tasks.send_notifications(ids)

    assert sent == len(ids) - 1
    assert len(mail.outbox) == len(ids) - 1
    assert rival.user.email not in {m.to[0] for m in mail.outbox}
    rival.refresh_from_db()
    assert rival.sent_at is None  # still the rival's to send


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_each_notification_once(cast, quarters):
    build = Builder(cast, quarters)
    fr = build.submitted()
    watermark = mark()
    services.request_escalate(fr=fr, actor=cast.manager, quarter=build.current)
    ids = immediate_ids(watermark)
    barrier = threading.Barrier(4)
    counts, errors = [], []

    def worker():
        try:
            barrier.wait(timeout=10)
            counts.append(tasks.send_notifications(ids))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert errors == []
    assert sum(counts) == len(ids)
    assert len(mail.outbox) == len(ids)
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        Notification.objects.filter(pk__in=ids).values_list("user__email", flat=True)
    )


def test_a_failing_mail_server_leaves_the_row_for_the_sweep(build, cast, monkeypatch):
    fr = build.submitted()
    watermark = mark()
    services.request_return(fr=fr, actor=cast.manager, reason="Which customers?")
    [note_id] = immediate_ids(watermark)

    server = fail_mail(monkeypatch)
    with pytest.raises(Retry):  # the task asks Celery to try again later
        tasks.send_notifications([note_id])
    note = Notification.objects.get(pk=note_id)
    assert (note.sent_at, note.claimed_at, note.attempts) == (None, None, 1)
    assert "Connection unexpectedly closed" in note.last_error
    assert mail.outbox == []

    # Still failing when the sweep first runs: one more attempt recorded, still unsent.
    age([note_id])
    tasks.sweep_notifications()
    note.refresh_from_db()
    assert (note.sent_at, note.attempts) == (None, 2)

    server["down"] = False  # the mail server is back
    assert tasks.sweep_notifications() == 1
    note.refresh_from_db()
    assert note.sent_at is not None
    assert [m.to for m in mail.outbox] == [["rep@example.com"]]
    assert tasks.sweep_notifications() == 0
    assert len(mail.outbox) == 1


def test_the_sweep_leaves_fresh_rows_to_the_queued_task(build, cast):
    fr = build.submitted()
    watermark = mark()
    services.request_return(fr=fr, actor=cast.manager, reason="Which customers?")
    assert tasks.sweep_notifications() == 0
    assert mail.outbox == []
    age(immediate_ids(watermark))
    assert tasks.sweep_notifications() == 1


def test_a_server_that_fails_then_accepts_sends_once(build, cast, monkeypatch):
    fr = build.submitted()
    watermark = mark()
    services.request_escalate(fr=fr, actor=cast.manager, quarter=build.current)
    ids = immediate_ids(watermark)

    fail_mail(monkeypatch, times=1)  # the first email fails, the rest go through
    with pytest.raises(Retry):
        tasks.send_notifications(ids)
    assert len(mail.outbox) == len(ids) - 1
    assert Notification.objects.filter(pk__in=ids, sent_at__isnull=True).count() == 1

    # Celery's retry runs the same task again: only the failed one goes out.
    assert tasks.send_notifications(ids) == 1
    assert len(mail.outbox) == len(ids)
    assert len({m.to[0] for m in mail.outbox}) == len(ids)


# --- The daily summary ---------------------------------------------------------------------


def test_daily_users_get_one_summary_with_everything_held(
    build, cast, fan, enqueued, django_capture_on_commit_callbacks
):
    User.objects.filter(pk__in=[cast.rep.pk, cast.hop.pk]).update(
        notification_mode=NotificationMode.DAILY
    )
    first = build.submitted(title="First ask")
    second = build.submitted(title="Second ask")
    first.followers.add(fan)
    watermark = mark()

    with django_capture_on_commit_callbacks(execute=True):
        services.request_escalate(fr=first, actor=cast.manager, quarter=build.current)
        services.request_return(fr=second, actor=cast.manager, reason="Add the deal size")

    held = written_since(watermark).filter(daily=True)
    assert {(n.user.username, n.request_id) for n in held} == {
        ("rep", first.pk),
        ("rep", second.pk),
        ("hop", first.pk),
    }
    # Only the immediate ones were handed to Celery, and only they go out now.
    queued = [pk for ids in enqueued for pk in ids]
    assert sorted(queued) == sorted(immediate_ids(watermark))
    assert not set(queued) & set(held.values_list("pk", flat=True))
    tasks.send_notifications(queued + list(held.values_list("pk", flat=True)))
    age([n.pk for n in written_since(watermark)])
    tasks.sweep_notifications()
    assert sorted(m.to[0] for m in mail.outbox) == ["fan@example.com", "pm@example.com"]
    assert held.filter(sent_at__isnull=True).count() == 3
    mail.outbox.clear()

    assert tasks.send_daily_summaries() == 3
    by_user = {m.to[0]: m for m in mail.outbox}
    assert len(mail.outbox) == 2 == len(by_user)  # one email per user
    rep_summary = by_user["rep@example.com"]
    assert rep_summary.subject == "Your daily Feature Budget summary (2 updates)"
    assert "First ask" in rep_summary.body and "Second ask" in rep_summary.body
    assert "Add the deal size" in rep_summary.body
    assert "First ask" in by_user["hop@example.com"].body
    assert by_user["hop@example.com"].subject == "Your daily Feature Budget summary (1 update)"
    assert not held.filter(sent_at__isnull=True).exists()

    # Run again (a second beat, a retry): nothing more.
    assert tasks.send_daily_summaries() == 0
    assert len(mail.outbox) == 2


def test_a_failed_summary_is_sent_by_the_next_run(build, cast, monkeypatch):
    User.objects.filter(pk=cast.rep.pk).update(notification_mode=NotificationMode.DAILY)
    fr = build.submitted()
    services.request_return(fr=fr, actor=cast.manager, reason="More detail")

    server = fail_mail(monkeypatch)
    tasks.send_daily_summaries()
    held = Notification.objects.get(user=cast.rep, verb="return")
    assert (held.sent_at, held.claimed_at, held.attempts) == (None, None, 1)
    assert mail.outbox == []

    server["down"] = False
    assert tasks.send_daily_summaries() == 1
    assert [m.to for m in mail.outbox] == [["rep@example.com"]]


# --- The settings page ---------------------------------------------------------------------

URL = "/accounts/notifications/"


def test_the_settings_page_offers_the_three_choices(client, cast):
    client.force_login(cast.rep)
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    for value in ("immediate", "daily", "none"):
        assert f'value="{value}"' in html
    # The current choice (immediate, the default) is the one selected.
    assert re.search(r'value="immediate"[^>]*checked', html)
    assert not re.search(r'value="(daily|none)"[^>]*checked', html)


@pytest.mark.parametrize("mode", ["daily", "none", "immediate"])
def test_a_user_chooses_how_they_hear(client, cast, mode):
    if mode == "immediate":  # start from something else
        User.objects.filter(pk=cast.rep.pk).update(notification_mode=NotificationMode.DAILY)
    client.force_login(cast.rep)

    response = client.post(URL, {"notification_mode": mode})

    assert response.status_code == 302
    assert response["Location"] == URL
    cast.rep.refresh_from_db()
    assert cast.rep.notification_mode == mode
    # Only their own setting changed.
    assert User.objects.exclude(pk=cast.rep.pk).exclude(notification_mode="immediate").count() == 0
    page = client.get(URL)
    assert "Notification settings saved." in page.content.decode()


@pytest.mark.parametrize("bad", ["weekly", "", "IMMEDIATE"])
def test_a_bad_choice_is_refused_and_changes_nothing(client, cast, bad):
    client.force_login(cast.rep)
    response = client.post(URL, {"notification_mode": bad})
    assert response.status_code == 400
    cast.rep.refresh_from_db()
    assert cast.rep.notification_mode == NotificationMode.IMMEDIATE


def test_a_post_cannot_change_anything_but_the_mode(client, cast):
    client.force_login(cast.rep)
    response = client.post(
        URL, {"notification_mode": "none", "role": "head_of_product", "manager": ""}
    )
    assert response.status_code == 302
    cast.rep.refresh_from_db()
    assert (cast.rep.notification_mode, cast.rep.role, cast.rep.manager) == (
        "none",
        Role.SALES_REP,
        cast.manager,
    )


def test_the_settings_page_needs_a_sign_in(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert client.post(URL, {"notification_mode": "none"}).status_code == 302


def test_the_choice_applies_to_the_next_move(client, build, cast):
    client.force_login(cast.rep)
    client.post(URL, {"notification_mode": "daily"})
    fr = build.submitted()
    services.request_return(fr=fr, actor=cast.manager, reason="More detail")
    assert Notification.objects.get(user=cast.rep, verb="return").daily is True

    client.post(URL, {"notification_mode": "none"})
    fr = build.submitted()
    services.request_reject(fr=fr, actor=cast.manager, reason="Duplicate")
    assert not Notification.objects.filter(user=cast.rep, verb="reject").exists()
