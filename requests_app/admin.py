from django.contrib import admin

from accounts.admin import ReadOnlyAdmin

from .models import AuditEvent, Deal, FeatureRequest, ProductTheme


@admin.register(ProductTheme)
class ProductThemeAdmin(admin.ModelAdmin):
    list_display = ("name", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name",)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class DealInline(ReadOnlyInline):
    model = Deal
    fields = ("account_name", "amount", "currency", "stage", "expected_close_date", "owner")


@admin.register(FeatureRequest)
class FeatureRequestAdmin(ReadOnlyAdmin):
    """Read-only: requests move only through requests_app.services (and their audit trail)."""

    list_display = ("id", "title", "status", "author", "manager", "target_quarter", "queue_rank")
    list_filter = ("status", "importance", "target_quarter")
    list_select_related = ("author", "manager", "target_quarter")
    search_fields = ("title",)
    inlines = [DealInline]


@admin.register(AuditEvent)
class AuditEventAdmin(FeatureRequestAdmin):
    list_display = ("created_at", "request", "action", "from_status", "to_status", "actor")
    list_filter = ("action",)
    list_select_related = ("request", "actor")
    search_fields = ("request__title", "reason")
    inlines = []
