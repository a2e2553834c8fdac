"""/roadmap/ shows the first few of each column and says how many the column holds; each
column's own view (?show=) lists exactly that many, and no request is in two columns."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from budgets.services import quarter_get_or_create
from requests_app.models import FeatureRequest, Funding, Status
from requests_app.views import ROADMAP_COLUMNS, ROADMAP_PREVIEW

from ..query_counts import bulk_requests

pytestmark = pytest.mark.django_db

CARD = re.compile(r'<li class="card"[^>]*>\s*<a href="/requests/(\d+)/">')


@pytest.fixture
def roadmap(cast, quarters):
    """More than a column's preview in every column, and what belongs in none; the ids each
    column should hold."""
    current, upcoming = quarters
    earlier = quarter_get_or_create(current.fiscal.previous())
    beyond = quarter_get_or_create(upcoming.fiscal.next())
    long_ago = timezone.now() - dt.timedelta(days=120)
    kinds = {
        "now": [
            (Status.ESCALATED, current, "", None),
            (Status.APPROVED, current, Funding.SALES, None),
            (Status.IN_PROGRESS, earlier, Funding.SALES, None),  # carried over, still built
            (Status.APPROVED, earlier, Funding.PRODUCT, None),
        ],
        "next": [
            (Status.ESCALATED, upcoming, "", None),
            (Status.APPROVED, upcoming, Funding.PRODUCT, None),  # Next, not Later
        ],
        "later": [
            (Status.DEFERRED, beyond, "", None),
            (Status.APPROVED, beyond, Funding.PRODUCT, None),
        ],
        "shipped": [(Status.SHIPPED, current, Funding.SALES, timezone.now())],
        None: [
            (Status.SHIPPED, earlier, Funding.SALES, long_ago),
            (Status.DECLINED, current, "", None),
            (Status.ESCALATED, beyond, "", None),
            (Status.APPROVED, beyond, Funding.SALES, None),
        ],
    }
    expected = {}
    for column, shapes in kinds.items():
        n = 13 if column else 2

        def make(i, now, shapes=shapes):
            status, quarter, funding, shipped_at = shapes[i % len(shapes)]
            return FeatureRequest(
                status=status,
                author=cast.rep,
                manager=cast.manager,
                target_quarter=quarter,
                funding=funding,
                estimate=3,
                submitted_at=now,
                escalated_at=now,
                shipped_at=shipped_at,
            )

        expected[column] = {fr.pk for fr in bulk_requests(n * len(shapes), make)}
    return expected


def _column(html, column):
    block = re.search(
        rf'data-testid="roadmap-{column}">.*?</(ul|div)>\s*(<p|</section)', html, re.S
    )
    return [int(pk) for pk in CARD.findall(block.group(0))]


@pytest.mark.parametrize("who", ["rep", "hos", "hop"])
def test_each_column_says_how_many_it_holds_and_its_view_lists_them(client, cast, roadmap, who):
    client.force_login(getattr(cast, who))
    html = client.get("/roadmap/").content.decode()
    for column in ROADMAP_COLUMNS:
        assert len(_column(html, column)) == ROADMAP_PREVIEW, column
        more = re.search(rf'data-testid="roadmap-more-{column}"><a href="[^"]*">All (\d+) →', html)
        assert int(more.group(1)) == len(roadmap[column]), column
        listed, page = [], 1
        while True:
            own = client.get(f"/roadmap/?show={column}&page={page}").content.decode()
            listed += _column(own, column)
            if "Next →" not in own:
                break
            page += 1
        assert sorted(listed) == sorted(roadmap[column]), column


def test_the_admin_counts_only_committed_work(client, cast, roadmap):
    client.force_login(cast.admin)
    html = client.get("/roadmap/").content.decode()
    committed = FeatureRequest.objects.filter(
        status__in=[Status.APPROVED, Status.IN_PROGRESS, Status.SHIPPED]
    ).values_list("pk", flat=True)
    for column in ROADMAP_COLUMNS:
        more = re.search(rf'data-testid="roadmap-more-{column}"><a href="[^"]*">All (\d+) →', html)
        count = int(more.group(1)) if more else len(_column(html, column))
        assert count == len(roadmap[column] & set(committed)), column
