"""Everything that changes a feature request: visibility, transitions, ranks, demand.

Each transition is one call that checks who is asking, what they may see and the request's
state, then changes the request and its queue positions and writes the audit event in one
transaction. Pages, the API and tasks all call these; nothing else writes `status`.

Lock order, to keep concurrent moves free of deadlocks: quarters (by id), then the team
managers' user rows (by id) that stand for team inboxes, then the requests (by id).
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from django.core.exceptions import EmptyResultSet
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db import IntegrityError, transaction
from django.db.models import (
    BooleanField,
    Case,
    Count,
    ExpressionWrapper,
    F,
    Func,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    When,
)
from django.utils import timezone

from accounts import webhooks
from accounts.models import Role, User
from accounts.notifications import notify_move, recipients_for
from budgets.fiscal import FiscalQuarter
from budgets.models import Quarter
from budgets.services import (
    budget_re_estimate,
    budget_record_change_cost,
    budget_release,
    budget_reserve,
    quarter_get_or_create,
)
from config.compiled import Compiled
from config.errors import (
    DomainError,
    InvalidInput,
    NotAllowed,
    NotFound,
    QuarterClosed,
    StaleOrder,
)

from .models import (
    MAX_ESTIMATE,
    ROADMAP_STATUSES,
    AuditEvent,
    Deal,
    FeatureRequest,
    Funding,
    Status,
    demand_of,
)

RANK_OFFSET = 1_000_000  # parks ranks out of the way while a queue is renumbered


# --- Visibility ----------------------------------------------------------------------------


def sees_every_escalated(user):
    """Sales and product roles see every request that reached product (visible_q)."""
    return user.is_authenticated and user.is_active and (user.is_sales or user.is_product)


def visible_q(user) -> Q:
    """Who sees what (DOMAIN.md). `escalated_at` marks requests that reached product."""
    if not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    q = Q(author=user) | Q(status__in=ROADMAP_STATUSES)
    if sees_every_escalated(user):
        q |= Q(escalated_at__isnull=False)
    if user.role == Role.HEAD_OF_SALES:
        q |= Q(submitted_at__isnull=False)
    elif user.role == Role.SALES_MANAGER:
        q |= Q(submitted_at__isnull=False, manager=user)
    return q


def requests_visible_to(user):
    return FeatureRequest.objects.filter(visible_q(user))


# Ids are 64-bit: a larger number names no request (and SQLite refuses to bind it).
MAX_ID = 2**63


def request_get_for_user(user, pk, *, queryset=None) -> FeatureRequest:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound("No such request.") from None
    qs = queryset if queryset is not None else FeatureRequest.objects.all()
    # The id picks at most one row: no ORDER BY (first() adds one) to build and plan.
    fr = next(iter(qs.filter(visible_q(user), pk=pk).order_by()[:1]), None)
    if fr is None:
        raise NotFound("No such request.")
    return fr


RECENTLY_SHIPPED = 90  # days the roadmap keeps shipped work on show


def recently_shipped_q(now=None) -> Q:
    """Shipped work the roadmap (page and API) still shows; older work is in /requests/."""
    since = (now or timezone.now()) - timedelta(days=RECENTLY_SHIPPED)
    return Q(status=Status.SHIPPED, shipped_at__gte=since)


# The deals behind each request's demand (ARR at stake, accounts) on list pages.
DEALS_FOR_LISTS = Prefetch(
    "deals", queryset=Deal.objects.only("id", "request_id", "account_name", "amount", "currency")
)


def with_list_data(qs):
    """What list pages show of each request, in a fixed number of queries."""
    return qs.select_related("author", "manager", "target_quarter", "theme").prefetch_related(
        DEALS_FOR_LISTS
    )


# What a ranked list's row shows (serializers.request_row), as plain values.
LIST_ROW_VALUES = (
    *("id", "title", "problem", "proposed_solution", "importance", "status", "estimate"),
    *("funding", "created_at", "updated_at", "author__username", "theme__name"),
    *("target_quarter__fiscal_year", "target_quarter__number", "manager_id"),
    *("manager__team_name", "manager__first_name", "manager__last_name", "manager__username"),
)


# One request as the API answers it (api._shown): a list row, and the ranks its positions
# are counted from. Built once and narrowed per call (never evaluated itself): setting up the
# joins of these values cost as much as running the query.
SHOWN_ROWS = FeatureRequest.objects.values(
    *LIST_ROW_VALUES, "inbox_rank", "queue_rank", "target_quarter_id"
)
_DEMAND_ROWS = Deal.objects.values_list("request_id", "currency", "amount", "account_name")


def list_rows(qs, *fields):
    """`qs` as the plain values of what a ranked list's rows show (and `fields`), in one
    query, for the API's long lists: building a request, its four relations and its deals as
    model objects cost more than everything else a row needs (the deals come from
    demand_by_request)."""
    return qs.values(*LIST_ROW_VALUES, *fields)


class AnyOf(Func):
    """`.filter(AnyOf("field", ids))`: the rows whose field is one of `ids`, as
    `field__in=ids` but one array parameter on PostgreSQL (`= ANY(%s)`). The IN lookup
    resolves and prepares every id on its own, which cost a page of 100 rows about a
    millisecond of query building each time it was read."""

    output_field = BooleanField()

    def __init__(self, field, ids):
        super().__init__(F(field))
        self.ids = [int(pk) for pk in ids]

    def as_sql(self, compiler, connection, **extra_context):
        if not self.ids:
            raise EmptyResultSet  # no query at all, as field__in=[]
        field, params = compiler.compile(self.source_expressions[0])
        if connection.vendor == "postgresql":
            return f"{field} = ANY(%s)", (*params, self.ids)
        return f"{field} IN ({', '.join(['%s'] * len(self.ids))})", (*params, *self.ids)


# Unordered: the sums and the set of accounts come out the same in any order.
_deals_of = Compiled(lambda ids: _DEMAND_ROWS.filter(AnyOf("request_id", ids)).order_by(), list)


def demand_by_request(ids):
    """{request id: its demand (FeatureRequest.demand())} for these requests, in one narrow
    query; requests without deals have none at stake."""
    deals = defaultdict(list)
    for request_id, *deal in _deals_of(ids):
        deals[request_id].append(deal)
    return {pk: demand_of(deals[pk]) for pk in ids}


def requests_visible_count(user, requests=None):
    """How many of `requests` (a FeatureRequest queryset narrowed by a list's filters but not
    by visibility; all requests by default) `user` sees: the count of
    requests_visible_to(user) narrowed the same way, exact.

    Sales and product roles see every escalated request (sees_every_escalated), and in a big
    company that is nearly all of them. A COUNT that tests visible_q's OR on every row reads
    the whole table (bench, 20,000 requests: 4-7 ms); counting the escalated ones in the
    req_escalated index alone, then testing visible_q only on the others (a short range of
    that index), gives the same number for a fraction (1.5 ms)."""
    requests = FeatureRequest.objects.all() if requests is None else requests
    if not sees_every_escalated(user):
        return requests.filter(visible_q(user)).count()
    return (
        requests.filter(escalated_at__isnull=False).count()
        + requests.filter(visible_q(user), escalated_at__isnull=True).count()
    )


class CountedRows:
    """Rows for a Paginator whose number was counted some cheaper way than `rows.count()`
    (requests_visible_count): the paginator takes the count and slices the rows."""

    def __init__(self, rows, count):
        self.rows, self._count = rows, count

    def count(self):
        return self._count

    def __len__(self):
        return self._count

    def __getitem__(self, index):
        return self.rows[index]


class PageRows:
    """Rows for a Paginator over `requests` (an ordered FeatureRequest queryset) as list_rows
    reads them: the count and a page's ids come from narrow queries on the requests alone,
    and only that page's rows are read in full. Joining the people, the quarter and the
    theme to every request before sorting and cutting the page cost the roadmap (2,000
    requests on the bench) twice the time of picking the page first, in the same query."""

    def __init__(self, requests):
        self.requests = requests

    def count(self):
        return self.requests.count()

    def __len__(self):
        return self.count()

    def __getitem__(self, index):
        page = self.requests.values("pk")[index]
        ordering = self.requests.query.order_by
        return list_rows(FeatureRequest.objects.filter(pk__in=page).order_by(*ordering))


def _position_of(container, field):
    """A request's position 1..n in its inbox or queue, as a subquery: the requests of the
    same container ranked at or before it (NULL when it is in none)."""
    return Subquery(
        FeatureRequest.objects.filter(
            **{container: OuterRef(container), f"{field}__lte": OuterRef(field)}
        )
        .order_by()
        .values(container)
        # COUNT(*), not COUNT(id): the inbox and queue indexes answer it without the table.
        .annotate(n=Count("*"))
        .values("n")
    )


# Built once: building the two subqueries again for every list cost more than using them.
POSITIONS = {
    "inbox_position": _position_of("manager", "inbox_rank"),
    "queue_position": _position_of("target_quarter", "queue_rank"),
}


def with_positions(qs):
    """Annotate inbox_position and queue_position for lists that are not a whole inbox or
    queue (a filtered page, one request); whole lists enumerate their rows instead."""
    return qs.annotate(**POSITIONS)


# --- Who may do what -----------------------------------------------------------------------


def _leads_team_of(user, fr):
    """The Head of Sales, or the manager whose inbox the request is in."""
    return user.role == Role.HEAD_OF_SALES or (
        user.role == Role.SALES_MANAGER and fr.manager_id == user.pk
    )


@dataclass(frozen=True)
class Move:
    name: str
    label: str
    sources: frozenset
    target: str
    needs_reason: bool = False

    def allowed_for(self, user, fr):
        return _WHO[self.name](user, fr)


MOVES = {
    m.name: m
    for m in [
        Move("submit", "Submit", frozenset({Status.DRAFT, Status.RETURNED}), Status.SUBMITTED),
        Move("escalate", "Escalate", frozenset({Status.SUBMITTED}), Status.ESCALATED),
        Move("return", "Return to rep", frozenset({Status.SUBMITTED}), Status.RETURNED, True),
        Move("reject", "Reject", frozenset({Status.SUBMITTED}), Status.REJECTED, True),
        Move(
            "merge",
            "Merge into…",
            frozenset({Status.SUBMITTED, Status.ESCALATED, Status.DEFERRED}),
            Status.MERGED,
        ),
        Move("reopen", "Reopen", frozenset({Status.DEFERRED}), Status.ESCALATED),
        Move("approve", "Approve", frozenset({Status.ESCALATED}), Status.APPROVED),
        Move(
            "approve_product",
            "Approve as product-funded",
            frozenset({Status.ESCALATED}),
            Status.APPROVED,
        ),
        Move(
            "defer", "Defer", frozenset({Status.ESCALATED, Status.APPROVED}), Status.DEFERRED, True
        ),
        Move("decline", "Decline", frozenset({Status.ESCALATED}), Status.DECLINED, True),
        Move("start", "Start work", frozenset({Status.APPROVED}), Status.IN_PROGRESS),
        Move("ship", "Ship", frozenset({Status.IN_PROGRESS}), Status.SHIPPED),
        Move(
            "cancel",
            "Cancel",
            frozenset({Status.APPROVED, Status.IN_PROGRESS}),
            Status.CANCELLED,
            True,
        ),
        Move(
            "withdraw",
            "Withdraw",
            frozenset(
                {Status.DRAFT, Status.SUBMITTED, Status.RETURNED, Status.ESCALATED, Status.DEFERRED}
            ),
            Status.WITHDRAWN,
        ),
    ]
}

_WHO = {
    "submit": lambda u, fr: fr.author_id == u.pk,
    "return": _leads_team_of,
    "reject": _leads_team_of,
    "escalate": _leads_team_of,
    "withdraw": lambda u, fr: fr.author_id == u.pk or _leads_team_of(u, fr),
    "merge": lambda u, fr: _leads_team_of(u, fr) or u.role == Role.HEAD_OF_PRODUCT,
    "reopen": lambda u, fr: u.role == Role.HEAD_OF_SALES,
    "approve": lambda u, fr: u.role == Role.HEAD_OF_PRODUCT,
    "approve_product": lambda u, fr: u.role == Role.HEAD_OF_PRODUCT,
    "defer": lambda u, fr: u.role == Role.HEAD_OF_PRODUCT,
    "decline": lambda u, fr: u.role == Role.HEAD_OF_PRODUCT,
    "start": lambda u, fr: u.is_product,
    "ship": lambda u, fr: u.is_product,
    "cancel": lambda u, fr: u.role == Role.HEAD_OF_PRODUCT,
}

MERGE_TARGET_STATUSES = {
    Status.SUBMITTED,
    Status.ESCALATED,
    Status.DEFERRED,
    Status.APPROVED,
    Status.IN_PROGRESS,
}
EDITABLE_STATUSES = {Status.DRAFT, Status.SUBMITTED, Status.RETURNED}


def allowed_moves(user, fr) -> list[Move]:
    """The moves this user may make on this request now (the buttons a page shows)."""
    return [m for m in MOVES.values() if fr.status in m.sources and m.allowed_for(user, fr)]


def can_edit(user, fr):
    return fr.author_id == user.pk and fr.status in EDITABLE_STATUSES


def can_add_deal(user, fr):
    if can_edit(user, fr):
        return True
    # A rep with the same need joins an escalated request instead of filing a duplicate.
    return user.role == Role.SALES_REP and fr.status == Status.ESCALATED


def can_comment(user, fr):
    return user.is_sales or user.is_product


def can_add_note(user, fr):
    return user.is_product


def can_create_request(user):
    return user.role == Role.SALES_REP


def _check_move(user, fr, name):
    move = MOVES[name]
    if fr.status not in move.sources:
        possible = [m.name for m in MOVES.values() if fr.status in m.sources]
        raise DomainError(
            f"Cannot {name} this request: it is {fr.get_status_display().lower()}. "
            + (
                f"From {fr.get_status_display().lower()} it can: {', '.join(possible)}."
                if possible
                else "No further moves are possible from there."
            ),
            state=fr.status,
            allowed=possible,
        )
    if not move.allowed_for(user, fr):
        raise NotAllowed(f"You may not {name} this request.")
    return move


# --- Locking and ranks ---------------------------------------------------------------------


def _lock(user, request_ids, *, quarter_ids=(), inboxes=True, positions=False):
    """Lock what a move touches in the global order; return the requests, re-read.

    Product decisions pass inboxes=False (their requests are in no inbox, so the managers'
    rows stay unlocked) and positions=True (the requests come with the queue_position they are
    about to leave, counted in the same statement)."""
    wanted = set(request_ids)
    if inboxes:
        peek = {
            pk: (manager_id, quarter_id)
            for pk, manager_id, quarter_id in FeatureRequest.objects.filter(
                pk__in=request_ids
            ).values_list("pk", "manager_id", "target_quarter_id")
        }
        if len(peek) != len(wanted):
            raise NotFound("No such request.")
        quarters = _lock_quarters(Q(pk__in={*quarter_ids, *(q for _, q in peek.values())}))
        managers = sorted({m for m, _ in peek.values()} - {None})
        if managers:
            list(User.objects.select_for_update().filter(pk__in=managers).order_by("pk"))
    else:
        # No inbox to lock, so no manager to look up first: the quarters the requests name
        # are found and locked in one statement, one round trip fewer before the lock.
        peek = None
        named = FeatureRequest.objects.filter(pk__in=request_ids).values("target_quarter_id")
        where = Q(pk__in=named)
        if quarter_ids:
            where |= Q(pk__in=quarter_ids)
        quarters = _lock_quarters(where)
    # One statement re-reads and locks the requests and says whether the user may see them.
    # The quarters were locked just above, so the positions are current, and the quarters
    # read under their lock are the requests' own: moves that read fr.target_quarter
    # (approve, defer) need no join and no further query.
    locked = (_LOCKED_WITH_POSITION if positions else _LOCKED).filter(pk__in=request_ids)
    if user:
        locked = locked.annotate(visible=ExpressionWrapper(visible_q(user), BooleanField()))
    locked = {fr.pk: fr for fr in locked}
    for pk, fr in locked.items():
        # Moved to another inbox or quarter between the look and the locks.
        moved = (
            (fr.manager_id, fr.target_quarter_id) != peek[pk]
            if peek is not None
            else fr.target_quarter_id is not None and fr.target_quarter_id not in quarters
        )
        if moved:
            raise StaleOrder("This request changed while you were acting on it; reload.")
        if fr.target_quarter_id is not None:
            fr.target_quarter = quarters[fr.target_quarter_id]
    if len(locked) != len(wanted) or (user and not all(fr.visible for fr in locked.values())):
        raise NotFound("No such request.")
    return [locked[pk] for pk in request_ids]


# The locked re-read's fixed part, built once: resolving the position's subquery cost about
# as much as running the whole statement, and the move pays it while holding the locks.
_LOCKED = FeatureRequest.objects.select_for_update().order_by("pk")
_LOCKED_WITH_POSITION = _LOCKED.annotate(
    queue_position=_position_of("target_quarter", "queue_rank")
)


def _lock_quarters(where):
    """Lock the quarters `where` picks, in id order (the global lock order); {id: quarter}."""
    return {q.pk: q for q in Quarter.objects.select_for_update().filter(where).order_by("pk")}


def _write_order(queryset, field, ordered_ids, current=None):
    """Give `ordered_ids` the ranks 1..n in one container, without transient duplicates.

    With `current` ({id: rank now}), only the requests whose rank changes are written: a swap
    in a queue of a thousand ranked 1..n touches two rows, not a thousand. A queue with gaps
    left by approvals is renumbered 1..n on its first re-order."""
    ranks = dict(zip(ordered_ids, range(1, len(ordered_ids) + 1), strict=True))
    if current is not None:
        ranks = {pk: r for pk, r in ranks.items() if current.get(pk) != r}
        queryset = queryset.filter(pk__in=ranks)
    queryset.update(**{field: F(field) + RANK_OFFSET})
    if ranks:
        queryset.filter(pk__in=ranks).update(
            **{field: Case(*[When(pk=pk, then=rank) for pk, rank in ranks.items()])}
        )


def _inbox(manager_id):
    return FeatureRequest.objects.filter(manager_id=manager_id, inbox_rank__isnull=False)


def _queue(quarter_id):
    return FeatureRequest.objects.filter(target_quarter_id=quarter_id, queue_rank__isnull=False)


def inbox_ids(manager_id):
    return list(_inbox(manager_id).order_by("inbox_rank").values_list("pk", flat=True))


def queue_ids(quarter_id):
    return list(_queue(quarter_id).order_by("queue_rank").values_list("pk", flat=True))


class Ranked(NamedTuple):
    """One request of a whole ranked list, as cheap as it can be read: enough for the page
    numbers, the order posted back for ranking and the cut line."""

    pk: int
    estimate: int | None


_queue_order = Compiled(
    lambda quarter_id: _queue(quarter_id).order_by("queue_rank").values_list("pk", "estimate"),
    int,
)


def queue_order(quarter_id):
    """The quarter's whole queue in rank order, in one narrow query."""
    return [Ranked(*row) for row in _queue_order(quarter_id)]


_inbox_orders = Compiled(
    lambda manager_ids: (
        FeatureRequest.objects.filter(AnyOf("manager_id", manager_ids), inbox_rank__isnull=False)
        .order_by("manager_id", "inbox_rank")
        .values_list("manager_id", "pk")
    ),
    list,
)


def inbox_orders(manager_ids):
    """{manager id: the team's whole inbox order (ids)} for these teams, in one narrow query;
    the order each team's ranking is checked against (inbox_ids)."""
    orders = {pk: [] for pk in manager_ids}
    for manager_id, pk in _inbox_orders(list(orders)):
        orders[manager_id].append(pk)
    return orders


RANK_PAGE_SIZE = 50


def rank_page(order, number, *, per_page=RANK_PAGE_SIZE, strict=False):
    """One page of a whole ranked list (`order`: ids, Ranked rows or any ordered sequence,
    a queryset too). Pages show a slice of the order; ranking still works on the whole
    order, which the page posts back as `seen`. A page number that is not a number or out of
    range gives the nearest page (the first for 0 and below, the last past the end), unless
    `strict` (the API), where it raises InvalidPage."""
    paginator = Paginator(order, per_page, allow_empty_first_page=True)
    if strict:
        return paginator.page(number or 1)
    try:
        return paginator.page(number)
    except PageNotAnInteger:
        return paginator.page(1)
    except EmptyPage:
        # Paginator.get_page answers the last page for 0 and below too; the first is nearer.
        return paginator.page(1 if int(number) < 1 else paginator.num_pages)


def _ranks(queryset, field):
    """{id: stored rank} of one inbox or queue, for re-ordering against the order shown."""
    return dict(queryset.order_by(field).values_list("pk", field))


def _positions(fr):
    """Where the request stands in its inbox and queue (positions 1..n, as users see them),
    for the audit event of a move that takes it out."""
    return {"inbox_rank": fr.inbox_position, "queue_rank": fr.queue_position}


def _leave_queues(fr):
    """Take the request out of its inbox or queue. The gap it leaves stays: ranks are a
    sparse strict order and positions are counted when shown, so leaving a queue of a
    thousand writes one row, not every row below it. The caller saves the request."""
    fr.inbox_rank = fr.queue_rank = None
    fr.__dict__.pop("inbox_position", None)
    fr.__dict__.pop("queue_position", None)


def _bottom(queryset, field):
    """The rank after the last one, and the position it is shown at, in one statement."""
    found = queryset.aggregate(last=Max(field), n=Count("pk"))
    return (found["last"] or 0) + 1, found["n"] + 1


# --- Audit ---------------------------------------------------------------------------------


def record_event(fr, actor, action, *, from_status="", to_status="", reason="", old=None, new=None):
    return AuditEvent.objects.create(
        request=fr,
        actor=actor,
        action=action,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        old_value=old,
        new_value=new,
    )


def _clean_reason(reason, move):
    reason = (reason or "").strip()
    if move.needs_reason and not reason:
        raise InvalidInput(f"Say why you {move.name} it: a reason is required.", field="reason")
    if len(reason) > 2000:
        raise InvalidInput("Keep the reason under 2,000 characters.", field="reason")
    return reason


def _finish(
    fr, actor, move, *, reason="", old=None, new=None, fields=(), recipients=None, endpoints=None
):
    """Save the move, write its audit event and its outbox rows (notifications, webhooks).
    `recipients` and `endpoints`: who hears and which endpoints listen, when the move read
    them before taking its locks; looked up here otherwise."""
    from_status = fr.status
    fr.status = move.target
    fr.save(update_fields=["status", "updated_at", *fields])
    record_event(
        fr,
        actor,
        move.name,
        from_status=from_status,
        to_status=move.target,
        reason=reason,
        old=old,
        new=new,
    )
    notify_move(fr, actor, move.name, reason=reason, recipients=recipients)
    webhooks.request_status_changed(
        fr, actor, move.name, from_status=from_status, reason=reason, endpoints=endpoints
    )
    return fr


# --- Transitions ---------------------------------------------------------------------------


def request_submit(*, fr, actor):
    with transaction.atomic():
        manager_id = actor.manager_id
        [fr] = _lock(actor, [fr.pk])
        move = _check_move(actor, fr, "submit")
        problems = []
        if not fr.title.strip():
            problems.append("a title")
        if not fr.problem.strip():
            problems.append("the customer's problem")
        if not fr.deals.exists():
            problems.append("at least one customer deal")
        if problems:
            raise InvalidInput("Before submitting, add " + " and ".join(problems) + ".")
        if manager_id is None:
            raise InvalidInput("You have no sales manager to submit to; ask an admin to set one.")
        # The inbox is the manager's: lock it before taking the bottom rank.
        User.objects.select_for_update().filter(pk=manager_id).first()
        fr.manager_id = manager_id
        fr.inbox_rank, position = _bottom(_inbox(manager_id), "inbox_rank")
        fr.submitted_at = timezone.now()
        return _finish(
            fr,
            actor,
            move,
            new={"inbox_rank": position},
            fields=["manager", "inbox_rank", "submitted_at"],
        )


def _reason_move(name):
    def run(*, fr, actor, reason):
        with transaction.atomic():
            [fr] = _lock(actor, [fr.pk])
            move = _check_move(actor, fr, name)
            reason_text = _clean_reason(reason, move)
            old = {"inbox_rank": fr.inbox_position}
            _leave_queues(fr)
            return _finish(fr, actor, move, reason=reason_text, old=old, fields=["inbox_rank"])

    run.__name__ = f"request_{name}"
    return run


request_return = _reason_move("return")
request_reject = _reason_move("reject")


def escalation_quarters(today=None):
    """Quarters a request can be escalated to: the current one and later, while open."""
    today = today or timezone.localdate()
    current = FiscalQuarter.containing(today)
    return [
        q
        for q in Quarter.objects.filter(start_date__gte=current.start, closed_at__isnull=True)
        if q.is_open(today)
    ]


def request_escalate(*, fr, actor, quarter):
    if quarter is None:
        raise InvalidInput("Choose the quarter to escalate to.", field="quarter")
    with transaction.atomic():
        [fr] = _lock(actor, [fr.pk], quarter_ids=[quarter.pk])
        move = _check_move(actor, fr, "escalate")
        quarter = Quarter.objects.get(pk=quarter.pk)
        if quarter.pk not in {q.pk for q in escalation_quarters()}:
            raise InvalidInput(
                f"{quarter.label} is not open for escalations; choose the current or next quarter.",
                field="quarter",
            )
        old = {"inbox_rank": fr.inbox_position}
        _leave_queues(fr)
        fr.target_quarter = quarter
        fr.queue_rank, position = _bottom(_queue(quarter.pk), "queue_rank")
        fr.escalated_at = timezone.now()
        return _finish(
            fr,
            actor,
            move,
            old=old,
            new={"quarter": quarter.slug, "queue_rank": position},
            fields=["inbox_rank", "target_quarter", "queue_rank", "escalated_at"],
        )


def request_withdraw(*, fr, actor, reason=""):
    with transaction.atomic():
        [fr] = _lock(actor, [fr.pk])
        move = _check_move(actor, fr, "withdraw")
        reason = _clean_reason(reason, move)
        old = _positions(fr)
        _leave_queues(fr)
        return _finish(fr, actor, move, reason=reason, old=old, fields=["inbox_rank", "queue_rank"])


def request_reopen(*, fr, actor=None):
    """Deferred → escalated at the top of its quarter's queue (the Head of Sales, or the
    system when the quarter opens: actor None)."""
    with transaction.atomic():
        [fr] = _lock(actor, [fr.pk])
        if actor is not None:
            move = _check_move(actor, fr, "reopen")
        else:
            move = MOVES["reopen"]
            if fr.status not in move.sources:
                return fr
        quarter = fr.target_quarter
        if quarter is None or not quarter.is_open():
            raise InvalidInput("Its target quarter is not open; it reopens when the quarter opens.")
        first = _queue(quarter.pk).aggregate(first=Min("queue_rank"))["first"]
        if first is None or first > 1:
            # A gap above the top (approvals leave them): take it, nothing else moves.
            fr.queue_rank = (first or 2) - 1
        else:
            order = [fr.pk, *queue_ids(quarter.pk)]
            fr.queue_rank = 1
            # Park it at the bottom first so the renumbering below sees it in the queue.
            fr.status = Status.ESCALATED
            FeatureRequest.objects.filter(pk=fr.pk).update(
                status=Status.ESCALATED, queue_rank=_bottom(_queue(quarter.pk), "queue_rank")[0]
            )
            _write_order(_queue(quarter.pk), "queue_rank", order)
            fr.status = Status.DEFERRED
        return _finish(fr, actor, move, new={"queue_rank": 1}, fields=["queue_rank"])


def request_merge(*, fr, target, actor, reason=""):
    if target is None:
        raise InvalidInput("Choose the request to merge into.", field="target")
    if target.pk == fr.pk:
        raise InvalidInput("A request cannot be merged into itself.", field="target")
    with transaction.atomic():
        fr, target = _lock(actor, [fr.pk, target.pk])
        move = _check_move(actor, fr, "merge")
        if target.status not in MERGE_TARGET_STATUSES:
            raise InvalidInput(
                f"#{target.pk} is {target.get_status_display().lower()}; merge into a request "
                "that is still live.",
                field="target",
            )
        if actor.role == Role.SALES_MANAGER and target.manager_id != actor.pk:
            raise NotAllowed("Managers merge within their own team only.")
        reason = _clean_reason(reason, move)
        old = _positions(fr)
        _leave_queues(fr)
        moved_deals = list(fr.deals.values_list("pk", flat=True))
        fr.deals.update(request=target)
        fr.comments.update(request=target)
        target.followers.add(fr.author, *fr.followers.all())
        fr.merged_into = target
        record_event(
            target,
            actor,
            "merged_in",
            reason=reason,
            new={"from_request": fr.pk, "deals": moved_deals},
        )
        return _finish(
            fr,
            actor,
            move,
            reason=reason,
            old=old,
            new={"merged_into": target.pk},
            fields=["inbox_rank", "queue_rank", "merged_into"],
        )


# --- Ranking -------------------------------------------------------------------------------


def _parse_ids(raw, *, field):
    if isinstance(raw, str):
        raw = [part for part in raw.replace(" ", "").split(",") if part]
    try:
        ids = [int(x) for x in raw]
    except (TypeError, ValueError):
        raise InvalidInput(f"{field} must be a list of request ids.", field=field) from None
    return ids


def _check_permutation(order, current):
    if len(set(order)) != len(order):
        raise InvalidInput("The new order repeats a request.", field="order")
    foreign = set(order) - set(current)
    if foreign:
        raise InvalidInput(
            f"The new order names requests not in this queue: {sorted(foreign)}.", field="order"
        )
    missing = set(current) - set(order)
    if missing:
        raise InvalidInput(f"The new order leaves out {sorted(missing)}.", field="order")


def _reorder(*, actor, container, field, seen, order, lock):
    seen = _parse_ids(seen, field="seen")
    order = _parse_ids(order, field="order")
    with transaction.atomic():
        lock()
        ranks = _ranks(container, field)
        current = list(ranks)
        if seen != current:
            raise StaleOrder()
        _check_permutation(order, current)
        if order == current:
            return 0
        old_rank = {pk: i for i, pk in enumerate(current, 1)}
        _write_order(container, field, order, ranks)
        # One audit event per request whose rank changed, written in one INSERT.
        events = AuditEvent.objects.bulk_create(
            AuditEvent(
                request_id=pk,
                actor=actor,
                action="rank",
                old_value={field: old_rank[pk]},
                new_value={field: new},
            )
            for new, pk in enumerate(order, 1)
            if old_rank[pk] != new
        )
        return len(events)


def inbox_reorder(*, actor, manager, seen, order):
    """The team's manager (or the Head of Sales) force-ranks the team inbox."""
    if not (actor.role == Role.HEAD_OF_SALES or actor.pk == manager.pk):
        raise NotAllowed("Only the team's manager or the Head of Sales ranks this inbox.")
    return _reorder(
        actor=actor,
        container=_inbox(manager.pk),
        field="inbox_rank",
        seen=seen,
        order=order,
        lock=lambda: User.objects.select_for_update().filter(pk=manager.pk).first(),
    )


def queue_reorder(*, actor, quarter, seen, order):
    """The Head of Sales force-ranks the quarter's sales queue."""
    if actor.role != Role.HEAD_OF_SALES:
        raise NotAllowed("Only the Head of Sales ranks the quarter's queue.")
    return _reorder(
        actor=actor,
        container=_queue(quarter.pk),
        field="queue_rank",
        seen=seen,
        order=order,
        lock=lambda: Quarter.objects.select_for_update().filter(pk=quarter.pk).first(),
    )


MOVES_BY_BUTTON = ("top", "up", "down", "bottom")


def order_after_move(seen, move):
    """The order `seen` after one keyboard move, posted as '<id>:top', '<id>:up',
    '<id>:down', '<id>:bottom' or '<id>:<position>' (1 is the top; past the end is the
    bottom). The page posts the order it showed once and one short value per button, so a
    queue of n requests is O(n) bytes of buttons rather than n whole orders."""
    ids = _parse_ids(seen, field="seen")
    pk, _, where = str(move).strip().partition(":")
    where = where.strip()
    if (
        not (where in MOVES_BY_BUTTON or where.isdecimal())
        or not pk.strip().isdecimal()
        or int(pk) not in ids
    ):
        raise InvalidInput(
            "Move one request of this list to the top, up, down, the bottom or a position.",
            field="order",
        )
    if where.isdecimal() and int(where) < 1:
        raise InvalidInput("Positions start at 1.", field="order")
    i = ids.index(int(pk))
    rest = ids[:i] + ids[i + 1 :]
    if where.isdecimal():
        to = min(int(where), len(ids)) - 1
    else:
        to = {"top": 0, "up": max(i - 1, 0), "down": min(i + 1, len(rest)), "bottom": len(rest)}[
            where
        ]
    return rest[:to] + [int(pk)] + rest[to:]


# --- Content -------------------------------------------------------------------------------


def request_create(*, actor, data, deals):
    if not can_create_request(actor):
        raise NotAllowed("Sales reps raise requests; managers triage them.")
    with transaction.atomic():
        fr = FeatureRequest.objects.create(author=actor, **data)
        for deal in deals:
            Deal.objects.create(request=fr, owner=actor, **deal)
        fr.followers.add(actor)
        record_event(fr, actor, "create", to_status=fr.status, new={"title": fr.title})
        return fr


def request_update(*, fr, actor, data):
    with transaction.atomic():
        [fr] = _lock(actor, [fr.pk])
        if not can_edit(actor, fr):
            raise NotAllowed("Only the author edits a request, and only before it is escalated.")
        old = {k: str(getattr(fr, k + "_id" if k == "theme" else k)) for k in data}
        for key, value in data.items():
            setattr(fr, key, value)
        new = {k: str(getattr(fr, k + "_id" if k == "theme" else k)) for k in data}
        changed = {k for k in data if old[k] != new[k]}
        if changed:
            fr.save(update_fields=[*changed, "updated_at"])
            record_event(
                fr,
                actor,
                "edit",
                old={k: old[k] for k in changed},
                new={k: new[k] for k in changed},
            )
        return fr


def deal_add(*, fr, actor, data):
    with transaction.atomic():
        [fr] = _lock(actor, [fr.pk])
        if not can_add_deal(actor, fr):
            raise NotAllowed("You may not add a deal to this request.")
        deal = Deal.objects.create(request=fr, owner=actor, **data)
        fr.followers.add(actor)
        record_event(
            fr,
            actor,
            "deal_added",
            new={
                "account": deal.account_name,
                "amount": str(deal.amount),
                "currency": deal.currency,
            },
        )
        return deal


def comment_add(*, fr, actor, body):
    from .models import Comment

    body = (body or "").strip()
    if not body:
        raise InvalidInput("Write something first.", field="body")
    if len(body) > 5000:
        raise InvalidInput("Keep comments under 5,000 characters.", field="body")
    with transaction.atomic():
        [fr] = _lock(actor, [fr.pk])
        if not can_comment(actor, fr):
            raise NotAllowed("You may not comment here.")
        comment = Comment.objects.create(request=fr, author=actor, body=body)
        record_event(fr, actor, "comment", new={"comment": comment.pk})
        return comment


def note_add(*, fr, actor, body):
    from .models import ProductNote

    body = (body or "").strip()
    if not body:
        raise InvalidInput("Write something first.", field="body")
    if len(body) > 5000:
        raise InvalidInput("Keep notes under 5,000 characters.", field="body")
    with transaction.atomic():
        [fr] = _lock(actor, [fr.pk])
        if not can_add_note(actor, fr):
            raise NotAllowed("Internal notes are for product roles.")
        return ProductNote.objects.create(request=fr, author=actor, body=body)


def follow_toggle(*, fr, actor):
    request_get_for_user(actor, fr.pk)
    if fr.followers.filter(pk=actor.pk).exists():
        fr.followers.remove(actor)
        return False
    fr.followers.add(actor)
    return True


THEMES_ARE_PRODUCTS = "Product themes are managed by product roles."


def can_manage_themes(user):
    return user.is_product


def theme_save(*, actor, name, description="", theme=None):
    """Product roles keep the list of long-term product themes."""
    if not can_manage_themes(actor):
        raise NotAllowed(THEMES_ARE_PRODUCTS)
    from .models import ProductTheme

    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput("Name the theme.", field="name")
    if len(name) > 80:
        raise InvalidInput("Keep the name under 80 characters.", field="name")
    clash = ProductTheme.objects.filter(name__iexact=name)
    if theme is not None:
        clash = clash.exclude(pk=theme.pk)
    taken = InvalidInput(f"A theme called “{name}” already exists.", field="name")
    if clash.exists():
        raise taken
    try:
        # Two people naming a theme the same at the same moment: the unique name decides.
        with transaction.atomic():
            if theme is None:
                return ProductTheme.objects.create(name=name, description=description.strip())
            theme.name, theme.description = name, description.strip()
            theme.save(update_fields=["name", "description"])
            return theme
    except IntegrityError:
        raise taken from None


def theme_set_active(*, actor, theme, active):
    if not can_manage_themes(actor):
        raise NotAllowed(THEMES_ARE_PRODUCTS)
    theme.is_active = bool(active)
    theme.save(update_fields=["is_active"])
    return theme


def theme_change(*, actor, changes, theme=None):
    """Create a theme (theme=None) or change one: `changes` holds any of name, description and
    is_active; a rename and a retirement are saved together or not at all."""
    if not can_manage_themes(actor):
        raise NotAllowed(THEMES_ARE_PRODUCTS)
    with transaction.atomic():
        if theme is None or {"name", "description"} & set(changes):
            theme = theme_save(
                actor=actor,
                name=changes.get("name", theme.name if theme else ""),
                description=changes.get("description", theme.description if theme else ""),
                theme=theme,
            )
        if "is_active" in changes:
            theme = theme_set_active(actor=actor, theme=theme, active=changes["is_active"])
        return theme


# --- Product decisions (review queue) ------------------------------------------------------
#
# Each decision locks the quarter (the queue), the request and then the quarter's budget row
# (inside budgets.services), so the status change, leaving the queue, the ledger entry and
# the audit event commit together or not at all.


def _estimate_value(points):
    if isinstance(points, bool):
        raise InvalidInput("The estimate must be a whole number of story points.", field="estimate")
    text = str(points).strip() if points is not None else ""
    if not text:
        raise InvalidInput("Enter an estimate in story points.", field="estimate")
    try:
        value = int(text)
    except ValueError:
        raise InvalidInput(
            f"The estimate must be a whole number of story points, not {text[:20]!r}.",
            field="estimate",
        ) from None
    if value < 1 or value > MAX_ESTIMATE:
        raise InvalidInput(
            f"The estimate must be between 1 and {MAX_ESTIMATE:,} story points; got {value:,}.",
            field="estimate",
        )
    return value


def _decide(fr, actor, move, *, fields=(), **finish):
    fr.decided_at = timezone.now()
    return _finish(fr, actor, move, fields=["decided_at", *fields], **finish)


def _ledger_note(fr, what):
    return f"#{fr.pk} {fr.title[:80]}: {what}"


def request_approve(*, fr, actor, product_funded=False):
    """Approve against the quarter's sales budget, or as product-funded (no sales points)."""
    name = "approve_product" if product_funded else "approve"
    if not 0 < fr.pk < MAX_ID:  # the API passes an id it has not looked up (CHECKED_UNDER_LOCK)
        raise NotFound("No such request.")
    # Approvals of one quarter queue for its lock, so what the locks do not guard is read
    # first: who hears about it (the author and followers) and which webhook endpoints listen.
    # Their outbox rows are still written in the approval's transaction.
    recipients = recipients_for(fr, actor, name)
    endpoints = webhooks.active_endpoints()
    with transaction.atomic():
        [fr] = _lock(actor, [fr.pk], inboxes=False, positions=True)
        move = _check_move(actor, fr, name)
        quarter = fr.target_quarter
        if not quarter.is_open():
            raise QuarterClosed(f"{quarter.label} is closed; approve into an open quarter.")
        if not product_funded and fr.estimate is None:
            raise InvalidInput(
                "Estimate it before approving: the budget needs the points.", field="estimate"
            )
        old = {"queue_rank": fr.queue_position}
        _leave_queues(fr)
        if product_funded:
            fr.funding = Funding.PRODUCT
        else:
            fr.funding = Funding.SALES
            budget_reserve(
                quarter=quarter,
                points=fr.estimate,
                actor=actor,
                request=fr,
                quarter_locked=True,
                reason=_ledger_note(fr, f"approved, {fr.estimate} points reserved"),
                webhook_endpoints=endpoints,
            )
            fr.reserved_points = fr.estimate
        return _decide(
            fr,
            actor,
            move,
            old=old,
            new={"funding": fr.funding, "estimate": fr.estimate, "quarter": quarter.slug},
            fields=["queue_rank", "funding", "reserved_points"],
            recipients=recipients,
            endpoints=endpoints,
        )


def quarters_after(fq, count=4):
    """The `count` fiscal quarters after `fq`: where a request can be deferred to."""
    result = []
    for _ in range(count):
        fq = fq.next()
        result.append(fq)
    return result


def deferral_quarters(fr, today=None):
    """Later quarters a request can be deferred to: the four after its target quarter."""
    if fr.target_quarter_id:
        return quarters_after(fr.target_quarter.fiscal)
    return quarters_after(FiscalQuarter.containing(today or timezone.localdate()))


def request_defer(*, fr, actor, quarter, reason):
    """Defer to a later quarter (a Quarter, or a label such as 'FY2027Q3' from a form);
    releases any reservation. Reopens when that quarter opens."""
    if quarter is None or quarter == "":
        raise InvalidInput("Choose the later quarter to defer to.", field="quarter")
    with transaction.atomic():
        [fr] = _lock(actor, [fr.pk], inboxes=False, positions=True)
        move = _check_move(actor, fr, "defer")
        reason = _clean_reason(reason, move)
        if isinstance(quarter, str):
            quarter = quarter_for_deferral(quarter, fr)
        current = FiscalQuarter.containing(timezone.localdate())
        if quarter.fiscal <= fr.target_quarter.fiscal or quarter.fiscal <= current:
            raise InvalidInput(
                f"Defer to a quarter later than {max(fr.target_quarter.fiscal, current).label}; "
                f"{quarter.label} is not.",
                field="quarter",
            )
        old = {
            "quarter": fr.target_quarter.slug,
            "queue_rank": fr.queue_position,
            "reserved": fr.reserved_points,
        }
        if fr.reserved_points:
            budget_release(
                quarter=fr.target_quarter,
                points=fr.reserved_points,
                actor=actor,
                request=fr,
                quarter_locked=True,
                reason=_ledger_note(fr, f"deferred to {quarter.label}"),
            )
            fr.reserved_points = 0
        _leave_queues(fr)
        fr.target_quarter = quarter
        fr.funding = ""
        return _decide(
            fr,
            actor,
            move,
            reason=reason,
            old=old,
            new={"quarter": quarter.slug},
            fields=["queue_rank", "target_quarter", "reserved_points", "funding"],
        )


def request_decline(*, fr, actor, reason):
    with transaction.atomic():
        [fr] = _lock(actor, [fr.pk], inboxes=False, positions=True)
        move = _check_move(actor, fr, "decline")
        reason = _clean_reason(reason, move)
        old = {"queue_rank": fr.queue_position}
        _leave_queues(fr)
        return _decide(fr, actor, move, reason=reason, old=old, fields=["queue_rank"])


def request_start(*, fr, actor):
    with transaction.atomic():
        [fr] = _lock(actor, [fr.pk])
        move = _check_move(actor, fr, "start")
        fr.started_at = timezone.now()
        return _finish(fr, actor, move, fields=["started_at"])


def request_ship(*, fr, actor):
    with transaction.atomic():
        [fr] = _lock(actor, [fr.pk])
        move = _check_move(actor, fr, "ship")
        fr.shipped_at = timezone.now()
        return _finish(fr, actor, move, fields=["shipped_at"])


def request_cancel(*, fr, actor, reason, unstarted_points=None):
    """Approved: every reserved point is released. In progress: only the unstarted points the
    Head of Product names are released; the rest is recorded as change cost."""
    with transaction.atomic():
        [fr] = _lock(actor, [fr.pk])
        move = _check_move(actor, fr, "cancel")
        reason = _clean_reason(reason, move)
        reserved = fr.reserved_points
        if fr.status == Status.APPROVED or not reserved:
            release, cost = reserved, 0
        else:
            if unstarted_points in (None, ""):
                raise InvalidInput(
                    f"Say how many of the {reserved} reserved points are not started yet.",
                    field="unstarted_points",
                )
            release = _whole(
                unstarted_points,
                field="unstarted_points",
                low=0,
                high=reserved,
                what="Unstarted points",
            )
            cost = reserved - release
        if release:
            budget_release(
                quarter=fr.target_quarter,
                points=release,
                actor=actor,
                request=fr,
                quarter_locked=True,
                reason=_ledger_note(fr, f"cancelled, {release} points released"),
            )
        if cost:
            budget_record_change_cost(
                quarter=fr.target_quarter,
                points=cost,
                actor=actor,
                request=fr,
                quarter_locked=True,
                reason=_ledger_note(fr, f"cancelled in progress: {reason}"),
            )
        fr.reserved_points = 0
        return _decide(
            fr,
            actor,
            move,
            reason=reason,
            old={"reserved": reserved},
            new={"released": release, "change_cost": cost},
            fields=["reserved_points"],
        )


def _whole(value, *, field, low, high, what):
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InvalidInput(f"{what} must be a whole number.", field=field) from None
    if number < low or number > high:
        raise InvalidInput(f"{what} must be between {low} and {high}; got {number}.", field=field)
    return number


ESTIMABLE_STATUSES = {Status.ESCALATED, Status.DEFERRED, Status.APPROVED, Status.IN_PROGRESS}


def can_estimate(user, fr):
    if fr.status == Status.IN_PROGRESS:
        return user.role == Role.HEAD_OF_PRODUCT
    return user.is_product and fr.status in ESTIMABLE_STATUSES


def request_estimate(*, fr, actor, points, burned_points=None, reason=""):
    """Set or change the estimate. On approved work the budget reserves or releases the
    difference; on work in progress (the Head of Product's call) the points already burned
    are recorded as change cost."""
    points = _estimate_value(points)
    with transaction.atomic():
        [fr] = _lock(actor, [fr.pk])
        if fr.status not in ESTIMABLE_STATUSES:
            raise DomainError(
                f"Cannot estimate a request that is {fr.get_status_display().lower()}; "
                "estimates are for escalated, deferred, approved and in-progress requests.",
                state=fr.status,
            )
        if not can_estimate(actor, fr):
            raise NotAllowed(
                "Only the Head of Product re-estimates work in progress."
                if fr.status == Status.IN_PROGRESS
                else "Product roles estimate requests."
            )
        old = fr.estimate
        if old == points:
            return fr
        burned = 0
        if fr.status == Status.IN_PROGRESS:
            if burned_points in (None, ""):
                raise InvalidInput("Say how many points are already burned.", field="burned_points")
            burned = _whole(
                burned_points, field="burned_points", low=0, high=MAX_ESTIMATE, what="Burned points"
            )
        if fr.reserved_points and fr.status in (Status.APPROVED, Status.IN_PROGRESS):
            budget_re_estimate(
                quarter=fr.target_quarter,
                old_points=fr.reserved_points,
                new_points=points,
                actor=actor,
                request=fr,
                quarter_locked=True,
                reason=_ledger_note(fr, f"re-estimated {old} → {points}"),
            )
            fr.reserved_points = points
        # Product-funded work spends no sales points, so its burned points are recorded in
        # the audit event only, as when it is cancelled; the sales ledger stays untouched.
        if burned and fr.funding != Funding.PRODUCT:
            budget_record_change_cost(
                quarter=fr.target_quarter,
                points=burned,
                actor=actor,
                request=fr,
                quarter_locked=True,
                reason=_ledger_note(
                    fr,
                    f"re-estimated in progress ({old} → {points}); "
                    f"{burned} points already burned. {reason}".strip(),
                ),
            )
        fr.estimate = points
        fr.save(update_fields=["estimate", "reserved_points", "updated_at"])
        record_event(
            fr,
            actor,
            "estimate",
            reason=reason,
            old={"estimate": old},
            new={"estimate": points, "burned": burned or None},
        )
        return fr


def reopen_due_deferrals(today=None):
    """Deferred requests whose quarter is now open rejoin its queue at the top."""
    reopened = []
    for fr in FeatureRequest.objects.filter(status=Status.DEFERRED).select_related(
        "target_quarter"
    ):
        if fr.target_quarter.is_open(today):
            request_reopen(fr=fr, actor=None)
            reopened.append(fr.pk)
    return reopened


# --- The cut line --------------------------------------------------------------------------


def cut_line(requests, remaining):
    """Walk the queue in rank order adding estimates; the first request whose running total
    passes the remaining budget, and everything after it, is below the line. Unestimated
    requests are flagged and not counted."""
    rows, total, below = [], 0, False
    for fr in requests:
        row = {"fr": fr, "unestimated": fr.estimate is None, "running_total": None}
        first = False
        if fr.estimate is not None:
            total += fr.estimate
            row["running_total"] = total
            if not below and total > remaining:
                below = first = True
        row["below"], row["first_below"] = below, first
        rows.append(row)
    return rows


def quarter_for_deferral(slug, fr):
    """The Quarter a deferral names, created on demand; only the four after its target."""
    fq = FiscalQuarter.parse(slug or "")
    choices = deferral_quarters(fr)
    if fq is None or fq not in choices:
        raise InvalidInput(
            "Defer to one of the next quarters: " + ", ".join(q.label for q in choices) + ".",
            field="quarter",
        )
    return quarter_get_or_create(fq)


def deferral_quarters_for(quarter):
    """Fiscal quarters a request in `quarter` can be deferred to (for forms)."""
    return quarters_after(quarter.fiscal)


def deferral_quarters_for_slug(slug):
    fq = FiscalQuarter.parse(slug)
    return quarters_after(fq) if fq else []


TRANSITION_FUNCTIONS = {
    "submit": request_submit,
    "return": request_return,
    "reject": request_reject,
    "escalate": request_escalate,
    "withdraw": request_withdraw,
    "merge": request_merge,
    "reopen": request_reopen,
    "approve": request_approve,
    "approve_product": lambda **kw: request_approve(product_funded=True, **kw),
    "defer": request_defer,
    "decline": request_decline,
    "start": request_start,
    "ship": request_ship,
    "cancel": request_cancel,
}
