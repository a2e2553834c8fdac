"""/api/v1/: the JSON API. Views are thin; the services decide (see each app's api.py)."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib.auth import authenticate
from django.db.models import Q
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import APIException, AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from accounts import api as account_api
from budgets.models import Quarter
from budgets.services import quarter_current, quarter_ensure_budget, quarter_from_slug
from config.errors import DomainError, NotFound
from config.listing import filter_flag, flag_parameter
from config.openapi import UNAUTHENTICATED
from meetings import api as meeting_api
from requests_app import api as request_api


def handle_exception(exc, context):
    """Domain errors become JSON with their status and numbers; DRF handles the rest. Every
    refusal carries `detail` and `code` (config.openapi.ErrorSerializer); bad input names its
    field with a list of messages, as DRF's own field errors do."""
    if isinstance(exc, DomainError):
        body = exc.as_dict()
        if exc.status == 400 and isinstance(exc.details.get("field"), str):
            body.setdefault(exc.details["field"], [exc.message])
        return Response(body, status=exc.status)
    response = exception_handler(exc, context)
    if (
        response is not None
        and isinstance(exc, APIException)
        and isinstance(response.data, dict)
        and set(response.data) == {"detail"}
    ):
        response.data["code"] = exc.get_codes() if isinstance(exc.detail, str) else exc.default_code
    return response


class CredentialsSerializer(serializers.Serializer):
    # Shape only (a JSON object of two strings, no NUL bytes): anything else is a 400, not a 500.
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class TokenView(APIView):
    """POST username and password for a token; DELETE revokes the caller's token."""

    permission_classes = [AllowAny]

    @extend_schema(
        request=CredentialsSerializer,
        responses={
            200: inline_serializer("TokenOut", {"token": serializers.CharField()}),
            401: UNAUTHENTICATED,
            429: inline_serializer(
                "LockedOut",
                {
                    "detail": serializers.CharField(),
                    "code": serializers.CharField(),
                    "retry_after_seconds": serializers.IntegerField(),
                },
            ),
        },
    )
    def post(self, request):
        body = CredentialsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        username, password = body.validated_data["username"], body.validated_data["password"]
        # The Django request, not DRF's wrapper: django-axes counts the failure on it, and after
        # too many its middleware answers 429 instead of the 401 below (accounts.lockout).
        user = authenticate(request._request, username=username, password=password)
        if user is None or not user.is_active:
            raise AuthenticationFailed("Wrong username or password.")
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})

    @extend_schema(responses={204: None, 401: UNAUTHENTICATED})
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
    state = quarter.state()
    data = {
        "quarter": quarter.slug,
        "label": quarter.label,
        "start": quarter.start_date,
        "end": quarter.end_date,
        "state": state,
        "current": state == "current",
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
    """Every quarter with its budget, oldest first; ?current=true gives just the current one
    (the quarter today falls in), which integrations escalate into."""

    @extend_schema(
        operation_id="quarters_list",
        parameters=[flag_parameter("current", "Only the current quarter (true) or the others.")],
        responses=inline_serializer("Quarters", {"results": serializers.ListField()}),
    )
    def get(self, request):
        quarters = Quarter.objects.select_related("budget")
        if "current" in request.query_params:
            current = quarter_current()  # made on first use, as the pages do
            quarters = filter_flag(quarters, request.query_params, "current", Q(pk=current.pk))
        return Response({"results": [_budget(quarter_ensure_budget(q)) for q in quarters]})


class QuarterDetail(APIView):
    @extend_schema(
        responses=inline_serializer("QuarterBudget", {"ledger": serializers.ListField()})
    )
    def get(self, request, slug):
        quarter = quarter_from_slug(slug)
        if quarter is None:
            raise NotFound("No such quarter.")
        return Response(_budget(quarter, ledger=True))


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
        "requests/<int:pk>/comments/",
        request_api.RequestComments.as_view(),
        name="api-request-comments",
    ),
    path("requests/<int:pk>/deals/", request_api.RequestDeals.as_view(), name="api-request-deals"),
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
    path("themes/", request_api.Themes.as_view(), name="api-themes"),
    path("themes/<int:pk>/", request_api.ThemeDetail.as_view(), name="api-theme"),
    path("users/", account_api.Users.as_view(), name="api-users"),
    path("meetings/", meeting_api.Meetings.as_view(), name="api-meetings"),
    path("meetings/<int:pk>/", meeting_api.MeetingDetail.as_view(), name="api-meeting"),
    path(
        "meetings/<int:pk>/agenda/", meeting_api.MeetingAgenda.as_view(), name="api-meeting-agenda"
    ),
    path(
        "meetings/<int:pk>/decisions/",
        meeting_api.MeetingDecisions.as_view(),
        name="api-meeting-decisions",
    ),
    path(
        "meetings/<int:pk>/actions/",
        meeting_api.MeetingActions.as_view(),
        name="api-meeting-actions",
    ),
    path(
        "meetings/<int:pk>/actions/<int:item_id>/",
        meeting_api.MeetingActionDetail.as_view(),
        name="api-meeting-action",
    ),
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
