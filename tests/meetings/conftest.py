"""Fixtures for the weekly sync: a series, meetings, requests built through the real services,
and the agenda's numbers recomputed here from the database, independently of
meetings.services.build_agenda, so a wrong number in the app shows up as a failing test.
"""

import datetime as dt
import email
import email.policy
import re
from decimal import Decimal

import pytest
from django.db.models import Q
from django.utils import timezone

from budgets.fiscal import FiscalQuarter
from budgets.models import Budget, LedgerEntry
from budgets.services import budget_set_capacity, quarter_get_or_create
from meetings.models import ActionItem, Meeting, MeetingSeries
from requests_app import services as rs
from requests_app.models import AuditEvent, Deal, FeatureRequest, Status

BERLIN = "Europe/Berlin"
# The agenda lists the queue's top ten.
QUEUE_TOP = 10


# --- The series and its meetings -------------------------------------------------------------


@pytest.fixture
def series(cast):
    """The weekly sync, Tuesdays 09:00 Berlin, with the product manager as extra attendee."""
    s = MeetingSeries.objects.create(
        name="Weekly sync", weekday=1, start_time=dt.time(9, 0), time_zone=BERLIN
    )
    s.extra_attendees.set([cast.pm])
    return s


def make_meeting(series, starts_at, *, lead_hours=None):
    lead = series.digest_lead_hours if lead_hours is None else lead_hours
    return Meeting.objects.create(
        series=series,
        starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(minutes=series.duration_minutes),
        digest_due_at=starts_at - dt.timedelta(hours=lead),
    )


def attendee_emails(cast, *extra):
    return sorted([cast.hos.email, cast.hop.email, *(u.email for u in extra)])


# --- Requests, through the services users act with ------------------------------------------


class Requests:
    """The rep raises, the manager escalates, the product manager estimates, the Head of
    Product decides: every row comes from the services, with their audit events and ledger."""

    def __init__(self, cast):
        self.cast = cast
        self.n = 0

    def escalated(self, quarter, *, estimate=None, closes_in=45, amount="50000", title=None):
        self.n += 1
        fr = rs.request_create(
            actor=self.cast.rep,
            data={"title": title or f"Meeting request {self.n}", "problem": f"Problem {self.n}"},
            deals=[
                {
                    "account_name": f"Account {self.n}",
                    "amount": Decimal(amount),
                    "currency": "USD",
                    "stage": "qualified",
                    "expected_close_date": timezone.localdate() + dt.timedelta(days=closes_in),
                    "crm_ref": "",
                }
            ],
        )
        rs.request_submit(fr=fr, actor=self.cast.rep)
        rs.request_escalate(fr=fr, actor=self.cast.manager, quarter=quarter)
        if estimate is not None:
            rs.request_estimate(fr=fr, actor=self.cast.pm, points=estimate)
        return FeatureRequest.objects.get(pk=fr.pk)

    def approved(self, quarter, estimate, **kw):
        fr = self.escalated(quarter, estimate=estimate, **kw)
        rs.request_approve(fr=fr, actor=self.cast.hop)
        return FeatureRequest.objects.get(pk=fr.pk)

    def declined(self, quarter, **kw):
        fr = self.escalated(quarter, **kw)
        rs.request_decline(fr=fr, actor=self.cast.hop, reason="Not our direction")
        return FeatureRequest.objects.get(pk=fr.pk)

    def deferred(self, quarter, to, **kw):
        fr = self.escalated(quarter, **kw)
        rs.request_defer(fr=fr, actor=self.cast.hop, quarter=to.slug, reason="Later")
        return FeatureRequest.objects.get(pk=fr.pk)


@pytest.fixture
def reqs(cast):
    return Requests(cast)


def open_and_done_items(cast, meeting, earlier):
    """An open and a done action item on `meeting` and on an `earlier` one of its series:
    the page shows the series' open ones on the agenda and this meeting's in its minutes."""
    for on, title, done_at in [
        (meeting, "Open here", None),
        (meeting, "Done here", timezone.now()),
        (earlier, "Open before", None),
        (earlier, "Done before", timezone.now()),
    ]:
        ActionItem.objects.create(
            meeting=on,
            title=title,
            owner=cast.hos,
            due_date=timezone.localdate(),
            created_by=cast.hop,
            done_at=done_at,
        )


def fund(cast, quarter, capacity):
    budget_set_capacity(quarter=quarter, capacity=capacity, actor=cast.hop)
    return Budget.objects.get(quarter=quarter)


def quarter_of(meeting):
    local_day = meeting.starts_at.astimezone(meeting.tz).date()
    return quarter_get_or_create(FiscalQuarter.containing(local_day))


# --- The agenda's numbers, recomputed from DOMAIN.md -----------------------------------------


def ledger_reserved(entries):
    """Reserved points as the ledger's sum: reserve and re-estimate add, release takes away."""
    total = 0
    for kind, points in entries.values_list("kind", "points"):
        if kind in (LedgerEntry.Kind.RESERVE, LedgerEntry.Kind.RE_ESTIMATE):
            total += points
        elif kind == LedgerEntry.Kind.RELEASE:
            total -= points
    return total


def expected_numbers(meeting, *, since, today=None):
    """What the agenda of `meeting` must say, from the database alone."""
    today = today or timezone.localdate()
    quarter = quarter_of(meeting)
    budget = Budget.objects.get(quarter=quarter)
    entries = LedgerEntry.objects.filter(budget=budget)
    allocated = sum(entries.filter(kind=LedgerEntry.Kind.ALLOCATE).values_list("points", flat=True))
    expired = sum(entries.filter(kind=LedgerEntry.Kind.EXPIRE).values_list("points", flat=True))
    reserved = ledger_reserved(entries)
    remaining = allocated - reserved - expired

    # The cut line: walk the queue in rank order adding estimates; the first that no longer
    # fits the remaining budget is below the line, and so is everything after it.
    queue = list(
        FeatureRequest.objects.filter(
            target_quarter=quarter, status=Status.ESCALATED, queue_rank__isnull=False
        ).order_by("queue_rank")
    )
    total, below, below_line = 0, False, 0
    for fr in queue:
        if fr.estimate is not None:
            total += fr.estimate
            below = below or total > remaining
        below_line += below

    events = AuditEvent.objects.filter(created_at__gte=since)
    decisions = ["approve", "approve_product", "defer", "decline", "cancel"]
    changes = LedgerEntry.objects.filter(
        created_at__gte=since,
        kind__in=[LedgerEntry.Kind.CHANGE_COST, LedgerEntry.Kind.RE_ESTIMATE],
    )
    within = today + dt.timedelta(days=30)
    return {
        "quarter": quarter.label,
        "allocated": allocated,
        "reserved": reserved,
        "remaining": remaining,
        "reserved_change": reserved - ledger_reserved(entries.filter(created_at__lt=since)),
        "queue_top": [fr.pk for fr in queue][:QUEUE_TOP],
        "size": len(queue),
        "unestimated": sum(1 for fr in queue if fr.estimate is None),
        "below_line": below_line,
        "new_escalations": sorted(
            events.filter(action="escalate").values_list("request_id", flat=True)
        ),
        "decisions": sorted(
            events.filter(action__in=decisions).values_list("request_id", flat=True)
        ),
        "changes": sorted(changes.values_list("points", flat=True)),
        "change_cost": sum(
            changes.filter(kind=LedgerEntry.Kind.CHANGE_COST).values_list("points", flat=True)
        ),
        "deferred_due": sorted(
            FeatureRequest.objects.filter(
                status=Status.DEFERRED, target_quarter__start_date__lte=within
            ).values_list("pk", flat=True)
        ),
        "deals_closing": sorted(
            Deal.objects.filter(
                expected_close_date__gte=today,
                expected_close_date__lte=within,
                request__status__in=[Status.ESCALATED, Status.DEFERRED],
            ).values_list("account_name", flat=True)
        ),
        "action_items": sorted(
            ActionItem.objects.filter(
                Q(meeting__series=meeting.series), done_at__isnull=True
            ).values_list("title", flat=True)
        ),
    }


def agenda_numbers(agenda):
    """The same numbers, read from an agenda dict (built live or stored as sent)."""
    budget, queue = agenda["budget"], agenda["queue"]
    return {
        "quarter": budget["quarter"],
        "allocated": budget["allocated"],
        "reserved": budget["reserved"],
        "remaining": budget["remaining"],
        "reserved_change": budget["reserved_change"],
        "queue_top": [r["id"] for r in queue["top"]],
        "size": queue["size"],
        "unestimated": queue["unestimated"],
        "below_line": queue["below_line"],
        "new_escalations": sorted(e["id"] for e in agenda["new_escalations"]),
        "decisions": sorted(e["id"] for e in agenda["decisions"]),
        "changes": sorted(c["points"] for c in agenda["changes"]),
        "change_cost": agenda["change_cost"],
        "deferred_due": sorted(r["id"] for r in agenda["deferred_due"]),
        "deals_closing": sorted(d["account"] for d in agenda["deals_closing"]),
        "action_items": sorted(a["title"] for a in agenda["action_items"]),
    }


# --- Reading the emails ----------------------------------------------------------------------

TEXT_BUDGET = re.compile(
    r"Allocated (-?\d+), reserved (-?\d+), remaining (-?\d+) points\. "
    r"Reserved since [^:]+: (-?\d+)\."
)
TEXT_QUEUE = re.compile(
    r"QUEUE \((\d+) escalated, (\d+) awaiting an estimate, (\d+) below the cut line\)"
)
TEXT_COST = re.compile(r"IN-FLIGHT CHANGES \(change cost (-?\d+) points\)")
HTML_BUDGET = re.compile(
    r"Allocated <strong>(-?\d+)</strong> · reserved <strong>(-?\d+)</strong> · "
    r"remaining <strong>(-?\d+)</strong> points\.\s*Reserved since [^:]+: "
    r"<strong>\+?(-?\d+)</strong>"
)


def numbers_in_text(body):
    """allocated, reserved, remaining, reserved change, queue size, unestimated, below line and
    change cost as the plain-text digest states them."""
    b, q, c = TEXT_BUDGET.search(body), TEXT_QUEUE.search(body), TEXT_COST.search(body)
    assert b and q and c, body
    allocated, reserved, remaining, change = map(int, b.groups())
    size, unestimated, below = map(int, q.groups())
    return {
        "allocated": allocated,
        "reserved": reserved,
        "remaining": remaining,
        "reserved_change": change,
        "size": size,
        "unestimated": unestimated,
        "below_line": below,
        "change_cost": int(c.group(1)),
    }


def numbers_in_html(body):
    b = HTML_BUDGET.search(body)
    assert b, body
    allocated, reserved, remaining, change = map(int, b.groups())
    return {
        "allocated": allocated,
        "reserved": reserved,
        "remaining": remaining,
        "reserved_change": change,
    }


def pick(numbers, keys):
    return {k: numbers[k] for k in keys}


TEXT_KEYS = (
    "allocated",
    "reserved",
    "remaining",
    "reserved_change",
    "size",
    "unestimated",
    "below_line",
    "change_cost",
)


def parse_mail_files(folder):
    """Messages Django's file backend wrote into `folder`, parsed (one file per connection,
    messages separated by a line of 79 dashes)."""
    messages = []
    for path in sorted(folder.glob("*.log")):
        for chunk in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
            if chunk.strip():
                messages.append(email.message_from_bytes(chunk, policy=email.policy.default))
    return messages
