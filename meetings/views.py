from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.html import format_html_join
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.errors import DomainError, InsufficientBudget, NotAllowed, NotFound
from config.pagecache import snapshot_cached
from requests_app import services as request_services

from . import services
from .forms import ActionItemForm, SeriesForm
from .models import ActionItem, MeetingSeries


def _forbidden(request, message):
    return render(request, "403.html", {"reason": message}, status=403)


def _meeting(request, pk):
    try:
        return services.meeting_get_for_page(request.user, pk)
    except NotFound:
        raise Http404("No such meeting.") from None


@login_required
@require_GET
def meeting_list(request):
    now = timezone.now()
    mine = services.meetings_for(request.user)
    return render(
        request,
        "meetings/list.html",
        {
            "upcoming": mine.filter(ends_at__gt=now).order_by("starts_at")[:8],
            "past": mine.filter(ends_at__lte=now).order_by("-starts_at")[:20],
            "series": services.series_active(),
            "can_manage": services.is_head(request.user),
        },
    )


def _detail(request, meeting, status=200, **extra):
    # Read once for the page: the action items (the agenda's open ones and the minutes') and
    # the active users (the attendees, and the owners an action item may have).
    action_items = services.action_items_for(meeting)
    people = meeting.series.people()
    # Once the meeting is over, the agenda as it was emailed (if it was).
    agenda = meeting.agenda_snapshot or services.build_agenda(meeting, action_items=action_items)
    context = {
        "meeting": meeting,
        "agenda": agenda,
        "agenda_is_snapshot": agenda is meeting.agenda_snapshot,
        "decide": request.user.is_head_of_product and not meeting.is_past,
        # The <option>s every queue row's defer form repeats, built once for the page.
        "defer_options": format_html_join(
            "",
            '<option value="{}">{}</option>',
            (
                (q.slug, q.label)
                for q in request_services.deferral_quarters_for_slug(
                    agenda["budget"]["quarter_slug"]
                )
            ),
        ),
        "decisions": meeting.decisions.select_related("actor"),
        "action_items": [a for a in action_items if a.meeting_id == meeting.pk],
        "action_form": ActionItemForm(owners=people),
        "attendees": meeting.series.attendees(people),
        "is_head": services.is_head(request.user),
    }
    context.update(extra)
    return render(request, "meetings/detail.html", context, status=status)


@login_required
@require_GET
@snapshot_cached(clock="minute")
def meeting_detail(request, pk):
    return _detail(request, _meeting(request, pk))


@login_required
@require_POST
def meeting_decide(request, pk, request_id):
    meeting = _meeting(request, pk)
    try:
        fr = request_services.request_get_for_user(request.user, request_id)
        services.meeting_decide(
            meeting=meeting,
            fr=fr,
            actor=request.user,
            action=request.POST.get("action", ""),
            reason=request.POST.get("reason", ""),
            quarter_slug=request.POST.get("quarter", ""),
        )
    except NotFound:
        raise Http404("No such request.") from None
    except NotAllowed as exc:
        return _forbidden(request, exc.message)
    except InsufficientBudget as exc:
        messages.error(
            request, f"#{fr.pk} {fr.title}: {exc.message} Defer it or approve it as product-funded."
        )
        return _detail(request, meeting, status=exc.status)
    except DomainError as exc:
        messages.error(request, exc.message)
        return _detail(request, meeting, status=exc.status)
    messages.success(request, "Decision recorded in the minutes.")
    return redirect("meetings:detail", pk=meeting.pk)


@login_required
@require_POST
def action_add(request, pk):
    meeting = _meeting(request, pk)
    form = ActionItemForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The action item needs a title, an owner and a due date.")
        return _detail(request, meeting, status=400, action_form=form)
    try:
        services.action_item_add(meeting=meeting, actor=request.user, **form.cleaned_data)
    except DomainError as exc:
        form.add_error(None, exc.message)
        return _detail(request, meeting, status=exc.status, action_form=form)
    messages.success(request, "Action item added.")
    return redirect("meetings:detail", pk=meeting.pk)


@login_required
@require_POST
def action_toggle(request, pk, item_id):
    meeting = _meeting(request, pk)
    item = ActionItem.objects.filter(pk=item_id, meeting__series=meeting.series).first()
    if item is None:
        raise Http404("No such action item.")
    try:
        services.action_item_toggle(item=item, actor=request.user)
    except NotAllowed as exc:
        return _forbidden(request, exc.message)
    return redirect("meetings:detail", pk=meeting.pk)


@login_required
@require_http_methods(["GET", "POST"])
def series_edit(request):
    if not services.is_head(request.user):
        return _forbidden(request, "The weekly sync is set up by the two heads.")
    series = services.series_active() or MeetingSeries(
        time_zone=timezone.get_current_timezone_name()
    )
    form = SeriesForm(
        request.POST or None,
        instance=series,
        initial={"extra_attendees": list(series.extra_attendees.all()) if series.pk else []},
    )
    if request.method == "POST":
        if form.is_valid():
            data = {k: v for k, v in form.cleaned_data.items() if k != "extra_attendees"}
            try:
                services.series_save(
                    actor=request.user,
                    series=series,
                    data=data,
                    extra_attendees=form.cleaned_data["extra_attendees"],
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request, "Weekly sync saved; meetings are planned four weeks ahead."
                )
                return redirect("meetings:list")
        return render(request, "meetings/series.html", {"form": form}, status=400)
    return render(request, "meetings/series.html", {"form": form})
