"""The product review page, the roadmap, the budget dashboard and the CSV exports, as the
people who use them see them.

/review/ is for product roles: the quarter's escalated requests in the Head of Sales' order
with running totals and the cut line; estimates inline (htmx); the Head of Product decides,
and a refusal for lack of budget shows the shortfall and the way out. /roadmap/ is for
everyone signed in. /budget/<slug>/ shows the splits and the burn chart with a text table.
"""

import csv
import datetime as dt
import io
import re

import pytest
from django.utils import timezone

from budgets.models import LedgerEntry
from budgets.services import budget_set_capacity, quarter_get_or_create
from requests_app import services
from requests_app.models import FeatureRequest, Funding, ProductTheme, Status

from .test_cut_line import order_on_page, running_totals
from .test_decisions import (
    approved,
    budget_of,
    escalated,
    fresh,
    in_progress,
    world,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def as_user(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


def text(response):
    return response.content.decode()


# --- /review/: who may open it -------------------------------------------------------------


@pytest.mark.parametrize("who", ["pm", "hop"])
def test_product_roles_open_the_review_queue(as_user, cast, funded, who):
    response = as_user(getattr(cast, who)).get("/review/")
    assert response.status_code == 200
    assert f"Product review {funded.label}" in text(response)


@pytest.mark.parametrize("who", ["rep", "outsider", "manager", "hos", "admin"])
def test_everyone_else_is_refused_the_review_queue(as_user, build, cast, funded, who):
    escalated(build, cast, estimate=3, title="Secret sauce")
    response = as_user(getattr(cast, who)).get("/review/")
    assert response.status_code == 403
    assert "Secret sauce" not in text(response)


def test_the_review_queue_needs_sign_in(client, funded):
    response = client.get("/review/")
    assert response.status_code == 302
    assert "/login" in response["Location"]


def test_an_unknown_quarter_is_404(as_user, cast, funded):
    assert as_user(cast.pm).get("/review/?quarter=FY1990Q1").status_code == 404
    assert as_user(cast.pm).get("/review/?quarter=nonsense").status_code == 404


# --- /review/: what it shows ---------------------------------------------------------------


def test_rows_follow_the_head_of_sales_ranking_with_running_totals(as_user, build, cast, funded):
    theme = ProductTheme.objects.create(name="Analytics")
    a = escalated(build, cast, estimate=5, title="Alpha export", deals=2)
    b = escalated(build, cast, title="Bravo audit log")
    c = escalated(
        build, cast, estimate=10, title="Charlie SSO", theme=theme, importance="deal_blocker"
    )
    services.queue_reorder(
        actor=cast.hos, quarter=funded, seen=[a.pk, b.pk, c.pk], order=[c.pk, a.pk, b.pk]
    )

    response = as_user(cast.pm).get("/review/")
    html = text(response)
    assert order_on_page(html) == [c.pk, a.pk, b.pk]
    assert [row["rank"] for row in response.context["rows"]] == [1, 2, 3]
    assert running_totals(html) == ["10", "15", "—"]
    assert "not estimated" in html
    alpha = re.search(rf'<tr data-id="{a.pk}".*?</tr>', html, re.S).group(0)
    assert ">2</td>" in alpha  # two accounts
    assert "USD 100,000" in alpha  # two deals of 50,000 at stake
    assert "Tactical" in alpha
    charlie = re.search(rf'<tr data-id="{c.pk}".*?</tr>', html, re.S).group(0)
    assert "Analytics" in charlie and "Deal-blocker" in charlie
    assert 'data-testid="review-remaining">40<' in html


def test_only_the_head_of_product_sees_decision_buttons(as_user, build, cast, funded):
    fr = escalated(build, cast, estimate=5)
    pm_page = text(as_user(cast.pm).get("/review/"))
    assert f'data-testid="approve-{fr.pk}"' not in pm_page
    assert "Head of Product decides" in pm_page
    assert 'name="estimate"' in pm_page  # the PM estimates inline
    hop_page = text(as_user(cast.hop).get("/review/"))
    assert f'data-testid="approve-{fr.pk}"' in hop_page


def test_another_quarter_is_selected_by_slug(as_user, build, cast, funded, quarters):
    now = escalated(build, cast, estimate=5, title="This quarter")
    later = escalated(build, cast, estimate=5, title="Next quarter", quarter=quarters[1])
    html = text(as_user(cast.pm).get(f"/review/?quarter={quarters[1].slug}"))
    assert order_on_page(html) == ["cut", later.pk]  # next quarter has no budget yet
    assert "This quarter" not in html
    assert now.pk not in order_on_page(html)


# --- /review/: estimating inline -----------------------------------------------------------


def test_an_inline_estimate_returns_the_refreshed_list(as_user, build, cast, funded):
    a = escalated(build, cast, estimate=30)
    b = escalated(build, cast)
    client = as_user(cast.pm)
    response = client.post(f"/review/{b.pk}/estimate/", {"estimate": "15"}, **HTMX)
    assert response.status_code == 200
    html = text(response)
    assert "<html" not in html  # a fragment for htmx to swap in
    assert html.lstrip().startswith('<div id="review-list">')
    assert fresh(b).estimate == 15
    assert order_on_page(html) == [a.pk, "cut", b.pk]
    assert running_totals(html) == ["30", "45"]


def test_an_estimate_without_htmx_redirects_back_to_the_queue(as_user, build, cast, funded):
    fr = escalated(build, cast)
    response = as_user(cast.hop).post(f"/review/{fr.pk}/estimate/", {"estimate": "8"})
    assert response.status_code == 302
    assert response["Location"] == f"/review/?quarter={funded.slug}"
    assert fresh(fr).estimate == 8


@pytest.mark.parametrize(
    "value, message",
    [
        ("0", "between 1 and 10,000"),
        ("-3", "between 1 and 10,000"),
        ("2.5", "whole number of story points"),
        ("abc", "whole number of story points"),
        ("", "Enter an estimate"),
        ("10001", "between 1 and 10,000"),
    ],
)
@pytest.mark.parametrize("htmx", [True, False])
def test_a_bad_inline_estimate_is_a_400_with_the_reason(
    as_user, build, cast, funded, value, message, htmx
):
    fr = escalated(build, cast, estimate=7)
    before = world()
    response = as_user(cast.pm).post(
        f"/review/{fr.pk}/estimate/", {"estimate": value}, **(HTMX if htmx else {})
    )
    assert response.status_code == 400
    assert message in text(response)
    assert world() == before
    assert fresh(fr).estimate == 7


def test_a_missing_estimate_field_is_a_400(as_user, build, cast, funded):
    fr = escalated(build, cast)
    response = as_user(cast.pm).post(f"/review/{fr.pk}/estimate/", {}, **HTMX)
    assert response.status_code == 400
    assert "Enter an estimate" in text(response)


@pytest.mark.parametrize("who", ["rep", "hos", "admin"])
def test_sales_cannot_estimate(as_user, build, cast, funded, who):
    fr = escalated(build, cast)
    response = as_user(getattr(cast, who)).post(f"/review/{fr.pk}/estimate/", {"estimate": "3"})
    assert response.status_code == 403
    assert fresh(fr).estimate is None


def test_the_pm_is_refused_a_re_estimate_of_work_in_progress(as_user, build, cast, funded):
    fr = in_progress(build, cast, 6)
    before = world()
    response = as_user(cast.pm).post(
        f"/review/{fr.pk}/estimate/", {"estimate": "9", "burned_points": "2"}
    )
    assert response.status_code == 403
    assert world() == before


# --- /review/: deciding --------------------------------------------------------------------


def test_the_head_of_product_approves_from_the_queue(as_user, build, cast, funded):
    fr = escalated(build, cast, estimate=12)
    other = escalated(build, cast, estimate=3)
    response = as_user(cast.hop).post(f"/review/{fr.pk}/decide/", {"action": "approve"})
    assert response.status_code == 302
    assert response["Location"] == f"/review/?quarter={funded.slug}"
    fr = fresh(fr)
    assert (fr.status, fr.funding, fr.reserved_points) == (Status.APPROVED, Funding.SALES, 12)
    assert budget_of(funded).reserved == 12

    html = text(as_user(cast.hop).get("/review/"))
    assert order_on_page(html) == [other.pk]
    assert 'data-testid="review-reserved">12<' in html
    assert 'data-testid="review-remaining">28<' in html
    assert "approve done" in html


def test_an_htmx_approval_returns_the_refreshed_list(as_user, build, cast, funded):
    fr = escalated(build, cast, estimate=12)
    other = escalated(build, cast, estimate=3)
    response = as_user(cast.hop).post(f"/review/{fr.pk}/decide/", {"action": "approve"}, **HTMX)
    assert response.status_code == 200
    html = text(response)
    assert "<html" not in html
    assert order_on_page(html) == [other.pk]
    assert 'data-testid="review-remaining">28<' in html


def test_a_product_manager_cannot_approve(as_user, build, cast, funded):
    fr = escalated(build, cast, estimate=12)
    before = world()
    for action in ("approve", "approve_product", "decline"):
        response = as_user(cast.pm).post(
            f"/review/{fr.pk}/decide/", {"action": action, "reason": "x"}
        )
        assert response.status_code == 403
    assert world() == before


@pytest.mark.parametrize("who", ["hos", "manager", "rep"])
def test_sales_cannot_decide(as_user, build, cast, funded, who):
    fr = escalated(build, cast, estimate=12)
    before = world()
    response = as_user(getattr(cast, who)).post(f"/review/{fr.pk}/decide/", {"action": "approve"})
    assert response.status_code == 403
    assert world() == before


def test_an_approval_that_does_not_fit_shows_the_shortfall_and_the_way_out(
    as_user, build, cast, funded, quarters
):
    approved(build, cast, 30)
    fr = escalated(build, cast, estimate=12, title="Big one")
    before = world()
    response = as_user(cast.hop).post(f"/review/{fr.pk}/decide/", {"action": "approve"})

    assert response.status_code == 409
    html = text(response)
    panel = re.search(r'<section[^>]*data-testid="shortfall".*?</section>', html, re.S).group(0)
    assert "“Big one” does not fit" in panel
    assert "Needed <strong>12</strong>" in panel
    assert "remaining <strong>10</strong>" in panel
    assert "short by <strong>2</strong>" in panel
    # The two ways out: product-funded, or defer to a later quarter.
    assert 'value="approve_product"' in panel
    assert 'value="defer"' in panel
    assert f'<option value="{quarters[1].slug}">' in panel
    assert world() == before


def test_the_shortfall_panel_also_comes_back_to_htmx(as_user, build, cast, funded):
    approved(build, cast, 30)
    fr = escalated(build, cast, estimate=12)
    response = as_user(cast.hop).post(f"/review/{fr.pk}/decide/", {"action": "approve"}, **HTMX)
    assert response.status_code == 409  # static/js/app.js swaps 409s in
    assert 'data-testid="shortfall"' in text(response)
    assert "<html" not in text(response)


def test_after_a_shortfall_the_head_of_product_funds_it_from_product(as_user, build, cast, funded):
    approved(build, cast, 30)
    fr = escalated(build, cast, estimate=12)
    client = as_user(cast.hop)
    client.post(f"/review/{fr.pk}/decide/", {"action": "approve"})
    response = client.post(f"/review/{fr.pk}/decide/", {"action": "approve_product"})
    assert response.status_code == 302
    fr = fresh(fr)
    assert (fr.status, fr.funding, fr.reserved_points) == (Status.APPROVED, Funding.PRODUCT, 0)
    assert budget_of(funded).reserved == 30


def test_after_a_shortfall_the_head_of_product_defers_it(as_user, build, cast, funded, quarters):
    approved(build, cast, 30)
    fr = escalated(build, cast, estimate=12)
    response = as_user(cast.hop).post(
        f"/review/{fr.pk}/decide/",
        {"action": "defer", "quarter": quarters[1].slug, "reason": "Does not fit this quarter"},
    )
    assert response.status_code == 302
    fr = fresh(fr)
    assert (fr.status, fr.target_quarter) == (Status.DEFERRED, quarters[1])
    assert budget_of(funded).reserved == 30


@pytest.mark.parametrize(
    "data, status, message",
    [
        ({"action": ""}, 400, "Unknown action"),
        ({"action": "explode"}, 400, "Unknown action"),
        ({"action": "defer", "quarter": "garbage", "reason": "x"}, 400, "Defer to one of"),
        ({"action": "defer", "quarter": "{current}", "reason": "x"}, 400, "Defer to one of"),
        ({"action": "defer", "quarter": "{next}", "reason": "  "}, 400, "reason is required"),
        ({"action": "decline", "reason": ""}, 400, "reason is required"),
        ({"action": "ship"}, 409, "Cannot ship this request: it is escalated"),
    ],
)
def test_bad_decisions_are_refused_with_a_message(
    as_user, build, cast, funded, quarters, data, status, message
):
    fr = escalated(build, cast, estimate=5)
    data = {k: v.format(current=quarters[0].slug, next=quarters[1].slug) for k, v in data.items()}
    before = world()
    response = as_user(cast.hop).post(f"/review/{fr.pk}/decide/", data)
    assert response.status_code == status
    assert message in text(response)
    assert world() == before


def test_approving_in_a_closed_quarter_is_refused_on_the_page(as_user, build, cast, funded):
    fr = escalated(build, cast, estimate=5)
    funded.closed_at = timezone.now()
    funded.save(update_fields=["closed_at"])
    before = world()
    response = as_user(cast.hop).post(f"/review/{fr.pk}/decide/", {"action": "approve"})
    assert response.status_code == 409
    assert f"{funded.label} is closed" in text(response)
    assert world() == before


@pytest.mark.parametrize("url", ["/review/{pk}/decide/", "/requests/{pk}/cancel/"])
def test_cancelling_without_a_reason_is_refused_on_the_page(as_user, build, cast, funded, url):
    fr = approved(build, cast, 5)
    before = world()
    response = as_user(cast.hop).post(url.format(pk=fr.pk), {"action": "cancel", "reason": ""})
    assert response.status_code == 400
    assert "reason is required" in text(response)
    assert world() == before


def test_cancelling_work_in_progress_from_the_request_page(as_user, build, cast, funded):
    fr = in_progress(build, cast, 10)
    response = as_user(cast.hop).post(
        f"/requests/{fr.pk}/cancel/", {"reason": "Customer churned", "unstarted_points": "4"}
    )
    assert response.status_code == 302
    assert fresh(fr).status == Status.CANCELLED
    assert budget_of(funded).reserved == 6
    assert [(e.kind, e.points) for e in LedgerEntry.objects.filter(request=fr).order_by("id")] == [
        ("reserve", 10),
        ("release", 4),
        ("change_cost", 6),
    ]


# --- /roadmap/ -----------------------------------------------------------------------------


def section(html, testid):
    """The HTML of one roadmap column, up to the next column."""
    order = ["roadmap-now", "roadmap-next", "roadmap-later", "roadmap-shipped"]
    start = html.index(f'data-testid="{testid}"')
    following = [html.index(f'data-testid="{t}"') for t in order[order.index(testid) + 1 :]]
    return html[start : following[0] if following else len(html)]


def item(html, title):
    """The roadmap card that shows `title`."""
    card = rf'<li class="card"[^>]*>\s*<a [^>]*>{re.escape(title)}</a>.*?</li>'
    return re.search(card, html, re.S).group(0)


@pytest.fixture
def roadmap_world(build, cast, funded, quarters):
    current, upcoming = quarters
    budget_set_capacity(quarter=upcoming, capacity=200, actor=cast.hop)
    platform = ProductTheme.objects.create(name="Platform")
    made = {
        "now-approved": approved(build, cast, 5, title="Now approved"),
        "now-started": in_progress(build, cast, 5, title="Now started"),
        "now-escalated": escalated(build, cast, estimate=5, title="Now escalated"),
        "next-approved": approved(build, cast, 5, title="Next approved", quarter=upcoming),
        "deferred": escalated(build, cast, estimate=5, title="Deferred platform", theme=platform),
        "declined": escalated(build, cast, estimate=5, title="Declined one"),
        "shipped": in_progress(build, cast, 5, title="Shipped one"),
        "product": escalated(build, cast, estimate=50, title="Product funded"),
    }
    after_next = quarter_get_or_create(upcoming.fiscal.next())
    services.request_defer(
        fr=made["deferred"], actor=cast.hop, quarter=after_next, reason="Platform work first"
    )
    services.request_decline(fr=made["declined"], actor=cast.hop, reason="No")
    services.request_ship(fr=made["shipped"], actor=cast.pm)
    services.request_approve(fr=made["product"], actor=cast.hop, product_funded=True)
    return made


@pytest.mark.parametrize("who", ["rep", "outsider", "manager", "hos", "pm", "hop"])
def test_the_roadmap_shows_now_next_later_and_shipped(as_user, cast, roadmap_world, quarters, who):
    response = as_user(getattr(cast, who)).get("/roadmap/")
    assert response.status_code == 200
    html = text(response)
    now, nxt = section(html, "roadmap-now"), section(html, "roadmap-next")
    later, shipped = section(html, "roadmap-later"), section(html, "roadmap-shipped")

    assert f"Now · {quarters[0].label}" in html and f"Next · {quarters[1].label}" in html
    for title in ("Now approved", "Now started", "Now escalated", "Product funded"):
        assert title in now
    assert "Next approved" in nxt and "Now approved" not in nxt
    assert "Deferred platform" in later
    assert re.search(r"<h3[^>]*>Platform</h3>", later)
    assert "Shipped one" in shipped and "Shipped one" not in now
    assert "Declined one" not in html

    # Committed work is not labelled; everything else says it is not committed.
    for title in ("Now approved", "Now started", "Next approved", "Product funded"):
        assert "not committed" not in item(html, title), title
    for title in ("Now escalated", "Deferred platform"):
        assert "not committed" in item(html, title), title
    assert "product-funded" in item(html, "Product funded")
    assert "product-funded" not in item(html, "Now approved")


def test_admin_sees_only_committed_work_on_the_roadmap(as_user, cast, roadmap_world):
    html = text(as_user(cast.admin).get("/roadmap/"))
    for title in ("Now approved", "Now started", "Next approved", "Product funded", "Shipped one"):
        assert title in html
    for title in ("Now escalated", "Deferred platform", "Declined one"):
        assert title not in html
    assert "not committed" not in html


def test_the_roadmap_needs_sign_in(client, roadmap_world):
    response = client.get("/roadmap/")
    assert response.status_code == 302
    assert "Now approved" not in text(response)


def test_work_still_in_progress_from_last_quarter_stays_on_the_roadmap(
    as_user, build, cast, funded, quarters, monkeypatch
):
    started = in_progress(build, cast, 5, title="Carried over")
    waiting = approved(build, cast, 5, title="Approved, not started yet")
    # The calendar moves into the next quarter; the work is still being built.
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: quarters[1].start_date)
    html = text(as_user(cast.rep).get("/roadmap/"))
    now = section(html, "roadmap-now")
    assert started.title in now
    assert waiting.title in now


def test_shipped_work_drops_off_after_ninety_days(as_user, build, cast, funded):
    fr = in_progress(build, cast, 5, title="Old news")
    services.request_ship(fr=fr, actor=cast.pm)
    FeatureRequest.objects.filter(pk=fr.pk).update(
        shipped_at=timezone.now() - dt.timedelta(days=91)
    )
    assert "Old news" not in text(as_user(cast.rep).get("/roadmap/"))


# --- /budget/<slug>/ -----------------------------------------------------------------------


@pytest.fixture
def budget_world(build, cast, funded):
    platform = ProductTheme.objects.create(name="Platform")
    return {
        "east": approved(build, cast, 10, title="East tactical"),
        "west": approved(
            build, cast, 6, title="West platform", author=cast.outsider, theme=platform
        ),
        "started": in_progress(build, cast, 4, title="East started"),
        "product": _product_funded(build, cast, 20, title="Product adopted"),
        "waiting": escalated(build, cast, estimate=8, title="Still in queue"),
    }


def _product_funded(build, cast, estimate, **kw):
    fr = escalated(build, cast, estimate=estimate, **kw)
    services.request_approve(fr=fr, actor=cast.hop, product_funded=True)
    return fresh(fr)


def table_rows(html, testid):
    table = re.search(rf'<table data-testid="{testid}">(.*?)</table>', html, re.S).group(1)
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)
    ]


@pytest.mark.parametrize("who", ["hos", "rep", "hop"])
def test_the_budget_page_splits_committed_points(as_user, cast, funded, budget_world, who):
    response = as_user(getattr(cast, who)).get(f"/budget/{funded.slug}/")
    assert response.status_code == 200
    html = text(response)
    assert 'data-testid="allocated">40<' in html
    assert 'data-testid="reserved">20<' in html
    assert 'data-testid="remaining">20<' in html
    # Sales-funded points by the team that asked (the product-funded 20 are not sales').
    assert table_rows(html, "split-team") == [["East", "14 pts", "2"], ["West", "6 pts", "1"]]
    assert table_rows(html, "split-horizon") == [
        ["Tactical", "34 pts", "3"],
        ["Platform", "6 pts", "1"],
    ]
    assert table_rows(html, "split-funding") == [
        ["Sales budget", "20 pts", "3"],
        ["Product-funded", "20 pts", "1"],
    ]
    assert "Still in queue" not in html


def test_teams_and_horizons_with_equal_points_are_listed_by_name(as_user, build, cast, funded):
    platform = ProductTheme.objects.create(name="Platform")
    approved(build, cast, 6, title="West first", author=cast.outsider, theme=platform)
    approved(build, cast, 6, title="East second")

    html = text(as_user(cast.hos).get(f"/budget/{funded.slug}/"))

    assert table_rows(html, "split-team") == [["East", "6 pts", "1"], ["West", "6 pts", "1"]]
    assert table_rows(html, "split-horizon") == [
        ["Platform", "6 pts", "1"],
        ["Tactical", "6 pts", "1"],
    ]


def test_the_burn_chart_has_a_text_table_with_the_same_figures(as_user, cast, funded, budget_world):
    response = as_user(cast.hos).get(f"/budget/{funded.slug}/")
    html = text(response)
    assert 'data-testid="burn-chart"' in html
    assert "<desc" in html  # the chart says what it shows
    weeks = response.context["weeks"]
    today = timezone.localdate()
    this_week = next(w for w in weeks if w["start"] <= today <= w["end"])
    assert (this_week["allocated"], this_week["reserved"]) == (40, 20)
    label = f"{this_week['start']:%-d %b} – {this_week['end']:%-d %b}"
    row = re.search(rf"<tr><td>{label}</td>(.*?)</tr>", html).group(1)
    assert re.findall(r'<td class="num">([^<]*)</td>', row) == ["40", "20"]
    for week in weeks:
        if week["start"] > today:
            assert week["reserved"] is None  # the future is not drawn as zero
    # The chart itself is drawn from vendored files: no CDN.
    assert "cdn" not in html.lower()


def test_the_budget_page_lists_the_ledger_with_links_to_requests(
    as_user, cast, funded, budget_world
):
    html = text(as_user(cast.hos).get(f"/budget/{funded.slug}/"))
    east = budget_world["east"]
    assert f'href="/requests/{east.pk}/">#{east.pk}</a>' in html
    assert f'href="/budget/{funded.slug}/ledger.csv"' in html
    assert f'href="/review/export.csv?quarter={funded.slug}"' in html


# --- CSV exports ---------------------------------------------------------------------------


def read_csv(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_the_ledger_csv_has_every_entry_in_order(as_user, cast, funded, budget_world):
    fr = budget_world["started"]
    services.request_cancel(fr=fr, actor=cast.hop, reason="Churned", unstarted_points=1)
    response = as_user(cast.hos).get(f"/budget/{funded.slug}/ledger.csv")
    assert f'filename="ledger-{funded.slug}.csv"' in response["Content-Disposition"]
    rows = read_csv(response)
    assert [(r["entry"], r["points"], r["request_id"]) for r in rows] == [
        ("allocate", "40", ""),
        ("reserve", "10", str(budget_world["east"].pk)),
        ("reserve", "6", str(budget_world["west"].pk)),
        ("reserve", "4", str(fr.pk)),
        ("release", "1", str(fr.pk)),
        ("change_cost", "3", str(fr.pk)),
    ]
    assert rows[0]["actor"] == "hop"
    last = rows[-1]
    assert (last["reserved_after"], last["remaining_after"]) == ("19", "21")
    assert "Churned" in last["reason"]


def test_the_queue_csv_has_the_ranked_queue_with_the_cut_line(as_user, build, cast, funded):
    a = escalated(build, cast, estimate=30, title='=HYPERLINK("http://evil","x")')
    b = escalated(build, cast, title="+cmd")
    c = escalated(build, cast, estimate=11, title="@SUM(A1)")
    d = escalated(build, cast, estimate=1, title="Plain title", author=cast.outsider)
    response = as_user(cast.hos).get(f"/review/export.csv?quarter={funded.slug}")
    assert f'filename="queue-{funded.slug}.csv"' in response["Content-Disposition"]
    rows = read_csv(response)
    columns = ("rank", "id", "estimate", "running_total", "cut_line")
    assert [tuple(r[c] for c in columns) for r in rows] == [
        ("1", str(a.pk), "30", "30", "above"),
        ("2", str(b.pk), "", "", "unestimated"),
        ("3", str(c.pk), "11", "41", "below"),
        ("4", str(d.pk), "1", "42", "below"),
    ]
    # Spreadsheets would run these as formulas: they come out as text.
    assert [r["title"] for r in rows] == [
        '\'=HYPERLINK("http://evil","x")',
        "'+cmd",
        "'@SUM(A1)",
        "Plain title",
    ]
    assert [r["team"] for r in rows] == ["East", "East", "East", "West"]
    assert rows[0]["accounts"] == "1"
    assert rows[0]["arr_at_stake"] == "USD 50000"


@pytest.mark.parametrize("who, status", [("rep", 200), ("pm", 200), ("admin", 403)])
def test_who_may_download_the_queue_csv(as_user, build, cast, funded, who, status):
    escalated(build, cast, estimate=3, title="Queued")
    response = as_user(getattr(cast, who)).get(f"/review/export.csv?quarter={funded.slug}")
    assert response.status_code == status
    if status == 403:
        assert b"Queued" not in response.content


def test_an_unknown_quarter_has_no_csv(as_user, cast, funded):
    assert as_user(cast.hos).get("/review/export.csv?quarter=FY1990Q1").status_code == 404
    assert as_user(cast.hos).get("/budget/FY1990Q1/ledger.csv").status_code == 404
