"""The budget page, /budget/<quarter>/: everyone signed in reads it; the Head of Product sets
capacity there."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from budgets.fiscal import FiscalQuarter
from budgets.models import Budget, LedgerEntry, Quarter
from budgets.services import budget_expire, budget_release, budget_reserve

from .conftest import assert_balances_match_ledger, balances, snapshot


def url(quarter):
    return f"/budget/{quarter.slug}/"


def shown(response, name):
    """The number the page shows in the card marked data-testid=name."""
    match = re.search(rf'data-testid="{name}"[^>]*>\s*([^<]*?)\s*<', response.content.decode())
    assert match, f"the page shows no {name}"
    return match.group(1)


def has_capacity_form(response):
    return 'name="capacity"' in response.content.decode()


# --- Reading ---------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["rep", "manager", "hos", "pm", "hop"])
def test_it_shows_the_budget_to_everyone_signed_in(client, cast, funded, who):
    budget_reserve(quarter=funded, points=12, actor=cast.hop)
    client.force_login(getattr(cast, who))

    response = client.get(url(funded))

    assert response.status_code == 200
    assert funded.label in response.content.decode()
    assert [shown(response, n) for n in ("capacity", "allocated", "reserved", "remaining")] == [
        "400",
        "40",
        "12",
        "28",
    ]
    assert has_capacity_form(response) is (who == "hop")


def test_it_lists_the_ledger_newest_first_with_who_did_what(client, cast, funded):
    budget_reserve(quarter=funded, points=12, actor=cast.pm, reason="Audit log export")
    client.force_login(cast.rep)

    html = client.get(url(funded)).content.decode()

    assert html.index("Audit log export") < html.index("capacity 0 at 10% → capacity 400 at 10%")
    assert cast.pm.display_name in html
    assert cast.hop.display_name in html


def test_it_sends_the_anonymous_to_sign_in(client, funded):
    before = snapshot(funded.budget)

    for response in (
        client.get(url(funded)),
        client.post(url(funded), {"capacity": "800", "percentage": "10"}),
        client.get("/budget/"),
    ):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login") + "?next=/budget/")

    assert snapshot(funded.budget) == before


@pytest.mark.parametrize(
    "slug", ["FY1999Q1", "garbage", "FY2026Q5", "FY2026Q0", "FY26Q1", "FY0000Q1", "FY9999Q4"]
)
def test_it_answers_404_for_a_quarter_that_does_not_exist(client, cast, quarters, slug):
    client.force_login(cast.hop)
    count = Quarter.objects.count()

    assert client.get(f"/budget/{slug}/").status_code == 404
    assert (
        client.post(f"/budget/{slug}/", {"capacity": "10", "percentage": "10"}).status_code == 404
    )

    assert Quarter.objects.count() == count


def test_it_answers_404_for_a_quarter_beyond_the_next(client, cast, today_is):
    today_is(dt.date(2026, 11, 27))
    client.force_login(cast.hop)

    assert client.get("/budget/FY2027Q2/").status_code == 404
    assert not Quarter.objects.filter(fiscal_year=2027, number=2).exists()


def test_it_opens_the_current_and_next_quarters_on_first_visit(client, cast, today_is):
    today_is(dt.date(2026, 11, 27))
    client.force_login(cast.rep)

    response = client.get("/budget/FY2027Q1/")

    assert response.status_code == 200
    assert "FY2027 Q1" in response.content.decode()
    assert shown(response, "allocated") == "0"
    assert sorted(q.slug for q in Quarter.objects.all()) == ["FY2026Q4", "FY2027Q1"]


def quarter_without_budget(slug, *, closed=False):
    """A Quarter row made as a seed script or a shell might: without its Budget row."""
    fq = FiscalQuarter.parse(slug)
    return Quarter.objects.create(
        fiscal_year=fq.fiscal_year,
        number=fq.number,
        start_date=fq.start,
        end_date=fq.end,
        closed_at=timezone.now() if closed else None,
    )


@pytest.mark.parametrize(
    "slug, closed",
    [("FY2026Q4", False), ("FY2027Q1", False), ("FY2027Q3", False), ("FY2026Q2", True)],
    ids=["current", "next", "planned", "closed"],
)
def test_it_gives_a_quarter_without_a_budget_an_empty_one(client, cast, today_is, slug, closed):
    # The budget every quarter gets when it is first opened (quarter_get_or_create), not a 500.
    today_is(dt.date(2026, 11, 27))
    quarter = quarter_without_budget(slug, closed=closed)
    client.force_login(cast.hop)

    response = client.get(f"/budget/{slug}/")

    assert response.status_code == 200
    assert [shown(response, n) for n in ("capacity", "allocated", "reserved", "remaining")] == [
        "0",
        "0",
        "0",
        "0",
    ]
    assert has_capacity_form(response) is not closed
    budget = Budget.objects.get(quarter=quarter)
    assert (budget.capacity, budget.percentage) == (0, 10)
    assert client.get(f"/budget/{slug}/ledger.csv").status_code == 200
    if not closed:
        response = client.post(f"/budget/{slug}/", {"capacity": "400", "percentage": "10"})
        assert response.status_code == 302
        assert balances(budget)["allocated"] == 40
        assert_balances_match_ledger(budget)


@pytest.mark.parametrize(
    "today, slug",
    [(dt.date(2026, 11, 27), "FY2026Q4"), (dt.date(2027, 1, 1), "FY2027Q1")],
)
def test_it_redirects_the_budget_root_to_the_current_quarter(client, cast, today_is, today, slug):
    today_is(today)
    client.force_login(cast.rep)

    response = client.get("/budget/")

    assert response.status_code == 302
    assert response["Location"] == f"/budget/{slug}/"
    assert client.get(response["Location"]).status_code == 200


def test_it_refuses_other_methods(client, cast, funded):
    client.force_login(cast.hop)

    assert client.put(url(funded), {"capacity": "800"}).status_code == 405
    assert client.delete(url(funded)).status_code == 405


# --- Setting capacity ------------------------------------------------------------------------


def test_it_lets_the_head_of_product_set_capacity(client, cast, quarters):
    quarter = quarters[0]
    client.force_login(cast.hop)

    response = client.post(
        url(quarter), {"capacity": "405", "percentage": "10", "reason": "two hires"}
    )

    assert response.status_code == 302
    assert response["Location"] == url(quarter)
    page = client.get(response["Location"])
    assert f"Capacity for {quarter.label} saved." in page.content.decode()
    assert [shown(page, n) for n in ("capacity", "allocated", "reserved", "remaining")] == [
        "405",
        "40",
        "0",
        "40",
    ]
    entry = LedgerEntry.objects.get(budget__quarter=quarter)
    assert (entry.kind, entry.points, entry.actor) == ("allocate", 40, cast.hop)
    assert entry.reason.endswith("two hires")
    assert_balances_match_ledger(quarter.budget)


def test_it_lets_the_head_of_product_change_the_sales_share(client, cast, funded):
    client.force_login(cast.hop)

    response = client.post(url(funded), {"capacity": "7", "percentage": "15"})

    assert response.status_code == 302
    assert balances(funded.budget)["allocated"] == 1
    page = client.get(url(funded))
    assert shown(page, "allocated") == "1"
    assert "Allocated (15%)" in page.content.decode()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"capacity": "0", "percentage": "10"}, "greater than or equal to 1"),
        ({"capacity": "-5", "percentage": "10"}, "greater than or equal to 1"),
        ({"capacity": "abc", "percentage": "10"}, "Enter a whole number of story points."),
        ({"capacity": "2.5", "percentage": "10"}, "Enter a whole number of story points."),
        ({"capacity": "1000001", "percentage": "10"}, "less than or equal to 1000000"),
        ({"capacity": "", "percentage": "10"}, "This field is required."),
        ({"percentage": "10"}, "This field is required."),
        ({"capacity": "800", "percentage": "0"}, "greater than or equal to 1"),
        ({"capacity": "800", "percentage": "101"}, "less than or equal to 100"),
        ({"capacity": "800", "percentage": "ten"}, "Enter a whole percentage between 1 and 100."),
        ({"capacity": "800", "percentage": "10", "reason": "x" * 501}, "at most 500 characters"),
    ],
)
def test_it_refuses_bad_input_with_a_clear_error(client, cast, funded, data, message):
    client.force_login(cast.hop)
    before = snapshot(funded.budget)

    response = client.post(url(funded), data)

    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="errorlist' in html
    assert message in html
    assert has_capacity_form(response)
    assert snapshot(funded.budget) == before
    # The page still shows the saved numbers, not the rejected ones.
    assert shown(response, "capacity") == "400"
    assert shown(response, "allocated") == "40"


def test_it_refuses_to_lower_capacity_below_what_is_reserved(client, cast, funded):
    budget_reserve(quarter=funded, points=30, actor=cast.hop)
    client.force_login(cast.hop)
    before = snapshot(funded.budget)

    response = client.post(url(funded), {"capacity": "100", "percentage": "10"})

    assert response.status_code == 400
    assert (
        f"100 points at 10% gives a budget of 10, below the 30 points already reserved in "
        f"{funded.label}." in response.content.decode()
    )
    assert snapshot(funded.budget) == before
    assert shown(response, "reserved") == "30"


@pytest.mark.parametrize("who", ["rep", "manager", "hos", "pm", "outsider"])
def test_it_forbids_everyone_but_the_head_of_product_to_set_capacity(client, cast, funded, who):
    client.force_login(getattr(cast, who))
    before = snapshot(funded.budget)

    response = client.post(url(funded), {"capacity": "800", "percentage": "10"})

    assert response.status_code == 403
    assert "Only the Head of Product sets capacity." in response.content.decode()
    assert snapshot(funded.budget) == before


def test_it_shows_a_closed_quarter_without_the_capacity_form(client, cast, funded):
    budget_reserve(quarter=funded, points=15, actor=cast.hop)
    budget_expire(quarter=funded, today=funded.closes_on)
    client.force_login(cast.hop)

    response = client.get(url(funded))

    assert response.status_code == 200
    html = response.content.decode()
    assert "closed" in html
    assert "Expired at close" in html
    assert not has_capacity_form(response)


def test_it_refuses_capacity_for_a_closed_quarter(client, cast, funded):
    budget_expire(quarter=funded, today=funded.closes_on)
    client.force_login(cast.hop)
    before = snapshot(funded.budget)

    response = client.post(url(funded), {"capacity": "800", "percentage": "10"})

    assert response.status_code == 400
    assert "its ledger takes no new entries" in response.content.decode()
    assert snapshot(funded.budget) == before


# --- Cost -------------------------------------------------------------------------------------


def test_it_reads_a_long_ledger_in_as_many_queries_as_a_short_one(client, cast, funded):
    for _ in range(4):
        budget_reserve(quarter=funded, points=1, actor=cast.pm)
    client.force_login(cast.hop)
    client.get(url(funded))  # warm up: session, content types

    with CaptureQueriesContext(connection) as short:
        assert client.get(url(funded)).status_code == 200
    assert funded.budget.entries.count() == 5

    for i in range(55):
        move = budget_reserve if i % 2 == 0 else budget_release
        move(quarter=funded, points=1, actor=cast.pm if i % 3 else cast.hos)
    assert funded.budget.entries.count() == 60

    with CaptureQueriesContext(connection) as long:
        response = client.get(url(funded))
    assert response.status_code == 200
    assert "Page 1 of 2" in response.content.decode()

    assert len(long) == len(short), "\n".join(q["sql"] for q in long.captured_queries)


def test_it_pages_the_ledger(client, cast, funded):
    for i in range(60):
        move = budget_reserve if i % 2 == 0 else budget_release
        move(quarter=funded, points=1, actor=cast.pm)
    client.force_login(cast.rep)

    page_two = client.get(url(funded) + "?page=2")

    assert page_two.status_code == 200
    html = page_two.content.decode()
    assert "Page 2 of 2" in html
    # The oldest entry, the allocation, is on the last page.
    assert "capacity 0 at 10% → capacity 400 at 10%" in html
    assert "capacity 0 at 10% → capacity 400 at 10%" not in client.get(url(funded)).content.decode()


@pytest.mark.parametrize("number, shown", [("0", 1), ("-3", 1), ("abc", 1), ("1.5", 1), ("99", 2)])
def test_a_ledger_page_number_out_of_range_shows_the_nearest_page(
    client, cast, funded, number, shown
):
    for i in range(60):
        move = budget_reserve if i % 2 == 0 else budget_release
        move(quarter=funded, points=1, actor=cast.pm)
    client.force_login(cast.rep)

    response = client.get(url(funded), {"page": number})

    assert response.status_code == 200
    html = response.content.decode()
    assert f"Page {shown} of 2" in html
    # The first page starts with the newest entry, the last ends with the allocation.
    assert ("capacity 0 at 10% → capacity 400 at 10%" in html) is (shown == 2)
