import datetime as dt
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import ExpressionWrapper, Q
from django.utils import timezone

from accounts.models import Role, User

WEEKDAYS = [
    (0, "Monday"),
    (1, "Tuesday"),
    (2, "Wednesday"),
    (3, "Thursday"),
    (4, "Friday"),
    (5, "Saturday"),
    (6, "Sunday"),
]


def validate_time_zone(value):
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not a known time zone, e.g. Europe/Berlin.") from None


class LocalDatetime(dt.datetime):
    """A time in the series' own time zone. Templates show it as it is: without this flag the
    date filter converts aware datetimes to the site's TIME_ZONE (09:00 Berlin became 08:00)."""

    convert_to_local_time = False

    @classmethod
    def of(cls, value):
        return cls.combine(value.date(), value.timetz())


class MeetingSeries(models.Model):
    """The weekly sync between the Head of Sales and the Head of Product."""

    name = models.CharField(max_length=120, default="Weekly sales–product sync")
    weekday = models.PositiveSmallIntegerField(choices=WEEKDAYS, default=1)
    start_time = models.TimeField(default=dt.time(9, 0))
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    duration_minutes = models.PositiveSmallIntegerField(default=45)
    digest_lead_hours = models.PositiveSmallIntegerField(
        default=24, help_text="Hours before the meeting that the agenda email goes out."
    )
    extra_attendees = models.ManyToManyField(User, blank=True, related_name="+")
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "meeting series"
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"],
                condition=Q(is_active=True),
                name="one_active_series",
                violation_error_message="There is already an active weekly meeting series.",
            ),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="weekday_0_to_6"),
            models.CheckConstraint(
                condition=Q(digest_lead_hours__gte=1, digest_lead_hours__lte=168),
                name="digest_lead_1h_to_1week",
            ),
        ]

    def __str__(self):
        return self.name

    def _attends(self):
        return Q(role__in=[Role.HEAD_OF_SALES, Role.HEAD_OF_PRODUCT]) | Q(
            pk__in=self.extra_attendees.values("pk")
        )

    def attendees(self, people=None):
        """The active heads plus the extra attendees, each once, the Head of Sales first.

        From `people` (what people() read) when the caller has them already."""
        if people is None:
            found = User.objects.filter(self._attends(), is_active=True)
        else:
            found = [u for u in people if u.attends]
        return sorted(found, key=lambda u: (u.role != Role.HEAD_OF_SALES, u.pk))

    def people(self):
        """Every active user, each marked `attends` or not, in one query: the meeting page lists
        the attendees and offers everyone as an action item's owner."""
        return list(
            User.objects.filter(is_active=True)
            # What a name and the attendees' order need; not the password hashes and the rest.
            .only("username", "first_name", "last_name", "role")
            .annotate(
                attends=ExpressionWrapper(self._attends(), output_field=models.BooleanField())
            )
        )

    def occurrence_on(self, day):
        """The meeting's start on a local date, as an aware datetime (DST-correct)."""
        tz = zoneinfo.ZoneInfo(self.time_zone)
        return dt.datetime.combine(day, self.start_time, tzinfo=tz)

    def upcoming_starts(self, *, weeks=4, now=None):
        now = now or timezone.now()
        tz = zoneinfo.ZoneInfo(self.time_zone)
        today = now.astimezone(tz).date()
        first = today + dt.timedelta(days=(self.weekday - today.weekday()) % 7)
        starts = [self.occurrence_on(first + dt.timedelta(weeks=i)) for i in range(weeks + 1)]
        return [s for s in starts if s > now][:weeks]


class Meeting(models.Model):
    series = models.ForeignKey(MeetingSeries, on_delete=models.CASCADE, related_name="meetings")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    digest_due_at = models.DateTimeField()
    # The agenda as it was emailed, so what was sent can be read later.
    agenda_sent = models.JSONField(null=True, blank=True)
    digest_sent_at = models.DateTimeField(null=True, blank=True)
    minutes_sent_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.UniqueConstraint(fields=["series", "starts_at"], name="one_meeting_per_slot"),
        ]
        indexes = [models.Index(fields=["digest_due_at"], name="meeting_digest_due")]

    def __str__(self):
        return f"{self.series.name}, {self.local_start:%a %d %b %Y %H:%M}"

    @property
    def tz(self):
        return zoneinfo.ZoneInfo(self.series.time_zone)

    @property
    def local_start(self):
        return LocalDatetime.of(self.starts_at.astimezone(self.tz))

    @property
    def is_past(self):
        return self.ends_at <= timezone.now()


class Decision(models.Model):
    """A decision taken from the meeting page: the meeting's minutes."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="decisions")
    request = models.ForeignKey(
        "requests_app.FeatureRequest", on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=30)
    summary = models.CharField(max_length=400)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return self.summary


class ActionItem(models.Model):
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="action_items")
    title = models.CharField(max_length=300)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="action_items"
    )
    due_date = models.DateField()
    done_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["done_at", "due_date", "id"]

    def __str__(self):
        return self.title

    @property
    def done(self):
        return self.done_at is not None


class Delivery(models.Model):
    """One email of one kind to one attendee for one meeting; the unique constraint and a
    conditional claim make it go exactly once whatever retries or concurrent runs do."""

    class Kind(models.TextChoices):
        DIGEST = "digest", "Agenda digest"
        MINUTES = "minutes", "Minutes"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="deliveries")
    attendee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["meeting", "attendee", "kind"], name="one_delivery_per_attendee"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} to {self.attendee} ({self.status})"
