from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import Role, User


class ReportsInline(admin.TabularInline):
    model = User
    fk_name = "manager"
    fields = ("username", "first_name", "last_name", "role", "is_active")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = "team member"
    verbose_name_plural = "team (direct reports)"
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "get_full_name", "email", "role", "manager", "team", "is_active")
    list_filter = ("role", "is_active", "manager")
    list_select_related = ("manager",)
    search_fields = ("username", "first_name", "last_name", "email", "team_name")
    autocomplete_fields = ("manager",)
    inlines = [ReportsInline]
    fieldsets = BaseUserAdmin.fieldsets + (
        ("Role and team", {"fields": ("role", "manager", "team_name")}),
    )
    add_fieldsets = BaseUserAdmin.add_fieldsets + (
        (
            "Role and team",
            {"fields": ("first_name", "last_name", "email", "role", "manager", "team_name")},
        ),
    )

    @admin.display(description="Team")
    def team(self, obj):
        if obj.role == Role.SALES_MANAGER:
            return obj.team_label
        if obj.role == Role.SALES_REP and obj.manager:
            return obj.manager.team_label
        return ""
