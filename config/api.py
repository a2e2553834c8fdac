"""/api/v1/: the JSON API. Views are thin; the services decide (see each app's api.py)."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib.auth import authenticate
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from budgets.models import Quarter
from budgets.services import quarter_from_slug
from config.errors import DomainError, NotFound
from meetings import services as meeting_services
from requests_app import api as request_api


def handle_exception(exc, context):
    """Domain errors become JSON with their status and numbers; DRF handles the rest."""
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.status)
    return exception_handler(exc, context)


class CredentialsSerializer(serializers.Serializer):
    # Shape only (a JSON object of two strings, no NUL bytes): anything else is a 400, not a 500.
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class TokenView(APIView):
    """POST username and password for a token; DELETE revokes the caller's token."""

    permission_classes = [AllowAny]

    @extend_schema(
        request=CredentialsSerializer,
        responses=inline_serializer("TokenOut", {"token": serializers.CharField()}),
    )
    def post(self, request):
        body = CredentialsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        username, password = body.validated_data["username"], body.validated_data["password"]
        user = authenticate(request, username=username, password=password)
        if user is None or not user.is_active:
            raise AuthenticationFailed("Wrong username or password.")
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})

    @extend_schema(responses={204: None})
    def delete(self, request):
        if not request.user.is_authenticated:
            raise AuthenticationFailed("Sign in first.")
        Token.objects.filter(user=request.user).delete()
        return Response(status=204)


USER_SCHEMA = inline_serializer(
    "Me",
    {
        "id": serializers.IntegerField(),
        "username": serializers.CharField(),
        "name": serializers.CharField(),
        "role": serializers.CharField(),
        "manager": serializers.IntegerField(allow_null=True),
    },
)


class Me(APIView):
    @extend_schema(responses=USER_SCHEMA)
    def get(self, request):
        u = request.user
        return Response(
            {
                "id": u.pk,
                "username": u.username,
                "name": u.display_name,
                "role": u.role,
                "manager": u.manager_id,
            }
        )


def _budget(quarter, *, ledger=False):
    b = quarter.budget
    data = {
        "quarter": quarter.slug,
        "label": quarter.label,
        "start": quarter.start_date,
        "end": quarter.end_date,
        "closed": quarter.is_closed,
        "capacity": b.capacity,
        "percentage": b.percentage,
        "allocated": b.allocated,
        "reserved": b.reserved,
        "expired": b.expired,
        "remaining": b.remaining,
    }
    if ledger:
        data["ledger"] = [
            {
                "id": e.id,
                "kind": e.kind,
                "points": e.points,
                "actor": e.actor.username if e.actor else None,
                "request": e.request_id,
                "reason": e.reason,
                "reserved_after": e.reserved_after,
                "remaining_after": e.remaining_after,
                "created_at": e.created_at,
            }
            for e in b.entries.select_related("actor").order_by("-created_at", "-id")[:200]
        ]
    return data


class Quarters(APIView):
    @extend_schema(
        operation_id="quarters_list",
        responses=inline_serializer("Quarters", {"results": serializers.ListField()}),
    )
    def get(self, request):
        return Response({"results": [_budget(q) for q in Quarter.objects.select_related("budget")]})


class QuarterDetail(APIView):
    @extend_schema(
        responses=inline_serializer("QuarterBudget", {"ledger": serializers.ListField()})
    )
    def get(self, request, slug):
        quarter = quarter_from_slug(slug)
        if quarter is None:
            raise NotFound("No such quarter.")
        return Response(_budget(quarter, ledger=True))


class MeetingAgenda(APIView):
    """The agenda built from live data, or as it was emailed (`agenda_sent`)."""

    @extend_schema(responses=inline_serializer("Agenda", {"agenda": serializers.DictField()}))
    def get(self, request, pk):
        meeting = meeting_services.meeting_get_for_user(request.user, pk)
        return Response(
            {
                "meeting": meeting.pk,
                "starts_at": meeting.starts_at,
                "agenda": meeting_services.build_agenda(meeting),
                "agenda_sent": meeting.agenda_sent,
            }
        )


urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("me/", Me.as_view(), name="api-me"),
    path("quarters/", Quarters.as_view(), name="api-quarters"),
    path("quarters/<str:slug>/", QuarterDetail.as_view(), name="api-quarter"),
    path("requests/", request_api.RequestList.as_view(), name="api-requests"),
    path("requests/<int:pk>/", request_api.RequestDetail.as_view(), name="api-request"),
    path(
        "requests/<int:pk>/events/", request_api.RequestEvents.as_view(), name="api-request-events"
    ),
    path(
        "requests/<int:pk>/<str:action>/",
        request_api.RequestAction.as_view(),
        name="api-request-action",
    ),
    path("queues/<str:slug>/", request_api.QueueDetail.as_view(), name="api-queue"),
    path(
        "queues/<str:slug>/ranking/", request_api.QueueRanking.as_view(), name="api-queue-ranking"
    ),
    path("inbox/", request_api.Inbox.as_view(), name="api-inbox"),
    path("inbox/ranking/", request_api.InboxRanking.as_view(), name="api-inbox-ranking"),
    path("roadmap/", request_api.Roadmap.as_view(), name="api-roadmap"),
    path("meetings/<int:pk>/agenda/", MeetingAgenda.as_view(), name="api-meeting-agenda"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI's script is a file of its own (split view); it styles with inline <style>.
    path(
        "docs/",
        csp_update({"style-src": [UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema")
        ),
        name="api-docs",
    ),
]
