"""Shapes of the meetings API. They validate input shape only; meetings.services decides."""

from rest_framework import serializers

from accounts.models import User

from .models import ActionItem, Decision, Meeting
from .services import MEETING_MOVES


class MeetingSerializer(serializers.ModelSerializer):
    series = serializers.CharField(source="series.name", read_only=True)
    time_zone = serializers.CharField(source="series.time_zone", read_only=True)
    local_start = serializers.SerializerMethodField(
        help_text="The start in the series' own time zone."
    )
    is_past = serializers.BooleanField(read_only=True)

    class Meta:
        model = Meeting
        fields = [
            "id",
            "series",
            "starts_at",
            "ends_at",
            "local_start",
            "time_zone",
            "is_past",
            "digest_sent_at",
            "minutes_sent_at",
        ]
        read_only_fields = fields

    def get_local_start(self, meeting) -> str:
        return meeting.local_start.isoformat()


class AttendeeSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="display_name", read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "name", "role"]
        read_only_fields = fields


class MeetingDetailSerializer(MeetingSerializer):
    attendees = AttendeeSerializer(source="series.attendees", many=True, read_only=True)

    class Meta(MeetingSerializer.Meta):
        fields = [*MeetingSerializer.Meta.fields, "attendees"]
        read_only_fields = fields


class DecisionSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", read_only=True)

    class Meta:
        model = Decision
        fields = ["id", "meeting", "request", "action", "summary", "actor", "created_at"]
        read_only_fields = fields


class DecisionWriteSerializer(serializers.Serializer):
    request = serializers.IntegerField(help_text="The escalated request decided on.")
    action = serializers.ChoiceField(choices=sorted(MEETING_MOVES))
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    quarter = serializers.CharField(
        max_length=20, required=False, allow_blank=True, help_text="defer: e.g. FY2027Q2"
    )


class ActionItemSerializer(serializers.ModelSerializer):
    owner_name = serializers.CharField(source="owner.display_name", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    done = serializers.BooleanField(read_only=True)

    class Meta:
        model = ActionItem
        fields = [
            "id",
            "meeting",
            "title",
            "owner",
            "owner_name",
            "due_date",
            "done",
            "done_at",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class ActionItemWriteSerializer(serializers.Serializer):
    # As the meeting page's ActionItemForm: any active user may own an action item.
    title = serializers.CharField(max_length=300)
    owner = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True))
    due_date = serializers.DateField()


class ActionItemDoneSerializer(serializers.Serializer):
    done = serializers.BooleanField()
