"""Shapes of the JSON API. They validate input shape only; every rule lives in services."""

import datetime as dt

from django.utils import timezone
from rest_framework import serializers

from accounts.models import team_label_of
from budgets.fiscal import FiscalQuarter
from budgets.services import MAX_POINTS

from .forms import MAX_ARR
from .models import (
    AuditEvent,
    Comment,
    Currency,
    Deal,
    FeatureRequest,
    Funding,
    Importance,
    ProductTheme,
    Stage,
)


class DealSerializer(serializers.ModelSerializer):
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, max_value=MAX_ARR
    )
    currency = serializers.ChoiceField(choices=Currency.choices)
    stage = serializers.ChoiceField(choices=Stage.choices, default=Stage.QUALIFIED)
    owner = serializers.CharField(source="owner.username", read_only=True)

    class Meta:
        model = Deal
        fields = [
            "id",
            "account_name",
            "amount",
            "currency",
            "stage",
            "expected_close_date",
            "crm_ref",
            "owner",
            "created_at",
        ]
        read_only_fields = ["id", "owner", "created_at"]

    def validate_account_name(self, value):
        name = " ".join(value.split())
        if not name:
            raise serializers.ValidationError("Name the account.")
        return name

    def validate_expected_close_date(self, day):
        # The window the page's DealForm allows.
        today = timezone.localdate()
        if day < today - dt.timedelta(days=365) or day > today + dt.timedelta(days=3 * 365):
            raise serializers.ValidationError(
                "Pick a close date within a year back and three years ahead."
            )
        return day


class FeatureRequestSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True)
    team = serializers.SerializerMethodField()
    quarter = serializers.CharField(
        source="target_quarter.slug", read_only=True, default=None, allow_null=True
    )
    theme = serializers.CharField(
        source="theme.name", read_only=True, default=None, allow_null=True
    )
    # "" until a decision funds it; DRF drops allow_blank from read-only model fields, so the
    # schema would otherwise promise one of the two funding values only.
    funding = serializers.ChoiceField(choices=Funding.choices, allow_blank=True, read_only=True)
    arr_at_stake = serializers.SerializerMethodField()
    accounts = serializers.SerializerMethodField()
    # Positions 1..n as the inbox and the queue show them, not the sparse stored ranks.
    inbox_rank = serializers.IntegerField(source="inbox_position", read_only=True, allow_null=True)
    queue_rank = serializers.IntegerField(source="queue_position", read_only=True, allow_null=True)

    class Meta:
        model = FeatureRequest
        fields = [
            "id",
            "title",
            "problem",
            "proposed_solution",
            "importance",
            "theme",
            "status",
            "author",
            "team",
            "quarter",
            "estimate",
            "funding",
            "inbox_rank",
            "queue_rank",
            "arr_at_stake",
            "accounts",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_team(self, fr) -> str | None:
        return fr.manager.team_label if fr.manager_id else None

    def get_arr_at_stake(self, fr) -> dict[str, str]:
        return {c: f"{a:.2f}" for c, a in fr.demand()["arr"].items()}

    def get_accounts(self, fr) -> int:
        return fr.demand()["accounts"]


class QueueItemSerializer(FeatureRequestSerializer):
    """A queue row (the schema of the rows requests_app.api builds with request_row)."""

    rank = serializers.IntegerField(read_only=True, help_text="Its position 1..n in the queue.")
    running_total = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="Estimates from the top of the queue down to it; null when unestimated.",
    )
    below_cut_line = serializers.BooleanField(read_only=True)
    unestimated = serializers.BooleanField(read_only=True)

    class Meta(FeatureRequestSerializer.Meta):
        fields = [
            *FeatureRequestSerializer.Meta.fields,
            "rank",
            "running_total",
            "below_cut_line",
            "unestimated",
        ]
        read_only_fields = fields


class RoadmapItemSerializer(FeatureRequestSerializer):
    """A roadmap row: committed work, or deferred work that is not committed yet."""

    committed = serializers.BooleanField(source="is_committed", read_only=True)

    class Meta(FeatureRequestSerializer.Meta):
        fields = [*FeatureRequestSerializer.Meta.fields, "committed"]
        read_only_fields = fields


def iso_timestamp(value, zone):
    """serializers.DateTimeField().to_representation(value) for an aware datetime read from
    the database, in the current time zone `zone`: ISO 8601 with UTC written as Z. The
    field looks the time zone up again for every value, a good part of a long list's time."""
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def request_row(row, demand, *, inbox_rank=None, queue_rank=None, zone=None):
    """FeatureRequestSerializer(fr).data built from plain values, for the long ranked lists:
    `row` from services.list_rows, `demand` from services.demand_by_request and the
    positions 1..n the list counted.

    Running every row through the serializer's fields, or even building its model objects,
    cost most of a ranked list's time; tests/api/test_request_row.py holds the two to the
    same output. `zone`, the current time zone, is best looked up once for a whole list.
    """
    year = row["target_quarter__fiscal_year"]
    zone = zone or timezone.get_current_timezone()
    return {
        "id": row["id"],
        "title": row["title"],
        "problem": row["problem"],
        "proposed_solution": row["proposed_solution"],
        "importance": row["importance"],
        "theme": row["theme__name"],
        "status": row["status"],
        "author": row["author__username"],
        "team": team_label_of(
            row["manager__team_name"],
            row["manager__first_name"],
            row["manager__last_name"],
            row["manager__username"],
        )
        if row["manager_id"]
        else None,
        "quarter": None
        if year is None
        else FiscalQuarter(year, row["target_quarter__number"]).slug,
        "estimate": row["estimate"],
        "funding": row["funding"],
        "inbox_rank": inbox_rank,
        "queue_rank": queue_rank,
        "arr_at_stake": {c: f"{a:.2f}" for c, a in demand["arr"].items()},
        "accounts": demand["accounts"],
        "created_at": iso_timestamp(row["created_at"], zone),
        "updated_at": iso_timestamp(row["updated_at"], zone),
    }


class RequestWriteSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    problem = serializers.CharField(max_length=20_000)
    proposed_solution = serializers.CharField(max_length=20_000, required=False, allow_blank=True)
    importance = serializers.ChoiceField(choices=Importance.choices, default=Importance.IMPORTANT)
    theme = serializers.PrimaryKeyRelatedField(
        queryset=ProductTheme.objects.filter(is_active=True), required=False, allow_null=True
    )
    deals = DealSerializer(many=True, required=False, max_length=20)  # as DealFormSet

    def validate_title(self, value):
        value = " ".join(value.split())
        if not value:
            raise serializers.ValidationError("Give the request a title.")
        return value


class ActionSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    quarter = serializers.CharField(max_length=20, required=False, help_text="e.g. FY2027Q1")
    target = serializers.IntegerField(required=False, help_text="merge: the request to merge into")
    estimate = serializers.IntegerField(required=False, min_value=1, max_value=MAX_POINTS)
    burned_points = serializers.IntegerField(required=False, min_value=0, max_value=MAX_POINTS)
    unstarted_points = serializers.IntegerField(required=False, min_value=0, max_value=MAX_POINTS)


class RankingSerializer(serializers.Serializer):
    seen = serializers.ListField(child=serializers.IntegerField(), allow_empty=True)
    order = serializers.ListField(child=serializers.IntegerField(), allow_empty=True)
    team = serializers.IntegerField(required=False, help_text="inbox: the manager whose team")


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", read_only=True, default=None)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "action",
            "actor",
            "from_status",
            "to_status",
            "reason",
            "old_value",
            "new_value",
            "created_at",
        ]
        read_only_fields = fields


class CommentSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True)
    author_name = serializers.CharField(source="author.display_name", read_only=True)

    class Meta:
        model = Comment
        fields = ["id", "author", "author_name", "body", "created_at"]
        read_only_fields = fields


class CommentWriteSerializer(serializers.Serializer):
    # Shape only: requests_app.services.comment_add says what a comment may be.
    body = serializers.CharField(allow_blank=True, trim_whitespace=False)


class ThemeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProductTheme
        fields = ["id", "name", "description", "is_active"]
        read_only_fields = fields


class ThemeWriteSerializer(serializers.Serializer):
    # Shape only: requests_app.services.theme_save names and checks the theme.
    name = serializers.CharField(allow_blank=True, max_length=1000)
    description = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    is_active = serializers.BooleanField(required=False)
