from django.contrib import admin

from .models import Budget, LedgerEntry, Quarter


class ReadOnlyAdmin(admin.ModelAdmin):
    """Budgets move only through budgets.services, so the admin shows them read-only."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Quarter)
class QuarterAdmin(ReadOnlyAdmin):
    list_display = ("label", "start_date", "end_date", "closed_at")


@admin.register(Budget)
class BudgetAdmin(ReadOnlyAdmin):
    list_display = (
        "quarter",
        "capacity",
        "percentage",
        "allocated",
        "reserved",
        "expired",
        "remaining",
    )
    list_select_related = ("quarter",)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "budget", "kind", "points", "actor", "reason", "reserved_after")
    list_filter = ("kind", "budget__quarter")
    list_select_related = ("budget__quarter", "actor")
