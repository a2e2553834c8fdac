"""JSON API for the weekly sync: thin views over meetings.services, with the page's rules."""

from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import NotFound
from config.listing import (
    OrderedList,
    filter_flag,
    flag_parameter,
    ordering_parameter,
    text_parameter,
)
from config.openapi import CONFLICT, FORBIDDEN
from requests_app import services as request_services

from . import services
from .models import ActionItem, Decision
from .serializers import (
    ActionItemDoneSerializer,
    ActionItemSerializer,
    ActionItemWriteSerializer,
    DecisionSerializer,
    DecisionWriteSerializer,
    MeetingDetailSerializer,
    MeetingSerializer,
)


class Meetings(OrderedList, generics.ListAPIView):
    """The meetings you attend (the two heads: all; extra attendees: their series');
    ?when=upcoming|past, ?ordering=."""

    serializer_class = MeetingSerializer
    orderings = {"starts_at": ("starts_at", "id"), "-starts_at": ("-starts_at", "-id")}
    default_ordering = "starts_at"

    def get_queryset(self):
        qs = services.meetings_for(self.request.user)
        when = self.request.query_params.get("when")
        if when:
            now = timezone.now()
            qs = {
                "upcoming": qs.filter(ends_at__gt=now),
                "past": qs.filter(ends_at__lte=now),
            }.get(when, qs.none())
        return self.ordered(qs)

    @extend_schema(
        parameters=[
            text_parameter("when", "Meetings still to end, or over.", enum=["upcoming", "past"]),
            ordering_parameter(orderings, default_ordering),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class MeetingDetail(APIView):
    @extend_schema(responses=MeetingDetailSerializer)
    def get(self, request, pk):
        meeting = services.meeting_get_for_user(request.user, pk)
        return Response(MeetingDetailSerializer(meeting).data)


class MeetingAgenda(APIView):
    """The agenda built from live data, or as it was emailed (`agenda_sent`)."""

    @extend_schema(responses=inline_serializer("Agenda", {"agenda": serializers.DictField()}))
    def get(self, request, pk):
        meeting = services.meeting_get_for_user(request.user, pk)
        return Response(
            {
                "meeting": meeting.pk,
                "starts_at": meeting.starts_at,
                "agenda": services.build_agenda(meeting),
                "agenda_sent": meeting.agenda_sent,
            }
        )


class _OfMeeting(OrderedList, generics.ListAPIView):
    """Rows of one meeting the caller attends, paginated; 404 for any other meeting."""

    def the_meeting(self):
        return services.meeting_get_for_user(self.request.user, self.kwargs["pk"])

    def get_queryset(self):
        return self.ordered(self.rows(self.the_meeting()))


class MeetingDecisions(_OfMeeting):
    """The minutes: decisions taken in the meeting. The Head of Product adds one (approve,
    approve as product-funded, defer, decline) through the review queue's own services."""

    serializer_class = DecisionSerializer
    orderings = {"created_at": ("created_at", "id"), "-created_at": ("-created_at", "-id")}
    default_ordering = "created_at"

    def rows(self, meeting):
        return Decision.objects.filter(meeting=meeting).select_related("actor")

    @extend_schema(parameters=[ordering_parameter(orderings, default_ordering)])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=DecisionWriteSerializer,
        responses={201: DecisionSerializer, 403: FORBIDDEN, 409: CONFLICT},
    )
    def post(self, request, pk):
        meeting = self.the_meeting()
        body = DecisionWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        fr = request_services.request_get_for_user(request.user, data["request"])
        decision = services.meeting_decide(
            meeting=meeting,
            fr=fr,
            actor=request.user,
            action=data["action"],
            reason=data.get("reason", ""),
            quarter_slug=data.get("quarter", ""),
        )
        return Response(DecisionSerializer(decision).data, status=201)


class MeetingActions(_OfMeeting):
    """The meeting's action items; ?done=. Anyone attending adds one, with an owner and a
    due date."""

    serializer_class = ActionItemSerializer
    orderings = {
        "due_date": ("due_date", "id"),
        "-due_date": ("-due_date", "-id"),
        "created_at": ("created_at", "id"),
    }
    default_ordering = "due_date"

    def rows(self, meeting):
        qs = ActionItem.objects.filter(meeting=meeting).select_related("owner", "created_by")
        return filter_flag(qs, self.request.query_params, "done", Q(done_at__isnull=False))

    @extend_schema(
        parameters=[
            flag_parameter("done", "Only done (true) or open (false) items."),
            ordering_parameter(orderings, default_ordering),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=ActionItemWriteSerializer, responses={201: ActionItemSerializer})
    def post(self, request, pk):
        meeting = self.the_meeting()
        body = ActionItemWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        item = services.action_item_add(meeting=meeting, actor=request.user, **body.validated_data)
        return Response(ActionItemSerializer(item).data, status=201)


class MeetingActionDetail(APIView):
    """PATCH {"done": true|false}: the owner or one of the heads marks it done or open again.
    Open items of the series are on every meeting's agenda, so any of its meetings will do."""

    @extend_schema(
        request=ActionItemDoneSerializer,
        responses={200: ActionItemSerializer, 403: FORBIDDEN},
    )
    def patch(self, request, pk, item_id):
        meeting = services.meeting_get_for_user(request.user, pk)
        item = (
            ActionItem.objects.filter(pk=item_id, meeting__series=meeting.series)
            .select_related("owner", "created_by")
            .first()
        )
        if item is None:
            raise NotFound("No such action item.")
        body = ActionItemDoneSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        item = services.action_item_set_done(
            item=item, actor=request.user, done=body.validated_data["done"]
        )
        return Response(ActionItemSerializer(item).data)
