"""Figures for the budget dashboard, each from one aggregate query so the page stays flat."""

import datetime as dt

from django.db import connection
from django.db.models import Count, Sum
from django.db.models.expressions import RawSQL
from django.utils import timezone

from .models import LedgerEntry

WEEK = dt.timedelta(days=7)


def _weeks(quarter):
    """(first day, last day, cutoff) of each week of the quarter; the cutoff is the local
    midnight after the week's last day."""
    tz = timezone.get_current_timezone()
    day = quarter.start_date
    while day <= quarter.end_date:
        week_end = min(day + WEEK - dt.timedelta(days=1), quarter.end_date)
        yield (
            day,
            week_end,
            dt.datetime.combine(week_end + dt.timedelta(days=1), dt.time.min, tzinfo=tz),
        )
        day += WEEK


def burn_entries(budget, quarter):
    """The ledger entries burn_weeks needs: the last one before each week's cutoff (the
    balances are running, so it gives the week's figures), as (created_at, allocated_after,
    reserved_after, remaining_after) in order. One query of at most one row a week, however
    long the ledger: each week's entry is found on the (budget, created_at) index. Written as
    SQL because the ORM took longer to build a subquery a week than the database to run them."""
    last_before = (
        "SELECT (SELECT id FROM budgets_ledgerentry WHERE budget_id = %s AND created_at < %s"
        " ORDER BY created_at DESC, id DESC LIMIT 1)"
    )
    cutoffs = [cutoff for _, _, cutoff in _weeks(quarter)]
    params = []
    for cutoff in cutoffs:
        params += [budget.pk, connection.ops.adapt_datetimefield_value(cutoff)]
    return list(
        LedgerEntry.objects.filter(
            # Constant SQL; the budget and the cutoffs are parameters.
            id__in=RawSQL(" UNION ALL ".join([last_before] * len(cutoffs)), params)  # noqa: S611
        )
        .order_by("created_at", "id")
        .values_list("created_at", "allocated_after", "reserved_after", "remaining_after")
    )


def burn_weeks(quarter, entries):
    """Reserved and allocated balance at the end of each week of the quarter, from the ledger.

    `entries` are (created_at, allocated_after, reserved_after, remaining_after) in order:
    the whole ledger, or only the last entry before each week's cutoff (burn_entries)."""
    today = timezone.localdate()
    weeks, i = [], 0
    allocated = reserved = 0
    for day, week_end, cutoff in _weeks(quarter):
        while i < len(entries) and entries[i][0] < cutoff:
            allocated, reserved = entries[i][1], entries[i][2]
            i += 1
        future = day > today
        weeks.append(
            {
                "start": day,
                "end": week_end,
                # As {{ start|date:"j M" }} – {{ end|date:"j M" }}, formatted once here.
                "label": f"{day:%-d %b} – {week_end:%-d %b}",
                "allocated": allocated,
                "reserved": None if future else reserved,
            }
        )
    # Entries before the quarter began (capacity set ahead) count from week one.
    return weeks


def burn_svg_points(weeks, width=640, height=180, pad=24):
    top = max([w["allocated"] for w in weeks] + [w["reserved"] or 0 for w in weeks] + [1])
    step = (width - 2 * pad) / max(len(weeks) - 1, 1)

    def y(value):
        return round(height - pad - (value / top) * (height - 2 * pad), 1)

    reserved = " ".join(
        f"{round(pad + i * step, 1)},{y(w['reserved'])}"
        for i, w in enumerate(weeks)
        if w["reserved"] is not None
    )
    allocated = " ".join(
        f"{round(pad + i * step, 1)},{y(w['allocated'])}" for i, w in enumerate(weeks)
    )
    return {
        "reserved": reserved,
        "allocated": allocated,
        "width": width,
        "height": height,
        "top": top,
        "pad": pad,
        "baseline": height - pad,
    }


def committed_splits(quarter):
    """Committed points of the quarter by sales team (sales-funded reservations), by horizon
    and by funding, from one grouped query: its rows (team x theme x funding, a few hundred
    at most) are summed three ways here instead of asking the database three times."""
    from requests_app.models import FeatureRequest, Funding, Status

    rows = (
        FeatureRequest.objects.filter(
            target_quarter=quarter,
            status__in=[Status.APPROVED, Status.IN_PROGRESS, Status.SHIPPED],
        )
        .values_list(
            "funding", "theme__name", "manager_id",
            "manager__team_name", "manager__first_name", "manager__last_name",
        )
        .annotate(reserved=Sum("reserved_points"), estimate=Sum("estimate"), n=Count("id"))
        .order_by()
    )  # fmt: skip
    teams, horizons, funding = {}, {}, {}

    def add(totals, key, points, n, **shown):
        row = totals.setdefault(key, {**shown, "points": 0, "requests": 0})
        row["points"] += points or 0
        row["requests"] += n

    for fund, theme, manager_id, team_name, first_name, last_name, reserved, estimate, n in rows:
        if fund == Funding.SALES:
            team = team_name or f"Team {first_name} {last_name}".strip()
            add(teams, manager_id, reserved, n, team=team)
        add(horizons, theme, estimate, n, horizon=theme or "Tactical")
        add(funding, fund, estimate, n)

    def most_points_first(totals, name):
        return sorted(totals.values(), key=lambda row: (-row["points"], row[name]))

    return {
        "by_team": most_points_first(teams, "team"),
        "by_horizon": most_points_first(horizons, "horizon"),
        "by_funding": [
            {
                "funding": label,
                "points": funding.get(value, {}).get("points", 0),
                "requests": funding.get(value, {}).get("requests", 0),
            }
            for value, label in Funding.choices
        ],
    }


def csv_safe(text):
    """Spreadsheets run cells that start with = + - @ as formulas; quote them as text."""
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
