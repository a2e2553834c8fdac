import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.models import display_name_of
from config.errors import DomainError
from config.pagecache import snapshot_cached

from .dashboard import burn_entries, burn_svg_points, burn_weeks, committed_splits, csv_safe
from .fiscal import FiscalQuarter
from .forms import CapacityForm
from .models import LedgerEntry, Quarter
from .services import (
    budget_set_capacity,
    quarter_among,
    quarter_current,
    quarter_from_slug,
    quarters_ensure_open,
)


def _quarter_or_404(slug):
    """The quarter `slug` names, with its budget (made empty if its row has none)."""
    fq = FiscalQuarter.parse(slug)
    if fq is None:
        raise Http404("No such quarter.")
    quarter = quarter_from_slug(slug)
    if quarter is None:
        # The current and next quarters always exist; any other must have been planned.
        quarter = next((q for q in quarters_ensure_open() if q.fiscal == fq), None)
        if quarter is None:
            raise Http404("No budget has been set up for that quarter.")
    return quarter


@login_required
def current(request):
    return redirect("budgets:quarter", slug=quarter_current().slug)


@login_required
@require_http_methods(["GET", "POST"])
@snapshot_cached
def quarter_detail(request, slug):
    # Every quarter, for the switcher, with its budget: the one shown is among them (a
    # dozen rows a year; one query instead of two).
    quarters = list(Quarter.objects.select_related("budget"))
    fq = FiscalQuarter.parse(slug)  # None for a malformed slug, which no quarter equals
    quarter = quarter_among(quarters, fq)
    if quarter is None:
        quarter = _quarter_or_404(slug)  # may open it (the current and the next quarter)
        quarters = list(Quarter.objects.all())
    budget = quarter.budget
    can_set_capacity = request.user.is_head_of_product and not quarter.is_closed
    form = CapacityForm(
        initial={"capacity": budget.capacity or None, "percentage": budget.percentage}
    )
    if request.method == "POST":
        if not request.user.is_head_of_product:
            return render(
                request,
                "403.html",
                {"reason": "Only the Head of Product sets capacity."},
                status=403,
            )
        form = CapacityForm(request.POST)
        if form.is_valid():
            try:
                budget_set_capacity(
                    quarter=quarter,
                    capacity=form.cleaned_data["capacity"],
                    percentage=form.cleaned_data["percentage"],
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                )
            except DomainError as exc:
                form.add_error(
                    exc.details.get("field") if exc.details.get("field") in form.fields else None,
                    exc.message,
                )
                if not can_set_capacity:
                    # A closed quarter's page has no form, so its errors would not show.
                    messages.error(request, exc.message)
            else:
                messages.success(request, f"Capacity for {quarter.label} saved.")
                return redirect("budgets:quarter", slug=quarter.slug)
    page = _ledger_page(budget, request.GET.get("page"))
    weeks = burn_weeks(quarter, burn_entries(budget, quarter))
    return render(
        request,
        "budgets/quarter.html",
        {
            "quarter": quarter,
            "budget": budget,
            "page": page,
            "form": form,
            "can_set_capacity": can_set_capacity,
            "quarter_links": [
                (reverse("budgets:quarter", args=[q.slug]), q.label, q.pk == quarter.pk)
                for q in quarters
            ],
            "weeks": weeks,
            "chart": burn_svg_points(weeks),
            "splits": committed_splits(quarter),
        },
        status=400 if request.method == "POST" else 200,
    )


LEDGER_PAGE_SIZE = 50


def _ledger_page(budget, number):
    """One page of the budget's ledger, newest first (the first page for 0 and below, as
    other lists), its entries as the table's cells. Plain values, formatted here: fifty
    entries as model objects through the template's filters cost more than the rest of the
    page together."""
    from requests_app.services import rank_page  # requests_app builds on budgets, not back

    page = rank_page(
        budget.entries.order_by("-created_at", "-id"), number, per_page=LEDGER_PAGE_SIZE
    )
    # The page's slice, with the actors' names joined (after counting: the count needs no join).
    entries = page.object_list.values_list(
        "created_at", "kind", "points", "reason", "request_id", "reserved_after",
        "remaining_after", "actor_id", "actor__username", "actor__first_name",
        "actor__last_name",
        named=True,
    )  # fmt: skip
    kinds = dict(LedgerEntry.Kind.choices)
    local = timezone.get_current_timezone()  # once, not per entry (as localtime() would)
    actors = {}
    rows = []
    for e in entries:
        if e.actor_id and e.actor_id not in actors:
            actors[e.actor_id] = display_name_of(
                e.actor__first_name, e.actor__last_name, e.actor__username
            )
        rows.append(
            {
                # {{ created_at|date:"j M Y H:i" }} in the current time zone.
                "when": e.created_at.astimezone(local).strftime("%-d %b %Y %H:%M"),
                "kind": kinds.get(e.kind, e.kind),
                "points": e.points,
                "actor": actors[e.actor_id] if e.actor_id else "system",
                "request_id": e.request_id,
                "reason": e.reason,
                "reserved_after": e.reserved_after,
                "remaining_after": e.remaining_after,
            }
        )
    page.object_list = rows
    return page


@login_required
@require_http_methods(["GET"])
def ledger_csv(request, slug):
    quarter = _quarter_or_404(slug)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="ledger-{quarter.slug}.csv"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "when",
            "entry",
            "points",
            "actor",
            "request_id",
            "reason",
            "allocated_after",
            "reserved_after",
            "remaining_after",
        ]
    )
    entries = quarter.budget.entries.select_related("actor").order_by("created_at", "id")
    for e in entries.iterator(chunk_size=500):
        writer.writerow(
            [
                e.created_at.isoformat(),
                e.kind,
                e.points,
                e.actor.username if e.actor else "system",
                e.request_id or "",
                csv_safe(e.reason),
                e.allocated_after,
                e.reserved_after,
                e.remaining_after,
            ]
        )
    return response
