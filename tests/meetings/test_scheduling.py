"""Scheduling the weekly sync: four meetings ahead, idempotent, at the series' local time in
its time zone (also across a daylight-saving change), with the digest a fixed number of real
hours before; the series is set up by the two heads only."""

import datetime as dt
import zoneinfo

import pytest

from config.errors import NotAllowed
from meetings import tasks
from meetings.models import Meeting, MeetingSeries
from meetings.services import meetings_schedule, series_save

from .conftest import BERLIN

pytestmark = pytest.mark.django_db

UTC = dt.UTC
BERLIN_TZ = zoneinfo.ZoneInfo(BERLIN)
MONDAY, TUESDAY, SUNDAY = 0, 1, 6
# The last Sundays of March and October 2027: clocks go forward, then back, in Berlin.
SPRING_FORWARD = dt.date(2027, 3, 28)
FALL_BACK = dt.date(2027, 10, 31)


def berlin_series(weekday, lead=24, **extra):
    return MeetingSeries.objects.create(
        name="Sync",
        weekday=weekday,
        start_time=dt.time(9, 0),
        time_zone=BERLIN,
        digest_lead_hours=lead,
        **extra,
    )


def test_four_meetings_ahead_and_running_twice_adds_none(cast):
    s = berlin_series(TUESDAY)
    now = dt.datetime(2027, 5, 3, 12, 0, tzinfo=UTC)  # a Monday
    made = meetings_schedule(s, now=now)
    assert len(made) == 4
    assert meetings_schedule(s, now=now) == []
    starts = [m.starts_at for m in Meeting.objects.filter(series=s)]
    assert len(starts) == 4
    assert all(b - a == dt.timedelta(weeks=1) for a, b in zip(starts, starts[1:], strict=False))
    assert starts[0].astimezone(BERLIN_TZ) == dt.datetime(2027, 5, 4, 9, 0, tzinfo=BERLIN_TZ)
    # A week later the window moves on by exactly one meeting.
    assert len(meetings_schedule(s, now=now + dt.timedelta(weeks=1))) == 1
    assert Meeting.objects.filter(series=s).count() == 5


def test_todays_meeting_that_already_started_is_not_created(cast):
    s = berlin_series(TUESDAY)
    # Tuesday 10:00 in Berlin: today's 09:00 meeting is over, the next is a week away.
    now = dt.datetime(2027, 5, 4, 8, 0, tzinfo=UTC)
    meetings_schedule(s, now=now)
    first = Meeting.objects.filter(series=s).first()
    assert first.starts_at.astimezone(BERLIN_TZ).date() == dt.date(2027, 5, 11)


def test_schedule_task_creates_four_and_is_idempotent(cast):
    s = berlin_series(TUESDAY)
    made = tasks.schedule_meetings.apply().get()
    assert len(made) == 4
    assert sorted(made) == sorted(Meeting.objects.filter(series=s).values_list("pk", flat=True))
    assert tasks.schedule_meetings.apply().get() == []
    assert Meeting.objects.count() == 4


def test_no_active_series_schedules_nothing(cast):
    berlin_series(TUESDAY, is_active=False)
    assert tasks.schedule_meetings.apply().get() == []
    assert Meeting.objects.count() == 0


def assert_local_nine_and_lead(meetings, lead_hours):
    for m in meetings:
        local = m.starts_at.astimezone(BERLIN_TZ)
        assert (local.hour, local.minute) == (9, 0), local
        # Real elapsed time, not wall-clock arithmetic.
        assert m.starts_at - m.digest_due_at == dt.timedelta(hours=lead_hours), (
            m.starts_at.astimezone(UTC),
            m.digest_due_at.astimezone(UTC),
        )
        assert m.ends_at - m.starts_at == dt.timedelta(minutes=m.series.duration_minutes)


@pytest.mark.parametrize("weekday", [MONDAY, TUESDAY, SUNDAY])
@pytest.mark.parametrize(
    "now, change",
    [
        (dt.datetime(2027, 3, 15, 12, 0, tzinfo=UTC), SPRING_FORWARD),
        (dt.datetime(2027, 10, 18, 12, 0, tzinfo=UTC), FALL_BACK),
    ],
    ids=["march", "october"],
)
def test_nine_o_clock_berlin_and_digest_24h_before_across_dst(cast, weekday, now, change):
    s = berlin_series(weekday)
    meetings_schedule(s, now=now)
    meetings = list(Meeting.objects.filter(series=s))
    assert len(meetings) == 4
    # The four weeks span the change: the UTC hour of 09:00 Berlin moves by one.
    before = [m for m in meetings if m.starts_at.date() < change]
    after = [m for m in meetings if m.starts_at.date() >= change]
    assert before and after
    utc_hours = (
        {m.starts_at.astimezone(UTC).hour for m in before},
        {m.starts_at.astimezone(UTC).hour for m in after},
    )
    assert utc_hours == (({8}, {7}) if change == SPRING_FORWARD else ({7}, {8}))
    assert_local_nine_and_lead(meetings, 24)


@pytest.mark.parametrize("lead", [1, 24, 48, 168])
def test_digest_lead_hours_respected_across_dst(cast, lead):
    s = berlin_series(MONDAY, lead=lead)
    meetings_schedule(s, now=dt.datetime(2027, 3, 15, 12, 0, tzinfo=UTC))
    assert_local_nine_and_lead(Meeting.objects.filter(series=s), lead)


def test_sunday_meeting_on_the_day_clocks_go_forward(cast):
    """The 24 hours before Sunday 28 March 2027 09:00 CEST (07:00 UTC) start on Saturday at
    08:00 CET (07:00 UTC), not at 09:00 Saturday local time (only 23 hours before)."""
    s = berlin_series(SUNDAY)
    meetings_schedule(s, now=dt.datetime(2027, 3, 22, 12, 0, tzinfo=UTC))
    m = Meeting.objects.get(series=s, starts_at=dt.datetime(2027, 3, 28, 7, 0, tzinfo=UTC))
    assert m.digest_due_at == dt.datetime(2027, 3, 27, 7, 0, tzinfo=UTC)
    assert m.digest_due_at.astimezone(BERLIN_TZ).hour == 8


# --- Setting up the series -----------------------------------------------------------------


@pytest.mark.parametrize("who", ["pm", "manager", "rep", "admin"])
def test_series_save_is_for_the_heads_only(cast, who):
    s = berlin_series(TUESDAY)
    with pytest.raises(NotAllowed):
        series_save(actor=getattr(cast, who), series=s, data={"weekday": 3}, extra_attendees=[])
    s.refresh_from_db()
    assert s.weekday == TUESDAY
    assert Meeting.objects.count() == 0


@pytest.mark.parametrize("who", ["hos", "hop"])
def test_series_save_by_a_head_replans_unannounced_meetings(cast, who):
    s = berlin_series(TUESDAY)
    meetings_schedule(s)
    announced = Meeting.objects.filter(series=s).first()
    Meeting.objects.filter(pk=announced.pk).update(digest_sent_at=announced.digest_due_at)
    series_save(
        actor=getattr(cast, who),
        series=s,
        data={"weekday": 3, "start_time": dt.time(14, 30), "digest_lead_hours": 48},
        extra_attendees=[cast.pm],
    )
    s.refresh_from_db()
    assert (s.weekday, s.start_time, s.digest_lead_hours) == (3, dt.time(14, 30), 48)
    assert list(s.extra_attendees.all()) == [cast.pm]
    # The announced meeting keeps its slot; the others moved to Thursdays 14:30.
    assert Meeting.objects.filter(pk=announced.pk).exists()
    replanned = Meeting.objects.filter(series=s).exclude(pk=announced.pk)
    assert replanned.count() == 4
    for m in replanned:
        local = m.starts_at.astimezone(BERLIN_TZ)
        assert (local.weekday(), local.hour, local.minute) == (3, 14, 30)
        assert m.starts_at - m.digest_due_at == dt.timedelta(hours=48)


SERIES_FORM = {
    "name": "Weekly sync",
    "weekday": "2",
    "start_time": "09:00",
    "time_zone": BERLIN,
    "duration_minutes": "45",
    "digest_lead_hours": "24",
}


@pytest.mark.parametrize("who", ["hos", "hop"])
def test_series_page_for_heads(client, cast, who):
    client.force_login(getattr(cast, who))
    assert client.get("/meetings/series/").status_code == 200
    response = client.post("/meetings/series/", {**SERIES_FORM, "extra_attendees": [cast.pm.pk]})
    assert response.status_code == 302
    s = MeetingSeries.objects.get(is_active=True)
    assert (s.weekday, s.start_time, s.time_zone) == (2, dt.time(9, 0), BERLIN)
    assert list(s.extra_attendees.all()) == [cast.pm]
    assert Meeting.objects.filter(series=s).count() == 4


@pytest.mark.parametrize("who", ["pm", "manager", "other_manager", "rep", "outsider", "admin"])
def test_series_page_forbidden_to_others(client, cast, who):
    s = berlin_series(TUESDAY)
    client.force_login(getattr(cast, who))
    assert client.get("/meetings/series/").status_code == 403
    assert client.post("/meetings/series/", SERIES_FORM).status_code == 403
    s.refresh_from_db()
    assert s.weekday == TUESDAY
    assert Meeting.objects.count() == 0


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("time_zone", "Mars/Base", "not a known time zone"),
        ("digest_lead_hours", "0", "between 1 and 168"),
        ("digest_lead_hours", "169", "between 1 and 168"),
        ("digest_lead_hours", "-3", ""),
        ("weekday", "7", ""),
        ("start_time", "25:00", ""),
        ("duration_minutes", "0", "between 5 and 480"),
    ],
)
def test_series_page_bad_input_is_400_and_changes_nothing(client, cast, field, value, message):
    s = berlin_series(TUESDAY)
    meetings_schedule(s)
    before = list(Meeting.objects.values_list("pk", "starts_at", "digest_due_at"))
    client.force_login(cast.hos)
    response = client.post("/meetings/series/", {**SERIES_FORM, field: value})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors
    assert message in " ".join(errors[field])
    s.refresh_from_db()
    assert (s.weekday, s.time_zone, s.digest_lead_hours, s.duration_minutes) == (
        TUESDAY,
        BERLIN,
        24,
        45,
    )
    assert list(Meeting.objects.values_list("pk", "starts_at", "digest_due_at")) == before
