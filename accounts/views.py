from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from budgets.services import quarters_ensure_open

from .forms import NotificationForm


@login_required
def home(request):
    current, upcoming = quarters_ensure_open()
    return render(
        request,
        "accounts/home.html",
        {
            "current": current,
            "budget": current.budget,
            "upcoming": upcoming,
            "next_budget": upcoming.budget,
        },
    )


@login_required
@require_GET
def bench_floor(request):
    """Routed only when BENCH_FLOOR is on (config/urls.py)."""
    return render(request, "bench_floor.html")


def _database_ok():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True, "ok"
    except Exception as exc:  # any driver error means "down" to a load balancer
        return False, exc.__class__.__name__


def _broker_ok():
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True, "ok"
    except Exception as exc:
        return False, exc.__class__.__name__


@never_cache
@require_GET
def healthz(request):
    db_ok, db_status = _database_ok()
    broker_ok, broker_status = _broker_ok()
    return JsonResponse(
        {
            "status": "ok" if db_ok and broker_ok else "degraded",
            "database": db_status,
            "broker": broker_status,
        },
        status=200 if db_ok else 503,
    )


@login_required
@require_http_methods(["GET", "POST"])
def notification_settings(request):
    form = NotificationForm(request.POST or None, instance=request.user)
    if request.method == "POST":
        if form.is_valid():
            form.save()
            messages.success(request, "Notification settings saved.")
            return redirect("notification_settings")
        return render(request, "accounts/notifications.html", {"form": form}, status=400)
    return render(request, "accounts/notifications.html", {"form": form})
