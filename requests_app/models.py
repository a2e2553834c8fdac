from collections import defaultdict
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxLengthValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import cached_property

MAX_PROBLEM_LENGTH = 20_000


class Status(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    RETURNED = "returned", "Returned"
    REJECTED = "rejected", "Rejected"
    ESCALATED = "escalated", "Escalated"
    APPROVED = "approved", "Approved"
    DEFERRED = "deferred", "Deferred"
    DECLINED = "declined", "Declined"
    IN_PROGRESS = "in_progress", "In progress"
    SHIPPED = "shipped", "Shipped"
    CANCELLED = "cancelled", "Cancelled"
    WITHDRAWN = "withdrawn", "Withdrawn"
    MERGED = "merged", "Merged"


ROADMAP_STATUSES = {Status.APPROVED, Status.IN_PROGRESS, Status.SHIPPED}


class Importance(models.TextChoices):
    NICE_TO_HAVE = "nice_to_have", "Nice-to-have"
    IMPORTANT = "important", "Important"
    DEAL_BLOCKER = "deal_blocker", "Deal-blocker"


class Funding(models.TextChoices):
    SALES = "sales", "Sales budget"
    PRODUCT = "product", "Product-funded"


MAX_ESTIMATE = 10_000


class ProductTheme(models.Model):
    """A long-term product theme (the 2-5 year view) a request can be tied to."""

    name = models.CharField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class FeatureRequest(models.Model):
    title = models.CharField(max_length=200)
    problem = models.TextField(
        help_text="The problem the customer has, in their words.",
        validators=[MaxLengthValidator(MAX_PROBLEM_LENGTH)],
    )
    proposed_solution = models.TextField(
        blank=True, validators=[MaxLengthValidator(MAX_PROBLEM_LENGTH)]
    )
    importance = models.CharField(
        max_length=20, choices=Importance.choices, default=Importance.IMPORTANT
    )
    theme = models.ForeignKey(
        ProductTheme,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="requests",
        help_text="Empty means tactical: needed within the next 12 months.",
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="authored_requests"
    )
    # The author's manager when the request was submitted: the team whose inbox it is in.
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="team_requests",
    )
    target_quarter = models.ForeignKey(
        "budgets.Quarter", null=True, blank=True, on_delete=models.PROTECT, related_name="requests"
    )
    estimate = models.PositiveIntegerField(null=True, blank=True)
    funding = models.CharField(max_length=10, choices=Funding.choices, blank=True)
    # Points this request holds in its quarter's sales budget right now (0 when none).
    reserved_points = models.PositiveIntegerField(default=0)
    inbox_rank = models.PositiveIntegerField(null=True, blank=True)
    queue_rank = models.PositiveIntegerField(null=True, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_requests"
    )
    followers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="followed_requests"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Strict orders: no two requests share a rank in one inbox or one quarter's queue.
            models.UniqueConstraint(
                fields=["manager", "inbox_rank"],
                condition=Q(inbox_rank__isnull=False),
                name="unique_inbox_rank",
            ),
            models.UniqueConstraint(
                fields=["target_quarter", "queue_rank"],
                condition=Q(queue_rank__isnull=False),
                name="unique_queue_rank",
            ),
            models.CheckConstraint(
                condition=Q(inbox_rank__isnull=True) | Q(status="submitted"),
                name="inbox_rank_only_when_submitted",
            ),
            models.CheckConstraint(
                condition=Q(queue_rank__isnull=True) | Q(status="escalated"),
                name="queue_rank_only_when_escalated",
            ),
            models.CheckConstraint(
                condition=Q(estimate__isnull=True) | Q(estimate__gte=1), name="estimate_positive"
            ),
            models.CheckConstraint(
                condition=Q(reserved_points=0) | Q(funding="sales"),
                name="only_sales_funded_requests_reserve_points",
            ),
        ]
        indexes = [
            # /inbox/: a team's submitted requests in rank order.
            models.Index(fields=["manager", "inbox_rank"], name="req_inbox_order"),
            # /queue/ and /review/: a quarter's escalated requests in rank order.
            models.Index(fields=["target_quarter", "queue_rank"], name="req_queue_order"),
            # /requests/ filtered by status, newest first.
            models.Index(fields=["status", "-created_at"], name="req_status_recent"),
            # /requests/ and GET /api/v1/requests/ unfiltered: "WHERE <visible to the user>
            # ORDER BY created_at DESC, id DESC LIMIT 25" walks this index and stops after a
            # page instead of sorting every visible request (bench: 20,000 rows).
            models.Index(fields=["-created_at", "-id"], name="req_recent"),
            # /roadmap/ and GET /api/v1/roadmap/: "WHERE status = 'shipped' AND shipped_at >=
            # <90 days ago> ORDER BY shipped_at DESC", and the column counts, which OR it with
            # the other roadmap statuses, read through the status indexes instead of every
            # request (bench: 20,000 rows).
            models.Index(fields=["status", "-shipped_at"], name="req_status_shipped"),
            # The counts of /requests/ and GET /api/v1/requests/ for sales and product roles
            # (services.requests_visible_count): "COUNT(*) WHERE escalated_at IS NOT NULL"
            # reads this index alone, and "... WHERE escalated_at IS NULL AND <visible to the
            # user>" only the short range of the rest, instead of testing the visibility OR on
            # every row (bench: 20,000 rows, 4 ms -> 1.5 ms).
            models.Index(fields=["escalated_at"], name="req_escalated"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.title}"

    # Ranks are a sparse strict order (leaving a queue leaves a gap, see
    # services._leave_queues); people see positions 1..n. Lists set these attributes from
    # their enumeration or services.with_positions(); a lone request counts once.
    @cached_property
    def inbox_position(self):
        return self._position("manager", "inbox_rank")

    @cached_property
    def queue_position(self):
        return self._position("target_quarter", "queue_rank")

    def _position(self, container, field):
        return position_in(container, getattr(self, f"{container}_id"), field, getattr(self, field))

    @property
    def horizon_label(self):
        return self.theme.name if self.theme_id else TACTICAL

    @property
    def is_committed(self):
        return self.status in ROADMAP_STATUSES

    def demand(self):
        """ARR at stake per currency and the number of distinct accounts.

        Uses prefetched deals when present, so list pages stay at a fixed query count."""
        return demand_of((d.currency, d.amount, d.account_name) for d in self.deals.all())


# The horizon of a request with no product theme.
TACTICAL = "Tactical (next 12 months)"


def position_in(container, container_id, field, rank):
    """The position 1..n of the request ranked `rank` in its inbox (container "manager",
    field "inbox_rank") or queue ("target_quarter", "queue_rank"); None when it is in none."""
    if rank is None:
        return None
    ahead = {f"{container}_id": container_id, f"{field}__lt": rank}
    return FeatureRequest.objects.filter(**ahead).count() + 1


def demand_of(deals):
    """A request's demand from its deals as (currency, amount, account name) rows: ARR at
    stake per currency and the number of distinct accounts."""
    totals = defaultdict(Decimal)
    accounts = set()
    for currency, amount, account_name in deals:
        totals[currency] += amount
        accounts.add(account_name.strip().lower())
    return {"arr": dict(sorted(totals.items())), "accounts": len(accounts)}


class Currency(models.TextChoices):
    USD = "USD", "USD"
    EUR = "EUR", "EUR"
    GBP = "GBP", "GBP"
    CAD = "CAD", "CAD"
    AUD = "AUD", "AUD"
    CHF = "CHF", "CHF"
    SEK = "SEK", "SEK"
    JPY = "JPY", "JPY"


class Stage(models.TextChoices):
    PROSPECTING = "prospecting", "Prospecting"
    QUALIFIED = "qualified", "Qualified"
    PROPOSAL = "proposal", "Proposal"
    NEGOTIATION = "negotiation", "Negotiation"
    CLOSED_WON = "closed_won", "Closed won"
    CLOSED_LOST = "closed_lost", "Closed lost"


class Deal(models.Model):
    """A customer's opportunity that needs the request; one deal backs one request."""

    request = models.ForeignKey(FeatureRequest, on_delete=models.CASCADE, related_name="deals")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="deals"
    )
    account_name = models.CharField(max_length=120)
    amount = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="ARR at stake.",
    )
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.USD)
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.QUALIFIED)
    expected_close_date = models.DateField()
    crm_ref = models.CharField("CRM id or link", max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-amount", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="deal_amount_not_negative"),
        ]
        indexes = [
            # The weekly agenda's "deals closing within 30 days": WHERE expected_close_date
            # BETWEEN today AND today + 30 ORDER BY expected_close_date, a range of this index
            # instead of a scan of every deal (bench: 40,000 deals, 15 ms -> well under 1 ms).
            models.Index(fields=["expected_close_date", "id"], name="deal_closing"),
        ]

    def __str__(self):
        return f"{self.account_name} ({self.currency} {self.amount:,.0f})"


class _Remark(models.Model):
    """Text someone wrote on a request."""

    request = models.ForeignKey(FeatureRequest, on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(validators=[MaxLengthValidator(5_000)])
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self._meta.verbose_name.capitalize()} by {self.author} on #{self.request_id}"


class Comment(_Remark):
    request = models.ForeignKey(FeatureRequest, on_delete=models.CASCADE, related_name="comments")

    class Meta(_Remark.Meta):
        pass


class ProductNote(_Remark):
    """Internal product notes: seen by product roles only."""

    request = models.ForeignKey(FeatureRequest, on_delete=models.CASCADE, related_name="notes")

    class Meta(_Remark.Meta):
        pass


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("Audit events are append-only.")

    def delete(self):
        raise TypeError("Audit events are append-only.")


class AuditEvent(models.Model):
    """One row per move, estimate change, rank change, comment and merge. Never edited."""

    request = models.ForeignKey(FeatureRequest, on_delete=models.PROTECT, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=30)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    reason = models.TextField(blank=True)
    old_value = models.JSONField(null=True, blank=True)
    new_value = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["request", "created_at"], name="audit_by_request")]

    def __str__(self):
        return f"{self.action} on #{self.request_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Audit events are append-only.")
