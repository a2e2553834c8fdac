"""Factories for feature-request tests, and the rules of DOMAIN.md written out independently.

The tables below are copied from ../shared/DOMAIN.md by hand, not derived from
requests_app.services, so a wrong rule in the app shows up as a failing test instead of
being mirrored by it.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

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
}

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


class Builder:
    """Builds requests in any state through the real services, as users would.

    States only issue 4's product decisions reach (approved, deferred, declined, in_progress,
    shipped, cancelled) have no service yet: those are escalated through the services and then
    set directly with queryset.update(), leaving the sales queue as the product decision would.
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

    def make(self, state, *, merge_target=None, **kw):
        """A fresh request in `state` (one of STATES), re-read from the database."""
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
        elif state in ("withdrawn", "withdrawn_after_escalation"):
            fr = self.escalated(**kw) if reached_product(state) else self.submitted(**kw)
            services.request_withdraw(fr=fr, actor=fr.author)
        elif state in ("merged", "merged_after_escalation"):
            fr = self.escalated(**kw) if reached_product(state) else self.submitted(**kw)
            target = merge_target or self.escalated(author=fr.author)
            services.request_merge(fr=fr, target=target, actor=self._manager_of(fr))
        else:
            fr = self.escalated(**kw)
            self.decide(fr, state)
        return FeatureRequest.objects.get(pk=fr.pk)

    def decide(self, fr, state):
        """Stand-in for issue 4's product decisions: set the state directly (see class doc).

        The request leaves the sales queue; callers build it last so no gap is left behind."""
        assert state in {"approved", "deferred", "declined", "in_progress", "shipped", "cancelled"}
        changes = {"status": state, "queue_rank": None}
        if state in {"approved", "in_progress", "shipped", "cancelled"}:
            changes["estimate"] = 5
        if state == "deferred":
            changes["target_quarter"] = self.next
        FeatureRequest.objects.filter(pk=fr.pk).update(**changes)


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
            )
        ),
        "events": AuditEvent.objects.count(),
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
