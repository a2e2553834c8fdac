"""How the API's errors appear in the OpenAPI schema: one shared shape per kind of refusal.

Every operation gets 401 (unless anyone may call it), 404 when its path names an object and
400 when it reads a body, from the AutoSchema below; views add the refusals
only they can give (403, 409) with the FORBIDDEN and CONFLICT responses.
"""

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny


class ErrorSerializer(serializers.Serializer):
    """Every refusal: a sentence for people and a code for programs, plus the numbers or
    states that explain it where there are some."""

    detail = serializers.CharField(help_text="What went wrong, in a sentence.")
    code = serializers.CharField(
        help_text="not_authenticated, authentication_failed, forbidden, not_found, conflict, "
        "insufficient_budget, stale, quarter_closed, invalid, ..."
    )
    field = serializers.CharField(required=False, help_text="The input field at fault (400).")
    state = serializers.CharField(required=False, help_text="An illegal move: the current state.")
    allowed = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="An illegal move: the moves possible from the current state.",
    )
    needed = serializers.IntegerField(required=False, help_text="An approval that does not fit.")
    remaining = serializers.IntegerField(required=False)
    shortfall = serializers.IntegerField(required=False)


class FieldErrorsSerializer(serializers.Serializer):
    """Bad input: each field at fault maps to its messages (nested for lists of objects), as
    in {"title": ["This field is required."]}; a body that is not JSON has only `detail`."""

    detail = serializers.CharField(required=False)
    code = serializers.CharField(required=False)
    field = serializers.CharField(required=False)
    non_field_errors = serializers.ListField(child=serializers.CharField(), required=False)


class FieldErrorsExtension(OpenApiSerializerExtension):
    """The field names vary by endpoint: any other property is a field's messages."""

    target_class = FieldErrorsSerializer

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["additionalProperties"] = {
            "description": "Messages for the field of this name: a list of strings, or for "
            "a list of objects one entry per object."
        }
        return schema


BAD_INPUT = OpenApiResponse(FieldErrorsSerializer, description="Bad input; nothing changed.")
UNAUTHENTICATED = OpenApiResponse(
    ErrorSerializer, description="No credentials, or a wrong or revoked token."
)
FORBIDDEN = OpenApiResponse(
    ErrorSerializer, description="You may see this but your role may not take this action."
)
NOT_FOUND = OpenApiResponse(
    ErrorSerializer, description="No such object, or it is not shared with you."
)
CONFLICT = OpenApiResponse(
    ErrorSerializer,
    description="The state does not allow it: an illegal move (with `state` and `allowed`), "
    "an approval that does not fit (with `needed`, `remaining`, `shortfall`), a stale order.",
)


class AutoSchema(BaseAutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        defaults = {}
        if self.method in ("POST", "PUT", "PATCH"):
            defaults["400"] = BAD_INPUT
        if not all(isinstance(p, AllowAny) for p in self.view.get_permissions()):
            defaults["401"] = UNAUTHENTICATED
        if "{" in self.path or self._is_list_view():
            # An object in the path may be hidden; a list page past the last is 404 too.
            defaults["404"] = NOT_FOUND
        for code, response in defaults.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        return responses
