from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from .fiscal import FiscalQuarter


class QuarterQuerySet(models.QuerySet):
    def for_fiscal(self, fq):
        return self.filter(fiscal_year=fq.fiscal_year, number=fq.number)


class Quarter(models.Model):
    """A fiscal quarter. Open while it is the current or the next one, or in the week
    after it ends; closed once its budget's remainder has expired."""

    fiscal_year = models.PositiveSmallIntegerField()
    number = models.PositiveSmallIntegerField()
    start_date = models.DateField()
    end_date = models.DateField()
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = QuarterQuerySet.as_manager()

    class Meta:
        ordering = ["fiscal_year", "number"]
        constraints = [
            models.UniqueConstraint(fields=["fiscal_year", "number"], name="unique_fiscal_quarter"),
            models.CheckConstraint(
                condition=Q(number__gte=1, number__lte=4), name="quarter_1_to_4"
            ),
            models.CheckConstraint(
                condition=Q(end_date__gt=F("start_date")), name="quarter_ends_after_start"
            ),
        ]

    def __str__(self):
        return self.label

    @property
    def fiscal(self):
        return FiscalQuarter(self.fiscal_year, self.number)

    @property
    def label(self):
        return self.fiscal.label

    @property
    def slug(self):
        return self.fiscal.slug

    @property
    def closes_on(self):
        return self.fiscal.closes_on

    @property
    def is_closed(self):
        return self.closed_at is not None

    def is_open(self, today=None):
        """Current or next quarter, or ended less than a week ago, and not yet closed."""
        if self.is_closed:
            return False
        today = today or timezone.localdate()
        current = FiscalQuarter.containing(today)
        return self.start_date <= current.next().start and today < self.closes_on

    def state(self, today=None):
        today = today or timezone.localdate()
        if self.is_closed:
            return "closed"
        if today < self.start_date:
            return "next" if self.is_open(today) else "planned"
        if today <= self.end_date:
            return "current"
        return "closing" if today < self.closes_on else "ended"


class Budget(models.Model):
    """The Head of Sales' budget for one quarter.

    allocated, reserved and expired are running balances of the ledger, updated in the same
    transaction as each entry while this row is locked; the ledger stays the record and
    `tests/budgets` checks that the two always agree.
    """

    quarter = models.OneToOneField(Quarter, on_delete=models.PROTECT, related_name="budget")
    capacity = models.PositiveIntegerField(
        default=0, help_text="Engineering capacity for the quarter, in story points."
    )
    percentage = models.PositiveSmallIntegerField(
        help_text="Share of capacity given to sales, in percent."
    )
    allocated = models.IntegerField(default=0)
    reserved = models.IntegerField(default=0)
    expired = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["quarter"]
        constraints = [
            # The last line of defence behind the row lock in budgets.services.
            models.CheckConstraint(condition=Q(reserved__gte=0), name="reserved_not_negative"),
            models.CheckConstraint(
                condition=Q(reserved__lte=F("allocated") - F("expired")),
                name="reserved_within_allocated",
            ),
            models.CheckConstraint(condition=Q(expired__gte=0), name="expired_not_negative"),
            models.CheckConstraint(
                condition=Q(percentage__gte=1, percentage__lte=100), name="percentage_1_to_100"
            ),
            # allocated == floor(capacity x percentage / 100): integer division on both backends.
            models.CheckConstraint(
                condition=Q(allocated=F("capacity") * F("percentage") / 100),
                name="allocated_is_share_of_capacity",
            ),
        ]

    def __str__(self):
        return f"Sales budget {self.quarter.label}"

    def save(self, *args, **kwargs):
        if self.percentage is None:
            self.percentage = settings.SALES_BUDGET_PERCENT
        super().save(*args, **kwargs)

    @property
    def remaining(self):
        return self.allocated - self.reserved - self.expired

    @staticmethod
    def allocation_for(capacity, percentage):
        return capacity * percentage // 100


class LedgerQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("Ledger entries are append-only.")

    def delete(self):
        raise TypeError("Ledger entries are append-only.")


class LedgerEntry(models.Model):
    class Kind(models.TextChoices):
        ALLOCATE = "allocate", "Allocate"
        RESERVE = "reserve", "Reserve"
        RELEASE = "release", "Release"
        RE_ESTIMATE = "re_estimate", "Re-estimate"
        CHANGE_COST = "change_cost", "Change cost"
        EXPIRE = "expire", "Expire"

    budget = models.ForeignKey(Budget, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Signed for allocate and re-estimate (the change); positive for the other kinds.
    points = models.IntegerField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty for entries the system writes, such as expiry.",
    )
    request = models.ForeignKey(
        "requests_app.FeatureRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_entries",
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Balances right after this entry, so the ledger reads like a bank statement.
    allocated_after = models.IntegerField()
    reserved_after = models.IntegerField()
    remaining_after = models.IntegerField()

    objects = LedgerQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "ledger entries"
        indexes = [
            # The ledger table on the budget page: one budget's entries, newest first.
            models.Index(fields=["budget", "-created_at", "-id"], name="ledger_by_budget_recent"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.points} ({self.budget.quarter.label})"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("Ledger entries are append-only; write a new entry instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Ledger entries are append-only.")
