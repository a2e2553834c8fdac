"""Factories for feature-request tests, and the rules of DOMAIN.md written out independently.

The tables below are copied from ../shared/DOMAIN.md by hand, not derived from
requests_app.services, so a wrong rule in the app shows up as a failing test instead of
being mirrored by it.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from budgets.models import Budget, LedgerEntry
from budgets.services import budget_set_capacity
from requests_app import services
from requests_app.models import AuditEvent, Comment, Deal, FeatureRequest, Status

# --- DOMAIN.md, by hand ---------------------------------------------------------------------

# The cast, as the tests name them: "author" is cast.rep, who writes every request unless a
# test says otherwise; "manager" is the author's manager.
ROLES = ("author", "manager", "other_manager", "hos", "pm", "hop", "admin", "outsider")
CAST_ATTR = {"author": "rep"} | {r: r for r in ROLES if r != "author"}
SALES_OR_PRODUCT = {"author", "manager", "other_manager", "hos", "pm", "hop", "outsider"}

# "A request's life": action -> (from states, who may, to state).
LIFE = {
    "submit": ({"draft", "returned"}, {"author"}, "submitted"),
    "return": ({"submitted"}, {"manager", "hos"}, "returned"),
    "reject": ({"submitted"}, {"manager", "hos"}, "rejected"),
    "escalate": ({"submitted"}, {"manager", "hos"}, "escalated"),
    "withdraw": (
        {"draft", "submitted", "returned", "escalated", "deferred"},
        {"author", "manager", "hos"},
        "withdrawn",
    ),
    "merge": ({"submitted", "escalated", "deferred"}, {"manager", "hos", "hop"}, "merged"),
    "reopen": ({"deferred"}, {"hos"}, "escalated"),
    # Product's decisions. "Product roles" are the product manager and the Head of Product.
    "approve": ({"escalated"}, {"hop"}, "approved"),
    "approve_product": ({"escalated"}, {"hop"}, "approved"),  # approve as product-funded
    "defer": ({"escalated", "approved"}, {"hop"}, "deferred"),  # approved: not started
    "decline": ({"escalated"}, {"hop"}, "declined"),
    "start": ({"approved"}, {"pm", "hop"}, "in_progress"),
    "ship": ({"in_progress"}, {"pm", "hop"}, "shipped"),
    "cancel": ({"approved", "in_progress"}, {"hop"}, "cancelled"),
}
SALES_MOVES = ("submit", "return", "reject", "escalate", "withdraw", "merge", "reopen")
PRODUCT_MOVES = ("approve", "approve_product", "defer", "decline", "start", "ship", "cancel")
assert set(SALES_MOVES) | set(PRODUCT_MOVES) == set(LIFE)

ROADMAP = {"approved", "in_progress", "shipped"}
# Reached product leadership: escalated or any state only reachable after escalation.
AFTER_ESCALATION = {
    "escalated",
    "approved",
    "deferred",
    "declined",
    "in_progress",
    "shipped",
    "cancelled",
}


def domain_sees(role, status, *, escalated):
    """Who sees what. `escalated`: the request reached product (withdrawn and merged requests
    keep the audience they had when they left)."""
    if role == "author":
        return True
    if status == "draft":
        return False
    if status in ROADMAP:
        return True  # the roadmap is seen by everyone signed in
    if escalated:
        return role in SALES_OR_PRODUCT
    # submitted, returned, rejected (and withdrawn or merged before escalation)
    return role in {"manager", "hos"}


def domain_allows(action, status, role):
    sources, who, _ = LIFE[action]
    return status in sources and role in who


def domain_may_estimate(role, status):
    """Product roles estimate what reached product and is still to be built or being re-planned;
    re-estimating work in progress is the Head of Product's alone."""
    if status == "in_progress":
        return role == "hop"
    return role in {"pm", "hop"} and status in {"escalated", "deferred", "approved"}


# The states a test can ask for. Withdrawn and merged come in two flavours because who sees
# them depends on whether they had reached product first.
STATES = (
    "draft",
    "submitted",
    "returned",
    "rejected",
    "escalated",
    "approved",
    "deferred",
    "declined",
    "in_progress",
    "shipped",
    "cancelled",
    "withdrawn",
    "withdrawn_after_escalation",
    "merged",
    "merged_after_escalation",
)
assert {s.split("_after_")[0] for s in STATES} == set(Status.values)


def status_of(state):
    return state.split("_after_")[0]


def reached_product(state):
    return state in AFTER_ESCALATION or state.endswith("_after_escalation")


# --- Factories ------------------------------------------------------------------------------


def deal_data(account="Acme Corp", amount="50000", currency="USD", **extra):
    return {
        "account_name": account,
        "amount": Decimal(amount),
        "currency": currency,
        "stage": "qualified",
        "expected_close_date": timezone.localdate() + dt.timedelta(days=45),
        "crm_ref": "",
        **extra,
    }


DECIDED_STATES = ("approved", "deferred", "declined", "in_progress", "shipped", "cancelled")
# What the builder estimates work it approves at, unless told otherwise.
DEFAULT_ESTIMATE = 5
# The capacity the builder gives a quarter that has none when it approves into it: 100 points.
DEFAULT_CAPACITY = 1000


class Builder:
    """Builds requests in any state through the real services, as users would: the rep
    drafts and submits, the manager escalates, a product manager estimates, the Head of
    Product approves, defers, declines or cancels, and a product manager starts and ships.

    Approving reserves the estimate from the target quarter's budget. A quarter without
    capacity gets DEFAULT_CAPACITY (set by the Head of Product) the first time the builder
    approves into it; a budget a test set itself (the `funded` fixture, say) is left alone, so
    a test that builds more approved work than its budget holds fails with InsufficientBudget.
    """

    def __init__(self, cast, quarters):
        self.cast = cast
        self.current, self.next = quarters
        self._n = 0

    def user(self, role):
        return getattr(self.cast, CAST_ATTR[role])

    def draft(self, *, author=None, title=None, deals=1, **data):
        self._n += 1
        author = author or self.cast.rep
        data = {
            "title": title or f"Request {self._n}",
            "problem": f"Customer problem {self._n}",
            **data,
        }
        return services.request_create(
            actor=author,
            data=data,
            deals=[deal_data(account=f"Account {self._n}-{i}") for i in range(deals)],
        )

    def submitted(self, **kw):
        fr = self.draft(**kw)
        return services.request_submit(fr=fr, actor=fr.author)

    def escalated(self, *, quarter=None, **kw):
        fr = self.submitted(**kw)
        return services.request_escalate(
            fr=fr, actor=self._manager_of(fr), quarter=quarter or self.current
        )

    def _manager_of(self, fr):
        return fr.author.manager

    def make(self, state, *, merge_target=None, estimate=None, product_funded=False, **kw):
        """A fresh request in `state` (one of STATES), re-read from the database.

        estimate: story points a product manager gives it on the way (escalated, deferred and
        declined requests are left unestimated unless told; approved and later ones get
        DEFAULT_ESTIMATE). product_funded: approve it as product-funded (no sales points)."""
        if state == "draft":
            fr = self.draft(**kw)
        elif state == "submitted":
            fr = self.submitted(**kw)
        elif state in ("returned", "rejected"):
            fr = self.submitted(**kw)
            fn = services.request_return if state == "returned" else services.request_reject
            fn(fr=fr, actor=self._manager_of(fr), reason=f"Reason to {state}")
        elif state == "escalated":
            fr = self.escalated(**kw)
            if estimate is not None:
                self.estimate(fr, estimate)
        elif state in ("withdrawn", "withdrawn_after_escalation"):
            fr = self.escalated(**kw) if reached_product(state) else self.submitted(**kw)
            services.request_withdraw(fr=fr, actor=fr.author)
        elif state in ("merged", "merged_after_escalation"):
            fr = self.escalated(**kw) if reached_product(state) else self.submitted(**kw)
            target = merge_target or self.escalated(author=fr.author)
            services.request_merge(fr=fr, target=target, actor=self._manager_of(fr))
        else:
            fr = self.escalated(**kw)
            self.decide(fr, state, estimate=estimate, product_funded=product_funded)
        return FeatureRequest.objects.get(pk=fr.pk)

    def estimate(self, fr, points, *, actor=None):
        return services.request_estimate(fr=fr, actor=actor or self.cast.pm, points=points)

    def fund(self, quarter, capacity=DEFAULT_CAPACITY):
        """Give `quarter` a budget if it has none yet (the Head of Product sets capacity)."""
        if Budget.objects.get(quarter_id=quarter.pk).capacity == 0:
            budget_set_capacity(quarter=quarter, capacity=capacity, actor=self.cast.hop)

    def decide(self, fr, state, *, estimate=None, product_funded=False):
        """Take an escalated request to one of DECIDED_STATES through product's services.

        Approving, declining and deferring take it out of the sales queue (the gap closes)."""
        assert state in DECIDED_STATES, state
        hop, pm = self.cast.hop, self.cast.pm
        fr = FeatureRequest.objects.get(pk=fr.pk)
        if estimate is None and state not in ("deferred", "declined"):
            estimate = DEFAULT_ESTIMATE
        if estimate is not None:
            self.estimate(fr, estimate)
        if state == "declined":
            services.request_decline(fr=fr, actor=hop, reason="Not where the product is going")
        elif state == "deferred":
            later = services.quarter_for_deferral(fr.target_quarter.fiscal.next().slug, fr)
            services.request_defer(fr=fr, actor=hop, quarter=later, reason="Next quarter")
        else:
            if not product_funded:
                self.fund(fr.target_quarter)
            services.request_approve(fr=fr, actor=hop, product_funded=product_funded)
            if state in ("in_progress", "shipped"):
                services.request_start(fr=fr, actor=pm)
            if state == "shipped":
                services.request_ship(fr=fr, actor=pm)
            if state == "cancelled":
                services.request_cancel(fr=fr, actor=hop, reason="Customer went elsewhere")
        return FeatureRequest.objects.get(pk=fr.pk)


@pytest.fixture
def build(cast, quarters):
    return Builder(cast, quarters)


def snapshot():
    """Everything a refused move must leave as it was."""
    return {
        "requests": list(
            FeatureRequest.objects.order_by("pk").values_list(
                "pk",
                "status",
                "manager_id",
                "inbox_rank",
                "queue_rank",
                "target_quarter_id",
                "merged_into_id",
                "escalated_at",
                "submitted_at",
                "estimate",
                "reserved_points",
                "funding",
                "decided_at",
                "started_at",
                "shipped_at",
            )
        ),
        "events": AuditEvent.objects.count(),
        "ledger": LedgerEntry.objects.count(),
        "budgets": list(
            Budget.objects.order_by("pk").values_list(
                "pk", "capacity", "percentage", "allocated", "reserved", "expired"
            )
        ),
        "deals": list(Deal.objects.order_by("pk").values_list("pk", "request_id")),
        "comments": list(Comment.objects.order_by("pk").values_list("pk", "request_id")),
        "followers": sorted(
            FeatureRequest.followers.through.objects.values_list("featurerequest_id", "user_id")
        ),
    }


@pytest.fixture
def login(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user


def assert_all_ranks_strict():
    """Every inbox and every queue is a strict order (distinct positive ranks; leaving one
    leaves a gap), only live requests hold a rank, and every request shows its position
    1..n in that order, in lists (with_positions) and on its own (one COUNT)."""
    rows = list(
        FeatureRequest.objects.values_list(
            "status", "manager_id", "inbox_rank", "target_quarter_id", "queue_rank"
        )
    )
    inboxes, queues = {}, {}
    for status, manager_id, inbox_rank, quarter_id, queue_rank in rows:
        if status == Status.SUBMITTED:
            assert inbox_rank is not None
            inboxes.setdefault(manager_id, []).append(inbox_rank)
        else:
            assert inbox_rank is None
        if status == Status.ESCALATED:
            assert queue_rank is not None
            queues.setdefault(quarter_id, []).append(queue_rank)
        else:
            assert queue_rank is None
    for ranks in [*inboxes.values(), *queues.values()]:
        assert len(set(ranks)) == len(ranks), f"two requests share a rank: {sorted(ranks)}"
        assert min(ranks) >= 1
    for manager_id in inboxes:
        assert_positions(services.inbox_ids(manager_id), "inbox_position")
    for quarter_id in queues:
        assert_positions(services.queue_ids(quarter_id), "queue_position")


def assert_positions(ids, position):
    """The requests `ids` (one inbox or queue in rank order) are shown at positions 1..n, in
    lists and on their own; two requests on one rank would share a position."""
    expected = {pk: i for i, pk in enumerate(ids, 1)}
    listed = services.with_positions(FeatureRequest.objects.filter(pk__in=ids))
    assert dict(listed.values_list("pk", position)) == expected
    if ids:
        assert getattr(FeatureRequest.objects.get(pk=ids[-1]), position) == len(ids)


REASON = "Because the customer changed their mind"
UNSTARTED = 3  # of DEFAULT_ESTIMATE reserved points, when work in progress is cancelled


def call_move(action, *, fr, actor, target=None, quarter=None, later=None, reason=REASON):
    """Call the move's service with valid arguments for it (escalate into `quarter`, defer to
    `later`, merge into `target`)."""
    kwargs = {"fr": fr, "actor": actor}
    if action in ("return", "reject", "withdraw", "merge", "defer", "decline", "cancel"):
        kwargs["reason"] = reason
    if action == "escalate":
        kwargs["quarter"] = quarter
    if action == "defer":
        kwargs["quarter"] = later
    if action == "cancel":
        kwargs["unstarted_points"] = UNSTARTED
    if action == "merge":
        kwargs["target"] = target
    return services.TRANSITION_FUNCTIONS[action](**kwargs)
