"""JSON API for requests, queues and the roadmap: thin views over requests_app.services."""

import math
import re

from django.core.paginator import InvalidPage
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from accounts.models import Role, User
from budgets.services import quarter_from_slug
from config.compiled import Compiled
from config.errors import InvalidInput, NotAllowed, NotFound
from config.listing import (
    OrderedList,
    filter_flag,
    flag_parameter,
    ordering_parameter,
    search_text,
    text_parameter,
)
from config.openapi import BAD_INPUT, CONFLICT, FORBIDDEN, NOT_FOUND
from config.pagecache import SnapshotCachedList

from . import services
from .models import (
    ROADMAP_STATUSES,
    AuditEvent,
    Comment,
    Deal,
    FeatureRequest,
    ProductTheme,
    Stage,
    Status,
    position_in,
)
from .serializers import (
    ActionSerializer,
    CommentSerializer,
    CommentWriteSerializer,
    DealSerializer,
    EventSerializer,
    FeatureRequestSerializer,
    QueueItemSerializer,
    RankingSerializer,
    RequestWriteSerializer,
    RoadmapItemSerializer,
    ThemeSerializer,
    ThemeWriteSerializer,
    request_row,
)


def _shown(request, pk):
    """The request as FeatureRequestSerializer shows it, or 404 if the caller may not see it.

    Every write answers with this, so it is built as the ranked lists build their rows
    (request_row, held to the serializer's output by tests/api/test_request_row.py): two
    narrow queries of plain values, the request with its relations and then its deals, cost
    about a third of building the request, its four relations and its deals as model objects
    and running them through the serializer's fields. A position is counted only for a
    request that is in an inbox or a queue."""
    row = services.request_get_for_user(request.user, pk, queryset=services.SHOWN_ROWS)
    return request_row(
        row,
        services.demand_by_request([row["id"]])[row["id"]],
        inbox_rank=position_in("manager", row["manager_id"], "inbox_rank", row["inbox_rank"]),
        queue_rank=position_in(
            "target_quarter", row["target_quarter_id"], "queue_rank", row["queue_rank"]
        ),
    )


def _quarter(slug):
    quarter = quarter_from_slug(slug)
    if quarter is None:
        raise NotFound("No such quarter.")
    return quarter


class RequestList(SnapshotCachedList, OrderedList, generics.ListCreateAPIView):
    """Requests the caller may see; ?status=, ?quarter=FY2027Q1, ?q= and ?ordering=."""

    serializer_class = FeatureRequestSerializer
    orderings = {
        key: (key, "-id")
        for key in ("-created_at", "created_at", "title", "-title", "queue_rank", "inbox_rank")
    }
    default_ordering = "-created_at"

    def filtered(self):
        """The requests ?status=, ?quarter= and ?q= leave, before visibility."""
        qs = FeatureRequest.objects.all()
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
        return qs

    def get_queryset(self):
        """The caller's requests, filtered and ordered; list() reads them as plain values."""
        return self.ordered(self.filtered().filter(services.visible_q(self.request.user)))

    def list(self, request, *args, **kwargs):
        """Each row built by request_row from plain values, as the ranked lists do, and the
        total counted by requests_visible_count."""
        filtered = self.filtered()
        visible = self.ordered(filtered.filter(services.visible_q(request.user)))
        rows = services.list_rows(
            services.with_positions(visible), "inbox_position", "queue_position"
        )
        count = services.requests_visible_count(request.user, filtered)
        page = self.paginate_queryset(services.CountedRows(rows, count))
        demand = services.demand_by_request([row["id"] for row in page])
        zone = timezone.get_current_timezone()
        return self.get_paginated_response(
            [
                request_row(
                    row,
                    demand[row["id"]],
                    inbox_rank=row["inbox_position"],
                    queue_rank=row["queue_position"],
                    zone=zone,
                )
                for row in page
            ]
        )

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


# Moves whose service reads nothing of the request but its id before its locked re-read,
# which answers 404 for a request the caller may not see before any other refusal: the API
# need not look the request up first (approvals: issue 7's hot path).
CHECKED_UNDER_LOCK = {"approve", "approve_product"}


def _action_body(request, *, unseen_pk=None):
    """The action's body, validated. `unseen_pk`: the request has not been looked up yet; a
    body refused for a request the caller may not see is a 404 all the same."""
    try:
        body = ActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
    except APIException:
        if unseen_pk is not None:
            services.request_get_for_user(request.user, unseen_pk)
        raise
    return body.validated_data


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
        if action in CHECKED_UNDER_LOCK:
            fr = FeatureRequest(pk=pk)
            data = _action_body(request, unseen_pk=pk)
        else:
            # 404 before anything else; the service reads it again under its locks.
            fr = services.request_get_for_user(request.user, pk)
            data = _action_body(request)
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


# --- Ranked lists: the queue and the inbox ----------------------------------------------------
#
# A ranked list answers one page of rows, with the whole order as ids: ranking posts the whole
# order back (`seen`), and positions, running totals and the cut line are counted over all of
# it, so page 3 of the queue still shows where each request stands against the budget.

PAGE_SIZE_MAX = 500
# The Head of Sales' inbox answers this many teams a page (?teams_page=), each with one page
# of its requests; ?team= narrows it to one team.
INBOX_TEAMS_PAGE_SIZE = 5


def _number(params, name, default):
    """A whole number from the query string, `default` when it is absent; 400 otherwise."""
    raw = params.get(name, "").strip()
    if not raw:
        return default
    if not re.fullmatch(r"-?[0-9]{1,30}", raw):
        raise InvalidInput(f"{name} must be a whole number.", field=name)
    return int(raw)


def _page_params(params):
    """?page= (from 1) and ?page_size= (1 to PAGE_SIZE_MAX, RANK_PAGE_SIZE unless given)."""
    number = _number(params, "page", 1)
    size = _number(params, "page_size", services.RANK_PAGE_SIZE)
    if not 1 <= size <= PAGE_SIZE_MAX:
        raise InvalidInput(f"page_size must be from 1 to {PAGE_SIZE_MAX}.", field="page_size")
    return number, size


def _page_count(total, size):
    return max(1, math.ceil(total / size))


def _page(rows, number, size, *, param="page"):
    """One page of a whole ranked list; a page out of range is a 404, as DRF's lists answer."""
    try:
        if number < 1:  # rank_page reads 0 as "no page given"
            raise InvalidPage
        return services.rank_page(rows, number, per_page=size, strict=True)
    except InvalidPage:
        pages = _page_count(len(rows), size)
        raise NotFound(f"Invalid {param}: pages run from 1 to {pages}.") from None


def _list_url(request, name, **kwargs):
    """The absolute URL of the list `name` with the caller's query string, so that a PUT's
    answer links to the pages of the list it shows."""
    url = request.build_absolute_uri(reverse(name, kwargs=kwargs))
    query = request.GET.urlencode()
    return f"{url}?{query}" if query else url


def _page_link(url, number, param="page"):
    if number is None:
        return None
    if number == 1:
        return remove_query_param(url, param)
    return replace_query_param(url, param, number)


_list_rows_of = Compiled(
    lambda ids: services.list_rows(
        FeatureRequest.objects.filter(services.AnyOf("pk", ids)).order_by()
    ),
    list,
)


def _rows_by_id(ids):
    """The rows of one page's requests and their demand, in two queries."""
    demand = services.demand_by_request(ids)
    rows = _list_rows_of(ids)
    return {row["id"]: (row, demand[row["id"]]) for row in rows}


def _queue_payload(request, quarter, *, number, size):
    budget = quarter.budget
    rows = services.cut_line(services.queue_order(quarter.pk), budget.remaining)
    page = _page(rows, number, size)
    shown = _rows_by_id([row["fr"].pk for row in page])
    items = []
    zone = timezone.get_current_timezone()
    for position, row in enumerate(page, page.start_index()):
        if row["fr"].pk not in shown:  # it left the queue between the two reads
            continue
        items.append(
            {
                **request_row(*shown[row["fr"].pk], queue_rank=position, zone=zone),
                "rank": position,
                "running_total": row["running_total"],
                "below_cut_line": row["below"],
                "unestimated": row["unestimated"],
            }
        )
    url = _list_url(request, "api-queue", slug=quarter.slug)
    return {
        "quarter": quarter.slug,
        "allocated": budget.allocated,
        "reserved": budget.reserved,
        "remaining": budget.remaining,
        "order": [row["fr"].pk for row in rows],
        "count": page.paginator.count,
        "page": page.number,
        "pages": page.paginator.num_pages,
        "next": _page_link(url, page.next_page_number() if page.has_next() else None),
        "previous": _page_link(url, page.previous_page_number() if page.has_previous() else None),
        "cut_line_position": next(
            (position for position, row in enumerate(rows, 1) if row["first_below"]), None
        ),
        "items": items,
    }


def _link_field(help_text):
    return serializers.URLField(allow_null=True, help_text=help_text)


PAGE_PARAMETERS = [
    OpenApiParameter("page", OpenApiTypes.INT, description="The page, from 1; 1 unless given."),
    OpenApiParameter(
        "page_size",
        OpenApiTypes.INT,
        description=f"Requests a page, 1 to {PAGE_SIZE_MAX}; "
        f"{services.RANK_PAGE_SIZE} unless given.",
    ),
]

QUEUE_SCHEMA = inline_serializer(
    "Queue",
    {
        "quarter": serializers.CharField(),
        "allocated": serializers.IntegerField(),
        "reserved": serializers.IntegerField(),
        "remaining": serializers.IntegerField(),
        "order": serializers.ListField(
            child=serializers.IntegerField(),
            help_text="The whole queue's ids in rank order: send it as `seen` to rank it.",
        ),
        "count": serializers.IntegerField(help_text="Requests in the whole queue."),
        "page": serializers.IntegerField(),
        "pages": serializers.IntegerField(),
        "next": _link_field("The next page; null on the last."),
        "previous": _link_field("The previous page; null on the first."),
        "cut_line_position": serializers.IntegerField(
            allow_null=True,
            help_text="The position of the first request below the cut line; null when all "
            "estimated requests fit.",
        ),
        "items": QueueItemSerializer(many=True, help_text="This page's requests."),
    },
)


class QueueDetail(SnapshotCachedList, APIView):
    """A quarter's sales queue in rank order, one page at a time, with running totals and the
    cut line counted over the whole queue."""

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses={200: QUEUE_SCHEMA, 400: BAD_INPUT, 403: FORBIDDEN},
    )
    def get(self, request, slug):
        if not (request.user.is_sales or request.user.is_product):
            raise NotAllowed("The sales queue is for sales and product roles.")
        quarter = _quarter(slug)
        number, size = _page_params(request.query_params)
        return Response(_queue_payload(request, quarter, number=number, size=size))


class QueueRanking(APIView):
    """PUT the full new order with the order you saw; 409 if the queue changed meanwhile.
    Answers the queue's first page, or the one ?page= names."""

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        request=RankingSerializer,
        responses={200: QUEUE_SCHEMA, 403: FORBIDDEN, 409: CONFLICT},
    )
    def put(self, request, slug):
        quarter = _quarter(slug)
        number, size = _page_params(request.query_params)
        body = RankingSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        # One transaction: a page past the queue's end is a 404 that leaves the order as it was.
        with transaction.atomic():
            services.queue_reorder(
                actor=request.user,
                quarter=quarter,
                seen=body.validated_data["seen"],
                order=body.validated_data["order"],
            )
            payload = _queue_payload(request, _quarter(slug), number=number, size=size)
        return Response(payload)


def _inbox_managers(user, team=None):
    if user.role == Role.SALES_MANAGER:
        return [user]
    if user.role == Role.HEAD_OF_SALES:
        # By name (User.Meta.ordering, usernames unique): the order of the teams' pages.
        # The inbox reads a manager's id and team label only.
        managers = User.objects.filter(role=Role.SALES_MANAGER, is_active=True).only(
            "id", "username", "first_name", "last_name", "team_name"
        )
        return list(managers.filter(pk=team) if team else managers)
    raise NotAllowed("The team inbox is for sales managers and the Head of Sales.")


def _inbox_team(request, manager, order, shown, *, number, size):
    """One team's entry: its whole order and the page `number` of it, which is empty for a
    team whose inbox ends before that page."""
    pages = _page_count(len(order), size)
    start = (number - 1) * size
    items = []
    zone = timezone.get_current_timezone()
    for position, pk in enumerate(order[start : start + size], start + 1):
        if pk not in shown:  # it left the inbox between the two reads
            continue
        items.append(request_row(*shown[pk], inbox_rank=position, zone=zone))
    # A team's pages are its own list: ?team= with the page, whatever teams page this is.
    url = replace_query_param(
        remove_query_param(_list_url(request, "api-inbox"), "teams_page"), "team", manager.pk
    )
    return {
        "team": manager.pk,
        "name": manager.team_label,
        "count": len(order),
        "order": order,
        "page": number,
        "pages": pages,
        "next": _page_link(url, number + 1 if number < pages else None),
        "previous": _page_link(url, min(number - 1, pages) if number > 1 else None),
        "items": items,
    }


INBOX_TEAM_SCHEMA = inline_serializer(
    "InboxTeam",
    {
        "team": serializers.IntegerField(help_text="The team's manager: `team` when ranking."),
        "name": serializers.CharField(),
        "count": serializers.IntegerField(help_text="Requests in the team's whole inbox."),
        "order": serializers.ListField(
            child=serializers.IntegerField(),
            help_text="The whole inbox's ids in rank order: send it as `seen` to rank it.",
        ),
        "page": serializers.IntegerField(),
        "pages": serializers.IntegerField(),
        "next": _link_field("The team's next page (with ?team=); null on its last."),
        "previous": _link_field("The team's previous page; null on its first."),
        "items": FeatureRequestSerializer(many=True, help_text="This page's requests."),
    },
    many=True,
)
INBOX_SCHEMA = inline_serializer(
    "Inbox",
    {
        "teams": INBOX_TEAM_SCHEMA,
        "teams_count": serializers.IntegerField(help_text="Teams in the whole answer."),
        "teams_page": serializers.IntegerField(),
        "teams_pages": serializers.IntegerField(),
        "teams_next": _link_field("The next page of teams; null on the last."),
        "teams_previous": _link_field("The previous page of teams; null on the first."),
    },
)


class Inbox(SnapshotCachedList, APIView):
    """Submitted requests per team in the manager's rank order: a manager's own team, or for
    the Head of Sales every team, INBOX_TEAMS_PAGE_SIZE teams a page (?teams_page=), or the
    one ?team= names. Each team shows its whole order and one page of its requests."""

    @extend_schema(
        parameters=[
            *PAGE_PARAMETERS,
            OpenApiParameter(
                "team", OpenApiTypes.INT, description="Only this team (its manager's id)."
            ),
            OpenApiParameter(
                "teams_page",
                OpenApiTypes.INT,
                description=f"The Head of Sales' page of teams, {INBOX_TEAMS_PAGE_SIZE} a page.",
            ),
        ],
        responses={200: INBOX_SCHEMA, 400: BAD_INPUT, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    def get(self, request):
        params = request.query_params
        managers = _inbox_managers(request.user)
        team = _number(params, "team", None)
        number, size = _page_params(params)
        teams_number = _number(params, "teams_page", 1)
        if team is not None:
            managers = [m for m in managers if m.pk == team]
            if not managers:
                raise NotFound("No such team.")
        teams = _page(managers, teams_number, INBOX_TEAMS_PAGE_SIZE, param="teams_page")
        orders = services.inbox_orders([m.pk for m in teams])
        # Page n of every team shown: a 404 only past the end of the longest.
        longest = max(len(order) for order in orders.values()) if orders else 0
        if not 1 <= number <= _page_count(longest, size):
            raise NotFound(f"Invalid page: pages run from 1 to {_page_count(longest, size)}.")
        start = (number - 1) * size
        shown = _rows_by_id([pk for order in orders.values() for pk in order[start : start + size]])
        url = _list_url(request, "api-inbox")
        return Response(
            {
                "teams": [
                    _inbox_team(request, m, orders[m.pk], shown, number=number, size=size)
                    for m in teams
                ],
                "teams_count": teams.paginator.count,
                "teams_page": teams.number,
                "teams_pages": teams.paginator.num_pages,
                "teams_next": _page_link(
                    url, teams.next_page_number() if teams.has_next() else None, "teams_page"
                ),
                "teams_previous": _page_link(
                    url,
                    teams.previous_page_number() if teams.has_previous() else None,
                    "teams_page",
                ),
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


class Roadmap(SnapshotCachedList, generics.ListAPIView):
    """Committed work (approved, in progress, shipped in the last 90 days, as on the page)
    and deferred work, which is not committed yet; by target quarter, a page at a time."""

    serializer_class = RoadmapItemSerializer  # the rows' shape; request_row builds them
    page_clock = "minute"  # "recently shipped" is the last 90 days to the moment

    def get_queryset(self):
        return (
            services.requests_visible_to(self.request.user)
            .filter(
                Q(status__in=[Status.APPROVED, Status.IN_PROGRESS, Status.DEFERRED])
                | services.recently_shipped_q()
            )
            .order_by("target_quarter__fiscal_year", "target_quarter__number", "pk")
        )

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(services.PageRows(self.get_queryset()))
        demand = services.demand_by_request([row["id"] for row in page])
        zone = timezone.get_current_timezone()
        # Roadmap states hold no inbox or queue rank (the database's checks).
        return self.get_paginated_response(
            [
                {
                    **request_row(row, demand[row["id"]], zone=zone),
                    "committed": row["status"] in ROADMAP_STATUSES,
                }
                for row in page
            ]
        )


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
