"""What an approval asks of the database, and how much of it holds the quarter's lock.

Approvals of one quarter queue for its row lock (SELECT ... FOR UPDATE), so the statements
from that lock to the commit bound how many approvals a second one quarter takes. Who hears
about an approval and which webhook endpoints listen are read before the lock; under it the
approval writes its rows, one INSERT per table however many people or endpoints there are,
and the counts do not grow with the queue (sparse ranks) either.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Notification, Role, WebhookDelivery, WebhookEndpoint
from requests_app import services

from ..conftest import make_user
from .test_decisions import escalated

# The quarter's row lock is PostgreSQL's SELECT ... FOR UPDATE (SQLite locks the whole file).
pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

# The quarter's lock, the locked read of the request, the budget's UPDATE ... RETURNING, the
# ledger entry, the request, its audit event, its notifications, and the end of the
# transaction.
UNDER_LOCK = 8
# Before the lock: who hears, which endpoints listen, the transaction's start. Which quarter
# to lock is found by the lock's own statement.
IN_ALL = UNDER_LOCK + 3


def approve_counted(fr, actor):
    """(statements in all, statements from the quarter's lock to the end) of one approval."""
    with CaptureQueriesContext(connection) as ctx:
        services.request_approve(fr=fr, actor=actor)
    sql = [q["sql"] for q in ctx.captured_queries]
    locked_at = next(i for i, s in enumerate(sql) if "budgets_quarter" in s and "FOR UPDATE" in s)
    return sql, sql[locked_at:]


def world_of(build, cast, *, queued, followers, endpoints):
    """A request to approve behind `queued` others, followed by `followers` people, with
    `endpoints` webhook endpoints listening."""
    for i in range(queued):
        escalated(build, cast, estimate=1, title=f"Queued {i}")
    fr = escalated(build, cast, estimate=1, title="The one to approve")
    for i in range(followers):
        fr.followers.add(make_user(f"fan{queued}{i}", Role.SALES_REP, cast.manager))
    for i in range(endpoints):
        WebhookEndpoint.objects.create(url=f"http://127.0.0.1:9/hook-{i}")
    return fr


@pytest.mark.parametrize(
    "queued, followers", [(0, 0), (20, 5)], ids=["short queue", "long queue, followers"]
)
def test_an_approval_holds_the_quarter_lock_for_few_statements(
    build, cast, funded, queued, followers
):
    fr = world_of(build, cast, queued=queued, followers=followers, endpoints=0)

    sql, under_lock = approve_counted(fr, cast.hop)

    assert len(under_lock) <= UNDER_LOCK, "\n".join(under_lock)
    assert len(sql) <= IN_ALL, "\n".join(sql)
    # Who hears about it was read before the lock, yet all of them are told.
    assert not [s for s in under_lock if s.startswith('SELECT "accounts_user"')]
    told = Notification.objects.filter(request=fr, verb="approve")
    told = set(told.values_list("user__username", flat=True))
    assert told == {"rep"} | {f"fan{queued}{i}" for i in range(followers)}


@pytest.mark.parametrize("endpoints", [1, 3])
def test_webhook_endpoints_are_read_before_the_lock_and_written_in_one_insert_each(
    build, cast, funded, endpoints
):
    fr = world_of(build, cast, queued=3, followers=1, endpoints=endpoints)

    sql, under_lock = approve_counted(fr, cast.hop)

    # One more INSERT for the budget.moved deliveries, one for request.status_changed.
    assert len(under_lock) <= UNDER_LOCK + 2, "\n".join(under_lock)
    assert len(sql) <= IN_ALL + 2, "\n".join(sql)
    assert not [s for s in under_lock if "accounts_webhookendpoint" in s]
    events = WebhookDelivery.objects.values_list("event_type", flat=True)
    assert sorted(events) == sorted(["budget.moved", "request.status_changed"] * endpoints)
