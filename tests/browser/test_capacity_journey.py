"""The Head of Product sets a quarter's capacity and everyone's dashboard shows the budget."""

import re

import pytest
from playwright.sync_api import expect

from budgets.models import LedgerEntry

PASSWORD = "pw-for-tests-1"  # what tests/conftest.py's make_user sets

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/")


def test_head_of_product_sets_capacity_and_the_dashboard_shows_the_budget(
    page, live_server, cast, quarters
):
    current = quarters[0]
    sign_in(page, live_server, "hop")
    expect(page.get_by_test_id(f"no-capacity-{current.slug}")).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Budget").click()
    expect(page).to_have_url(f"{live_server.url}/budget/{current.slug}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(current.label)

    page.get_by_label("Engineering capacity (story points)").fill("500")
    page.get_by_label("Sales share (%)").fill("10")
    page.get_by_role("button", name="Save capacity").click()

    expect(page.get_by_role("status")).to_contain_text(f"Capacity for {current.label} saved.")
    expect(page.get_by_test_id("capacity")).to_have_text("500")
    expect(page.get_by_test_id("allocated")).to_have_text("50")

    page.get_by_role("link", name="Home").click()
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_test_id(f"allocated-{current.slug}")).to_have_text("50")
    expect(page.get_by_test_id(f"reserved-{current.slug}")).to_have_text("0")
    expect(page.get_by_test_id(f"remaining-{current.slug}")).to_have_text("50")
    expect(page.get_by_test_id(f"no-capacity-{current.slug}")).to_have_count(0)

    entry = LedgerEntry.objects.get(budget__quarter=current)
    assert (entry.kind, entry.points, entry.actor) == (LedgerEntry.Kind.ALLOCATE, 50, cast.hop)
