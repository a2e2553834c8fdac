"""ORM queries compiled to SQL once per process, then run again with new values.

Building a queryset and compiling it costs 0.25 to 0.7 ms of CPU each time a page runs it,
and reading its rows back through the queryset about as much again: measured on the bench
data, the ranked pages' row query took 2.3 ms through the ORM and 1.0 ms as the same SQL
through a cursor. The SQL of such a query never changes, only its values (a quarter's id,
a page of ids), so `Compiled` builds it once with marker values, finds where each marker
lands among the compiled parameters, and from then on runs that SQL with the caller's
values and shapes the rows as the queryset would (dicts for `.values()`, tuples for
`.values_list()`, single values for `flat=True`).

It refuses, and runs the ORM query as built every time, whenever it cannot be sure to give
what the ORM gives:
- on a database other than PostgreSQL (a list of ids must be one array parameter, see
  requests_app.services.AnyOf; elsewhere the SQL changes with the list's length);
- when a marker is not found among the parameters in the form its argument has (an
  argument used twice is put in both places);
- when a selected column needs one of Django's converters;
- when a list argument is empty (the ORM runs no query at all then).

`build` must depend on its arguments alone: whatever else it reads (the time, a setting)
is frozen into the SQL the first time. The queries that use this are covered by
tests/test_compiled.py, which checks each against its ORM form.
"""

from django.db import connections
from django.db.models.query import FlatValuesListIterable, ValuesIterable, ValuesListIterable

# Far outside any id or count the app stores, so a marker cannot be mistaken for a constant
# the query itself holds.
_MARKER_BASE = -7_300_000_000_000_000_000


class Compiled:
    """`Compiled(build, int, list)`: `build(quarter_id, ids)` returns a `.values()` or
    `.values_list()` queryset; calling the Compiled object with the same arguments returns
    its rows as a list. Argument kinds: `int`, or `list` (of ints)."""

    def __init__(self, build, *kinds):
        if any(kind not in (int, list) for kind in kinds):
            raise TypeError("Compiled arguments are int or list.")
        self.build = build
        self.kinds = kinds
        self._plans = {}  # database alias -> plan, or None when it refused

    def __call__(self, *args, using="default"):
        if len(args) != len(self.kinds):
            raise TypeError(f"{self.build.__name__} takes {len(self.kinds)} arguments.")
        values = [
            [int(x) for x in arg] if kind is list else int(arg)
            for kind, arg in zip(self.kinds, args, strict=True)
        ]
        connection = connections[using]
        plan = self._plans.get(using, False)
        if plan is False:
            plan = self._plans[using] = self._plan(using, connection)
        if plan is None or any(
            kind is list and not v for kind, v in zip(self.kinds, values, strict=True)
        ):
            return list(self.build(*args).using(using))
        sql, params, slots, shape, names = plan
        params = list(params)
        for position, index in slots:
            params[position] = values[index]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        width = len(names)
        if shape is ValuesIterable:
            return [dict(zip(names, row, strict=False)) for row in rows]
        if shape is FlatValuesListIterable:
            return [row[0] for row in rows]
        return [tuple(row[:width]) if len(row) != width else row for row in rows]

    def _plan(self, using, connection):
        if connection.vendor != "postgresql":
            return None
        markers = [_MARKER_BASE - i for i in range(len(self.kinds))]
        queryset = self.build(
            *([m] if kind is list else m for kind, m in zip(self.kinds, markers, strict=True))
        ).using(using)
        shape = queryset._iterable_class
        if shape not in (ValuesIterable, ValuesListIterable, FlatValuesListIterable):
            return None
        query = queryset.query
        compiler = query.get_compiler(using)
        sql, params = compiler.as_sql()
        fields = [s[0] for s in compiler.select[: compiler.col_count]]
        if compiler.get_converters(fields) or compiler.has_composite_fields(fields):
            return None
        if shape is ValuesIterable:
            names = (
                list(query.selected)
                if query.selected
                else [*query.extra_select, *query.values_select, *query.annotation_select]
            )
        else:
            names = [None] * compiler.col_count
        slots = []
        for index, (kind, marker) in enumerate(zip(self.kinds, markers, strict=True)):
            wanted = [marker] if kind is list else marker
            found = [p for p, value in enumerate(params) if _same(value, wanted)]
            if not found:
                return None
            slots.extend((position, index) for position in found)
        # No other parameter may carry a marker in another form (a list's marker spread out
        # as a scalar, say): the query would then not run with the caller's values.
        used = {p for p, _ in slots}
        for p, value in enumerate(params):
            if p not in used and any(_holds(value, m) for m in markers):
                return None
        return sql, tuple(params), slots, shape, names


def _same(value, wanted):
    if isinstance(wanted, list):
        return isinstance(value, list | tuple) and list(value) == wanted
    return type(value) is int and value == wanted


def _holds(value, marker):
    if isinstance(value, list | tuple):
        return any(_holds(v, marker) for v in value)
    return value == marker
