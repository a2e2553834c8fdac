import secrets
import uuid

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Role(models.TextChoices):
    SALES_REP = "sales_rep", "Sales rep"
    SALES_MANAGER = "sales_manager", "Sales manager"
    HEAD_OF_SALES = "head_of_sales", "Head of Sales"
    PRODUCT_MANAGER = "product_manager", "Product manager"
    HEAD_OF_PRODUCT = "head_of_product", "Head of Product"
    ADMIN = "admin", "Admin"


SALES_ROLES = {Role.SALES_REP, Role.SALES_MANAGER, Role.HEAD_OF_SALES}
PRODUCT_ROLES = {Role.PRODUCT_MANAGER, Role.HEAD_OF_PRODUCT}
# Roles of which exactly one person may be active at a time.
SINGLE_SEAT_ROLES = (Role.HEAD_OF_SALES, Role.HEAD_OF_PRODUCT)
# Who each role reports to; roles not listed report to nobody in this app.
REPORTS_TO = {
    Role.SALES_REP: Role.SALES_MANAGER,
    Role.SALES_MANAGER: Role.HEAD_OF_SALES,
}


class NotificationMode(models.TextChoices):
    IMMEDIATE = "immediate", "Immediately"
    DAILY = "daily", "A daily summary"
    NONE = "none", "None"


class User(AbstractUser):
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.SALES_REP)
    manager = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reports",
        help_text="A rep reports to a sales manager; a sales manager to the Head of Sales.",
    )
    notification_mode = models.CharField(
        "Email notifications",
        max_length=10,
        choices=NotificationMode.choices,
        default=NotificationMode.IMMEDIATE,
    )
    team_name = models.CharField(
        max_length=80,
        blank=True,
        help_text="For sales managers: the name of the team they lead, e.g. 'Enterprise East'.",
    )

    class Meta:
        ordering = ["first_name", "last_name", "username"]
        constraints = [
            # The database, not only the form, keeps the two heads unique.
            models.UniqueConstraint(
                fields=["role"],
                condition=Q(is_active=True, role__in=[r.value for r in SINGLE_SEAT_ROLES]),
                name="one_active_head_per_role",
                violation_error_message=(
                    "Only one person at a time may be the active Head of Sales or Head of Product."
                ),
            ),
            models.CheckConstraint(
                condition=Q(manager__isnull=True) | Q(role__in=[r.value for r in REPORTS_TO]),
                name="only_sales_staff_have_a_manager",
            ),
        ]

    def __str__(self):
        return self.display_name

    @property
    def display_name(self):
        return display_name_of(self.first_name, self.last_name, self.username)

    @property
    def is_sales(self):
        return self.role in SALES_ROLES

    @property
    def is_product(self):
        return self.role in PRODUCT_ROLES

    @property
    def is_head_of_sales(self):
        return self.role == Role.HEAD_OF_SALES

    @property
    def is_head_of_product(self):
        return self.role == Role.HEAD_OF_PRODUCT

    def sees_reporting_line_of(self, other):
        """Who reports to whom: the Head of Sales (who runs every team) and admins (who set
        teams up) see it for everyone; others for themselves, their manager, their own reports
        and their teammates. A sales manager's team name is on every page anyway."""
        if self.role in (Role.HEAD_OF_SALES, Role.ADMIN) or self.pk == other.pk:
            return True
        if other.manager_id is not None and other.manager_id in (self.pk, self.manager_id):
            return True
        return other.pk == self.manager_id

    @property
    def team_label(self):
        """How a sales manager's team is named on pages."""
        return team_label_of(self.team_name, self.first_name, self.last_name, self.username)

    def clean(self):
        super().clean()
        errors = {}
        expected = REPORTS_TO.get(self.role)
        if expected is None and self.manager_id:
            errors["manager"] = f"A {self.get_role_display()} does not report to a manager here."
        elif expected is not None:
            if self.manager_id is None:
                errors["manager"] = (
                    f"A {self.get_role_display()} needs a manager who is a {expected.label}."
                )
            elif self.manager.role != expected:
                errors["manager"] = (
                    f"A {self.get_role_display()}'s manager must be a {expected.label}; "
                    f"{self.manager} is a {self.manager.get_role_display()}."
                )
            elif self.manager_id == self.pk:
                errors["manager"] = "Nobody can be their own manager."
        if self.role in SINGLE_SEAT_ROLES and self.is_active:
            other = User.objects.filter(role=self.role, is_active=True).exclude(pk=self.pk).first()
            if other:
                errors["role"] = (
                    f"{other} is already the active {self.get_role_display()}; "
                    "deactivate them first."
                )
        if self.pk is not None and "role" not in errors:
            # Each report checks only its own manager, so a role change here (say a sales
            # manager moving to product) would silently leave their team reporting to the
            # wrong kind of person.
            may_report_here = [role for role, boss in REPORTS_TO.items() if boss == self.role]
            stranded = self.reports.exclude(role__in=may_report_here).count()
            if stranded:
                errors["role"] = (
                    f"{self} still has {stranded} direct report(s) who cannot report to a "
                    f"{self.get_role_display()}; give them another manager first."
                )
        if self.role != Role.SALES_MANAGER and self.team_name:
            errors["team_name"] = "Only sales managers lead a team."
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs):
        # Admins work in the Django admin; nobody else needs it.
        if self.role == Role.ADMIN:
            self.is_staff = True
        super().save(*args, **kwargs)


class Notification(models.Model):
    """The outbox: written in the same transaction as the change it reports, sent by Celery
    afterwards (at once, or in the daily summary). A periodic sweep sends what is left, so an
    action succeeds even while the broker is down."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    request = models.ForeignKey(
        "requests_app.FeatureRequest",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    verb = models.CharField(max_length=30)
    subject = models.CharField(max_length=250)
    body = models.TextField()
    daily = models.BooleanField(default=False, help_text="Held for the daily summary.")
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # The sweep: unsent notifications, oldest first.
            models.Index(
                fields=["created_at"], condition=Q(sent_at__isnull=True), name="notification_unsent"
            ),
        ]

    def __str__(self):
        return f"{self.verb} to {self.user}"


class WebhookEvent(models.TextChoices):
    REQUEST_STATUS_CHANGED = "request.status_changed", "Request status changed"
    BUDGET_MOVED = "budget.moved", "Budget moved (a ledger entry)"


def webhook_secret():
    return secrets.token_hex(32)


def all_webhook_events():
    return [event.value for event in WebhookEvent]


class WebhookEndpoint(models.Model):
    """A URL an admin registered to receive signed JSON events."""

    url = models.URLField(
        "URL",
        max_length=500,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="http:// or https:// address that accepts a POST of JSON.",
    )
    description = models.CharField(max_length=200, blank=True)
    secret = models.CharField(
        max_length=64,
        default=webhook_secret,
        editable=False,
        help_text="Signs every delivery (HMAC-SHA256); give it to the receiver.",
    )
    events = models.JSONField(
        default=all_webhook_events, help_text="The event types this endpoint receives."
    )
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["url", "id"]
        verbose_name = "webhook endpoint"

    def __str__(self):
        return self.description or self.url

    def clean(self):
        super().clean()
        known = set(all_webhook_events())
        if not isinstance(self.events, list) or not self.events:
            raise ValidationError({"events": "Choose at least one event type."})
        unknown = [e for e in self.events if e not in known]
        if unknown:
            raise ValidationError({"events": f"Unknown event type(s): {', '.join(unknown)}."})

    def wants(self, event_type):
        return event_type in self.events


class WebhookDelivery(models.Model):
    """One event for one endpoint: the outbox row and its delivery log at once. Written in the
    change's transaction; a worker claims it (pending -> sending) with a conditional UPDATE so
    it is POSTed by one worker at a time, and the event id stays the same on every retry."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event_type = models.CharField(max_length=40, choices=WebhookEvent.choices)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField("last HTTP status", null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The sweep: deliveries still to send (or stuck sending), soonest first.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "sending"]),
                name="webhook_delivery_due",
            ),
        ]

    def __str__(self):
        return f"{self.event_type} {self.event_id} to {self.endpoint_id}"


# The names above from plain values, for long lists read with .values() instead of objects.


def display_name_of(first_name, last_name, username):
    """User.display_name: the full name (as get_full_name), else the username."""
    return f"{first_name} {last_name}".strip() or username


def team_label_of(team_name, first_name, last_name, username):
    """User.team_label."""
    return team_name or f"Team {display_name_of(first_name, last_name, username)}"
