"""What every list endpoint shares: ?ordering= from a fixed set, yes/no filters and search
text that cannot reach the database in a shape it refuses, and how they read in the schema."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class OrderedList:
    """A list view's ?ordering=: one of `orderings` (name -> order_by fields); anything else
    falls back to `default_ordering`, as requests/ does."""

    orderings: dict[str, tuple[str, ...]] = {}
    default_ordering = ""

    def ordered(self, qs):
        key = self.request.query_params.get("ordering", "")
        return qs.order_by(*self.orderings.get(key, self.orderings[self.default_ordering]))


def filter_flag(qs, params, name, condition):
    """?name=true keeps the rows meeting `condition` (a Q), ?name=false the others; any other
    value matches nothing."""
    if name not in params:
        return qs
    value = FLAGS.get(params[name].strip().lower())
    if value is None:
        return qs.none()
    return qs.filter(condition if value else ~condition)


def search_text(params, name="q"):
    # PostgreSQL refuses NUL bytes in a query with a 500.
    return params.get(name, "").replace("\x00", "").strip()[:200]


def ordering_parameter(orderings, default):
    return OpenApiParameter(
        "ordering",
        OpenApiTypes.STR,
        enum=list(orderings),
        description=f"Sort order; `{default}` unless given.",
    )


def flag_parameter(name, description):
    return OpenApiParameter(name, OpenApiTypes.BOOL, description=description)


def text_parameter(name, description, enum=None):
    return OpenApiParameter(name, OpenApiTypes.STR, description=description, enum=enum)
