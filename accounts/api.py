"""JSON API for people: names and roles, and the reporting line where the caller may see it."""

from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers

from config.listing import OrderedList, ordering_parameter, search_text, text_parameter

from .models import Role, User


class UserSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="display_name", read_only=True)
    manager = serializers.SerializerMethodField(
        help_text="Whom they report to; null unless you may see their reporting line."
    )
    team = serializers.SerializerMethodField(
        help_text="A sales manager's team, or the team a rep is in where you may see it."
    )

    class Meta:
        model = User
        fields = ["id", "username", "name", "role", "manager", "team"]
        read_only_fields = fields

    def _shown(self, user):
        return self.context["request"].user.sees_reporting_line_of(user)

    def get_manager(self, user) -> int | None:
        return user.manager_id if self._shown(user) else None

    def get_team(self, user) -> str | None:
        if user.role == Role.SALES_MANAGER:
            return user.team_label
        if user.role == Role.SALES_REP and user.manager_id and self._shown(user):
            return user.manager.team_label
        return None


class Users(OrderedList, generics.ListAPIView):
    """Everyone who can sign in, by name; ?role=, ?q= (name or username), ?ordering=."""

    serializer_class = UserSerializer
    orderings = {
        "name": ("first_name", "last_name", "username", "id"),
        "-name": ("-first_name", "-last_name", "-username", "-id"),
        "username": ("username",),
        "-username": ("-username",),
        "role": ("role", "first_name", "last_name", "username", "id"),
    }
    default_ordering = "name"

    def get_queryset(self):
        params = self.request.query_params
        qs = User.objects.filter(is_active=True).select_related("manager")
        role = params.get("role")
        if role:
            qs = qs.filter(role=role) if role in Role.values else qs.none()
        text = search_text(params)
        if text:
            qs = qs.filter(
                Q(username__icontains=text)
                | Q(first_name__icontains=text)
                | Q(last_name__icontains=text)
            )
        return self.ordered(qs)

    @extend_schema(
        parameters=[
            text_parameter("role", "Only people with this role.", enum=Role.values),
            text_parameter("q", "Part of the name or the username."),
            ordering_parameter(orderings, default_ordering),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
