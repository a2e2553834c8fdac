"""A large company for the benchmark, written with bulk_create.

200 users (the two heads, 5 product managers, 32 sales managers with 5 reps each, an admin),
12 fiscal quarters (9 before the current one, the current one, 2 after), `n_requests`
feature requests in every state of DOMAIN.md with deals, comments, product notes and audit
events, `queue_size` of them in the current quarter's sales queue, and two meeting series
with 200 meetings between them.

States follow the domain rules: ranks are 1..n per inbox and per queue, only escalated
requests carry a queue rank and only submitted ones an inbox rank, every sales-funded
commitment holds a reservation, and each budget's running balances are the sums of its
ledger (allocate, reserve, release, expire), with closed quarters' remainders expired.
"""

import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.utils import timezone

from accounts.models import Role, User
from budgets.fiscal import FiscalQuarter
from budgets.models import Budget, LedgerEntry, Quarter
from meetings.models import ActionItem, Meeting, MeetingSeries
from requests_app.models import (
    AuditEvent,
    Comment,
    Deal,
    FeatureRequest,
    Funding,
    ProductNote,
    ProductTheme,
    Status,
)

PASSWORD = "bench-password"
BATCH = 2_000
MANAGERS, REPS_PER_MANAGER, PMS = 32, 5, 5
QUARTERS_BEFORE, QUARTERS_AFTER = 9, 2
MEETINGS = 200
THEMES = ["Enterprise security", "Platform extensibility", "Self-serve analytics", "Mobile"]
COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne"]
ACCOUNTS = [f"{a} {b}" for a in COMPANIES for b in ("Bank", "Health", "Retail", "Labs")]


class Cast:
    """The seeded people, by role."""

    def __init__(self, hos, hop, admin, pms, managers, reps):
        self.hos, self.hop, self.admin = hos, hop, admin
        self.pms, self.managers, self.reps = pms, managers, reps


def _users():
    password = make_password(PASSWORD)

    def user(username, role, manager=None, **extra):
        first, _, last = username.partition(".")
        return User(
            username=username,
            first_name=first.title(),
            last_name=last.title() or "Bench",
            email=f"{username}@bench.example.com",
            role=role,
            manager=manager,
            password=password,
            **extra,
        )

    hos = User.objects.bulk_create([user("hos", Role.HEAD_OF_SALES)])[0]
    hop, admin, *pms = User.objects.bulk_create(
        [
            user("hop", Role.HEAD_OF_PRODUCT),
            user("admin", Role.ADMIN, is_staff=True, is_superuser=True),
            *[user(f"pm.{i}", Role.PRODUCT_MANAGER) for i in range(PMS)],
        ]
    )
    managers = User.objects.bulk_create(
        user(f"mgr.{i}", Role.SALES_MANAGER, hos, team_name=f"Team {i}") for i in range(MANAGERS)
    )
    reps = User.objects.bulk_create(
        user(f"rep.{m}.{r}", Role.SALES_REP, mgr)
        for m, mgr in enumerate(managers)
        for r in range(REPS_PER_MANAGER)
    )
    return Cast(hos, hop, admin, pms, managers, reps)


def _quarters(today):
    current = FiscalQuarter.containing(today)
    fqs = [current]
    for _ in range(QUARTERS_BEFORE):
        fqs.insert(0, fqs[0].previous())
    for _ in range(QUARTERS_AFTER):
        fqs.append(fqs[-1].next())
    now = timezone.now()
    quarters = Quarter.objects.bulk_create(
        Quarter(
            fiscal_year=fq.fiscal_year,
            number=fq.number,
            start_date=fq.start,
            end_date=fq.end,
            closed_at=now if today >= fq.closes_on else None,
        )
        for fq in fqs
    )
    return quarters, quarters.index(next(q for q in quarters if q.fiscal == current))


def _moment(quarter, rng):
    """A time inside the quarter, not in the future."""
    start = dt.datetime.combine(quarter.start_date, dt.time(9), tzinfo=dt.UTC)
    end = min(
        dt.datetime.combine(quarter.end_date, dt.time(17), tzinfo=dt.UTC),
        timezone.now() - dt.timedelta(hours=1),
    )
    if end <= start:
        return end
    return start + dt.timedelta(seconds=rng.randrange(int((end - start).total_seconds())))


def _plan(n_requests, queue_size, quarters, ci):
    """(status, quarter index or None, funding) for every request, current queue first."""
    plan = [(Status.ESCALATED, ci, "")] * queue_size
    fixed = [
        *[(Status.APPROVED, ci, Funding.SALES)] * 8,
        *[(Status.APPROVED, ci, Funding.PRODUCT)] * 2,
        *[(Status.IN_PROGRESS, ci, Funding.SALES)] * 4,
        *[(Status.SHIPPED, ci, Funding.SALES)] * 3,
        *[(Status.ESCALATED, ci + 1, "")] * 10,
        *[(Status.APPROVED, ci + 1, Funding.SALES)] * 3,
        *[(Status.DEFERRED, ci + 1, "")] * 3,
        *[(Status.DEFERRED, ci + 2, "")] * 3,
        *[(Status.SUBMITTED, None, "")] * 24,
        *[(Status.DRAFT, None, "")] * 10,
        *[(Status.RETURNED, None, "")] * 4,
        *[(Status.REJECTED, None, "")] * 8,
        *[(Status.WITHDRAWN, None, "")] * 5,
        *[(Status.MERGED, None, "")] * 3,
    ]
    past = [
        *[(Status.SHIPPED, "past", Funding.SALES)] * 12,
        *[(Status.SHIPPED, "past", Funding.PRODUCT)] * 3,
        *[(Status.CANCELLED, "past", Funding.SALES)] * 2,
        *[(Status.DECLINED, "past", "")] * 5,
    ]
    random.Random(1).shuffle(fixed)
    # Of what is left, a fixed share is current and near-future work; the rest is history.
    rest = n_requests - queue_size
    share = min(rest, max(rest * 15 // 100, min(rest // 2, len(fixed))))
    for i in range(share):
        plan.append(fixed[i % len(fixed)])
    for i in range(rest - share):
        status, _, funding = past[i % len(past)]
        plan.append((status, i % ci, funding))
    return plan[:n_requests]


def seed(*, n_requests=20_000, queue_size=1_000, seed_value=7, today=None):
    """Fill an empty database; returns a dict of what was made."""
    rng = random.Random(seed_value)
    today = today or timezone.localdate()
    now = timezone.now()
    cast = _users()
    quarters, ci = _quarters(today)
    themes = ProductTheme.objects.bulk_create(ProductTheme(name=n) for n in THEMES)
    queue_size = min(queue_size, n_requests)

    reps = cast.reps
    inbox_rank = defaultdict(int)
    queue_rank = defaultdict(int)
    built = []
    for i, (status, qi, funding) in enumerate(_plan(n_requests, queue_size, quarters, ci)):
        author = reps[rng.randrange(len(reps))]
        quarter = quarters[qi] if qi is not None else None
        when = _moment(quarter if quarter and qi <= ci else quarters[ci], rng)
        fr = FeatureRequest(
            title=f"Bench request {i}: {rng.choice(['export', 'SSO', 'audit', 'API', 'report'])}",
            problem=f"Customer problem {i}. " * 3,
            importance=rng.choice(["nice_to_have", "important", "deal_blocker"]),
            theme=themes[i % len(themes)] if i % 3 == 0 else None,
            status=status,
            author=author,
            manager=None if status == Status.DRAFT else author.manager,
            target_quarter=quarter,
            funding=funding,
            created_at=when - dt.timedelta(days=3),
        )
        if status != Status.DRAFT:
            fr.submitted_at = when - dt.timedelta(days=2)
        if status == Status.SUBMITTED:
            inbox_rank[author.manager_id] += 1
            fr.inbox_rank = inbox_rank[author.manager_id]
        if quarter is not None:
            fr.escalated_at = when - dt.timedelta(days=1)
            # Most of the queue is estimated; unestimated ones are flagged on the cut line.
            if status != Status.ESCALATED or rng.random() < 0.9:
                fr.estimate = rng.randint(1, 8)
        if status == Status.ESCALATED:
            queue_rank[quarter.pk] += 1
            fr.queue_rank = queue_rank[quarter.pk]
        if status in (Status.APPROVED, Status.IN_PROGRESS, Status.SHIPPED, Status.DECLINED):
            fr.decided_at = when
        if status in (Status.IN_PROGRESS, Status.SHIPPED):
            fr.started_at = when + dt.timedelta(days=1)
        if status == Status.SHIPPED:
            fr.shipped_at = min(when + dt.timedelta(days=20), now)
        if status == Status.CANCELLED:
            fr.decided_at = when
        if funding == Funding.SALES and status in (
            Status.APPROVED,
            Status.IN_PROGRESS,
            Status.SHIPPED,
        ):
            fr.reserved_points = fr.estimate
        built.append(fr)
    requests = FeatureRequest.objects.bulk_create(built, batch_size=BATCH)

    # Merged requests point at a live request that took over their demand.
    targets = [fr for fr in requests if fr.status == Status.ESCALATED]
    merged = [fr for fr in requests if fr.status == Status.MERGED]
    for fr in merged:
        fr.merged_into = rng.choice(targets)
    FeatureRequest.objects.bulk_update(merged, ["merged_into"], batch_size=BATCH)

    _deals_comments_events(requests, cast, rng, now)
    _ledger(requests, quarters, ci, cast, now)
    _meetings(cast, quarters, ci, rng, now)
    return {
        "users": User.objects.count(),
        "quarters": len(quarters),
        "requests": len(requests),
        "queue": queue_rank[quarters[ci].pk],
        "deals": Deal.objects.count(),
        "comments": Comment.objects.count(),
        "events": AuditEvent.objects.count(),
        "ledger_entries": LedgerEntry.objects.count(),
        "meetings": Meeting.objects.count(),
    }


PATH = {
    Status.DRAFT: [],
    Status.SUBMITTED: ["submit"],
    Status.RETURNED: ["submit", "return"],
    Status.REJECTED: ["submit", "reject"],
    Status.WITHDRAWN: ["submit", "withdraw"],
    Status.MERGED: ["submit", "merge"],
    Status.ESCALATED: ["submit", "escalate"],
    Status.DEFERRED: ["submit", "escalate", "estimate", "defer"],
    Status.DECLINED: ["submit", "escalate", "estimate", "decline"],
    Status.APPROVED: ["submit", "escalate", "estimate", "approve"],
    Status.IN_PROGRESS: ["submit", "escalate", "estimate", "approve", "start"],
    Status.SHIPPED: ["submit", "escalate", "estimate", "approve", "start", "ship"],
    Status.CANCELLED: ["submit", "escalate", "estimate", "approve", "cancel"],
}
TO = {
    "submit": "submitted",
    "return": "returned",
    "reject": "rejected",
    "withdraw": "withdrawn",
    "merge": "merged",
    "escalate": "escalated",
    "defer": "deferred",
    "decline": "declined",
    "approve": "approved",
    "start": "in_progress",
    "ship": "shipped",
    "cancel": "cancelled",
}


def _deals_comments_events(requests, cast, rng, now):
    today = timezone.localdate()
    people = [cast.hos, cast.hop, *cast.pms, *cast.managers[:4]]
    deals, comments, notes, events = [], [], [], []
    for fr in requests:
        for j in range(rng.randint(1, 3)):
            deals.append(
                Deal(
                    request=fr,
                    owner=fr.author,
                    account_name=f"{ACCOUNTS[(fr.pk + j) % len(ACCOUNTS)]} {fr.pk % 97}",
                    amount=Decimal(rng.randrange(5, 400) * 1000),
                    currency=rng.choice(["USD", "USD", "EUR", "GBP"]),
                    stage=rng.choice(["qualified", "proposal", "negotiation"]),
                    expected_close_date=today + dt.timedelta(days=rng.randint(-60, 240)),
                    crm_ref=f"OPP-{fr.pk}-{j}",
                )
            )
        if fr.status == Status.DRAFT:
            continue
        moment = fr.created_at
        events.append(AuditEvent(request=fr, actor=fr.author, action="create", created_at=moment))
        previous = "draft"
        for action in PATH[fr.status]:
            moment += dt.timedelta(hours=rng.randint(1, 30))
            moment = min(moment, now)
            if action == "estimate":
                events.append(
                    AuditEvent(
                        request=fr,
                        actor=rng.choice(cast.pms),
                        action="estimate",
                        old_value={"estimate": None},
                        new_value={"estimate": fr.estimate},
                        created_at=moment,
                    )
                )
                continue
            actor = {
                "submit": fr.author,
                "withdraw": fr.author,
                "return": fr.manager,
                "reject": fr.manager,
                "escalate": fr.manager,
                "merge": cast.hos,
            }.get(action, cast.hop)
            to = TO[action]
            events.append(
                AuditEvent(
                    request=fr,
                    actor=actor,
                    action=action,
                    from_status=previous,
                    to_status=to,
                    reason="Seeded history" if action in ("return", "reject", "decline") else "",
                    created_at=moment,
                )
            )
            previous = to
        for k in range(rng.randint(0, 4)):
            author = rng.choice([fr.author, *people]) if fr.escalated_at else fr.author
            at = min(fr.created_at + dt.timedelta(hours=5 + k), now)
            comments.append(Comment(request=fr, author=author, body=f"Note {k}", created_at=at))
            events.append(AuditEvent(request=fr, actor=author, action="comment", created_at=at))
        if fr.escalated_at and rng.random() < 0.3:
            notes.append(ProductNote(request=fr, author=rng.choice(cast.pms), body="Sizing"))
    Deal.objects.bulk_create(deals, batch_size=BATCH)
    Comment.objects.bulk_create(comments, batch_size=BATCH)
    ProductNote.objects.bulk_create(notes, batch_size=BATCH)
    AuditEvent.objects.bulk_create(events, batch_size=BATCH)


def _ledger(requests, quarters, ci, cast, now):
    """Allocate, reserve per sales-funded commitment, release per cancellation, expire."""
    by_quarter = defaultdict(list)
    for fr in requests:
        if fr.funding == Funding.SALES and fr.target_quarter_id:
            by_quarter[fr.target_quarter_id].append(fr)
    entries, budgets = [], []
    for qi, quarter in enumerate(quarters):
        committed = sorted(by_quarter[quarter.pk], key=lambda fr: (fr.decided_at, fr.pk))
        needed = sum(fr.estimate for fr in committed if fr.status != Status.CANCELLED)
        # Past quarters ran ~80% full; the current one has room for a few dozen approvals.
        allocated = needed * 5 // 4 + 40 if qi != ci else needed + 150
        allocated = -(-allocated // 10) * 10
        capacity, percentage = allocated * 10, 10
        budget = Budget(
            quarter=quarter, capacity=capacity, percentage=percentage, allocated=allocated
        )
        start = dt.datetime.combine(quarter.start_date, dt.time(8), tzinfo=dt.UTC)
        start = min(start - dt.timedelta(days=30), now)
        reserved = expired = 0

        def add(kind, points, actor, reason, at, fr=None, budget=budget, balances=None):
            allocated, reserved, expired = balances
            entries.append(
                LedgerEntry(
                    budget=budget,
                    kind=kind,
                    points=points,
                    actor=actor,
                    request=fr,
                    reason=reason,
                    created_at=at,
                    allocated_after=allocated,
                    reserved_after=reserved,
                    remaining_after=allocated - reserved - expired,
                )
            )

        note = f"capacity {capacity:,} at {percentage}%"
        add("allocate", allocated, cast.hop, note, start, balances=(allocated, 0, 0))
        for fr in committed:
            reserved += fr.estimate
            balances = (allocated, reserved, 0)
            add("reserve", fr.estimate, cast.hop, "approved", fr.decided_at, fr, balances=balances)
            if fr.status == Status.CANCELLED:
                reserved -= fr.estimate
                balances = (allocated, reserved, 0)
                add(
                    "release",
                    fr.estimate,
                    cast.hop,
                    "cancelled",
                    fr.decided_at,
                    fr,
                    balances=balances,
                )
        if quarter.closed_at:
            closing = dt.datetime.combine(quarter.closes_on, dt.time(1), tzinfo=dt.UTC)
            expired = allocated - reserved
            balances = (allocated, reserved, expired)
            add("expire", expired, None, f"{quarter.label} closed", closing, balances=balances)
        budget.reserved, budget.expired = reserved, expired
        budgets.append(budget)
    Budget.objects.bulk_create(budgets)
    for e in entries:
        e.budget_id = e.budget.pk
    LedgerEntry.objects.bulk_create(entries, batch_size=BATCH)


def _meetings(cast, quarters, ci, rng, now):
    """Two series (the retired one and the active weekly sync), 200 meetings in all."""
    old = MeetingSeries.objects.create(name="Former sync", weekday=3, is_active=False)
    weekly = MeetingSeries.objects.create(name="Weekly sales–product sync", weekday=1)
    weekly.extra_attendees.add(cast.pms[0])
    meetings = []
    for series, count in ((old, MEETINGS // 2), (weekly, MEETINGS - MEETINGS // 2)):
        # The active series runs into the coming weeks; the retired one stopped last week.
        last = now + dt.timedelta(weeks=3) if series is weekly else now - dt.timedelta(weeks=1)
        day = (last - dt.timedelta(weeks=count - 1)).date()
        day += dt.timedelta(days=(series.weekday - day.weekday()) % 7)
        for k in range(count):
            starts = dt.datetime.combine(day + dt.timedelta(weeks=k), dt.time(9), tzinfo=dt.UTC)
            meetings.append(
                Meeting(
                    series=series,
                    starts_at=starts,
                    ends_at=starts + dt.timedelta(minutes=series.duration_minutes),
                    digest_due_at=starts - dt.timedelta(hours=series.digest_lead_hours),
                )
            )
    meetings = Meeting.objects.bulk_create(meetings)
    items = []
    for m in meetings:
        for k in range(2):
            due = (m.starts_at + dt.timedelta(days=7)).date()
            done = m.starts_at + dt.timedelta(days=3)
            items.append(
                ActionItem(
                    meeting=m,
                    title=f"Follow up {k} on {m.starts_at:%d %b}",
                    owner=rng.choice([cast.hos, cast.hop]),
                    due_date=due,
                    created_by=cast.hos,
                    # Nearly all are done; the open ones show on every later agenda.
                    done_at=done if done < now and rng.random() < 0.95 else None,
                )
            )
    ActionItem.objects.bulk_create(items, batch_size=BATCH)
