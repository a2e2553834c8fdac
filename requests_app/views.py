import csv
import html
import unicodedata
from itertools import groupby
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Case, Count, Q, Value, When, Window
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Role, User, display_name_of, team_label_of
from budgets.dashboard import csv_safe
from budgets.fiscal import FiscalQuarter
from budgets.models import Quarter
from budgets.services import quarter_among, quarter_from_slug, quarters_ensure_open
from config.compiled import Compiled
from config.errors import DomainError, InsufficientBudget, InvalidInput, NotAllowed, NotFound
from config.pagecache import snapshot_cached

from . import services
from .forms import DealForm, DealFormSet, EscalateForm, ReasonForm, RequestFilterForm, RequestForm
from .models import (
    ROADMAP_STATUSES,
    TACTICAL,
    AuditEvent,
    Comment,
    FeatureRequest,
    Funding,
    Importance,
    ProductNote,
    ProductTheme,
    Stage,
    Status,
    demand_of,
)
from .templatetags.requests_extras import arr, pk_url

PAGE_SIZE = 25


def _team_of(values, none=""):
    """The team label of a request read with .values() (its manager__ fields), or `none`."""
    if not values["manager_id"]:
        return none
    return team_label_of(
        values["manager__team_name"],
        values["manager__first_name"],
        values["manager__last_name"],
        values["manager__username"],
    )


def _id_or_none(value):
    """A database id from a query parameter, or None. str.isdigit() alone lets through '²'
    (int() refuses it) and ids beyond 64 bits (SQLite refuses those): both were a 500."""
    value = str(value if value is not None else "")
    if value.isascii() and value.isdecimal() and 0 < int(value) < services.MAX_ID:
        return int(value)
    return None


def _forbidden(request, exc):
    return render(request, "403.html", {"reason": exc.message}, status=403)


def _get(request, pk, queryset=None):
    try:
        return services.request_get_for_user(request.user, pk, queryset=queryset)
    except NotFound:
        raise Http404("No such request.") from None


# --- List ----------------------------------------------------------------------------------


STATUS_LABELS = dict(Status.choices)

# What /requests/ shows of each request, read as plain values: building each row's request,
# author, team, quarter and theme as model objects cost more than the rest of the page. The
# quarter and the theme are named from the filter bar's lists of them rather than joined
# (PostgreSQL took longer to plan the five-table join than to run it).
LIST_PAGE_VALUES = (
    *("id", "title", "status", "importance", "theme_id", "target_quarter_id"),
    *("author__first_name", "author__last_name", "author__username"),
    *("manager_id", "manager__first_name", "manager__last_name", "manager__username"),
    "manager__team_name",
)


def _horizon(theme_name):
    """FeatureRequest.horizon_label from its theme's name (None: it has no theme)."""
    return TACTICAL if theme_name is None else theme_name


def _list_page_row(row, demand, quarters, themes):
    """One /requests/ row as the strings its cells show, worked out once here instead of in
    a dozen template lookups per row."""
    quarter = quarters.get(row["target_quarter_id"])
    return {
        "pk": row["id"],
        "url": pk_url("requests:detail", row["id"]),
        "title": row["title"],
        "author": display_name_of(
            row["author__first_name"], row["author__last_name"], row["author__username"]
        ),
        "status": row["status"],
        "status_label": STATUS_LABELS.get(row["status"], row["status"]),
        "team": _team_of(row, none="—"),
        "quarter": quarter.label if quarter else "—",
        "importance": row["importance"],
        "importance_label": IMPORTANCE_LABELS.get(row["importance"], row["importance"]),
        "horizon": _horizon(themes.get(row["theme_id"])),
        "arr": arr(demand["arr"]),
        "accounts": demand["accounts"],
    }


def _options(choices, chosen):
    """The <option>s of a filter <select>, the chosen one selected (choices: value, label).
    Escaped as django.utils.html.escape does (html.escape), without its wrappers: with
    format_html the filter bar's sixty-odd options took 0.6 ms."""
    return mark_safe(  # noqa: S308 (every value and label is escaped here)
        "".join(
            f'<option value="{html.escape(str(value))}"{" selected" if value == chosen else ""}>'
            f"{html.escape(str(label))}</option>"
            for value, label in choices
        )
    )


def _filter_options(form, quarters, themes):
    """The filter bar's <option>s, built once for the page: the template compared every
    option with the form's value, a bound field lookup each."""
    chosen = {name: form[name].value() for name in ("status", "quarter", "team", "importance")}
    chosen["theme"] = form["theme"].value()
    teams = User.objects.filter(role=Role.SALES_MANAGER, is_active=True).values_list(
        "pk", "team_name", "first_name", "last_name", "username"
    )
    return {
        "status_options": _options(Status.choices, chosen["status"]),
        "quarter_options": _options(
            ((fq.slug, fq.label) for fq in quarters.values()), chosen["quarter"]
        ),
        # Compared as text, as the template did ("07" selects no team).
        "team_options": _options(
            ((str(pk), team_label_of(*names)) for pk, *names in teams),
            str(chosen["team"]),
        ),
        "importance_options": _options(Importance.choices, chosen["importance"]),
        "theme_options": _options(
            [("tactical", "Tactical"), *((str(pk), name) for pk, name in themes.items())],
            chosen["theme"],
        ),
    }


@login_required
@require_GET
@snapshot_cached
def request_list(request):
    form = RequestFilterForm(request.GET or None)
    # Narrowed by the filters here and to what the user sees below: the count needs the two
    # apart (services.requests_visible_count).
    qs = FeatureRequest.objects.all()
    if form.is_valid():
        data = form.cleaned_data
        if data["q"]:
            qs = qs.filter(Q(title__icontains=data["q"]) | Q(problem__icontains=data["q"]))
        if data["status"]:
            qs = qs.filter(status=data["status"])
        if data["quarter"]:
            quarter = quarter_from_slug(data["quarter"])
            qs = qs.filter(target_quarter=quarter) if quarter else qs.none()
        if data["team"]:
            team_id = _id_or_none(data["team"])
            qs = qs.filter(manager_id=team_id) if team_id else qs.none()
        if data["importance"]:
            qs = qs.filter(importance=data["importance"])
        if data["theme"] == "tactical":
            qs = qs.filter(theme__isnull=True)
        elif data["theme"]:
            theme_id = _id_or_none(data["theme"])
            qs = qs.filter(theme_id=theme_id) if theme_id else qs.none()
        if data["account"]:
            qs = qs.filter(deals__account_name__icontains=data["account"]).distinct()
    shown = (
        qs.filter(services.visible_q(request.user))
        .order_by("-created_at", "-id")
        .values(*LIST_PAGE_VALUES)
    )
    page = services.rank_page(
        services.CountedRows(shown, services.requests_visible_count(request.user, qs)),
        request.GET.get("page"),
        per_page=PAGE_SIZE,
    )
    rows = list(page.object_list)
    demand = services.demand_by_request([row["id"] for row in rows])
    # Read after the rows, so every quarter and theme a row names is here (they are
    # protected from deletion).
    quarters = {
        pk: FiscalQuarter(year, number)
        for pk, year, number in Quarter.objects.values_list("pk", "fiscal_year", "number")
    }
    themes = dict(ProductTheme.objects.values_list("pk", "name"))
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "requests_app/list.html",
        {
            "form": form,
            "page": page,
            "rows": [_list_page_row(row, demand[row["id"]], quarters, themes) for row in rows],
            "querystring": params.urlencode(),
            **_filter_options(form, quarters, themes),
            "can_create": services.can_create_request(request.user),
        },
    )


@login_required
@require_GET
def similar(request):
    """htmx: visible requests whose titles share words with what is being typed."""
    words = [w for w in request.GET.get("title", "").split() if len(w) >= 4][:6]
    matches = []
    if words:
        q = Q()
        for word in words:
            q |= Q(title__icontains=word)
        matches = (
            services.requests_visible_to(request.user)
            .filter(q)
            .exclude(status__in=[Status.DRAFT, Status.WITHDRAWN, Status.MERGED])
            .select_related("target_quarter")
            .order_by("-created_at")[:5]
        )
    return render(request, "requests_app/_similar.html", {"matches": matches})


# --- Create and edit -----------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def request_new(request):
    if not services.can_create_request(request.user):
        return _forbidden(request, NotAllowed("Sales reps raise requests; your role triages them."))
    form = RequestForm(request.POST or None)
    deals = DealFormSet(request.POST or None, prefix="deals")
    status = 200
    if request.method == "POST":
        if form.is_valid() and deals.is_valid():
            deal_data = [d.cleaned_data for d in deals.forms if d.has_changed() and d.cleaned_data]
            fr = services.request_create(
                actor=request.user, data=form.cleaned_data, deals=deal_data
            )
            if "submit" in request.POST:
                try:
                    services.request_submit(fr=fr, actor=request.user)
                    messages.success(request, "Submitted to your manager.")
                except DomainError as exc:
                    messages.warning(request, f"Saved as a draft. {exc.message}")
            else:
                messages.success(request, "Saved as a draft; only you can see it.")
            return redirect("requests:detail", pk=fr.pk)
        status = 400
    return render(
        request,
        "requests_app/form.html",
        {"form": form, "deals": deals, "creating": True},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def request_edit(request, pk):
    fr = _get(request, pk)
    if not services.can_edit(request.user, fr):
        return _forbidden(
            request, NotAllowed("Only the author edits a request, before it is escalated.")
        )
    form = RequestForm(request.POST or None, instance=fr)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = {name: form.cleaned_data[name] for name in form.fields}
            fr = FeatureRequest.objects.get(pk=fr.pk)  # the service changes a fresh copy
            try:
                services.request_update(fr=fr, actor=request.user, data=data)
            except DomainError as exc:
                form.add_error(None, exc.message)
                status = exc.status
            else:
                messages.success(request, "Changes saved.")
                return redirect("requests:detail", pk=fr.pk)
        else:
            status = 400
    return render(request, "requests_app/form.html", {"form": form, "fr": fr}, status=status)


# --- Detail and actions --------------------------------------------------------------------


def _detail_context(request, fr):
    user = request.user
    moves = services.allowed_moves(user, fr)
    # One read of the deals serves both the table and the demand above it, and one of the
    # followers both the list and the Follow/Unfollow button.
    deals = _rows_naming(fr.deals.all(), "owner", *_DEAL)
    for deal in deals:
        deal["stage_label"] = _STAGES.get(deal["stage"], deal["stage"])
    followers = [
        (pk, display_name_of(*names))
        for pk, *names in fr.followers.values_list("pk", *_NAME_FIELDS)
    ]
    can_add_deal = services.can_add_deal(user, fr)
    comments, notes = _remarks(fr, with_notes=user.is_product)
    context = {
        "fr": fr,
        "demand": demand_of((d["currency"], d["amount"], d["account_name"]) for d in deals),
        "deals": deals,
        "comments": comments,
        "events": _rows_naming(AuditEvent.objects.filter(request=fr), "actor", *_EVENT),
        "followers": [name for _, name in followers],
        "is_following": any(pk == user.pk for pk, _ in followers),
        "moves": moves,
        "can_edit": services.can_edit(user, fr),
        "can_add_deal": can_add_deal,
        "can_comment": services.can_comment(user, fr),
        "can_add_note": services.can_add_note(user, fr),
        "deal_form": DealForm(prefix="deal") if can_add_deal else None,
        # What it was merged into may still be in a team inbox this user cannot open.
        "merged_into": (
            services.requests_visible_to(user).filter(pk=fr.merged_into_id).first()
            if fr.merged_into_id
            else None
        ),
    }
    if notes is not None:
        context["notes"] = notes
    context["can_estimate"] = services.can_estimate(user, fr)
    if any(m.name == "defer" for m in moves) and fr.target_quarter_id:
        context["defer_choices"] = services.deferral_quarters_for(fr.target_quarter)
    if any(m.name == "escalate" for m in moves):
        context["escalate_form"] = EscalateForm(quarters=services.escalation_quarters())
    if any(m.name == "merge" for m in moves):
        targets = (
            services.requests_visible_to(user)
            .filter(status__in=services.MERGE_TARGET_STATUSES)
            .exclude(pk=fr.pk)
            .filter(**({"manager": user} if user.role == Role.SALES_MANAGER else {}))
            .order_by("-created_at")
            .values_list("pk", "title")[:200]
        )
        context["merge_options"] = _merge_options(targets)
    return context


# What the request page shows of its deals, comments, notes and audit events: plain rows
# with the name of who owns or wrote them, not model objects each joined to every column of
# a user.
_DEAL = ("account_name", "amount", "currency", "stage", "expected_close_date", "crm_ref")
_STAGES = dict(Stage.choices)
_REMARK = ("body", "created_at")
_EVENT = ("action", "from_status", "to_status", "reason", "old_value", "new_value", "created_at")
_NAME_FIELDS = ("first_name", "last_name", "username")  # display_name_of's order


def _rows_naming(queryset, person, *fields):
    """`queryset` as dicts of `fields` in its own order, with row[person] the display name of
    the user its `person` foreign key points at (None when empty), in one query."""
    return _naming(queryset.values(*fields, *_person_columns(person)), person)


def _person_columns(person):
    return [f"{person}_id", *(f"{person}__{name}" for name in _NAME_FIELDS)]


def _naming(values, person):
    """The rows of `values` (a values() queryset with _person_columns(person) among its
    columns) with those columns replaced by row[person], the person's display name."""
    joined = [f"{person}__{name}" for name in _NAME_FIELDS]
    names, rows = {}, []
    for row in values:
        pk = row.pop(f"{person}_id")
        name_columns = [row.pop(column) for column in joined]
        if pk is not None and pk not in names:
            names[pk] = display_name_of(*name_columns)
        row[person] = names.get(pk)
        rows.append(row)
    return rows


def _remarks(fr, *, with_notes):
    """(comments, notes) of the request as _rows_naming gives them, each in its order; the
    internal notes (None unless `with_notes`) come in the comments' query."""

    def remarks(model, is_note):
        return (
            model.objects.filter(request=fr)
            .annotate(is_note=Value(is_note))
            .values("is_note", "id", *_REMARK, *_person_columns("author"))
            .order_by()  # the union is ordered; SQLite refuses ORDER BY in its parts
        )

    rows = remarks(Comment, False)
    if with_notes:
        rows = rows.union(remarks(ProductNote, True), all=True)
    comments, notes = [], [] if with_notes else None
    for row in _naming(rows.order_by("is_note", "created_at", "id"), "author"):
        del row["id"]
        (notes if row.pop("is_note") else comments).append(row)
    return comments, notes


MERGE_TITLE_CHARS = 60


def _merge_options(targets):
    """The <option>s of the merge <select>, from (id, title) rows: up to 200 of them, built
    here rather than by a template loop with |truncatechars (or format_html per option), which
    cost more than the rest of the page. Titles are cut as |truncatechars cuts them
    (Truncator, after NFC normalisation) and escaped as autoescaping escapes them."""

    def short(title):
        title = unicodedata.normalize("NFC", title)
        if len(title) <= MERGE_TITLE_CHARS:
            return title
        return Truncator(title).chars(MERGE_TITLE_CHARS)

    return mark_safe(  # noqa: S308 - the ids are ints and every title is escaped
        "".join(
            f'<option value="{int(pk)}">#{int(pk)} {html.escape(short(title))}</option>'
            for pk, title in targets
        )
    )


def _for_detail():
    # merged_into is not joined: the page shows it only when this user may see it
    # (_detail_context reads it through the visibility rule). Nor are the positions
    # annotated: a lone request counts its one position, if it has one, in a plain COUNT
    # (FeatureRequest.queue_position), cheaper than building and planning two subqueries.
    return FeatureRequest.objects.select_related("author", "manager", "target_quarter", "theme")


def _render_detail(request, fr, status=200, **extra):
    fr = _get(
        request,
        fr.pk,
        _for_detail(),
    )
    context = _detail_context(request, fr)
    context.update(extra)
    return render(request, "requests_app/detail.html", context, status=status)


@login_required
@require_GET
@snapshot_cached
def request_detail(request, pk):
    fr = _get(
        request,
        pk,
        _for_detail(),
    )
    return render(request, "requests_app/detail.html", _detail_context(request, fr))


@login_required
@require_POST
def request_move(request, pk, action):
    fr = _get(request, pk)
    if action not in services.TRANSITION_FUNCTIONS:
        raise Http404("No such action.")
    try:
        _run_move(request, fr, action)
    except NotAllowed as exc:
        return _forbidden(request, exc)
    except InsufficientBudget as exc:
        messages.error(request, exc.message)
        return _render_detail(
            request,
            fr,
            status=exc.status,
            shortfall={
                "needed": exc.needed,
                "remaining": exc.remaining,
                "shortfall": exc.shortfall,
            },
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return _render_detail(request, fr, status=exc.status)
    messages.success(request, f"{services.MOVES[action].label.rstrip('…')}: done.")
    return redirect(
        request.POST.get("next")
        if _safe_next(request)
        else reverse("requests:detail", args=[fr.pk])
    )


def _run_move(request, fr, action):
    """Read the move's inputs from the POST and call its service (pages share this)."""
    if action not in services.TRANSITION_FUNCTIONS:
        raise InvalidInput(f"Unknown action {action[:30]!r}.")
    post = request.POST
    kwargs = {"fr": fr, "actor": request.user}
    if action in ("return", "reject", "withdraw", "merge", "defer", "decline", "cancel"):
        kwargs["reason"] = post.get("reason", "")
    if action == "escalate":
        kwargs["quarter"] = quarter_from_slug(post.get("quarter", "")) or _quarter_by_pk(
            post.get("quarter")
        )
    if action == "defer":
        kwargs["quarter"] = post.get("quarter", "")
    if action == "cancel":
        kwargs["unstarted_points"] = post.get("unstarted_points")
    if action == "merge":
        try:
            kwargs["target"] = services.request_get_for_user(request.user, post.get("target", ""))
        except NotFound:
            kwargs["target"] = None
    try:
        return services.TRANSITION_FUNCTIONS[action](**kwargs)
    except NotFound:
        raise Http404("No such request.") from None


def _safe_next(request):
    nxt = request.POST.get("next", "")
    return nxt.startswith("/") and not nxt.startswith("//")


def _quarter_by_pk(value):
    try:
        return Quarter.objects.filter(pk=int(value)).first()
    except (TypeError, ValueError):
        return None


@login_required
@require_POST
def deal_add(request, pk):
    fr = _get(request, pk)
    form = DealForm(request.POST, prefix="deal")
    if not services.can_add_deal(request.user, fr):
        return _forbidden(request, NotAllowed("You may not add a deal to this request."))
    if not form.is_valid():
        messages.error(request, "The deal was not added; see the errors below.")
        return _render_detail(request, fr, status=400, deal_form=form)
    try:
        services.deal_add(fr=fr, actor=request.user, data=form.cleaned_data)
    except DomainError as exc:
        messages.error(request, exc.message)
        return _render_detail(request, fr, status=exc.status, deal_form=form)
    messages.success(request, "Deal added.")
    return redirect("requests:detail", pk=fr.pk)


def _text_post(service, label):
    @login_required
    @require_POST
    def view(request, pk):
        fr = _get(request, pk)
        try:
            service(fr=fr, actor=request.user, body=request.POST.get("body", ""))
        except NotAllowed as exc:
            return _forbidden(request, exc)
        except DomainError as exc:
            messages.error(request, exc.message)
            return _render_detail(request, fr, status=exc.status)
        messages.success(request, f"{label} added.")
        return redirect("requests:detail", pk=fr.pk)

    return view


comment_add = _text_post(services.comment_add, "Comment")
note_add = _text_post(services.note_add, "Note")


@login_required
@require_POST
def follow(request, pk):
    fr = _get(request, pk)
    following = services.follow_toggle(fr=fr, actor=request.user)
    messages.success(
        request, "You follow this request." if following else "You no longer follow it."
    )
    return redirect("requests:detail", pk=fr.pk)


# --- Inbox and queue -----------------------------------------------------------------------


def _quarter_options(quarters):
    """The <option>s of a quarter <select> that every row of a list repeats, built once for
    the page instead of once per row."""
    return format_html_join(
        "", '<option value="{}">{}</option>', ((q.slug, q.label) for q in quarters)
    )


# What a row of the queue, review and inbox pages shows, read as plain values: building each
# request and its author, manager, theme and deals as model objects, and looking their fields
# up one by one in the template, cost more than the rest of those pages together.
RANKED_ROW_VALUES = (
    *("id", "title", "importance", "estimate", "theme__name"),
    *("author__first_name", "author__last_name", "author__username", "manager_id"),
    *("manager__team_name", "manager__first_name", "manager__last_name", "manager__username"),
)
IMPORTANCE_LABELS = dict(Importance.choices)


_ranked_rows_of = Compiled(
    lambda ids: (
        FeatureRequest.objects.filter(services.AnyOf("pk", ids))
        .order_by()
        .values(*RANKED_ROW_VALUES)
    ),
    list,
)


def _row_values(ids):
    """{id: what a ranked page's row shows of that request}, in two narrow queries (the
    request with its relations, then its deals for the demand)."""
    demand = services.demand_by_request(ids)
    rows = {}
    for v in _ranked_rows_of(ids):
        pk, d = v["id"], demand[v["id"]]
        rows[pk] = {
            "pk": pk,
            "title": v["title"],
            "url": pk_url("requests:detail", pk),
            "importance": v["importance"],
            "importance_label": IMPORTANCE_LABELS[v["importance"]],
            "estimate": v["estimate"],
            "horizon": _horizon(v["theme__name"]),
            "author": display_name_of(
                v["author__first_name"], v["author__last_name"], v["author__username"]
            ),
            "team": _team_of(v),
            "arr": arr(d["arr"]),
            "accounts": d["accounts"],
        }
    return rows


def _ranked_rows(order, page, shown):
    """The rows of one page of a ranked list (`shown`: _row_values of at least its ids): each
    request with its position in the whole order and the keyboard moves it can take there."""
    last = len(order)
    return [
        {
            **shown[pk],
            "rank": rank,
            "moves": {"top": rank > 1, "up": rank > 1, "down": rank < last, "bottom": rank < last},
        }
        for rank, pk in enumerate(page.object_list, page.start_index())
    ]


def _ranked_page(order, number, *, per_page=services.RANK_PAGE_SIZE):
    """One page of a whole ranked order (ids), its rows loaded for display, and what the
    page posts back to rank: the whole order it saw."""
    page = services.rank_page(order, number, per_page=per_page)
    return {
        "page": page,
        "rows": _ranked_rows(order, page, _row_values(list(page.object_list))),
        "seen": ",".join(map(str, order)),
        "count": len(order),
    }


def _inbox_teams(request):
    """(the teams whose inboxes the page shows, every team the Head of Sales may pick from),
    or None for someone with no inbox. Sales managers are read once for both."""
    user = request.user
    if user.role == Role.SALES_MANAGER:
        return [user], []
    if user.role == Role.HEAD_OF_SALES:
        every = list(User.objects.filter(role=Role.SALES_MANAGER, is_active=True))
        # Only the page's own ?team= filter narrows what is shown. The posted `team` names the
        # inbox to reorder; it must not narrow the re-rendered page, or an htmx reorder on the
        # all-teams page would swap in a fragment with just that one team.
        team = request.GET.get("team")
        if team:
            team_id = _id_or_none(team)
            return [t for t in every if t.pk == team_id], every
        return every, every
    return None


def _team_options(teams, selected):
    """The team picker's <option>s after "All teams", `selected` (the ?team= text) chosen."""
    return format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        (
            (t.pk, mark_safe(" selected") if str(t.pk) == selected else "", t.team_label)
            for t in teams
        ),
    )


# The Head of Sales' all-teams inbox is an overview: teams a page at a time, each with the top
# of its order (rankable there too); a team's own inbox shows its whole order a page at a time.
TEAMS_PER_PAGE = 10
INBOX_PREVIEW = 5


def _inbox_context(request, teams, every_team):
    overview = request.user.role == Role.HEAD_OF_SALES and not request.GET.get("team")
    team_page = None
    if overview:
        team_page = services.rank_page(teams, _page_number(request), per_page=TEAMS_PER_PAGE)
        teams = list(team_page.object_list)
    orders = {team.pk: [] for team in teams}
    for manager_id, pk in (
        FeatureRequest.objects.filter(
            status=Status.SUBMITTED, manager__in=teams, inbox_rank__isnull=False
        )
        .order_by("manager_id", "inbox_rank")
        .values_list("manager_id", "pk")
    ):
        orders[manager_id].append(pk)
    pages = {
        team.pk: services.rank_page(
            orders[team.pk],
            1 if overview else _page_number(request),
            per_page=INBOX_PREVIEW if overview else services.RANK_PAGE_SIZE,
        )
        for team in teams
    }
    shown = _row_values([pk for p in pages.values() for pk in p.object_list])
    sections = []
    for team in teams:
        order, page = orders[team.pk], pages[team.pk]
        sections.append(
            {
                "team": team,
                "page": page,
                "count": len(order),
                "rows": _ranked_rows(order, page, shown),
                "seen": ",".join(map(str, order)),
                "form_id": f"reorder-{team.pk}",
            }
        )
    team = request.GET.get("team", "")
    shown_page = team_page or (sections[0]["page"] if sections else None)
    where = {"team": team} if team else {}
    if shown_page and shown_page.number > 1:
        where["page"] = shown_page.number
    return {
        "sections": sections,
        "overview": overview,
        "team_page": team_page,
        "team_query": urlencode({"team": team}) if team else "",
        # Where a re-order posts and comes back to: this team (or all) and this page.
        "reorder_url": f"{reverse('inbox')}?{urlencode(where)}" if where else reverse("inbox"),
        "team_options": _team_options(every_team, team) if every_team else "",
        "escalate_options": _quarter_options(services.escalation_quarters()),
        "reason_form": ReasonForm(),
    }


@login_required
@require_http_methods(["GET", "POST"])
@snapshot_cached
def inbox(request):
    found = _inbox_teams(request)
    if found is None:
        return _forbidden(
            request, NotAllowed("The team inbox is for sales managers and the Head of Sales.")
        )
    teams, every_team = found
    status = 200
    if request.method == "POST":
        manager = next((t for t in teams if str(t.pk) == request.POST.get("team")), None)
        if manager is None:
            raise Http404("No such team.")
        response, status = _reorder_post(
            request,
            lambda seen, order: services.inbox_reorder(
                actor=request.user, manager=manager, seen=seen, order=order
            ),
            request.get_full_path(),
        )
        if response:
            return response
    context = _inbox_context(request, teams, every_team)
    template = "requests_app/_inbox_sections.html" if request.htmx else "requests_app/inbox.html"
    return render(request, template, context, status=status)


def _reorder_post(request, reorder, success_url):
    """Apply a posted order (`seen`, and `order` from a drag or `move` from a button);
    returns (response or None, status). htmx callers get the re-rendered list, with the
    refusal shown, instead of a redirect."""
    seen, order = request.POST.get("seen", ""), request.POST.get("order", "")
    done = "Order saved."
    try:
        if "move" in request.POST:
            order = services.order_after_move(seen, request.POST["move"])
        elif "move_to_position" in request.POST:
            # The "move to position" form: one request, by its number, to any position, on
            # whatever page it is; the buttons and drag move within what the page shows.
            moving = request.POST.get("move_id", "").strip().lstrip("#")
            move = f"{moving}:{request.POST.get('move_to', '')}"
            order = services.order_after_move(seen, move)
            moved = int(move.partition(":")[0])
            done = f"#{moved} is now at position {order.index(moved) + 1}."
        reorder(seen, order)
    except NotAllowed as exc:
        return _forbidden(request, exc), 403
    except DomainError as exc:
        messages.error(request, exc.message)
        return None, exc.status
    if request.htmx:
        if "move_to_position" in request.POST:
            messages.success(request, done)
        return None, 200
    messages.success(request, done)
    return redirect(success_url), 302


def _page_number(request):
    """The page of a ranked list being shown; a POST re-renders the page it came from."""
    return request.GET.get("page") or request.POST.get("page")


def _page_query(request):
    """'&page=N' to carry a ranked list's page through a redirect; nothing for page 1."""
    number = _page_number(request)
    return f"&page={number}" if number and number.isdecimal() and int(number) > 1 else ""


def _open_quarters(request):
    """The open quarters with their budgets (the queue's and review's quarter switch), read
    once a request: the quarter a page shows is nearly always one of them."""
    if not hasattr(request, "_open_quarters"):
        request._open_quarters = list(
            Quarter.objects.filter(closed_at__isnull=True).select_related("budget")
        )
    return request._open_quarters


def _queue_quarter(request):
    slug = request.GET.get("quarter") or request.POST.get("quarter")
    wanted = FiscalQuarter.parse(slug) if slug else FiscalQuarter.containing(timezone.localdate())
    quarter = quarter_among(_open_quarters(request), wanted) if wanted else None
    if quarter is not None:
        return quarter
    if slug:
        quarter = quarter_from_slug(slug)
        if quarter is None:
            raise Http404("No such quarter.")
        return quarter
    return quarters_ensure_open()[0]


def _queue_context(request, quarter):
    order = services.queue_ids(quarter.pk)
    return {
        "quarter": quarter,
        "budget": getattr(quarter, "budget", None),
        **_ranked_page(order, _page_number(request)),
        "can_rank": request.user.role == Role.HEAD_OF_SALES,
        "quarters": _open_quarters(request),
    }


@login_required
@require_http_methods(["GET", "POST"])
@snapshot_cached
def queue(request):
    if not (request.user.is_sales or request.user.is_product):
        return _forbidden(request, NotAllowed("The sales queue is for sales and product roles."))
    quarter = _queue_quarter(request)
    status = 200
    if request.method == "POST":
        response, status = _reorder_post(
            request,
            lambda seen, order: services.queue_reorder(
                actor=request.user, quarter=quarter, seen=seen, order=order
            ),
            f"{reverse('queue')}?quarter={quarter.slug}{_page_query(request)}",
        )
        if response:
            return response
    context = _queue_context(request, quarter)
    template = "requests_app/_queue_list.html" if request.htmx else "requests_app/queue.html"
    return render(request, template, context, status=status)


# --- Product themes ------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def themes(request):
    if not services.can_manage_themes(request.user):
        return _forbidden(request, NotAllowed(services.THEMES_ARE_PRODUCTS))
    status = 200
    if request.method == "POST":
        try:
            theme = None
            if request.POST.get("theme"):
                theme_id = _id_or_none(request.POST["theme"])
                theme = ProductTheme.objects.filter(pk=theme_id).first() if theme_id else None
                if theme is None:
                    raise Http404("No such theme.")
            if "active" in request.POST and theme is not None:
                services.theme_set_active(
                    actor=request.user, theme=theme, active=request.POST["active"] == "1"
                )
            else:
                services.theme_save(
                    actor=request.user,
                    name=request.POST.get("name", ""),
                    description=request.POST.get("description", ""),
                    theme=theme,
                )
        except DomainError as exc:
            messages.error(request, exc.message)
            status = exc.status
        else:
            messages.success(request, "Themes saved.")
            return redirect("requests:themes")
    return render(
        request, "requests_app/themes.html", {"themes": ProductTheme.objects.all()}, status=status
    )


# --- Product review queue ------------------------------------------------------------------


def _review_context(request, quarter, **extra):
    """One page of the review queue. Running totals and the cut line are walked over the
    whole queue (one narrow query); only the page's rows are loaded for display."""
    budget = quarter.budget
    walked = services.cut_line(services.queue_order(quarter.pk), budget.remaining)
    page = services.rank_page(walked, _page_number(request))
    shown = _row_values([row["fr"].pk for row in page.object_list])
    rows = [
        {**row, **shown[row["fr"].pk], "rank": rank}
        for rank, row in enumerate(page.object_list, page.start_index())
    ]
    cut_position = next((i for i, row in enumerate(walked, 1) if row["first_below"]), None)
    user = request.user
    context = {
        "quarter": quarter,
        "budget": budget,
        "rows": rows,
        "page": page,
        "count": len(walked),
        "cut_position": cut_position,
        "cut_page": (cut_position - 1) // services.RANK_PAGE_SIZE + 1 if cut_position else None,
        "can_decide": user.role == Role.HEAD_OF_PRODUCT,
        "can_estimate": user.is_product,
        "defer_options": _quarter_options(services.deferral_quarters_for(quarter)),
        "quarters": _open_quarters(request),
        "unestimated": sum(1 for row in walked if row["unestimated"]),
    }
    context.update(extra)
    return context


def _review_url(quarter, request):
    return f"{reverse('review')}?quarter={quarter.slug}{_page_query(request)}"


def _render_review(request, quarter, status=200, **extra):
    template = "requests_app/_review_list.html" if request.htmx else "requests_app/review.html"
    return render(request, template, _review_context(request, quarter, **extra), status=status)


@login_required
@require_GET
@snapshot_cached
def review(request):
    if not request.user.is_product:
        return _forbidden(request, NotAllowed("The review queue is for product roles."))
    return _render_review(request, _queue_quarter(request))


@login_required
@require_POST
def review_estimate(request, pk):
    if not request.user.is_product:
        return _forbidden(request, NotAllowed("Product roles estimate requests."))
    fr = _get(request, pk)
    quarter = fr.target_quarter
    try:
        services.request_estimate(
            fr=fr,
            actor=request.user,
            points=request.POST.get("estimate"),
            burned_points=request.POST.get("burned_points"),
            reason=request.POST.get("reason", ""),
        )
    except NotAllowed as exc:
        return _forbidden(request, exc)
    except DomainError as exc:
        messages.error(request, f"#{fr.pk} {fr.title}: {exc.message}")
        if _safe_next(request) and not request.htmx:
            return _render_detail(request, fr, status=exc.status)
        return _render_review(request, quarter, status=exc.status)
    if not request.htmx:
        messages.success(request, f"Estimate saved for #{fr.pk}.")
        if _safe_next(request):
            return redirect(request.POST["next"])
        return redirect(_review_url(quarter, request))
    return _render_review(request, quarter)


@login_required
@require_POST
def review_decide(request, pk):
    if not request.user.is_product:
        return _forbidden(request, NotAllowed("The review queue is for product roles."))
    fr = _get(request, pk)
    quarter = fr.target_quarter
    action = request.POST.get("action", "")
    try:
        _run_move(request, fr, action)
    except NotAllowed as exc:
        return _forbidden(request, exc)
    except InsufficientBudget as exc:
        messages.error(request, exc.message)
        return _render_review(
            request,
            quarter,
            status=exc.status,
            shortfall={
                "fr": fr,
                "needed": exc.needed,
                "remaining": exc.remaining,
                "shortfall": exc.shortfall,
            },
        )
    except DomainError as exc:
        messages.error(request, f"#{fr.pk} {fr.title}: {exc.message}")
        return _render_review(request, quarter, status=exc.status)
    messages.success(
        request, f"#{fr.pk} {fr.title}: {services.MOVES[action].label.lower().rstrip('…')} done."
    )
    if request.htmx:
        return _render_review(request, quarter)
    return redirect(_review_url(quarter, request))


@login_required
@require_GET
def review_csv(request):
    if not (request.user.is_product or request.user.is_sales):
        return _forbidden(request, NotAllowed("The queue export is for sales and product roles."))
    quarter = _queue_quarter(request)
    walked = services.cut_line(services.queue_order(quarter.pk), quarter.budget.remaining)
    loaded = {
        fr.pk: fr
        for fr in services.with_list_data(
            FeatureRequest.objects.filter(pk__in=[row["fr"].pk for row in walked])
        )
    }
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="queue-{quarter.slug}.csv"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "rank",
            "id",
            "title",
            "team",
            "importance",
            "horizon",
            "accounts",
            "arr_at_stake",
            "estimate",
            "running_total",
            "cut_line",
        ]
    )
    for rank, row in enumerate(walked, 1):
        fr = loaded[row["fr"].pk]
        demand = fr.demand()
        writer.writerow(
            [
                rank,
                fr.pk,
                csv_safe(fr.title),
                fr.manager.team_label if fr.manager else "",
                fr.get_importance_display(),
                csv_safe(fr.horizon_label),
                demand["accounts"],
                "; ".join(f"{c} {a:.0f}" for c, a in demand["arr"].items()),
                fr.estimate if fr.estimate is not None else "",
                row["running_total"] or "",
                "unestimated" if row["unestimated"] else ("below" if row["below"] else "above"),
            ]
        )
    return response


# --- Roadmap -------------------------------------------------------------------------------

# The whole roadmap shows the first few of each column, committed work first; a column's own
# view (?show=now) lists all of it a page at a time. Years of shipped and deferred work, or a
# thousand-request queue, must not make the page everyone opens slow.
ROADMAP_PREVIEW = 10
ROADMAP_COLUMNS = ("now", "next", "later", "shipped")


def _roadmap_columns(current, upcoming):
    """{column: (filter, order)}: which requests each column shows, and in what order. The
    columns do not overlap: nothing of the upcoming quarter is Now, and Later is only what is
    neither Now nor Next."""
    committed = Q(status__in=[Status.APPROVED, Status.IN_PROGRESS])
    live = Q(status__in=[Status.APPROVED, Status.IN_PROGRESS, Status.ESCALATED])
    # Committed in an earlier quarter and still not shipped: it is being built now.
    earlier = Q(target_quarter__fiscal_year__lt=current.fiscal_year) | Q(
        target_quarter__fiscal_year=current.fiscal_year, target_quarter__number__lt=current.number
    )
    # Product-funded work committed beyond the upcoming quarter (or to no quarter) is Later.
    beyond = (
        Q(target_quarter__isnull=True)
        | Q(target_quarter__fiscal_year__gt=upcoming.fiscal_year)
        | Q(
            target_quarter__fiscal_year=upcoming.fiscal_year,
            target_quarter__number__gt=upcoming.number,
        )
    )
    now = (Q(target_quarter=current) & live) | (committed & earlier)
    nxt = Q(target_quarter=upcoming) & live
    later = Q(status=Status.DEFERRED) | (Q(funding=Funding.PRODUCT) & committed & beyond)
    ranked = (
        Case(When(committed, then=0), default=1),
        "target_quarter__fiscal_year",
        "target_quarter__number",
        "queue_rank",
        "pk",
    )
    return {
        "now": (now, ranked),
        "next": (nxt, ranked),
        "later": (later, (Coalesce("theme__name", Value("Tactical")), *ranked)),
        "shipped": (services.recently_shipped_q(), ("-shipped_at", "-pk")),
    }


# What a roadmap card shows, read as plain values (see LIST_PAGE_VALUES).
ROADMAP_VALUES = (
    *("id", "title", "status", "funding", "estimate", "theme__name"),
    *("target_quarter__fiscal_year", "target_quarter__number"),
)


def _roadmap_card(row):
    """One roadmap card as the strings it shows (_roadmap_cards.html)."""
    year, number = row["target_quarter__fiscal_year"], row["target_quarter__number"]
    meta = [_horizon(row["theme__name"])]
    if row["estimate"]:
        meta.append(f"{row['estimate']} points")
    if year is not None:
        meta.append(FiscalQuarter(year, number).label)
    return {
        "url": pk_url("requests:detail", row["id"]),
        "title": row["title"],
        "status": row["status"],
        "status_label": STATUS_LABELS.get(row["status"], row["status"]),
        "product_funded": row["funding"] == Funding.PRODUCT,
        "committed": row["status"] in ROADMAP_STATUSES,
        # Its horizon, then its estimate and its quarter when it has them.
        "meta": " · ".join(meta),
        "theme": row["theme__name"] if row["theme__name"] is not None else "Tactical",
    }


@login_required
@require_GET
@snapshot_cached(clock="minute")
def roadmap(request):
    current, upcoming = quarters_ensure_open()
    visible = services.requests_visible_to(request.user).values(*ROADMAP_VALUES)
    columns = _roadmap_columns(current, upcoming)

    def rows(column, requests=visible):
        where, order = columns[column]
        return requests.filter(where).order_by(*order)

    show = request.GET.get("show")
    context = {"current": current, "upcoming": upcoming, "show": show}
    if show in ROADMAP_COLUMNS:
        page = services.rank_page(rows(show), request.GET.get("page"))
        context.update(page=page, items={show: [_roadmap_card(row) for row in page]}, counts={})
    else:
        context["show"] = None
        # Each column's first few, and with each row the column's length (a window over
        # the rows the column's own query reads anyway), instead of a separate count.
        items, counts = {}, {}
        with_length = visible.annotate(length=Window(Count("*")))
        for column in ROADMAP_COLUMNS:
            shown = list(rows(column, with_length)[:ROADMAP_PREVIEW])
            counts[column] = shown[0]["length"] if shown else 0
            items[column] = [_roadmap_card(row) for row in shown]
        context.update(items=items, counts=counts)
    if "later" in context["items"]:
        context["later"] = [
            (theme, list(group))
            for theme, group in groupby(context["items"]["later"], key=lambda card: card["theme"])
        ]
    return render(request, "requests_app/roadmap.html", context)
