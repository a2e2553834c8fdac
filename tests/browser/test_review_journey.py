"""The Head of Product's review: estimate two escalated requests inline, approve the first and
watch the cut line move, try to approve one that does not fit, see the shortfall and defer it
from there; the roadmap then shows the approved one under Now."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from budgets.models import Budget, LedgerEntry
from budgets.services import budget_set_capacity
from requests_app import services
from requests_app.models import FeatureRequest, Funding, Status

PASSWORD = "pw-for-tests-1"  # what tests/conftest.py's make_user sets

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def escalated(cast, title, quarter):
    fr = services.request_create(
        actor=cast.rep,
        data={"title": title, "problem": f"{title}: the customer cannot do it today"},
        deals=[
            {
                "account_name": f"{title} Ltd",
                "amount": Decimal("80000"),
                "currency": "USD",
                "stage": "negotiation",
                "expected_close_date": timezone.localdate() + dt.timedelta(days=30),
            }
        ],
    )
    services.request_submit(fr=fr, actor=cast.rep)
    return services.request_escalate(fr=fr, actor=cast.manager, quarter=quarter)


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/")


def posted_to(path):
    return lambda r: r.request.method == "POST" and r.url.split("?")[0].endswith(path)


def test_head_of_product_estimates_approves_and_defers_what_does_not_fit(
    page, live_server, cast, quarters
):
    current, upcoming = quarters
    # Capacity 100 at 10%: a sales budget of 10 points.
    budget_set_capacity(quarter=current, capacity=100, actor=cast.hop)
    first = escalated(cast, "Single sign-on with Okta", current)
    second = escalated(cast, "Audit log export", current)

    sign_in(page, live_server, "hop")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Review").click()
    expect(page).to_have_url(f"{live_server.url}/review/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(current.label)
    remaining = page.get_by_test_id("review-remaining")
    cut_line = page.get_by_test_id("cut-line")
    table = page.get_by_test_id("review-table")
    first_row = page.get_by_test_id(f"review-row-{first.pk}")
    second_row = page.get_by_test_id(f"review-row-{second.pk}")
    expect(remaining).to_have_text("10")
    expect(first_row.locator(".pill.warn")).to_have_text("not estimated")
    expect(cut_line).to_have_count(0)

    # --- Estimates, inline: htmx swaps in the re-computed list. ---
    with page.expect_response(posted_to(f"/review/{first.pk}/estimate/")) as saved:
        first_row.get_by_label(f"Estimate for {first.title}").fill("6")
        first_row.get_by_role("button", name="Save").click()
    assert saved.value.status == 200
    expect(first_row.locator("td").nth(7)).to_have_text("6")
    expect(first_row.locator(".pill.warn")).to_have_count(0)
    expect(cut_line).to_have_count(0)  # 6 of 10 points: everything fits

    with page.expect_response(posted_to(f"/review/{second.pk}/estimate/")) as saved:
        second_row.get_by_label(f"Estimate for {second.title}").fill("8")
        second_row.get_by_role("button", name="Save").click()
    assert saved.value.status == 200
    expect(second_row.locator("td").nth(7)).to_have_text("14")
    # 6 + 8 passes the 10 points: the cut line falls between the two.
    rows = table.locator("tbody > tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_have_attribute("data-id", str(first.pk))
    expect(rows.nth(1)).to_have_attribute("data-testid", "cut-line")
    expect(rows.nth(2)).to_have_attribute("data-id", str(second.pk))
    expect(cut_line).to_contain_text("10 points remain")
    expect(second_row).to_have_class(re.compile(r"\bbelow\b"))
    estimates = dict(
        FeatureRequest.objects.filter(pk__in=[first.pk, second.pk]).values_list("pk", "estimate")
    )
    assert estimates == {first.pk: 6, second.pk: 8}
    assert page.url == f"{live_server.url}/review/"  # htmx: no page load

    # --- Approve the first: its points are reserved and the cut line moves up. ---
    with page.expect_response(posted_to(f"/review/{first.pk}/decide/")) as decided:
        page.get_by_test_id(f"approve-{first.pk}").click()
    assert decided.value.status == 200
    expect(remaining).to_have_text("4")
    expect(page.get_by_test_id("review-reserved")).to_have_text("6")
    expect(first_row).to_have_count(0)
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-testid", "cut-line")
    expect(rows.nth(1)).to_have_attribute("data-id", str(second.pk))
    expect(cut_line).to_contain_text("4 points remain")
    expect(second_row.locator("td").first).to_have_text("1")
    first.refresh_from_db()
    assert (first.status, first.funding, first.reserved_points) == (
        Status.APPROVED,
        Funding.SALES,
        6,
    )

    # --- The second does not fit: the refusal shows the numbers and offers a deferral. ---
    with page.expect_response(posted_to(f"/review/{second.pk}/decide/")) as decided:
        page.get_by_test_id(f"approve-{second.pk}").click()
    assert decided.value.status == 409
    shortfall = page.get_by_test_id("shortfall")
    expect(shortfall).to_be_visible()
    expect(shortfall).to_contain_text(second.title)
    expect(shortfall.locator("strong")).to_have_text(["8", "4", "4"])
    expect(shortfall).to_contain_text("Needed 8 points · remaining 4 · short by 4")
    expect(remaining).to_have_text("4")
    assert FeatureRequest.objects.get(pk=second.pk).status == Status.ESCALATED

    later = current.fiscal.next().next()
    shortfall.get_by_label("Defer to").select_option(later.slug)
    shortfall.get_by_label("Reason").fill("Does not fit this quarter; first thing next.")
    with page.expect_response(posted_to(f"/review/{second.pk}/decide/")) as decided:
        shortfall.get_by_role("button", name="Defer").click()
    assert decided.value.status == 200
    expect(shortfall).to_have_count(0)
    expect(second_row).to_have_count(0)
    expect(page.locator("#review-list")).to_contain_text("Nothing escalated")
    expect(remaining).to_have_text("4")
    second.refresh_from_db()
    assert (second.status, second.target_quarter.slug, second.reserved_points) == (
        Status.DEFERRED,
        later.slug,
        0,
    )
    budget = Budget.objects.get(quarter=current)
    assert (budget.allocated, budget.reserved, budget.remaining) == (10, 6, 4)
    assert list(
        LedgerEntry.objects.filter(budget=budget).order_by("pk").values_list("kind", "points")
    ) == [("allocate", 10), ("reserve", 6)]

    # --- The roadmap: the approved one is committed, under Now; the deferred one is Later. ---
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Roadmap").click()
    expect(page).to_have_url(f"{live_server.url}/roadmap/")
    now = page.get_by_test_id("roadmap-now")
    expect(now.get_by_role("link", name=first.title)).to_be_visible()
    expect(now.locator("li")).to_have_count(1)
    expect(now).not_to_contain_text("not committed")
    expect(now).not_to_contain_text(second.title)
    later_column = page.get_by_test_id("roadmap-later")
    expect(later_column.get_by_role("link", name=second.title)).to_be_visible()
    expect(later_column).to_contain_text("not committed")


def test_each_row_defers_declines_and_approves_as_product_funded_from_one_form(
    page, live_server, cast, quarters
):
    current, _ = quarters
    budget_set_capacity(quarter=current, capacity=100, actor=cast.hop)
    to_decline = escalated(cast, "Bulk user import", current)
    to_defer = escalated(cast, "Custom fields", current)
    product_funded = escalated(cast, "Dark mode", current)
    services.request_estimate(fr=product_funded, actor=cast.pm, points=3)
    later = current.fiscal.next().next()

    sign_in(page, live_server, "hop")
    page.goto(f"{live_server.url}/review/")

    row = page.get_by_test_id(f"review-row-{to_decline.pk}")
    row.get_by_text("Defer or decline…").click()
    # Declining needs a reason: the browser refuses the empty field and nothing is posted.
    row.get_by_role("button", name="Decline").click()
    assert FeatureRequest.objects.get(pk=to_decline.pk).status == Status.ESCALATED
    row.get_by_label("Reason to defer or decline").fill("Not where the product is going")
    with page.expect_response(posted_to(f"/review/{to_decline.pk}/decide/")) as decided:
        row.get_by_role("button", name="Decline").click()
    assert decided.value.status == 200
    expect(row).to_have_count(0)

    row = page.get_by_test_id(f"review-row-{to_defer.pk}")
    row.get_by_text("Defer or decline…").click()
    row.get_by_label("Defer to quarter").select_option(later.slug)
    row.get_by_label("Reason to defer or decline").fill("After the platform work")
    with page.expect_response(posted_to(f"/review/{to_defer.pk}/decide/")) as decided:
        row.get_by_role("button", name="Defer").click()
    assert decided.value.status == 200
    expect(row).to_have_count(0)

    # Approving needs no reason, even with the reason field left empty.
    row = page.get_by_test_id(f"review-row-{product_funded.pk}")
    row.get_by_text("Defer or decline…").click()
    with page.expect_response(posted_to(f"/review/{product_funded.pk}/decide/")) as decided:
        row.get_by_role("button", name="Approve as product-funded").click()
    assert decided.value.status == 200
    expect(row).to_have_count(0)
    assert page.url == f"{live_server.url}/review/"  # htmx: no page load

    declined = FeatureRequest.objects.get(pk=to_decline.pk)
    deferred = FeatureRequest.objects.get(pk=to_defer.pk)
    funded = FeatureRequest.objects.get(pk=product_funded.pk)
    assert declined.status == Status.DECLINED
    assert (deferred.status, deferred.target_quarter.slug) == (Status.DEFERRED, later.slug)
    assert (funded.status, funded.funding) == (Status.APPROVED, Funding.PRODUCT)
    assert Budget.objects.get(quarter=current).reserved == 0
