"""A request's journey through the browser: the rep raises it, the manager ranks it to the
top of the team inbox by dragging and escalates it, the Head of Sales moves it up the
quarter's queue with the keyboard button, and the rep sees where it stands."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from requests_app import services
from requests_app.models import AuditEvent, FeatureRequest, Status

PASSWORD = "pw-for-tests-1"  # what tests/conftest.py's make_user sets
TITLE = "Bulk export of audit logs"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def submitted(author, title):
    fr = services.request_create(
        actor=author,
        data={"title": title, "problem": f"{title}: the customer cannot do it today"},
        deals=[
            {
                "account_name": f"{title} Ltd",
                "amount": Decimal("20000"),
                "currency": "USD",
                "stage": "qualified",
                "expected_close_date": timezone.localdate() + dt.timedelta(days=60),
            }
        ],
    )
    return services.request_submit(fr=fr, actor=author)


def escalated(cast, quarter, count=3):
    """`count` requests of the East team in `quarter`'s queue, in this order; their ids."""
    ids = []
    for i in range(1, count + 1):
        fr = submitted(cast.rep, f"Queued request {i}")
        services.request_escalate(fr=fr, actor=cast.manager, quarter=quarter)
        ids.append(fr.pk)
    return ids


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/")


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def is_reorder_post(path):
    return lambda r: r.request.method == "POST" and r.url.split("?")[0].endswith(path)


def test_a_request_goes_from_rep_to_the_top_of_the_queue(page, live_server, cast, quarters):
    current = quarters[0]
    # Something to rank against: three requests already waiting in the East inbox, and three
    # already in the current quarter's queue.
    waiting = [submitted(cast.rep, f"Waiting request {i}").pk for i in range(1, 4)]
    queued = escalated(cast, current)

    # --- The rep raises the request with a deal and submits it. ---
    sign_in(page, live_server, "rep")
    page.goto(f"{live_server.url}/requests/new/")
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("The customer's problem").fill(
        "Their auditors ask for a year of logs and we can only export one day at a time."
    )
    page.get_by_label("Account:", exact=True).fill("Globex Corporation")
    page.get_by_label("ARR at stake").fill("120000")
    page.get_by_label("Currency").select_option("EUR")
    page.get_by_label("Stage").select_option("negotiation")
    close = timezone.localdate() + dt.timedelta(days=45)
    page.get_by_label("Expected close date").fill(close.isoformat())
    page.get_by_role("button", name="Submit to my manager").click()

    expect(page.get_by_role("status")).to_contain_text("Submitted to your manager.")
    expect(page.get_by_role("heading", level=1)).to_contain_text(TITLE)
    expect(page.locator("h1 .status")).to_have_text("Submitted")
    fr = FeatureRequest.objects.get(title=TITLE)
    expect(page).to_have_url(f"{live_server.url}/requests/{fr.pk}/")
    assert (fr.status, fr.manager, fr.inbox_rank) == (Status.SUBMITTED, cast.manager, 4)
    deal = fr.deals.get()
    assert (deal.account_name, deal.amount, deal.currency) == (
        "Globex Corporation",
        Decimal("120000"),
        "EUR",
    )
    sign_out(page)

    # --- The manager drags it to the top of the inbox, then escalates it. ---
    sign_in(page, live_server, "mgr")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inbox").click()
    inbox = page.get_by_test_id(f"inbox-{cast.manager.pk}")
    rows = inbox.locator("li[data-id]")
    expect(rows).to_have_count(4)
    expect(rows.last).to_have_attribute("data-id", str(fr.pk))
    row = inbox.locator(f'li[data-id="{fr.pk}"]')
    expect(row.locator(".rank")).to_have_text("4")

    with page.expect_response(is_reorder_post("/inbox/")) as reorder:
        row.locator(".handle").drag_to(rows.first.locator(".handle"))
    assert reorder.value.status == 200
    assert services.inbox_ids(cast.manager.pk) == [fr.pk, *waiting]
    # htmx swapped in the re-rendered inbox: the request now shows rank 1.
    expect(rows.first).to_have_attribute("data-id", str(fr.pk))
    expect(row.locator(".rank")).to_have_text("1")
    rank_event = AuditEvent.objects.get(request=fr, action="rank")
    assert (rank_event.actor, rank_event.old_value, rank_event.new_value) == (
        cast.manager,
        {"inbox_rank": 4},
        {"inbox_rank": 1},
    )

    # A second drag on the list htmx swapped in: SortableJS was set up again on it.
    with page.expect_response(is_reorder_post("/inbox/")) as reorder:
        inbox.locator(f'li[data-id="{waiting[2]}"] .handle').drag_to(
            inbox.locator(f'li[data-id="{waiting[0]}"] .handle')
        )
    assert reorder.value.status == 200
    assert services.inbox_ids(cast.manager.pk) == [fr.pk, waiting[2], waiting[0], waiting[1]]
    expect(inbox.locator(f'li[data-id="{waiting[2]}"] .rank')).to_have_text("2")
    expect(row.locator(".rank")).to_have_text("1")

    row.get_by_label("Quarter").select_option(current.slug)
    row.get_by_role("button", name="Escalate").click()
    expect(page.get_by_role("status")).to_contain_text("Escalate: done.")
    expect(page).to_have_url(f"{live_server.url}/inbox/")
    expect(inbox.locator(f'li[data-id="{fr.pk}"]')).to_have_count(0)
    expect(rows).to_have_count(3)
    expect(rows.locator(".rank")).to_have_text(["1", "2", "3"])
    fr.refresh_from_db()
    assert (fr.status, fr.target_quarter, fr.queue_rank) == (Status.ESCALATED, current, 4)
    sign_out(page)

    # --- The Head of Sales moves it up the quarter's queue with the keyboard button. ---
    sign_in(page, live_server, "hos")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Queue").click()
    queue = page.get_by_test_id("queue")
    expect(queue.locator("li[data-id]")).to_have_count(4)
    queue_row = queue.locator(f'li[data-id="{fr.pk}"]')
    expect(queue_row.locator(".rank")).to_have_text("4")

    with page.expect_response(is_reorder_post("/queue/")) as reorder:
        queue_row.get_by_role("button", name=f"Move “{TITLE}” up").click()
    assert reorder.value.status == 200
    expect(queue_row.locator(".rank")).to_have_text("3")
    assert services.queue_ids(current.pk) == [queued[0], queued[1], fr.pk, queued[2]]

    # The same button again, on the swapped-in fragment: the new `seen` came with it.
    with page.expect_response(is_reorder_post("/queue/")) as reorder:
        queue_row.get_by_role("button", name=f"Move “{TITLE}” up").click()
    assert reorder.value.status == 200
    expect(queue_row.locator(".rank")).to_have_text("2")
    assert services.queue_ids(current.pk) == [queued[0], fr.pk, queued[1], queued[2]]
    sign_out(page)

    # --- The rep sees where it stands, and how it got there. ---
    sign_in(page, live_server, "rep")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Requests").click()
    page.get_by_role("link", name=TITLE).click()
    expect(page).to_have_url(f"{live_server.url}/requests/{fr.pk}/")
    expect(page.locator("h1 .status")).to_have_text("Escalated")
    expect(page.locator("main")).to_contain_text("rank 2 in the sales queue")
    timeline = page.get_by_test_id("timeline").locator("> li")
    expect(timeline).to_have_count(6)
    expect(timeline.nth(0)).to_contain_text(re.compile(r"Create · new → draft"))
    expect(timeline.nth(1)).to_contain_text("Submit · draft → submitted")
    expect(timeline.nth(2)).to_contain_text("Rank")
    expect(timeline.nth(2)).to_contain_text("4 → 1")
    expect(timeline.nth(3)).to_contain_text("Escalate · submitted → escalated")
    expect(timeline.nth(4)).to_contain_text("4 → 3")
    expect(timeline.nth(5)).to_contain_text("3 → 2")
    expect(timeline.nth(5)).to_contain_text(str(cast.hos))


def test_a_stale_queue_is_reported_and_refreshed_in_place(page, live_server, cast, quarters):
    current = quarters[0]
    queued = escalated(cast, current)
    sign_in(page, live_server, "hos")
    page.goto(f"{live_server.url}/queue/?quarter={current.slug}")
    queue = page.get_by_test_id("queue")
    expect(queue.locator("li[data-id]")).to_have_count(3)

    # While the page is open, the West team escalates another request into the quarter.
    late = submitted(cast.outsider, "Late escalation")
    services.request_escalate(fr=late, actor=cast.other_manager, quarter=current)

    with page.expect_response(is_reorder_post("/queue/")) as reorder:
        queue.locator(f'li[data-id="{queued[2]}"]').get_by_role(
            "button", name=re.compile("up$")
        ).click()
    assert reorder.value.status == 409
    # The refusal is shown with the current queue, so the next move works against it.
    expect(page.get_by_role("alert")).to_contain_text("reload")
    expect(queue.locator("li[data-id]")).to_have_count(4)
    assert services.queue_ids(current.pk) == [*queued, late.pk]
    assert not AuditEvent.objects.filter(action="rank").exists()

    with page.expect_response(is_reorder_post("/queue/")) as reorder:
        queue.locator(f'li[data-id="{late.pk}"]').get_by_role(
            "button", name=re.compile("top$")
        ).click()
    assert reorder.value.status == 200
    expect(queue.locator("li[data-id]").first).to_have_attribute("data-id", str(late.pk))
    assert services.queue_ids(current.pk) == [late.pk, *queued]
