"""Ranks under concurrent writers, on real PostgreSQL.

Threads are released together by a Barrier so their transactions overlap. Each thread uses
its own database connection (Django's are per thread) and closes it when done, so the test
database can be flushed afterwards.
"""

import datetime as dt
import random
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from config.errors import StaleOrder
from requests_app import services
from requests_app.models import FeatureRequest, Status

from .conftest import assert_positions

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

JOIN_TIMEOUT = 60


# --- Helpers --------------------------------------------------------------------------------


def new_submitted(author, title):
    fr = services.request_create(
        actor=author,
        data={"title": title, "problem": f"{title}: what the customer cannot do today"},
        deals=[
            {
                "account_name": f"{title} Inc",
                "amount": Decimal("30000"),
                "currency": "USD",
                "stage": "qualified",
                "expected_close_date": timezone.localdate() + dt.timedelta(days=30),
            }
        ],
    )
    return services.request_submit(fr=fr, actor=author)


def run_together(jobs):
    """Run each job in its own thread, all starting at once; return their outcomes in order:
    ("ok", result), ("stale", message) or ("error", repr)."""
    barrier = threading.Barrier(len(jobs))
    outcomes = [None] * len(jobs)

    def worker(i, job):
        try:
            barrier.wait(timeout=JOIN_TIMEOUT)
            outcomes[i] = ("ok", job())
        except StaleOrder as exc:
            outcomes[i] = ("stale", exc.message)
        except Exception as exc:  # reported, not swallowed: the test asserts on it
            outcomes[i] = ("error", repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a thread hung: a lock was never released"
    return outcomes


def reorder_inbox(actor, manager, seen, order):
    return lambda: services.inbox_reorder(actor=actor, manager=manager, seen=seen, order=order)


def assert_inbox_strict(manager):
    """Every submitted request of the team is in the inbox, shown at positions 1..n."""
    ids = services.inbox_ids(manager.pk)
    team = FeatureRequest.objects.filter(status=Status.SUBMITTED, manager=manager)
    assert sorted(ids) == sorted(team.values_list("pk", flat=True))
    assert_positions(ids, "inbox_position")


def assert_queue_strict(quarter):
    """Every escalated request of the quarter is in the queue, shown at positions 1..n."""
    ids = services.queue_ids(quarter.pk)
    queued = FeatureRequest.objects.filter(status=Status.ESCALATED, target_quarter=quarter)
    assert sorted(ids) == sorted(queued.values_list("pk", flat=True))
    assert_positions(ids, "queue_position")
    return len(ids)


# --- (a) Two people rank the same inbox at once ---------------------------------------------


def test_two_simultaneous_inbox_reorders_from_the_same_view_one_wins(cast, quarters):
    for i in range(6):
        new_submitted(cast.rep, f"Inbox {i}")
    rng = random.Random(7)

    for _round in range(5):
        seen = services.inbox_ids(cast.manager.pk)
        # Two different orders, both different from what was seen: whoever goes second works
        # against an order that no longer exists.
        first = seen[1:] + seen[:1]
        second = list(seen)
        while second in (seen, first):
            second = rng.sample(seen, len(seen))

        outcomes = run_together(
            [
                reorder_inbox(cast.manager, cast.manager, seen, first),
                reorder_inbox(cast.hos, cast.manager, seen, second),
            ]
        )

        kinds = sorted(kind for kind, _ in outcomes)
        assert kinds == ["ok", "stale"], outcomes
        assert "reload" in next(msg for kind, msg in outcomes if kind == "stale")
        winner = first if outcomes[0][0] == "ok" else second
        assert services.inbox_ids(cast.manager.pk) == winner
        assert_inbox_strict(cast.manager)


# --- (b) Many escalations into one quarter at once -----------------------------------------


def test_twenty_simultaneous_escalations_get_ranks_1_to_20(cast, quarters):
    current = quarters[0]
    east = [new_submitted(cast.rep, f"East {i}") for i in range(14)]
    west = [new_submitted(cast.outsider, f"West {i}") for i in range(14)]
    # Escalate from the top, middle and bottom of both inboxes, leaving four in each.
    chosen = [fr for i, fr in enumerate(east) if i % 7 not in (0, 4)] + [
        fr for i, fr in enumerate(west) if i % 7 not in (2, 6)
    ]
    assert len(chosen) == 20

    def escalate(fr):
        actor = cast.hos if fr.pk % 3 == 0 else fr.author.manager
        return lambda: services.request_escalate(fr=fr, actor=actor, quarter=current).queue_rank

    outcomes = run_together([escalate(fr) for fr in chosen])

    assert [kind for kind, _ in outcomes] == ["ok"] * 20, outcomes
    assert sorted(rank for _, rank in outcomes) == list(range(1, 21))
    assert assert_queue_strict(current) == 20
    assert set(services.queue_ids(current.pk)) == {fr.pk for fr in chosen}
    assert_inbox_strict(cast.manager)
    assert_inbox_strict(cast.other_manager)
    assert len(services.inbox_ids(cast.manager.pk)) == 4
    assert len(services.inbox_ids(cast.other_manager.pk)) == 4
    # The requests left behind keep their relative order.
    assert services.inbox_ids(cast.manager.pk) == [
        fr.pk for i, fr in enumerate(east) if i % 7 in (0, 4)
    ]


# --- (c) Escalations interleaved with queue reorders ---------------------------------------


def test_escalations_racing_queue_reorders_leave_a_strict_order(cast, quarters):
    current = quarters[0]
    # A queue to reorder from the start, and requests waiting to join it.
    for i in range(4):
        fr = new_submitted(cast.rep, f"Queued {i}")
        services.request_escalate(fr=fr, actor=cast.manager, quarter=current)
    waiting = [new_submitted(cast.rep, f"East {i}") for i in range(6)] + [
        new_submitted(cast.outsider, f"West {i}") for i in range(6)
    ]

    def escalate(fr):
        return lambda: (
            services.request_escalate(fr=fr, actor=fr.author.manager, quarter=current).queue_rank
        )

    def reorder(seed):
        def job():
            rng = random.Random(seed)
            results = []
            for _ in range(4):
                seen = services.queue_ids(current.pk)
                try:
                    results.append(
                        services.queue_reorder(
                            actor=cast.hos,
                            quarter=current,
                            seen=seen,
                            order=rng.sample(seen, len(seen)),
                        )
                    )
                except StaleOrder:
                    results.append("stale")
            return results

        return job

    jobs = [escalate(fr) for fr in waiting] + [reorder(seed) for seed in range(6)]
    random.Random(3).shuffle(jobs)

    outcomes = run_together(jobs)

    assert all(kind == "ok" for kind, _ in outcomes), outcomes
    assert assert_queue_strict(current) == 16
    assert_inbox_strict(cast.manager)
    assert_inbox_strict(cast.other_manager)
    assert set(services.queue_ids(current.pk)) >= {fr.pk for fr in waiting}
