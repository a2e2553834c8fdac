from django.contrib import admin

from .models import ActionItem, Decision, Delivery, Meeting, MeetingSeries


@admin.register(MeetingSeries)
class MeetingSeriesAdmin(admin.ModelAdmin):
    list_display = ("name", "weekday", "start_time", "time_zone", "digest_lead_hours", "is_active")
    filter_horizontal = ("extra_attendees",)


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    readonly_fields = ("attendee", "kind", "status", "attempts", "sent_at", "last_error")
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Meeting)
class MeetingAdmin(admin.ModelAdmin):
    list_display = ("__str__", "starts_at", "digest_due_at", "digest_sent_at", "minutes_sent_at")
    list_select_related = ("series",)
    readonly_fields = ("agenda_sent", "digest_sent_at", "minutes_sent_at")
    inlines = [DeliveryInline]


admin.site.register(Decision)
admin.site.register(ActionItem)
