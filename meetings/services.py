"""The weekly sync: scheduling, the agenda built from live data, minuted decisions."""

import datetime as dt
from collections import defaultdict
from functools import lru_cache
from operator import attrgetter

from django.db import IntegrityError, transaction
from django.db.models import (
    BooleanField,
    Case,
    DateTimeField,
    ExpressionWrapper,
    JSONField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Role, User
from budgets.fiscal import FiscalQuarter
from budgets.models import LedgerEntry, Quarter
from budgets.services import quarter_get_or_create
from config.compiled import Compiled
from config.errors import DomainError, InvalidInput, NotAllowed, NotFound
from requests_app import services as request_services
from requests_app.models import (
    AuditEvent,
    Deal,
    FeatureRequest,
    Importance,
    Stage,
    Status,
    demand_of,
)

from .models import ActionItem, Decision, Meeting, MeetingSeries

WEEKS_AHEAD = 4
QUEUE_TOP = 10
DECISION_ACTIONS = ["approve", "approve_product", "defer", "decline", "cancel"]
MEETING_MOVES = {"approve", "approve_product", "defer", "decline"}
UNDECIDED = [Status.ESCALATED, Status.DEFERRED]


# --- Who may see and do what ---------------------------------------------------------------


def is_head(user):
    return user.role in (Role.HEAD_OF_SALES, Role.HEAD_OF_PRODUCT)


def can_see_meeting(user, meeting):
    return user.is_active and (
        is_head(user) or meeting.series.extra_attendees.filter(pk=user.pk).exists()
    )


def meetings_for(user):
    qs = Meeting.objects.select_related("series")
    if is_head(user):
        return qs
    return qs.filter(series__extra_attendees=user)


def meeting_get_for_user(user, pk):
    meeting = meetings_for(user).filter(pk=pk).first()
    if meeting is None:
        raise NotFound("No such meeting.")
    return meeting


def meeting_get_for_page(user, pk):
    """meeting_get_for_user() for the meeting page, which shows the agenda as it was emailed
    once the meeting is over and the live one before: the stored agenda (over 100 kB of JSON
    for a big company) is read only for a meeting that is over, as `agenda_snapshot`."""
    meeting = (
        meetings_for(user)
        .filter(pk=pk)
        .defer("agenda_sent")
        .annotate(
            agenda_snapshot=Case(
                When(ends_at__lte=timezone.now(), then="agenda_sent"), output_field=JSONField()
            )
        )
        .first()
    )
    if meeting is None:
        raise NotFound("No such meeting.")
    return meeting


# --- Scheduling ----------------------------------------------------------------------------


def series_active():
    return MeetingSeries.objects.filter(is_active=True).first()


def meetings_schedule(series=None, *, now=None):
    """Create the series' meetings for the next four weeks. Safe to run any number of times."""
    series = series or series_active()
    if series is None or not series.is_active:
        return []
    made = []
    for local_start in series.upcoming_starts(weeks=WEEKS_AHEAD, now=now):
        # Arithmetic on an aware datetime keeps its wall clock (09:00 - 24 h is 09:00 the day
        # before, 23 or 25 real hours across a DST change); in UTC the lead is real hours.
        starts = local_start.astimezone(dt.UTC)
        try:
            with transaction.atomic():
                meeting, created = Meeting.objects.get_or_create(
                    series=series,
                    starts_at=starts,
                    defaults={
                        "ends_at": starts + dt.timedelta(minutes=series.duration_minutes),
                        "digest_due_at": starts - dt.timedelta(hours=series.digest_lead_hours),
                    },
                )
        except IntegrityError:  # another scheduler run made it first
            continue
        if created:
            made.append(meeting)
    return made


def series_save(*, actor, series, data, extra_attendees):
    """The heads change the series; future meetings not yet announced follow the new slot."""
    if not is_head(actor):
        raise NotAllowed("The weekly sync is set up by the Head of Sales or the Head of Product.")
    with transaction.atomic():
        for key, value in data.items():
            setattr(series, key, value)
        series.is_active = True
        series.full_clean()
        series.save()
        series.extra_attendees.set(extra_attendees)
        # Meetings whose digest has not gone out yet are re-planned on the new slot.
        Meeting.objects.filter(
            series=series, starts_at__gt=timezone.now(), digest_sent_at__isnull=True
        ).exclude(decisions__isnull=False).exclude(action_items__isnull=False).delete()
        meetings_schedule(series)
    return series


# --- The agenda ----------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _fmt_day(day):
    """A date as the agenda prints it. Memoized (it depends on the date alone): a week of
    events falls on a handful of days, and strftime for each of 800 lines added up."""
    return day.strftime("%-d %b %Y") if day else ""


STATUS_LABELS = dict(Status.choices)
IMPORTANCE_LABELS = dict(Importance.choices)
STAGE_LABELS = dict(Stage.choices)
LEDGER_KIND_LABELS = dict(LedgerEntry.Kind.choices)


class _People:
    """The users plain rows name (by id and name fields), as unsaved User instances built once
    each, so display names and team labels follow the User model's own rules."""

    def __init__(self):
        self.seen = {}

    def __call__(self, pk, username, first_name, last_name, team_name=""):
        if pk not in self.seen:
            self.seen[pk] = User(
                pk=pk,
                username=username,
                first_name=first_name,
                last_name=last_name,
                team_name=team_name or "",
            )
        return self.seen[pk]


@lru_cache(maxsize=256)
def _quarter_label(fiscal_year, number):
    """Memoized, like _fmt_day: every event line names its request's quarter."""
    return FiscalQuarter(fiscal_year, number).label if fiscal_year else ""


def _request_brief(row, deals, people):
    demand = demand_of(deals)
    manager = row.manager_id and people(
        row.manager_id,
        row.manager__username,
        row.manager__first_name,
        row.manager__last_name,
        row.manager__team_name,
    )
    return {
        "id": row.pk,
        "title": row.title,
        "status": STATUS_LABELS.get(row.status, row.status),
        "estimate": row.estimate,
        "importance": IMPORTANCE_LABELS.get(row.importance, row.importance),
        "team": manager.team_label if manager else "",
        "accounts": demand["accounts"],
        "arr": ", ".join(f"{c} {a:,.0f}" for c, a in demand["arr"].items()),
    }


def action_items_for(meeting):
    """The series' open action items (the agenda lists them) and every item of this meeting
    (its minutes, done ones too), in one read, in the minutes' order: done_at, due date."""
    return list(
        ActionItem.objects.filter(
            Q(meeting__series_id=meeting.series_id, done_at__isnull=True) | Q(meeting=meeting)
        )
        .select_related("owner")
        .order_by("done_at", "due_date", "pk")
    )


# The agenda's long reads, compiled to SQL once per worker and run with each meeting's values
# (config/compiled.py): the audit events and the budget changes between the last meeting and
# this one, the requests it names and the deals it shows.
_agenda_events = Compiled(
    lambda since, until: AuditEvent.objects.filter(
        created_at__gte=since, created_at__lte=until, action__in=["escalate", *DECISION_ACTIONS]
    )
    .order_by("created_at", "id")
    .values_list(
        "request_id", "action", "reason", "created_at",
        "actor_id", "actor__username", "actor__first_name", "actor__last_name",
        named=True,
    ),
    dt.datetime,
    dt.datetime,
)  # fmt: skip


def _agenda_requests_of(quarter_id, due_by, event_request_ids):
    """One read of the requests the agenda names: the queue (every estimate: the cut line needs
    them all, though only its top is shown), the deferred requests coming due, and those of
    the events. The events' requests are fetched by key here rather than joined to the
    events: that join made PostgreSQL hash every request (20,000 at bench scale) each time.
    A UNION ALL of the three, not one WHERE with OR: the deferred test is on the joined
    quarter, which kept PostgreSQL from reading each part through its own index; it scanned
    every request and matched each against the list of keys (bench scale: 5.7 ms to execute,
    2.8 ms this way). A request in two parts comes twice, the same row both times;
    build_agenda keeps one."""
    in_queue = Q(target_quarter_id=quarter_id, queue_rank__isnull=False)
    deferred_due = Q(status=Status.DEFERRED, target_quarter__start_date__lte=due_by)
    rows = (
        FeatureRequest.objects.annotate(
            in_queue=ExpressionWrapper(in_queue, output_field=BooleanField()),
            deferred_due=ExpressionWrapper(deferred_due, output_field=BooleanField()),
        )
        .order_by()  # sorted by build_agenda, each list its own way
        .values_list(
            "pk", "title", "status", "importance", "estimate", "queue_rank",
            "manager_id", "manager__username", "manager__first_name", "manager__last_name",
            "manager__team_name",
            "target_quarter__fiscal_year", "target_quarter__number", "target_quarter__start_date",
            "in_queue", "deferred_due",
            named=True,
        )
    )  # fmt: skip
    return rows.filter(in_queue).union(
        rows.filter(deferred_due),
        rows.filter(request_services.AnyOf("pk", event_request_ids)),
        all=True,
    )


_agenda_requests = Compiled(_agenda_requests_of, int, dt.date, list)
_DEAL_COLUMNS = (
    *("pk", "request_id", "currency", "amount", "account_name"),
    *("expected_close_date", "stage", "request__title", "request__status"),
)
# The deals the agenda shows, in one statement: those of the requests shown (for their
# accounts and ARR; unordered, their sums and accounts come out the same), then those closing
# before the next meeting on requests still to decide (a range of deal_closing). UNION ALL
# keeps each half's own plan; one WHERE with an OR of the two took twice as long.
_agenda_deals = Compiled(
    lambda shown, today, due_by: (
        Deal.objects.filter(request_services.AnyOf("request_id", shown))
        .order_by()
        .annotate(closing=Value(False))
        .values_list(*_DEAL_COLUMNS, "closing", named=True)
        .union(
            Deal.objects.filter(
                expected_close_date__gte=today,
                expected_close_date__lte=due_by,
                request__status__in=UNDECIDED,
            )
            .order_by()
            .annotate(closing=Value(True))
            .values_list(*_DEAL_COLUMNS, "closing", named=True),
            all=True,
        )
    ),
    list,
    dt.date,
    dt.date,
)
_agenda_changes = Compiled(
    lambda since, until: LedgerEntry.objects.filter(
        created_at__gte=since,
        created_at__lte=until,
        kind__in=[LedgerEntry.Kind.CHANGE_COST, LedgerEntry.Kind.RE_ESTIMATE],
    ).values_list(
        "kind",
        "points",
        "request_id",
        "reason",
        "created_at",
        "budget__quarter__fiscal_year",
        "budget__quarter__number",
        named=True,
    ),
    dt.datetime,
    dt.datetime,
)


def build_agenda(meeting, *, now=None, action_items=None):
    """Everything the heads go through, from live data, as plain JSON-able values.

    One function for the meeting page, the digest email and the API; a fixed number of
    queries whatever the size of the queue. `action_items` is action_items_for(meeting)
    when the caller (the meeting page) has read it already.

    The long lists (the whole queue, a week of audit events, the deals closing) are read as
    plain rows, not model instances: building a thousand instances cost more than all the
    queries together."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    fq = FiscalQuarter.containing(meeting.local_start.date())
    # In one query: the quarter and its budget, when the last meeting started (or a week
    # back for the first one) and the reserved balance at that moment.
    previous_start = (
        Meeting.objects.filter(series_id=meeting.series_id, starts_at__lt=meeting.starts_at)
        .order_by("-starts_at")
        .values("starts_at")[:1]
    )
    reserved_at_since = (
        LedgerEntry.objects.filter(budget__quarter=OuterRef("pk"), created_at__lt=OuterRef("since"))
        .order_by("-created_at", "-id")
        .values("reserved_after")[:1]
    )
    found = (
        Quarter.objects.for_fiscal(fq)
        .select_related("budget")
        .annotate(
            since=Coalesce(
                Subquery(previous_start),
                Value(meeting.starts_at - dt.timedelta(days=7)),
                output_field=DateTimeField(),
            )
        )
        .annotate(reserved_then=Subquery(reserved_at_since))
        .first()
    )
    if found is None or not hasattr(found, "budget"):
        quarter_get_or_create(fq)  # a quarter nobody has opened yet: an empty budget
        return build_agenda(meeting, now=now, action_items=action_items)
    quarter, budget, since = found, found.budget, found.since
    reserved_then = found.reserved_then or 0
    # What happened between the last meeting and this one: for a past meeting (read on its
    # page before its digest stored a snapshot) the window ends when it started, not today.
    until = min(now, meeting.starts_at)
    due_by = today + dt.timedelta(days=30)
    people = _People()
    local = timezone.get_current_timezone()  # once, not per line (as localtime() would)

    events = _agenda_events(since, until)
    request_by_pk = {
        r.pk: r for r in _agenda_requests(quarter.pk, due_by, {e.request_id for e in events})
    }
    requests = request_by_pk.values()
    queue = sorted((r for r in requests if r.in_queue), key=attrgetter("queue_rank"))
    deferred = sorted(
        (r for r in requests if r.deferred_due),
        key=attrgetter("target_quarter__start_date", "pk"),
    )
    top = queue[:QUEUE_TOP]
    rows = request_services.cut_line(queue, budget.remaining)
    shown = [r.pk for r in [*top, *deferred]]
    deals_of, closing_rows = defaultdict(list), []
    for d in _agenda_deals(shown, today, due_by):
        if d.closing:
            closing_rows.append(d)
        else:
            deals_of[d.request_id].append((d.currency, d.amount, d.account_name))
    closing_rows.sort(key=attrgetter("expected_close_date", "pk"))
    queue_top = []
    for rank, row in enumerate(rows[:QUEUE_TOP], 1):
        brief = _request_brief(row["fr"], deals_of[row["fr"].pk], people)
        brief.update(
            rank=rank,
            running_total=row["running_total"],
            below=row["below"],
            first_below=row["first_below"],
            unestimated=row["unestimated"],
        )
        queue_top.append(brief)

    actor_names = {None: "system"}  # each actor's name worked out once, not once per event

    def event_line(e):
        fr = request_by_pk[e.request_id]
        if e.actor_id not in actor_names:
            actor_names[e.actor_id] = people(
                e.actor_id, e.actor__username, e.actor__first_name, e.actor__last_name
            ).display_name
        return {
            "id": e.request_id,
            "title": fr.title,
            "action": e.action.replace("_", " "),
            "actor": actor_names[e.actor_id],
            "reason": e.reason,
            "quarter": _quarter_label(fr.target_quarter__fiscal_year, fr.target_quarter__number),
            "when": _fmt_day(e.created_at.astimezone(local).date()),
        }

    changes = [
        {
            "kind": LEDGER_KIND_LABELS.get(e.kind, e.kind),
            "points": e.points,
            "request": e.request_id,
            "reason": e.reason,
            "when": _fmt_day(e.created_at.astimezone(local).date()),
            "quarter": _quarter_label(e.budget__quarter__fiscal_year, e.budget__quarter__number),
        }
        for e in _agenda_changes(since, until)
    ]
    deferred_due = [
        {
            **_request_brief(r, deals_of[r.pk], people),
            "quarter": _quarter_label(r.target_quarter__fiscal_year, r.target_quarter__number),
            "opens": _fmt_day(r.target_quarter__start_date),
        }
        for r in deferred
    ]
    deals = [
        {
            "account": d.account_name,
            "amount": f"{d.currency} {d.amount:,.0f}",
            "closes": _fmt_day(d.expected_close_date),
            "stage": STAGE_LABELS.get(d.stage, d.stage),
            "request": d.request_id,
            "title": d.request__title,
            "status": STATUS_LABELS.get(d.request__status, d.request__status),
        }
        for d in closing_rows
    ]
    if action_items is None:
        action_items = action_items_for(meeting)
    actions = [
        {
            "id": a.pk,
            "title": a.title,
            "owner": a.owner.display_name,
            "due": _fmt_day(a.due_date),
            "overdue": a.due_date < today,
        }
        # Open ones are the series' open items, already by due date (done_at is null for all).
        for a in action_items
        if a.done_at is None
    ]
    return {
        "built_at": now.isoformat(),
        "since": _fmt_day(timezone.localtime(since).date()),
        "budget": {
            "quarter": quarter.label,
            "quarter_slug": quarter.slug,
            "allocated": budget.allocated,
            "reserved": budget.reserved,
            "remaining": budget.remaining,
            "reserved_change": budget.reserved - reserved_then,
        },
        "queue": {
            "size": len(rows),
            "unestimated": sum(1 for r in rows if r["unestimated"]),
            "below_line": sum(1 for r in rows if r["below"]),
            "top": queue_top,
        },
        "new_escalations": [event_line(e) for e in events if e.action == "escalate"],
        "decisions": [event_line(e) for e in events if e.action in DECISION_ACTIONS],
        "changes": changes,
        "change_cost": sum(c["points"] for c in changes if c["kind"] == "Change cost"),
        "deferred_due": deferred_due,
        "deals_closing": deals,
        "action_items": actions,
    }


# --- Decisions and action items ------------------------------------------------------------


def meeting_decide(*, meeting, fr, actor, action, reason="", quarter_slug=""):
    """Approve, defer or decline from the meeting page: the review queue's own services,
    plus a line in the meeting's minutes, in one transaction."""
    if action not in MEETING_MOVES:
        raise InvalidInput(
            f"From the meeting you can {', '.join(sorted(MEETING_MOVES))}.", field="action"
        )
    if meeting.is_past:
        # Its minutes are what was decided while it ran (and may have been emailed already).
        raise DomainError(
            "This meeting is over; decide from the review queue or in the next meeting."
        )
    with transaction.atomic():
        kwargs = {"fr": fr, "actor": actor}
        if action in ("defer", "decline"):
            kwargs["reason"] = reason
        if action == "defer":
            kwargs["quarter"] = quarter_slug
        fr = request_services.TRANSITION_FUNCTIONS[action](**kwargs)
        fr.refresh_from_db()
        words = {
            "approve": f"Approved ({fr.estimate} points from {fr.target_quarter.label})",
            "approve_product": "Approved as product-funded",
            "defer": f"Deferred to {fr.target_quarter.label}",
            "decline": "Declined",
        }[action]
        summary = f"#{fr.pk} {fr.title[:200]}: {words}" + (
            f". {reason.strip()}" if reason.strip() else ""
        )
        return Decision.objects.create(
            meeting=meeting, request=fr, action=action, summary=summary[:400], actor=actor
        )


def action_item_add(*, meeting, actor, title, owner, due_date):
    if not can_see_meeting(actor, meeting):
        raise NotFound("No such meeting.")
    title = " ".join((title or "").split())
    if not title:
        raise InvalidInput("Say what needs doing.", field="title")
    if owner is None or not owner.is_active:
        raise InvalidInput("Choose an owner.", field="owner")
    if due_date is None:
        raise InvalidInput("Choose a due date.", field="due_date")
    if due_date < meeting.local_start.date() - dt.timedelta(days=7):
        raise InvalidInput("The due date is before the meeting.", field="due_date")
    return ActionItem.objects.create(
        meeting=meeting, title=title[:300], owner=owner, due_date=due_date, created_by=actor
    )


def action_item_set_done(*, item, actor, done):
    if not (is_head(actor) or item.owner_id == actor.pk):
        raise NotAllowed("The owner or one of the heads marks an action item done.")
    if done != item.done:
        item.done_at = timezone.now() if done else None
        item.save(update_fields=["done_at"])
    return item


def action_item_toggle(*, item, actor):
    return action_item_set_done(item=item, actor=actor, done=not item.done)
