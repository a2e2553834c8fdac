"""Product decisions through the services: approve, defer, decline, start, ship, cancel and
re-estimate, with their ledger moves, queue moves and audit events (DOMAIN.md: A request's
life, The budget). Every refusal leaves everything as it was, and after every test the
budgets' balances are the ledger's sums.

`funded` is the current quarter with a budget of 40 points; `build` escalates requests into
the current quarter through the real services.
"""

import pytest
from django.utils import timezone

from budgets.models import Budget, LedgerEntry
from budgets.services import ledger_sums, quarter_get_or_create
from config.errors import (
    DomainError,
    InsufficientBudget,
    InvalidInput,
    NotAllowed,
    QuarterClosed,
)
from requests_app import services
from requests_app.models import AuditEvent, FeatureRequest, Funding, Status
from requests_app.tasks import reopen_deferred_requests

pytestmark = pytest.mark.django_db

Kind = LedgerEntry.Kind


# --- Helpers (also used by the other product-decision test files) ---------------------------


def fresh(fr):
    return FeatureRequest.objects.get(pk=fr.pk)


def budget_of(quarter):
    return Budget.objects.get(quarter_id=quarter.pk)


def escalated(build, cast, *, estimate=None, quarter=None, **kw):
    """A request escalated to `quarter` (the current one by default), estimated by the PM."""
    fr = build.escalated(quarter=quarter, **kw)
    if estimate is not None:
        services.request_estimate(fr=fr, actor=cast.pm, points=estimate)
    return fresh(fr)


def approved(build, cast, estimate, **kw):
    fr = escalated(build, cast, estimate=estimate, **kw)
    services.request_approve(fr=fr, actor=cast.hop)
    return fresh(fr)


def in_progress(build, cast, estimate, **kw):
    fr = approved(build, cast, estimate, **kw)
    services.request_start(fr=fr, actor=cast.pm)
    return fresh(fr)


def ledger_for(fr):
    return list(LedgerEntry.objects.filter(request=fr).order_by("id"))


def events_for(fr, action=None):
    qs = AuditEvent.objects.filter(request=fr).order_by("id")
    return list(qs.filter(action=action) if action else qs)


def world():
    """Everything a refused or rolled-back decision must leave exactly as it was."""
    return {
        "requests": list(
            FeatureRequest.objects.order_by("pk").values_list(
                "pk",
                "status",
                "queue_rank",
                "target_quarter_id",
                "estimate",
                "funding",
                "reserved_points",
                "decided_at",
                "started_at",
                "shipped_at",
            )
        ),
        "events": list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True)),
        "ledger": list(LedgerEntry.objects.order_by("pk").values_list("pk", flat=True)),
        "budgets": list(
            Budget.objects.order_by("pk").values_list("pk", "allocated", "reserved", "expired")
        ),
    }


def assert_books_balance():
    """Every budget's running balances are its ledger's sums, and 0 <= reserved <= allocated."""
    for budget in Budget.objects.all():
        assert {
            "allocated": budget.allocated,
            "reserved": budget.reserved,
            "expired": budget.expired,
            "remaining": budget.remaining,
        } == ledger_sums(budget), budget
        assert 0 <= budget.reserved <= budget.allocated - budget.expired


@pytest.fixture(autouse=True)
def _books_balance_after_each_test(db):
    yield
    assert_books_balance()


# --- Approve -------------------------------------------------------------------------------


def test_approve_reserves_the_estimate_takes_it_out_of_the_queue_and_records_it(
    build, cast, funded
):
    first = escalated(build, cast, estimate=5)
    chosen = escalated(build, cast, estimate=12, title="Single sign-on")
    last = escalated(build, cast)
    assert services.queue_ids(funded.pk) == [first.pk, chosen.pk, last.pk]

    services.request_approve(fr=chosen, actor=cast.hop)

    fr = fresh(chosen)
    assert fr.status == Status.APPROVED
    assert fr.funding == Funding.SALES
    assert fr.reserved_points == 12
    assert fr.decided_at is not None
    assert fr.queue_rank is None
    # The others move up: shown at 1..2 in their old order.
    assert services.queue_ids(funded.pk) == [first.pk, last.pk]
    assert [fresh(first).queue_position, fresh(last).queue_position] == [1, 2]

    budget = budget_of(funded)
    assert (budget.allocated, budget.reserved, budget.remaining) == (40, 12, 28)
    [entry] = ledger_for(fr)
    assert (entry.kind, entry.points, entry.actor, entry.budget_id) == (
        Kind.RESERVE,
        12,
        cast.hop,
        budget.pk,
    )
    assert (entry.reserved_after, entry.remaining_after) == (12, 28)
    assert "Single sign-on" in entry.reason

    [event] = events_for(fr, "approve")
    assert (event.actor, event.from_status, event.to_status) == (
        cast.hop,
        Status.ESCALATED,
        Status.APPROVED,
    )
    assert event.old_value == {"queue_rank": 2}
    assert event.new_value["funding"] == Funding.SALES
    assert event.new_value["estimate"] == 12


def test_approving_the_top_leaves_the_rest_of_the_queue_untouched_and_shows_positions(
    build, cast, funded
):
    """Leaving a queue writes only the request that leaves: the rest keep their stored rows
    (a gap stays), yet every page, the API and the audit trail count positions 1..n."""
    queue = [escalated(build, cast, estimate=2, title=f"Need {i}") for i in range(5)]
    rest = FeatureRequest.objects.filter(pk__in=[fr.pk for fr in queue[1:]]).order_by("pk")
    rows_before = list(rest.values_list("pk", "queue_rank", "updated_at"))

    services.request_approve(fr=queue[0], actor=cast.hop)

    assert list(rest.values_list("pk", "queue_rank", "updated_at")) == rows_before
    assert services.queue_ids(funded.pk) == [fr.pk for fr in queue[1:]]
    assert [fresh(fr).queue_position for fr in queue[1:]] == [1, 2, 3, 4]
    # The new top is shown and recorded as 1, whatever rank it is stored at.
    services.request_decline(fr=queue[1], actor=cast.hop, reason="Not now")
    [event] = events_for(queue[1], "decline")
    assert event.old_value == {"queue_rank": 1}
    assert [fresh(fr).queue_position for fr in queue[2:]] == [1, 2, 3]


def test_approve_without_an_estimate_is_refused_and_changes_nothing(build, cast, funded):
    fr = escalated(build, cast)
    before = world()
    with pytest.raises(InvalidInput, match="Estimate it before approving"):
        services.request_approve(fr=fr, actor=cast.hop)
    assert world() == before


def test_approve_that_does_not_fit_is_refused_with_the_numbers(build, cast, funded):
    approved(build, cast, 30)
    fr = escalated(build, cast, estimate=12)
    before = world()

    with pytest.raises(InsufficientBudget) as info:
        services.request_approve(fr=fr, actor=cast.hop)

    exc = info.value
    assert (exc.needed, exc.remaining, exc.shortfall) == (12, 10, 2)
    assert "10 points remaining" in exc.message and "needs 12" in exc.message
    assert "short by 2" in exc.message
    assert world() == before
    assert fresh(fr).status == Status.ESCALATED


def test_an_estimate_that_uses_the_last_point_fits(build, cast, funded):
    approved(build, cast, 30)
    fr = escalated(build, cast, estimate=10)
    services.request_approve(fr=fr, actor=cast.hop)
    budget = budget_of(funded)
    assert (budget.reserved, budget.remaining) == (40, 0)


def test_approve_as_product_funded_spends_no_sales_points(build, cast, funded):
    fr = escalated(build, cast, estimate=55)  # more than the whole sales budget
    services.request_approve(fr=fr, actor=cast.hop, product_funded=True)

    fr = fresh(fr)
    assert fr.status == Status.APPROVED
    assert fr.funding == Funding.PRODUCT
    assert fr.reserved_points == 0
    assert fr.queue_rank is None
    assert LedgerEntry.objects.filter(request=fr).count() == 0
    budget = budget_of(funded)
    assert (budget.reserved, budget.remaining) == (0, 40)
    [event] = events_for(fr, "approve_product")
    assert event.new_value["funding"] == Funding.PRODUCT


@pytest.mark.parametrize("who", ["pm", "hos", "manager", "rep"])
def test_only_the_head_of_product_approves(build, cast, funded, who):
    fr = escalated(build, cast, estimate=5)
    before = world()
    with pytest.raises(NotAllowed):
        services.request_approve(fr=fr, actor=getattr(cast, who))
    with pytest.raises(NotAllowed):
        services.request_approve(fr=fr, actor=getattr(cast, who), product_funded=True)
    assert world() == before


def test_approving_twice_is_refused_naming_the_state(build, cast, funded):
    fr = approved(build, cast, 5)
    before = world()
    with pytest.raises(DomainError, match="it is approved") as info:
        services.request_approve(fr=fr, actor=cast.hop)
    assert info.value.status == 409
    assert "defer" in info.value.message and "start" in info.value.message
    assert world() == before
    assert budget_of(funded).reserved == 5


def test_approving_in_a_closed_quarter_is_refused(build, cast, funded):
    fr = escalated(build, cast, estimate=5)
    funded.closed_at = timezone.now()
    funded.save(update_fields=["closed_at"])
    before = world()
    for product_funded in (False, True):
        with pytest.raises(QuarterClosed, match="closed"):
            services.request_approve(fr=fr, actor=cast.hop, product_funded=product_funded)
    assert world() == before


# --- Defer and reopen ----------------------------------------------------------------------


def test_defer_an_escalated_request_to_the_next_quarter(build, cast, funded, quarters):
    upcoming = quarters[1]
    a = escalated(build, cast, estimate=3)
    b = escalated(build, cast, estimate=8)
    c = escalated(build, cast)

    services.request_defer(fr=b, actor=cast.hop, quarter=upcoming, reason="After the launch")

    fr = fresh(b)
    assert fr.status == Status.DEFERRED
    assert fr.target_quarter == upcoming
    assert fr.queue_rank is None
    assert fr.estimate == 8  # the estimate stays for when it comes back
    assert services.queue_ids(funded.pk) == [a.pk, c.pk]
    assert services.queue_ids(upcoming.pk) == []  # not in any queue until it reopens
    assert ledger_for(fr) == []  # nothing was reserved, nothing to release
    [event] = events_for(fr, "defer")
    assert event.reason == "After the launch"
    assert (event.from_status, event.to_status) == (Status.ESCALATED, Status.DEFERRED)
    assert event.new_value == {"quarter": upcoming.slug}


def test_defer_an_approved_request_releases_its_reservation(build, cast, funded, quarters):
    fr = approved(build, cast, 12)
    assert budget_of(funded).reserved == 12

    services.request_defer(fr=fr, actor=cast.hop, quarter=quarters[1], reason="Capacity")

    fr = fresh(fr)
    assert fr.status == Status.DEFERRED
    assert fr.reserved_points == 0
    assert fr.funding == ""
    budget = budget_of(funded)
    assert (budget.reserved, budget.remaining) == (0, 40)
    assert [(e.kind, e.points) for e in ledger_for(fr)] == [(Kind.RESERVE, 12), (Kind.RELEASE, 12)]
    release = ledger_for(fr)[-1]
    assert release.actor == cast.hop
    assert release.budget == budget
    # The next quarter's budget was not touched.
    assert budget_of(quarters[1]).entries.count() == 0


def test_defer_to_the_same_or_an_earlier_quarter_is_refused(build, cast, funded, quarters):
    current, upcoming = quarters
    earlier = quarter_get_or_create(current.fiscal.previous())
    fr = approved(build, cast, 6)
    later = escalated(build, cast, quarter=upcoming)
    before = world()

    for target in (current, earlier):
        with pytest.raises(InvalidInput, match="Defer to a quarter later than"):
            services.request_defer(fr=fr, actor=cast.hop, quarter=target, reason="Not now")
    # Escalated to next quarter: deferring must go past it, not to it or back to now.
    for target in (upcoming, current):
        with pytest.raises(InvalidInput, match=f"later than {upcoming.label}"):
            services.request_defer(fr=later, actor=cast.hop, quarter=target, reason="Not now")
    with pytest.raises(InvalidInput, match="Choose the later quarter"):
        services.request_defer(fr=fr, actor=cast.hop, quarter=None, reason="Not now")
    assert world() == before


def test_a_garbage_deferral_quarter_is_refused(build, cast, funded):
    fr = approved(build, cast, 6)
    before = world()
    for slug in ("garbage", "FY2026Q5", "FY1999Q1", funded.slug):
        with pytest.raises(InvalidInput, match="Defer to one of the next quarters"):
            services.quarter_for_deferral(slug, fr)
        with pytest.raises(InvalidInput, match="Defer to one of the next quarters"):
            services.request_defer(fr=fr, actor=cast.hop, quarter=slug, reason="Later")
    with pytest.raises(InvalidInput, match="Choose the later quarter"):
        services.request_defer(fr=fr, actor=cast.hop, quarter="", reason="Later")
    assert world() == before


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_defer_without_a_reason_is_refused(build, cast, funded, quarters, reason):
    fr = approved(build, cast, 6)
    before = world()
    with pytest.raises(InvalidInput, match="reason is required"):
        services.request_defer(fr=fr, actor=cast.hop, quarter=quarters[1], reason=reason)
    assert world() == before


def test_started_work_cannot_be_deferred(build, cast, funded, quarters):
    fr = in_progress(build, cast, 6)
    before = world()
    with pytest.raises(DomainError, match="it is in progress"):
        services.request_defer(fr=fr, actor=cast.hop, quarter=quarters[1], reason="Later")
    assert world() == before


def test_the_reopen_task_puts_a_deferral_due_now_at_the_top_of_its_queue(
    build, cast, funded, quarters
):
    upcoming = quarters[1]
    waiting = [escalated(build, cast, quarter=upcoming) for _ in range(2)]
    fr = escalated(build, cast, estimate=8)
    # The next quarter is already open, so a deferral to it is due at once.
    services.request_defer(fr=fr, actor=cast.hop, quarter=upcoming, reason="Next quarter")

    assert reopen_deferred_requests() == [fr.pk]

    fr = fresh(fr)
    assert fr.status == Status.ESCALATED
    assert fr.target_quarter == upcoming
    assert services.queue_ids(upcoming.pk) == [fr.pk, waiting[0].pk, waiting[1].pk]
    assert [fresh(w).queue_position for w in waiting] == [2, 3]
    [event] = events_for(fr, "reopen")
    assert event.actor is None  # the system did it
    assert (event.from_status, event.to_status) == (Status.DEFERRED, Status.ESCALATED)
    # Running again (a retry) changes nothing.
    before = world()
    assert reopen_deferred_requests() == []
    assert world() == before


def test_a_deferral_to_a_later_quarter_waits_until_that_quarter_opens(
    build, cast, funded, quarters, monkeypatch
):
    current, upcoming = quarters
    after_next = quarter_get_or_create(upcoming.fiscal.next())
    fr = escalated(build, cast, estimate=8)
    services.request_defer(fr=fr, actor=cast.hop, quarter=after_next, reason="H2 theme work")

    assert services.reopen_due_deferrals() == []
    assert fresh(fr).status == Status.DEFERRED

    # The calendar moves on into the next quarter: the one after it is now open.
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: upcoming.start_date)
    already = escalated(build, cast, quarter=after_next)
    assert reopen_deferred_requests() == [fr.pk]
    fr = fresh(fr)
    assert fr.status == Status.ESCALATED
    assert services.queue_ids(after_next.pk) == [fr.pk, already.pk]


# --- Decline -------------------------------------------------------------------------------


def test_decline_with_a_reason(build, cast, funded):
    a = escalated(build, cast, estimate=4)
    b = escalated(build, cast, estimate=4)
    services.request_decline(fr=a, actor=cast.hop, reason="Out of scope for the product")
    fr = fresh(a)
    assert fr.status == Status.DECLINED
    assert fr.queue_rank is None
    assert fr.decided_at is not None
    assert services.queue_ids(funded.pk) == [b.pk]
    assert fresh(b).queue_position == 1
    assert ledger_for(fr) == []
    [event] = events_for(fr, "decline")
    assert (event.actor, event.reason) == (cast.hop, "Out of scope for the product")


@pytest.mark.parametrize("reason", ["", "  \n "])
def test_decline_without_a_reason_is_refused(build, cast, funded, reason):
    fr = escalated(build, cast, estimate=4)
    before = world()
    with pytest.raises(InvalidInput, match="reason is required"):
        services.request_decline(fr=fr, actor=cast.hop, reason=reason)
    assert world() == before


def test_only_the_head_of_product_declines_or_defers(build, cast, funded, quarters):
    fr = escalated(build, cast, estimate=4)
    before = world()
    for who in (cast.pm, cast.hos):
        with pytest.raises(NotAllowed):
            services.request_decline(fr=fr, actor=who, reason="No")
        with pytest.raises(NotAllowed):
            services.request_defer(fr=fr, actor=who, quarter=quarters[1], reason="No")
    assert world() == before


# --- Start and ship ------------------------------------------------------------------------


@pytest.mark.parametrize("starter, shipper", [("pm", "hop"), ("hop", "pm")])
def test_product_roles_start_and_ship(build, cast, funded, starter, shipper):
    fr = approved(build, cast, 9)
    services.request_start(fr=fr, actor=getattr(cast, starter))
    fr = fresh(fr)
    assert fr.status == Status.IN_PROGRESS
    assert fr.started_at is not None
    services.request_ship(fr=fr, actor=getattr(cast, shipper))
    fr = fresh(fr)
    assert fr.status == Status.SHIPPED
    assert fr.shipped_at is not None
    # The points stay spent: shipping releases nothing.
    assert budget_of(funded).reserved == 9
    assert [(e.kind, e.points) for e in ledger_for(fr)] == [(Kind.RESERVE, 9)]
    assert [e.action for e in events_for(fr)][-2:] == ["start", "ship"]
    assert events_for(fr, "ship")[0].actor == getattr(cast, shipper)


def test_sales_cannot_start_or_ship_and_ship_needs_started_work(build, cast, funded):
    fr = approved(build, cast, 9)
    before = world()
    for who in (cast.hos, cast.manager, cast.rep):
        with pytest.raises(NotAllowed):
            services.request_start(fr=fr, actor=who)
    with pytest.raises(DomainError, match="Cannot ship this request: it is approved"):
        services.request_ship(fr=fr, actor=cast.pm)
    assert world() == before


# --- Cancel --------------------------------------------------------------------------------


def test_cancel_approved_work_releases_every_point(build, cast, funded):
    fr = approved(build, cast, 12)
    services.request_cancel(fr=fr, actor=cast.hop, reason="The deal was lost")
    fr = fresh(fr)
    assert fr.status == Status.CANCELLED
    assert fr.reserved_points == 0
    assert [(e.kind, e.points) for e in ledger_for(fr)] == [(Kind.RESERVE, 12), (Kind.RELEASE, 12)]
    budget = budget_of(funded)
    assert (budget.reserved, budget.remaining) == (0, 40)
    [event] = events_for(fr, "cancel")
    assert event.reason == "The deal was lost"
    assert event.new_value == {"released": 12, "change_cost": 0}


def test_cancel_work_in_progress_releases_only_the_unstarted_points(build, cast, funded):
    fr = in_progress(build, cast, 12)
    services.request_cancel(fr=fr, actor=cast.hop, reason="Customer churned", unstarted_points=5)

    fr = fresh(fr)
    assert fr.status == Status.CANCELLED
    assert fr.reserved_points == 0
    assert [(e.kind, e.points) for e in ledger_for(fr)] == [
        (Kind.RESERVE, 12),
        (Kind.RELEASE, 5),
        (Kind.CHANGE_COST, 7),
    ]
    cost = ledger_for(fr)[-1]
    assert "Customer churned" in cost.reason
    assert cost.actor == cast.hop
    # The 7 burned points stay spent; only the 5 unstarted come back.
    budget = budget_of(funded)
    assert (budget.reserved, budget.remaining) == (7, 33)
    [event] = events_for(fr, "cancel")
    assert event.old_value == {"reserved": 12}
    assert event.new_value == {"released": 5, "change_cost": 7}


def test_cancel_in_progress_with_nothing_unstarted_records_it_all_as_change_cost(
    build, cast, funded
):
    fr = in_progress(build, cast, 8)
    services.request_cancel(fr=fr, actor=cast.hop, reason="Pivot", unstarted_points="0")
    assert [(e.kind, e.points) for e in ledger_for(fr)] == [
        (Kind.RESERVE, 8),
        (Kind.CHANGE_COST, 8),
    ]
    assert budget_of(funded).reserved == 8


@pytest.mark.parametrize(
    "unstarted, message",
    [
        (None, "how many of the 12 reserved points are not started"),
        ("", "how many of the 12 reserved points are not started"),
        ("13", "between 0 and 12"),
        ("-1", "between 0 and 12"),
        ("2.5", "whole number"),
        ("lots", "whole number"),
    ],
)
def test_cancel_in_progress_needs_a_sensible_count_of_unstarted_points(
    build, cast, funded, unstarted, message
):
    fr = in_progress(build, cast, 12)
    before = world()
    with pytest.raises(InvalidInput, match=message):
        services.request_cancel(
            fr=fr, actor=cast.hop, reason="Customer churned", unstarted_points=unstarted
        )
    assert world() == before


@pytest.mark.parametrize("state", ["approved", "in_progress"])
@pytest.mark.parametrize("reason", ["", "   ", None])
def test_cancel_without_a_reason_is_refused(build, cast, funded, state, reason):
    fr = approved(build, cast, 12) if state == "approved" else in_progress(build, cast, 12)
    before = world()
    with pytest.raises(InvalidInput, match="reason is required"):
        services.request_cancel(fr=fr, actor=cast.hop, reason=reason, unstarted_points=12)
    assert world() == before


def test_only_the_head_of_product_cancels(build, cast, funded):
    fr = approved(build, cast, 12)
    before = world()
    for who in (cast.pm, cast.hos):
        with pytest.raises(NotAllowed):
            services.request_cancel(fr=fr, actor=who, reason="No")
    assert world() == before


def test_cancel_product_funded_work_writes_no_ledger_entry(build, cast, funded):
    fr = escalated(build, cast, estimate=20)
    services.request_approve(fr=fr, actor=cast.hop, product_funded=True)
    services.request_start(fr=fr, actor=cast.pm)
    services.request_cancel(fr=fr, actor=cast.hop, reason="Deal saved another way")
    assert fresh(fr).status == Status.CANCELLED
    assert ledger_for(fr) == []
    assert budget_of(funded).reserved == 0


# --- Estimates and re-estimates ------------------------------------------------------------


def test_estimating_an_escalated_request_touches_no_budget(build, cast, funded):
    fr = escalated(build, cast)
    services.request_estimate(fr=fr, actor=cast.pm, points="8")
    assert fresh(fr).estimate == 8
    assert ledger_for(fr) == []
    [event] = events_for(fr, "estimate")
    assert (event.actor, event.old_value, event.new_value["estimate"]) == (
        cast.pm,
        {"estimate": None},
        8,
    )
    services.request_estimate(fr=fr, actor=cast.hop, points=13)
    assert fresh(fr).estimate == 13
    assert len(events_for(fr, "estimate")) == 2


def test_re_estimating_approved_work_reserves_or_releases_the_difference(build, cast, funded):
    fr = approved(build, cast, 12)

    services.request_estimate(fr=fr, actor=cast.pm, points=20)
    assert (fresh(fr).estimate, fresh(fr).reserved_points) == (20, 20)
    assert budget_of(funded).reserved == 20

    services.request_estimate(fr=fr, actor=cast.hop, points=5)
    assert (fresh(fr).estimate, fresh(fr).reserved_points) == (5, 5)
    assert budget_of(funded).reserved == 5

    assert [(e.kind, e.points) for e in ledger_for(fr)] == [
        (Kind.RESERVE, 12),
        (Kind.RE_ESTIMATE, 8),
        (Kind.RE_ESTIMATE, -15),
    ]
    events = events_for(fr, "estimate")
    assert [(e.old_value["estimate"], e.new_value["estimate"]) for e in events][-2:] == [
        (12, 20),
        (20, 5),
    ]


def test_a_re_estimate_the_budget_cannot_cover_is_refused(build, cast, funded):
    approved(build, cast, 30)
    fr = approved(build, cast, 8)  # 2 points remain
    before = world()
    with pytest.raises(InsufficientBudget) as info:
        services.request_estimate(fr=fr, actor=cast.pm, points=11)
    assert (info.value.needed, info.value.remaining, info.value.shortfall) == (3, 2, 1)
    assert world() == before
    # Up to what remains is fine.
    services.request_estimate(fr=fr, actor=cast.pm, points=10)
    assert budget_of(funded).remaining == 0


def test_only_the_head_of_product_re_estimates_work_in_progress(build, cast, funded):
    fr = in_progress(build, cast, 12)
    before = world()
    with pytest.raises(NotAllowed, match="Only the Head of Product"):
        services.request_estimate(fr=fr, actor=cast.pm, points=15, burned_points=3)
    assert world() == before


def test_re_estimating_work_in_progress_records_the_burned_points_as_change_cost(
    build, cast, funded
):
    fr = in_progress(build, cast, 12)
    services.request_estimate(
        fr=fr, actor=cast.hop, points=16, burned_points="6", reason="Scope grew"
    )
    fr = fresh(fr)
    assert (fr.estimate, fr.reserved_points, fr.status) == (16, 16, Status.IN_PROGRESS)
    assert [(e.kind, e.points) for e in ledger_for(fr)] == [
        (Kind.RESERVE, 12),
        (Kind.RE_ESTIMATE, 4),
        (Kind.CHANGE_COST, 6),
    ]
    assert "6 points already burned" in ledger_for(fr)[-1].reason
    assert budget_of(funded).reserved == 16
    [event] = events_for(fr, "estimate")[-1:]
    assert event.new_value == {"estimate": 16, "burned": 6}
    assert event.reason == "Scope grew"


def test_re_estimating_product_funded_work_in_progress_leaves_the_sales_ledger_alone(
    build, cast, funded
):
    fr = build.make("in_progress", estimate=12, product_funded=True)
    entries = LedgerEntry.objects.count()
    services.request_estimate(fr=fr, actor=cast.hop, points=16, burned_points=6, reason="Grew")
    fr = fresh(fr)
    assert (fr.estimate, fr.reserved_points) == (16, 0)
    assert LedgerEntry.objects.count() == entries
    assert budget_of(funded).reserved == 0
    [event] = events_for(fr, "estimate")[-1:]
    assert event.new_value == {"estimate": 16, "burned": 6}


def test_re_estimating_work_in_progress_needs_the_burned_points(build, cast, funded):
    fr = in_progress(build, cast, 12)
    before = world()
    for burned in (None, "", "-1", "x"):
        with pytest.raises(InvalidInput, match="[Bb]urned"):
            services.request_estimate(fr=fr, actor=cast.hop, points=16, burned_points=burned)
    assert world() == before


def test_re_estimating_product_funded_work_writes_no_ledger_entry(build, cast, funded):
    fr = escalated(build, cast, estimate=20)
    services.request_approve(fr=fr, actor=cast.hop, product_funded=True)
    services.request_estimate(fr=fr, actor=cast.pm, points=60)
    fr = fresh(fr)
    assert (fr.estimate, fr.reserved_points, fr.funding) == (60, 0, Funding.PRODUCT)
    assert ledger_for(fr) == []
    assert budget_of(funded).reserved == 0


@pytest.mark.parametrize("who", ["rep", "manager", "hos"])
def test_sales_roles_do_not_estimate(build, cast, funded, who):
    fr = escalated(build, cast)
    before = world()
    with pytest.raises(NotAllowed):
        services.request_estimate(fr=fr, actor=getattr(cast, who), points=5)
    assert world() == before


# --- Bad input -----------------------------------------------------------------------------

BAD_ESTIMATES = [0, "0", -3, "-3", 2.5, "2.5", "abc", "", "  ", None, 10001, "10001", True]


@pytest.mark.parametrize("points", BAD_ESTIMATES)
def test_a_bad_estimate_is_refused_and_changes_nothing(build, cast, funded, points):
    fr = escalated(build, cast, estimate=7)
    taken = approved(build, cast, 12)
    before = world()
    for target in (fr, taken):
        with pytest.raises(InvalidInput) as info:
            services.request_estimate(fr=target, actor=cast.hop, points=points)
        assert info.value.details["field"] == "estimate"
        assert "estimate" in info.value.message.lower()
    assert world() == before


def test_the_largest_estimate_is_ten_thousand(build, cast, funded):
    fr = escalated(build, cast)
    services.request_estimate(fr=fr, actor=cast.pm, points="10000")
    assert fresh(fr).estimate == 10_000
    with pytest.raises(InvalidInput, match="between 1 and 10,000"):
        services.request_estimate(fr=fr, actor=cast.pm, points=10_001)


# --- A failure half-way leaves neither ----------------------------------------------------
#
# The audit event is written last. Making it fail after the ledger entry was appended must
# roll back the ledger entry, the balances, the status and the queue with it.


class Boom(Exception):
    pass


@pytest.fixture
def failing_audit(monkeypatch):
    """Call it once the scene is set: from then on record_event raises, and the ledger
    functions the services call are spied on, so each test shows the budget really was
    written before the failure. Returns the list of ledger calls made."""
    calls = []

    def arm():
        def explode(*args, **kwargs):
            raise Boom("the audit log is unavailable")

        monkeypatch.setattr(services, "record_event", explode)
        for name in (
            "budget_reserve",
            "budget_release",
            "budget_re_estimate",
            "budget_record_change_cost",
        ):
            real = getattr(services, name)

            def spy(*args, _real=real, _name=name, **kwargs):
                entry = _real(*args, **kwargs)
                calls.append((_name, entry.points))
                return entry

            monkeypatch.setattr(services, name, spy)
        return calls

    return arm


def test_a_failed_approval_leaves_no_reservation(build, cast, funded, failing_audit):
    escalated(build, cast, estimate=3)
    fr = escalated(build, cast, estimate=12)
    escalated(build, cast, estimate=3)
    before = world()
    calls = failing_audit()
    with pytest.raises(Boom):
        services.request_approve(fr=fr, actor=cast.hop)
    assert calls == [("budget_reserve", 12)]  # the ledger was written, then undone
    assert world() == before
    assert budget_of(funded).reserved == 0
    assert fresh(fr).status == Status.ESCALATED


def test_a_failed_deferral_keeps_the_reservation(build, cast, funded, quarters, failing_audit):
    fr = approved(build, cast, 12)
    before = world()
    calls = failing_audit()
    with pytest.raises(Boom):
        services.request_defer(fr=fr, actor=cast.hop, quarter=quarters[1], reason="Later")
    assert calls == [("budget_release", 12)]
    assert world() == before
    fr = fresh(fr)
    assert (fr.status, fr.target_quarter_id, fr.reserved_points) == (
        Status.APPROVED,
        funded.pk,
        12,
    )
    assert budget_of(funded).reserved == 12


def test_a_failed_cancel_of_approved_work_keeps_the_reservation(build, cast, funded, failing_audit):
    fr = approved(build, cast, 12)
    before = world()
    calls = failing_audit()
    with pytest.raises(Boom):
        services.request_cancel(fr=fr, actor=cast.hop, reason="Lost")
    assert calls == [("budget_release", 12)]
    assert world() == before


def test_a_failed_cancel_in_progress_records_no_change_cost(build, cast, funded, failing_audit):
    fr = in_progress(build, cast, 12)
    before = world()
    calls = failing_audit()
    with pytest.raises(Boom):
        services.request_cancel(fr=fr, actor=cast.hop, reason="Lost", unstarted_points=4)
    assert calls == [("budget_release", 4), ("budget_record_change_cost", 8)]
    assert world() == before
    assert fresh(fr).status == Status.IN_PROGRESS


def test_a_failed_re_estimate_moves_no_points(build, cast, funded, failing_audit):
    fr = in_progress(build, cast, 12)
    before = world()
    calls = failing_audit()
    with pytest.raises(Boom):
        services.request_estimate(fr=fr, actor=cast.hop, points=20, burned_points=5)
    assert calls == [("budget_re_estimate", 8), ("budget_record_change_cost", 5)]
    assert world() == before
    assert fresh(fr).estimate == 12


def test_a_failed_decline_keeps_the_request_in_the_queue(build, cast, funded, failing_audit):
    a = escalated(build, cast, estimate=3)
    b = escalated(build, cast, estimate=3)
    before = world()
    failing_audit()
    with pytest.raises(Boom):
        services.request_decline(fr=a, actor=cast.hop, reason="No")
    assert world() == before
    assert services.queue_ids(funded.pk) == [a.pk, b.pk]
