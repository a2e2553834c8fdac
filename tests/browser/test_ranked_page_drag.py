"""Dragging on page 2 of a long queue: the Head of Sales drags the last request to the top of
the page, and the whole order is saved with just that request moved (js/app.js splices the
page's new order into the whole order the page was shown with)."""

import pytest
from playwright.sync_api import expect

from requests_app import services
from tests.browser.test_request_journey import is_reorder_post, sign_in
from tests.query_counts import bulk_queue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_drag_on_page_two_moves_one_request_in_the_whole_queue(page, live_server, cast, quarters):
    current = quarters[0]

    before = bulk_queue(cast, current, 55)
    assert services.queue_ids(current.pk) == before
    moving = before[54]

    sign_in(page, live_server, "hos")
    url = f"{live_server.url}/queue/?quarter={current.slug}&page=2"
    page.goto(url)
    queue = page.get_by_test_id("queue")
    rows = queue.locator("li[data-id]")
    expect(rows).to_have_count(5)
    expect(rows.first.locator(".rank")).to_have_text("51")
    expect(rows.last).to_have_attribute("data-id", str(moving))

    with page.expect_response(is_reorder_post("/queue/")) as reorder:
        rows.last.locator(".handle").drag_to(rows.first.locator(".handle"))
    assert reorder.value.status == 200

    # Position 55 went to 51; the four it passed moved down one; page 1 did not move.
    assert services.queue_ids(current.pk) == [*before[:50], moving, *before[50:54]]
    # htmx swapped in page 2 again, the dragged request at position 51, with no page load.
    expect(rows.first).to_have_attribute("data-id", str(moving))
    expect(rows.first.locator(".rank")).to_have_text("51")
    expect(page.get_by_test_id("pager").first).to_contain_text("page 2 of 2")
    assert page.url == url

    page.goto(f"{live_server.url}/queue/?quarter={current.slug}")
    shown = [int(pk) for pk in rows.evaluate_all("rows => rows.map(r => r.dataset.id)")]
    assert shown == before[:50]
