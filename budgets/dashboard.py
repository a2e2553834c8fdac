"""Figures for the budget dashboard, each from one aggregate query so the page stays flat."""

import datetime as dt

from django.db.models import Count, Sum
from django.utils import timezone

WEEK = dt.timedelta(days=7)


def burn_weeks(quarter, entries):
    """Reserved and allocated balance at the end of each week of the quarter, from the ledger.

    `entries` are (created_at, allocated_after, reserved_after, remaining_after) in order."""
    today = timezone.localdate()
    tz = timezone.get_current_timezone()
    weeks, i = [], 0
    allocated = reserved = 0
    day = quarter.start_date
    while day <= quarter.end_date:
        week_end = min(day + WEEK - dt.timedelta(days=1), quarter.end_date)
        cutoff = dt.datetime.combine(week_end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        while i < len(entries) and entries[i][0] < cutoff:
            allocated, reserved = entries[i][1], entries[i][2]
            i += 1
        future = day > today
        weeks.append(
            {
                "start": day,
                "end": week_end,
                "allocated": allocated,
                "reserved": None if future else reserved,
            }
        )
        day += WEEK
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
    from requests_app.models import FeatureRequest, Funding, Status

    committed = FeatureRequest.objects.filter(
        target_quarter=quarter, status__in=[Status.APPROVED, Status.IN_PROGRESS, Status.SHIPPED]
    )
    by_team = [
        {
            "team": row["manager__team_name"]
            or f"Team {row['manager__first_name']} {row['manager__last_name']}".strip(),
            "points": row["points"] or 0,
            "requests": row["n"],
        }
        for row in committed.filter(funding=Funding.SALES)
        .values("manager_id", "manager__team_name", "manager__first_name", "manager__last_name")
        .annotate(points=Sum("reserved_points"), n=Count("id"))
        .order_by("-points")
    ]
    by_horizon = [
        {
            "horizon": row["theme__name"] or "Tactical",
            "points": row["points"] or 0,
            "requests": row["n"],
        }
        for row in committed.values("theme__name")
        .annotate(points=Sum("estimate"), n=Count("id"))
        .order_by("-points")
    ]
    funding = {
        row["funding"]: row
        for row in committed.values("funding").annotate(points=Sum("estimate"), n=Count("id"))
    }
    by_funding = [
        {
            "funding": label,
            "points": (funding.get(value) or {}).get("points") or 0,
            "requests": (funding.get(value) or {}).get("n") or 0,
        }
        for value, label in Funding.choices
    ]
    return {"by_team": by_team, "by_horizon": by_horizon, "by_funding": by_funding}


def csv_safe(text):
    """Spreadsheets run cells that start with = + - @ as formulas; quote them as text."""
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
