"""JSON API for requests, queues and the roadmap: thin views over requests_app.services."""

from itertools import groupby
from operator import attrgetter

from django.db.models import Q
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role, User
from budgets.services import quarter_from_slug
from config.errors import NotAllowed, NotFound
from config.listing import (
    OrderedList,
    filter_flag,
    flag_parameter,
    ordering_parameter,
    search_text,
    text_parameter,
)
from config.openapi import CONFLICT, FORBIDDEN, NOT_FOUND

from . import services
from .models import AuditEvent, Comment, Deal, FeatureRequest, ProductTheme, Stage, Status
from .serializers import (
    ActionSerializer,
    CommentSerializer,
    CommentWriteSerializer,
    DealSerializer,
    EventSerializer,
    FeatureRequestSerializer,
    RankingSerializer,
    RequestWriteSerializer,
    ThemeSerializer,
    ThemeWriteSerializer,
    request_row,
)


def _shown(request, pk):
    """The request as FeatureRequestSerializer shows it, or 404 if the caller may not see it.
    Built with request_row (tests/api/test_request_row.py holds the two equal), a few
    milliseconds cheaper than the serializer's fields; a position is counted only for a
    request that is in an inbox or a queue."""
    fr = services.request_get_for_user(
        request.user, pk, queryset=services.with_list_data(FeatureRequest.objects.all())
    )
    return request_row(fr)


def _quarter(slug):
    quarter = quarter_from_slug(slug)
    if quarter is None:
        raise NotFound("No such quarter.")
    return quarter


class RequestList(OrderedList, generics.ListCreateAPIView):
    """Requests the caller may see; ?status=, ?quarter=FY2027Q1, ?q= and ?ordering=."""

    serializer_class = FeatureRequestSerializer
    orderings = {
        key: (key, "-id")
        for key in ("-created_at", "created_at", "title", "-title", "queue_rank", "inbox_rank")
    }
    default_ordering = "-created_at"

    def get_queryset(self):
        qs = services.with_positions(
            services.with_list_data(services.requests_visible_to(self.request.user))
        )
        params = self.request.query_params
        if params.get("status"):
            # Only known states reach the database (PostgreSQL refuses NUL bytes with a 500).
            status = params["status"]
            qs = qs.filter(status=status) if status in Status.values else qs.none()
        if params.get("quarter"):
            quarter = quarter_from_slug(params["quarter"])
            qs = qs.filter(target_quarter=quarter) if quarter else qs.none()
        text = search_text(params)
        if text:
            qs = qs.filter(Q(title__icontains=text) | Q(problem__icontains=text))
        return self.ordered(qs)

    @extend_schema(
        parameters=[
            text_parameter("status", "Only requests in this state.", enum=Status.values),
            text_parameter("quarter", "Only requests targeting this quarter, e.g. FY2027Q1."),
            text_parameter("q", "Words in the title or the problem."),
            ordering_parameter(orderings, default_ordering),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=RequestWriteSerializer,
        responses={201: FeatureRequestSerializer, 403: FORBIDDEN},
    )
    def post(self, request):
        data = RequestWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        deals = fields.pop("deals", [])
        fr = services.request_create(actor=request.user, data=fields, deals=deals)
        return Response(_shown(request, fr.pk), status=201)


class RequestDetail(APIView):
    serializer_class = FeatureRequestSerializer

    @extend_schema(responses=FeatureRequestSerializer)
    def get(self, request, pk):
        return Response(_shown(request, pk))

    @extend_schema(
        request=RequestWriteSerializer,
        responses={200: FeatureRequestSerializer, 403: FORBIDDEN, 409: CONFLICT},
    )
    def patch(self, request, pk):
        fr = services.request_get_for_user(request.user, pk)
        data = RequestWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = {k: v for k, v in data.validated_data.items() if k != "deals"}
        services.request_update(fr=fr, actor=request.user, data=fields)
        return Response(_shown(request, pk))


ACTIONS = [*services.TRANSITION_FUNCTIONS, "estimate"]


class RequestAction(APIView):
    """POST /requests/<id>/<action>/: every move of DOMAIN.md, and `estimate`."""

    serializer_class = ActionSerializer

    @extend_schema(
        operation_id="requests_action",
        request=ActionSerializer,
        responses={200: FeatureRequestSerializer, 403: FORBIDDEN, 409: CONFLICT},
    )
    def post(self, request, pk, action):
        if action not in ACTIONS:
            raise NotFound(f"Unknown action {action[:30]!r}; one of: {', '.join(ACTIONS)}.")
        # 404 before anything else; the service reads it again under its locks.
        fr = services.request_get_for_user(request.user, pk)
        body = ActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if action == "estimate":
            if "estimate" not in data:
                raise ValidationError({"estimate": ["Give the estimate in story points."]})
            services.request_estimate(
                fr=fr,
                actor=request.user,
                points=data["estimate"],
                burned_points=data.get("burned_points"),
                reason=data.get("reason", ""),
            )
        else:
            kwargs = {"fr": fr, "actor": request.user}
            if action in ("return", "reject", "withdraw", "merge", "defer", "decline", "cancel"):
                kwargs["reason"] = data.get("reason", "")
            if action == "escalate":
                kwargs["quarter"] = quarter_from_slug(data.get("quarter", ""))
            if action == "defer":
                kwargs["quarter"] = data.get("quarter", "")
            if action == "cancel":
                kwargs["unstarted_points"] = data.get("unstarted_points")
            if action == "merge":
                # A target the caller may not see is a 404, as the service answers for it.
                target = data.get("target")
                kwargs["target"] = (
                    None if target is None else services.request_get_for_user(request.user, target)
                )
            services.TRANSITION_FUNCTIONS[action](**kwargs)
        return Response(_shown(request, pk))


class _OfRequest(OrderedList, generics.ListAPIView):
    """Rows that belong to one request, paginated; 404 unless the caller may open the request,
    as its page answers."""

    def the_request(self):
        return services.request_get_for_user(self.request.user, self.kwargs["pk"])

    def get_queryset(self):
        return self.ordered(self.rows(self.the_request()))


class RequestEvents(_OfRequest):
    serializer_class = EventSerializer
    orderings = {"created_at": ("created_at", "id"), "-created_at": ("-created_at", "-id")}
    default_ordering = "created_at"

    def rows(self, fr):
        return AuditEvent.objects.filter(request=fr).select_related("actor")

    @extend_schema(parameters=[ordering_parameter(orderings, default_ordering)])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class RequestComments(_OfRequest):
    """The request's comments, oldest first; sales and product roles add one, as on its page."""

    serializer_class = CommentSerializer
    orderings = RequestEvents.orderings
    default_ordering = "created_at"

    def rows(self, fr):
        return Comment.objects.filter(request=fr).select_related("author")

    @extend_schema(parameters=[ordering_parameter(orderings, default_ordering)])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=CommentWriteSerializer,
        responses={201: CommentSerializer, 403: FORBIDDEN, 409: CONFLICT},
    )
    def post(self, request, pk):
        fr = self.the_request()
        body = CommentWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        comment = services.comment_add(fr=fr, actor=request.user, body=body.validated_data["body"])
        return Response(CommentSerializer(comment).data, status=201)


class RequestDeals(_OfRequest):
    """The customers' deals behind the request; ?stage=. Attach one as the page's deal form
    does: the author while it is editable, any rep once it is escalated."""

    serializer_class = DealSerializer
    orderings = {
        "-amount": ("-amount", "id"),
        "amount": ("amount", "id"),
        "expected_close_date": ("expected_close_date", "id"),
        "-expected_close_date": ("-expected_close_date", "-id"),
        "created_at": ("created_at", "id"),
    }
    default_ordering = "-amount"

    def rows(self, fr):
        qs = Deal.objects.filter(request=fr).select_related("owner")
        stage = self.request.query_params.get("stage")
        if stage:
            qs = qs.filter(stage=stage) if stage in Stage.values else qs.none()
        return qs

    @extend_schema(
        parameters=[
            text_parameter("stage", "Only deals at this stage.", enum=Stage.values),
            ordering_parameter(orderings, default_ordering),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=DealSerializer, responses={201: DealSerializer, 403: FORBIDDEN, 409: CONFLICT}
    )
    def post(self, request, pk):
        fr = self.the_request()
        body = DealSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        deal = services.deal_add(fr=fr, actor=request.user, data=body.validated_data)
        return Response(DealSerializer(deal).data, status=201)


def _queue_payload(quarter):
    ids = services.queue_ids(quarter.pk)
    by_id = {fr.pk: fr for fr in services.with_list_data(FeatureRequest.objects.filter(pk__in=ids))}
    rows = services.cut_line([by_id[pk] for pk in ids], quarter.budget.remaining)
    for rank, row in enumerate(rows, 1):
        row["fr"].queue_position = rank
    return {
        "quarter": quarter.slug,
        "allocated": quarter.budget.allocated,
        "reserved": quarter.budget.reserved,
        "remaining": quarter.budget.remaining,
        "order": ids,
        "items": [
            {
                **request_row(row["fr"]),
                "rank": rank,
                "running_total": row["running_total"],
                "below_cut_line": row["below"],
                "unestimated": row["unestimated"],
            }
            for rank, row in enumerate(rows, 1)
        ],
    }


QUEUE_SCHEMA = inline_serializer(
    "Queue",
    {
        "quarter": serializers.CharField(),
        "allocated": serializers.IntegerField(),
        "reserved": serializers.IntegerField(),
        "remaining": serializers.IntegerField(),
        "order": serializers.ListField(child=serializers.IntegerField()),
        "items": serializers.ListField(child=serializers.DictField()),
    },
)


class QueueDetail(APIView):
    """A quarter's sales queue in rank order, with running totals and the cut line."""

    @extend_schema(responses={200: QUEUE_SCHEMA, 403: FORBIDDEN})
    def get(self, request, slug):
        if not (request.user.is_sales or request.user.is_product):
            raise NotAllowed("The sales queue is for sales and product roles.")
        return Response(_queue_payload(_quarter(slug)))


class QueueRanking(APIView):
    """PUT the full new order with the order you saw; 409 if the queue changed meanwhile."""

    @extend_schema(
        request=RankingSerializer,
        responses={200: QUEUE_SCHEMA, 403: FORBIDDEN, 409: CONFLICT},
    )
    def put(self, request, slug):
        quarter = _quarter(slug)
        body = RankingSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.queue_reorder(
            actor=request.user,
            quarter=quarter,
            seen=body.validated_data["seen"],
            order=body.validated_data["order"],
        )
        return Response(_queue_payload(_quarter(slug)))


def _inbox_managers(user, team=None):
    if user.role == Role.SALES_MANAGER:
        return [user]
    if user.role == Role.HEAD_OF_SALES:
        managers = User.objects.filter(role=Role.SALES_MANAGER, is_active=True)
        return list(managers.filter(pk=team) if team else managers)
    raise NotAllowed("The team inbox is for sales managers and the Head of Sales.")


class Inbox(APIView):
    """Submitted requests per team in the manager's rank order."""

    @extend_schema(
        responses={
            200: inline_serializer("Inbox", {"teams": serializers.ListField()}),
            403: FORBIDDEN,
        }
    )
    def get(self, request):
        managers = _inbox_managers(request.user)
        submitted = list(
            services.with_list_data(
                FeatureRequest.objects.filter(
                    status=Status.SUBMITTED, manager__in=managers, inbox_rank__isnull=False
                )
            ).order_by("manager", "inbox_rank")
        )
        for _, team in groupby(submitted, key=attrgetter("manager_id")):
            for position, fr in enumerate(team, 1):
                fr.inbox_position = position
        return Response(
            {
                "teams": [
                    {
                        "team": m.pk,
                        "name": m.team_label,
                        "items": [request_row(fr) for fr in submitted if fr.manager_id == m.pk],
                    }
                    for m in managers
                ]
            }
        )


class InboxRanking(APIView):
    @extend_schema(
        request=RankingSerializer,
        responses={
            200: inline_serializer(
                "InboxOrder",
                {
                    "team": serializers.IntegerField(),
                    "order": serializers.ListField(child=serializers.IntegerField()),
                },
            ),
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: CONFLICT,
        },
    )
    def put(self, request):
        body = RankingSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        team = body.validated_data.get("team") or request.user.pk
        managers = _inbox_managers(request.user, team)
        manager = next((m for m in managers if m.pk == team), None)
        if manager is None:
            raise NotFound("No such team.")
        services.inbox_reorder(
            actor=request.user,
            manager=manager,
            seen=body.validated_data["seen"],
            order=body.validated_data["order"],
        )
        return Response({"team": manager.pk, "order": services.inbox_ids(manager.pk)})


class Roadmap(APIView):
    """Committed work (approved, in progress, shipped in the last 90 days, as on the page)
    and deferred work, which is not committed yet."""

    @extend_schema(responses=inline_serializer("Roadmap", {"items": serializers.ListField()}))
    def get(self, request):
        qs = services.with_list_data(
            services.requests_visible_to(request.user).filter(
                Q(status__in=[Status.APPROVED, Status.IN_PROGRESS, Status.DEFERRED])
                | services.recently_shipped_q()
            )
        ).order_by("target_quarter__fiscal_year", "target_quarter__number", "pk")
        return Response({"items": [{**request_row(fr), "committed": fr.is_committed} for fr in qs]})


# --- Product themes --------------------------------------------------------------------------


def _theme(pk):
    theme = ProductTheme.objects.filter(pk=pk).first()
    if theme is None:
        raise NotFound("No such theme.")
    return theme


class Themes(OrderedList, generics.ListAPIView):
    """The long-term product themes a request can be tied to (everyone signed in picks from
    them); ?active=, ?q=. Product roles add them, as on the themes page."""

    serializer_class = ThemeSerializer
    orderings = {"name": ("name", "id"), "-name": ("-name", "-id")}
    default_ordering = "name"

    def get_queryset(self):
        params = self.request.query_params
        qs = filter_flag(ProductTheme.objects.all(), params, "active", Q(is_active=True))
        text = search_text(params)
        if text:
            qs = qs.filter(Q(name__icontains=text) | Q(description__icontains=text))
        return self.ordered(qs)

    @extend_schema(
        parameters=[
            flag_parameter("active", "Only themes requests may be tied to now (or retired)."),
            text_parameter("q", "Words in the name or the description."),
            ordering_parameter(orderings, default_ordering),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=ThemeWriteSerializer, responses={201: ThemeSerializer, 403: FORBIDDEN})
    def post(self, request):
        body = ThemeWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        theme = services.theme_change(actor=request.user, changes=body.validated_data)
        return Response(ThemeSerializer(theme).data, status=201)


class ThemeDetail(APIView):
    @extend_schema(responses=ThemeSerializer)
    def get(self, request, pk):
        return Response(ThemeSerializer(_theme(pk)).data)

    @extend_schema(request=ThemeWriteSerializer, responses={200: ThemeSerializer, 403: FORBIDDEN})
    def patch(self, request, pk):
        theme = _theme(pk)
        body = ThemeWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        theme = services.theme_change(actor=request.user, theme=theme, changes=body.validated_data)
        return Response(ThemeSerializer(theme).data)
