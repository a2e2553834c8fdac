"""The pages work under the Content-Security-Policy: the Head of Sales drags and arrow-moves the
ranked queue (SortableJS and htmx from our static files), filters the inbox by team (a select
that submits itself from js/app.js), and the browser reports no violation of the policy."""

import pytest
from playwright.sync_api import expect

from requests_app import services
from tests.browser.test_request_journey import escalated, is_reorder_post, sign_in, submitted

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Playwright injects this before any page script; it sees every violation the policy reports.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""


def test_ranking_and_htmx_work_under_the_policy_with_no_violation(
    page, live_server, cast, quarters
):
    current = quarters[0]
    queued = escalated(cast, current)
    submitted(cast.outsider, "West team request")
    console_errors, script_errors = [], []

    def on_console(message):
        # The browser asks for /favicon.ico on its own; the app has none.
        if message.type == "error" and not message.location["url"].endswith("/favicon.ico"):
            console_errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    page.add_init_script(RECORD_VIOLATIONS)

    sign_in(page, live_server, "hos")
    response = page.goto(f"{live_server.url}/queue/?quarter={current.slug}")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy + ";"
    queue = page.get_by_test_id("queue")
    rows = queue.locator("li[data-id]")
    expect(rows).to_have_count(3)

    # Drag the last to the top: SortableJS, then the form posted through htmx.
    with page.expect_response(is_reorder_post("/queue/")) as reorder:
        queue.locator(f'li[data-id="{queued[2]}"] .handle').drag_to(rows.first.locator(".handle"))
    assert reorder.value.status == 200
    assert reorder.value.request.headers.get("hx-request") == "true"
    expect(rows.first).to_have_attribute("data-id", str(queued[2]))
    assert services.queue_ids(current.pk) == [queued[2], queued[0], queued[1]]

    # The arrow button on the list htmx swapped in.
    with page.expect_response(is_reorder_post("/queue/")) as reorder:
        queue.locator(f'li[data-id="{queued[1]}"]').get_by_role(
            "button", name="Move “Queued request 2” up"
        ).click()
    assert reorder.value.status == 200
    assert reorder.value.request.headers.get("hx-request") == "true"
    expect(rows.nth(1)).to_have_attribute("data-id", str(queued[1]))
    assert services.queue_ids(current.pk) == [queued[2], queued[1], queued[0]]
    assert page.url == f"{live_server.url}/queue/?quarter={current.slug}"  # no page load

    # The inbox's team filter applies itself on change, with no inline handler.
    page.goto(f"{live_server.url}/inbox/")
    expect(page.get_by_text("West team request")).to_have_count(1)
    with page.expect_navigation():
        page.get_by_label("Team", exact=True).select_option(str(cast.manager.pk))
    assert page.url == f"{live_server.url}/inbox/?team={cast.manager.pk}"
    expect(page.get_by_text("West team request")).to_have_count(0)

    assert page.evaluate("window.__cspViolations") == []
    assert console_errors == []  # where Chromium reports "Refused to ... Content Security Policy"
    assert script_errors == []
