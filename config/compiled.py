"""ORM queries compiled to SQL once per process, then run again with new values.

Building a queryset and compiling it costs 0.25 to 0.7 ms of CPU each time a page runs it,
and reading its rows back through the queryset about as much again: measured on the bench
data, the ranked pages' row query took 2.3 ms through the ORM and 1.0 ms as the same SQL
through a cursor. The SQL of such a query never changes, only its values (a quarter's id,
a page of ids), so `Compiled` builds it once with marker values, finds where each marker
lands among the compiled parameters, and from then on runs that SQL with the caller's
values and shapes the rows as the queryset would (dicts for `.values()`, tuples for
`.values_list()`, single values for `flat=True`, named tuples for `named=True`).

It refuses, and runs the ORM query as built every time, whenever it cannot be sure to give
what the ORM gives:
- on a database other than PostgreSQL (a list of ids must be one array parameter, see
  requests_app.services.AnyOf; elsewhere the SQL changes with the list's length);
- when the query cannot be built or compiled with the markers;
- when a marker is not found among the parameters in the form its argument has (an
  argument used twice is put in both places);
- when a selected column needs one of Django's converters;
- when a list argument is empty (the ORM runs no query at all then).

`build` must depend on its arguments alone: whatever else it reads (the time, a setting)
is frozen into the SQL the first time, and so is a slice (LIMIT and OFFSET are written into
the SQL, not passed as parameters), which must therefore be a constant. The queries that
use this are covered by tests/test_compiled.py, which checks each against its ORM form.
"""

import datetime as dt

from django.db import connections
from django.db.models.query import (
    FlatValuesListIterable,
    NamedValuesListIterable,
    ValuesIterable,
    ValuesListIterable,
)
from django.db.models.utils import create_namedtuple_class

# Markers are far outside any id, count or time the app stores, so one cannot be mistaken
# for a constant the query itself holds.
_MARKER_BASE = -7_300_000_000_000_000_000
_MARKER_DAY = dt.date(1901, 1, 1)
_MARKER_TIME = dt.datetime(1901, 1, 1, tzinfo=dt.UTC)
KINDS = (int, list, dt.date, dt.datetime)
SHAPES = (ValuesIterable, ValuesListIterable, FlatValuesListIterable, NamedValuesListIterable)


def _marker(kind, i):
    if kind is dt.datetime:
        return _MARKER_TIME + dt.timedelta(microseconds=i + 1)
    if kind is dt.date:
        return _MARKER_DAY + dt.timedelta(days=i)
    return [_MARKER_BASE - i] if kind is list else _MARKER_BASE - i


def _value(kind, arg):
    if kind is list:
        return [int(x) for x in arg]
    if kind is int:
        return int(arg)
    if kind is dt.datetime:
        if not isinstance(arg, dt.datetime) or arg.tzinfo is None:
            raise TypeError("A Compiled datetime argument is an aware datetime.")
        return arg
    if isinstance(arg, dt.datetime) or not isinstance(arg, dt.date):
        raise TypeError("A Compiled date argument is a date.")
    return arg


class Compiled:
    """`Compiled(build, int, list)`: `build(quarter_id, ids)` returns a `.values()` or
    `.values_list()` queryset; calling the Compiled object with the same arguments returns
    its rows as a list. Argument kinds: `int`, `list` (of ints), `datetime.date` and
    `datetime.datetime` (aware)."""

    def __init__(self, build, *kinds):
        if any(kind not in KINDS for kind in kinds):
            raise TypeError("Compiled arguments are int, list, date or datetime.")
        self.build = build
        self.kinds = kinds
        self._plans = {}  # database alias -> plan, or None when it refused

    def __call__(self, *args, using="default"):
        if len(args) != len(self.kinds):
            raise TypeError(f"{self.build.__name__} takes {len(self.kinds)} arguments.")
        values = [_value(kind, arg) for kind, arg in zip(self.kinds, args, strict=True)]
        connection = connections[using]
        plan = self._plans.get(using, False)
        if plan is False:
            plan = self._plans[using] = self._plan(using, connection)
        if plan is None or any(
            kind is list and not v for kind, v in zip(self.kinds, values, strict=True)
        ):
            return list(self.build(*args).using(using))
        sql, params, slots, shaped = plan
        params = list(params)
        for position, index in slots:
            params[position] = values[index]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return shaped(cursor.fetchall())

    def _plan(self, using, connection):
        if connection.vendor != "postgresql":
            return None
        markers = [_marker(kind, i) for i, kind in enumerate(self.kinds)]
        try:
            queryset = self.build(*markers).using(using)
            compiler = queryset.query.get_compiler(using)
            sql, params = compiler.as_sql()
        except Exception:  # noqa: BLE001 (a marker the query cannot take: the ORM runs it as built)
            return None
        shape = queryset._iterable_class
        if shape not in SHAPES:
            return None
        fields = [s[0] for s in compiler.select[: compiler.col_count]]
        if compiler.get_converters(fields) or compiler.has_composite_fields(fields):
            return None
        shaped = _shaper(queryset, compiler.col_count)
        if shaped is None:
            return None
        slots = []
        for index, wanted in enumerate(markers):
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
        return sql, tuple(params), slots, shaped


def _shaper(queryset, width):
    """rows -> what iterating `queryset` gives: dicts, tuples, single values or named tuples
    (the columns a query selects beyond `width`, for its ordering, left out)."""
    query, shape = queryset.query, queryset._iterable_class
    names = (
        list(query.selected)
        if query.selected
        else [*query.extra_select, *query.values_select, *query.annotation_select]
    )
    if shape is ValuesIterable:
        if len(names) != width:
            return None
        return lambda rows: [dict(zip(names, row[:width], strict=True)) for row in rows]
    if shape is FlatValuesListIterable:
        return lambda rows: [row[0] for row in rows]
    if shape is NamedValuesListIterable:
        named = create_namedtuple_class(*(queryset._fields or names))
        new = tuple.__new__
        return lambda rows: [new(named, row[:width]) for row in rows]
    return lambda rows: [row[:width] for row in rows]


def _same(value, wanted):
    if isinstance(wanted, list):
        return isinstance(value, list | tuple) and list(value) == wanted
    return type(value) is type(wanted) and value == wanted


def _holds(value, marker):
    if isinstance(value, list | tuple):
        return any(_holds(v, marker) for v in value)
    return value == marker
