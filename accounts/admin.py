from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import transaction
from django.utils import timezone

from . import webhooks
from .models import (
    Role,
    User,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    all_webhook_events,
    webhook_secret,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown to admins, never added, changed or deleted there: for records that only the
    app's services write (requests, audit events, webhook deliveries)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(
        label="URL",
        max_length=500,
        assume_scheme="https",
        help_text="http:// or https:// address that accepts a POST of JSON.",
    )
    events = forms.MultipleChoiceField(
        choices=WebhookEvent.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=all_webhook_events,
        help_text="The event types this endpoint receives.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "description", "events", "is_active")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "description", "event_types", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("url", "description")
    readonly_fields = ("secret", "created_at")
    fields = ("url", "description", "events", "is_active", "secret", "created_at")
    actions = ["rotate_secret"]

    @admin.display(description="Events")
    def event_types(self, obj):
        labels = dict(WebhookEvent.choices)
        return ", ".join(str(labels.get(e, e)) for e in obj.events)

    @admin.action(description="Rotate the secret of the selected endpoints")
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            endpoint.secret = webhook_secret()
            endpoint.save(update_fields=["secret"])
        self.message_user(
            request,
            f"New secrets for {len(queryset)} endpoint(s): give them to the receivers.",
            messages.WARNING,
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """The delivery log: read-only; "Retry now" queues chosen deliveries again."""

    list_display = (
        "event_id",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("status", "event_type", "endpoint")
    list_select_related = ("endpoint",)
    search_fields = ("=event_id", "endpoint__url")
    date_hierarchy = "created_at"
    actions = ["retry_now"]

    @admin.action(description="Retry now")
    def retry_now(self, request, queryset):
        # Not what is delivered or in a worker's hands right now; a failed one gets one more
        # try (its attempts are kept, so the log shows every try).
        retry = queryset.exclude(
            status__in=[WebhookDelivery.Status.DELIVERED, WebhookDelivery.Status.SENDING]
        )
        ids = list(retry.values_list("pk", flat=True))
        with transaction.atomic():
            WebhookDelivery.objects.filter(pk__in=ids).update(
                status=WebhookDelivery.Status.PENDING,
                next_attempt_at=timezone.now(),
                claimed_at=None,
            )
            transaction.on_commit(lambda: webhooks.enqueue(ids))
        skipped = queryset.count() - len(ids)
        text = f"{len(ids)} deliver{'y' if len(ids) == 1 else 'ies'} queued to retry now."
        if skipped:
            text += f" {skipped} skipped: already delivered or being sent."
        self.message_user(request, text, messages.SUCCESS if ids else messages.WARNING)
