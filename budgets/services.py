"""Every change to a budget goes through these functions.

Each one locks the quarter's budget row inside a transaction, checks the rule against the
locked balances, appends one ledger entry and moves the balances in the same transaction.
The lock serialises concurrent approvals of one quarter, so two of them can never both see
the same remaining points; the CheckConstraints on Budget catch anything that slips past.
Reservations and releases take the row lock with the conditional UPDATE that moves the
balances (see _move_reserved); capacity changes with SELECT ... FOR UPDATE. Callers that touch
two budgets must lock them in quarter order (earlier first), and callers that also lock a
Quarter row take it before the budget row.
"""

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts import webhooks
from config.errors import InsufficientBudget, InvalidInput, NotAllowed, QuarterClosed

from .fiscal import FiscalQuarter
from .models import Budget, LedgerEntry, Quarter

MAX_CAPACITY = 1_000_000
MAX_POINTS = 10_000


# --- Quarters -------------------------------------------------------------------------------


def quarter_get_or_create(fq: FiscalQuarter) -> Quarter:
    quarter, _ = Quarter.objects.get_or_create(
        fiscal_year=fq.fiscal_year,
        number=fq.number,
        defaults={"start_date": fq.start, "end_date": fq.end},
    )
    Budget.objects.get_or_create(quarter=quarter)
    return quarter


def quarter_ensure_budget(quarter: Quarter) -> Quarter:
    """`quarter` with its budget: a Quarter row written without one (a seed script, a shell)
    gets the empty budget quarter_get_or_create gives every quarter, instead of failing every
    page that reads it. No query when the quarter was read with its budget."""
    if not hasattr(quarter, "budget"):
        quarter.budget, _ = Budget.objects.get_or_create(quarter=quarter)
    return quarter


def quarter_current(today=None) -> Quarter:
    today = today or timezone.localdate()
    return quarter_get_or_create(FiscalQuarter.containing(today))


def quarters_ensure_open(today=None) -> list[Quarter]:
    """The current and next quarters with their budgets, created if they do not exist yet.

    Most pages call this, so once both exist it is one query (budgets joined)."""
    today = today or timezone.localdate()
    current = FiscalQuarter.containing(today)
    wanted = [current, current.next()]
    found = {
        q.fiscal: q
        for q in Quarter.objects.filter(
            Q(fiscal_year=current.fiscal_year, number=current.number)
            | Q(fiscal_year=wanted[1].fiscal_year, number=wanted[1].number)
        ).select_related("budget")
    }
    return [
        found[fq] if fq in found and hasattr(found[fq], "budget") else quarter_get_or_create(fq)
        for fq in wanted
    ]


def quarter_among(quarters, fq) -> Quarter | None:
    """The quarter of `quarters` (read with their budgets) that is fiscal quarter `fq` and
    has its budget, or None: pages that list quarters pick the one they show from that list
    instead of reading it again."""
    return next((q for q in quarters if q.fiscal == fq and hasattr(q, "budget")), None)


def quarter_from_slug(slug) -> Quarter | None:
    """The quarter `slug` names, with its budget, or None if there is no such quarter."""
    fq = FiscalQuarter.parse(slug)
    if fq is None:
        return None
    # A slug names at most one quarter: no ORDER BY (first() adds one) to build and plan.
    quarter = next(
        iter(Quarter.objects.for_fiscal(fq).select_related("budget").order_by()[:1]), None
    )
    return quarter if quarter is None else quarter_ensure_budget(quarter)


# --- Validation ----------------------------------------------------------------------------


def _whole_number(value, *, field, minimum, maximum):
    if isinstance(value, bool):
        raise InvalidInput(f"{field} must be a whole number.", field=field)
    if isinstance(value, str):
        value = value.strip()
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{field} must be a whole number.", field=field) from None
    if str(number) != str(value) and number != value:
        raise InvalidInput(f"{field} must be a whole number.", field=field)
    if number < minimum or number > maximum:
        raise InvalidInput(
            f"{field} must be between {minimum:,} and {maximum:,}; got {number:,}.", field=field
        )
    return number


def _points(points):
    return _whole_number(points, field="Points", minimum=1, maximum=MAX_POINTS)


# --- Ledger --------------------------------------------------------------------------------


def _lock(quarter, today=None) -> Budget:
    """Lock the quarter's budget row and refuse if the quarter no longer takes entries."""
    budget = Budget.objects.select_for_update().get(quarter_id=quarter.pk)
    # Read the quarter after the lock is held: budget_expire sets closed_at under this lock.
    budget.quarter = Quarter.objects.get(pk=quarter.pk)
    refusal = _closed(budget.quarter, today)
    if refusal:
        raise refusal
    return budget


def _closed(q, today=None):
    """The refusal for a quarter whose ledger takes no new entries, or None."""
    today = today or timezone.localdate()
    if q.is_closed or today >= q.closes_on:
        return QuarterClosed(
            f"{q.label} closed on {q.closes_on:%d %b %Y}; its ledger takes no new entries.",
            quarter=q.slug,
        )
    return None


def _append(
    budget, *, kind, points, actor, reason, allocated=0, reserved=0, expired=0, request=None
):
    # Move the balances with relative UPDATEs, so the database applies each change to the row
    # as it is now and its CheckConstraints judge the real totals even if a caller forgot the
    # lock (the lock is what turns an overspend into a clear refusal instead of an error).
    now = timezone.now()
    Budget.objects.filter(pk=budget.pk).update(
        capacity=budget.capacity,
        percentage=budget.percentage,
        allocated=F("allocated") + allocated,
        reserved=F("reserved") + reserved,
        expired=F("expired") + expired,
        updated_at=now,
    )
    # Every caller read `budget` under its row lock (_lock, budget_expire), so the balances
    # after this entry are those plus the change: no re-read while the lock is held.
    budget.allocated += allocated
    budget.reserved += reserved
    budget.expired += expired
    budget.updated_at = now
    return _entry(budget, kind=kind, points=points, actor=actor, reason=reason, request=request)


def _entry(budget, *, webhook_endpoints=None, **fields):
    """The ledger entry for a move `budget` already holds (its balances are those after it)."""
    entry = LedgerEntry.objects.create(
        budget=budget,
        allocated_after=budget.allocated,
        reserved_after=budget.reserved,
        remaining_after=budget.remaining,
        **fields,
    )
    webhooks.budget_moved(entry, endpoints=webhook_endpoints)
    return entry


_MOVE_RESERVED = """
    UPDATE budgets_budget SET reserved = reserved + %s, updated_at = %s
    WHERE quarter_id = %s AND reserved + %s BETWEEN 0 AND allocated - expired
    RETURNING id, capacity, percentage, allocated, reserved, expired
"""


def _try_move_reserved(
    quarter, delta, refusal, *, quarter_locked=False, today=None, webhook_endpoints=None, **fields
):
    """Move the quarter's reserved points by `delta` and append the ledger entry `fields`
    describe; returns (entry, None), or (None, the exception to raise) when the move does not
    fit: `refusal(budget)` builds it from the budget as it stands (None for a move of 0, which
    always fits).

    The quarter's row lock comes first (budget_expire takes it to close the quarter, so it stays
    open until we commit). Request moves already hold it and read `quarter` under it
    (requests_app.services._lock): they pass quarter_locked=True and it is neither locked nor
    read again. Then one conditional UPDATE ... RETURNING takes the budget's row lock, judges
    the move against the balances as they are now (PostgreSQL re-checks the WHERE against a row
    another transaction changed while this one waited) and returns the balances after it: no
    SELECT ... FOR UPDATE and no re-read while the locks are held.

    No savepoint: nothing is written before a refusal, and the caller raises it after this
    block, so a caller's own transaction stays usable (a savepoint would cost two more
    statements under the lock)."""
    with transaction.atomic(savepoint=False):
        q = quarter if quarter_locked else Quarter.objects.select_for_update().get(pk=quarter.pk)
        closed = _closed(q, today)
        if closed:
            return None, closed
        now = timezone.now()
        with connection.cursor() as cur:
            cur.execute(
                _MOVE_RESERVED,
                [delta, connection.ops.adapt_datetimefield_value(now), q.pk, delta],
            )
            row = cur.fetchone()
        if row is None:
            return None, refusal(Budget.objects.select_related("quarter").get(quarter_id=q.pk))
        pk, capacity, percentage, allocated, reserved, expired = row
        budget = Budget(
            pk=pk,
            quarter=q,
            capacity=capacity,
            percentage=percentage,
            allocated=allocated,
            reserved=reserved,
            expired=expired,
            updated_at=now,
        )
        return _entry(budget, webhook_endpoints=webhook_endpoints, **fields), None


def _move_reserved(quarter, delta, refusal, **kwargs):
    """_try_move_reserved, raising its refusal once its block has ended; returns the entry."""
    entry, refused = _try_move_reserved(quarter, delta, refusal, **kwargs)
    if refused:
        raise refused
    return entry


def budget_set_capacity(*, quarter, capacity, actor, percentage=None, reason=""):
    """Set engineering capacity (and optionally the sales percentage); allocates the difference."""
    if actor is None or not actor.is_head_of_product:
        raise NotAllowed("Only the Head of Product sets quarterly capacity.")
    capacity = _whole_number(capacity, field="Capacity", minimum=1, maximum=MAX_CAPACITY)
    if percentage is not None:
        percentage = _whole_number(percentage, field="Sales percentage", minimum=1, maximum=100)
    with transaction.atomic():
        budget = _lock(quarter)
        percentage = budget.percentage if percentage is None else percentage
        new_allocated = Budget.allocation_for(capacity, percentage)
        if new_allocated < budget.reserved:
            raise InvalidInput(
                f"{capacity:,} points at {percentage}% gives a budget of {new_allocated}, "
                f"below the {budget.reserved} points already reserved in {budget.quarter.label}.",
                field="capacity",
                needed=budget.reserved,
                remaining=new_allocated,
                shortfall=budget.reserved - new_allocated,
            )
        if capacity == budget.capacity and percentage == budget.percentage:
            return None
        old = f"capacity {budget.capacity:,} at {budget.percentage}%"
        budget.capacity, budget.percentage = capacity, percentage
        note = f"{old} → capacity {capacity:,} at {percentage}%"
        delta = new_allocated - budget.allocated
        return _append(
            budget,
            kind=LedgerEntry.Kind.ALLOCATE,
            points=delta,
            actor=actor,
            reason=f"{note}. {reason}".strip(),
            allocated=delta,
        )


def budget_reserve(
    *, quarter, points, actor, reason="", request=None, quarter_locked=False, webhook_endpoints=None
):
    """Reserve points for approved work; refused with the numbers when they do not fit.
    quarter_locked: see _move_reserved. webhook_endpoints: the active endpoints, when the
    caller read them before its locks."""
    points = _points(points)
    return _move_reserved(
        quarter,
        points,
        lambda budget: InsufficientBudget(
            needed=points, remaining=budget.remaining, quarter_label=budget.quarter.label
        ),
        kind=LedgerEntry.Kind.RESERVE,
        points=points,
        actor=actor,
        reason=reason,
        request=request,
        quarter_locked=quarter_locked,
        webhook_endpoints=webhook_endpoints,
    )


def budget_release(*, quarter, points, actor, reason="", request=None, quarter_locked=False):
    points = _points(points)
    return _move_reserved(
        quarter,
        -points,
        lambda budget: InvalidInput(
            f"Cannot release {points} points: only {budget.reserved} are reserved in "
            f"{budget.quarter.label}.",
            field="points",
        ),
        kind=LedgerEntry.Kind.RELEASE,
        points=points,
        actor=actor,
        reason=reason,
        request=request,
        quarter_locked=quarter_locked,
    )


def budget_re_estimate(
    *, quarter, old_points, new_points, actor, reason="", request=None, quarter_locked=False
):
    """Reserve or release the difference between two estimates of reserved work."""
    old_points, new_points = _points(old_points), _points(new_points)
    delta = new_points - old_points
    if delta == 0:
        return None

    def refusal(budget):
        if delta > 0:
            return InsufficientBudget(
                needed=delta, remaining=budget.remaining, quarter_label=budget.quarter.label
            )
        return InvalidInput("Cannot release more points than are reserved.", field="points")

    return _move_reserved(
        quarter,
        delta,
        refusal,
        kind=LedgerEntry.Kind.RE_ESTIMATE,
        points=delta,
        actor=actor,
        reason=reason or f"estimate {old_points} → {new_points}",
        request=request,
        quarter_locked=quarter_locked,
    )


def budget_record_change_cost(
    *, quarter, points, actor, reason, request=None, quarter_locked=False
):
    """Record points burned by work in progress that was changed; they stay spent."""
    points = _points(points)
    if not (reason or "").strip():
        raise InvalidInput("Say why the work in progress changed.", field="reason")
    # A move of 0 reserved points: the entry takes its place in the budget's serial order
    # with the balances as they are, under the same locks as every other entry.
    return _move_reserved(
        quarter,
        0,
        None,
        kind=LedgerEntry.Kind.CHANGE_COST,
        points=points,
        actor=actor,
        reason=reason,
        request=request,
        quarter_locked=quarter_locked,
    )


def budget_expire(*, quarter, today=None):
    """Close the quarter: what remains expires and the ledger is frozen. Safe to run twice."""
    today = today or timezone.localdate()
    with transaction.atomic():
        # Quarter before budget: the order request decisions lock them in.
        q = Quarter.objects.select_for_update().get(pk=quarter.pk)
        budget = Budget.objects.select_for_update().get(quarter_id=quarter.pk)
        if q.is_closed:
            return None
        if today < q.closes_on:
            raise InvalidInput(
                f"{q.label} closes on {q.closes_on:%d %b %Y}, a week after it ends.",
                field="quarter",
            )
        remaining = budget.remaining
        entry = _append(
            budget,
            kind=LedgerEntry.Kind.EXPIRE,
            points=remaining,
            actor=None,
            reason=f"{q.label} closed; {remaining} unspent points expire.",
            expired=remaining,
        )
        q.closed_at = timezone.now()
        q.save(update_fields=["closed_at"])
        return entry


def ledger_sums(budget) -> dict:
    """Balances recomputed from the ledger alone (the record the running balances must match)."""
    allocated = reserved = expired = 0
    for kind, points in budget.entries.values_list("kind", "points"):
        if kind == LedgerEntry.Kind.ALLOCATE:
            allocated += points
        elif kind in (LedgerEntry.Kind.RESERVE, LedgerEntry.Kind.RE_ESTIMATE):
            reserved += points
        elif kind == LedgerEntry.Kind.RELEASE:
            reserved -= points
        elif kind == LedgerEntry.Kind.EXPIRE:
            expired += points
    return {
        "allocated": allocated,
        "reserved": reserved,
        "expired": expired,
        "remaining": allocated - reserved - expired,
    }
