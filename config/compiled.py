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
  argument used twice is put in both places), or compiling with two sets of markers gives
  different SQL or different other parameters (see _ODD and _ORDINARY);
- when an argument is not of its kind (None, a naive datetime);
- when a selected column needs one of Django's converters;
- when a list argument is empty (the ORM leaves out the query, or a union's part, then).

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

# Each query is compiled with two sets of markers, odd and ordinary, and kept only if both
# give the same SQL, the markers in the same places and the same other parameters. Odd
# markers (far outside any id, count or time the app stores) cannot be mistaken for a
# constant of the query; ordinary ones (in range for any integer column, a day this century)
# catch what odd ones hide: Django writes a condition differently, or leaves it out, for a
# value beyond a column's range, and a value computed from an argument differs between them.
_ODD = (-7_300_000_000_000_000_000, dt.date(1901, 1, 1), dt.datetime(1901, 1, 1, tzinfo=dt.UTC))
_ORDINARY = (30_011, dt.date(2031, 7, 13), dt.datetime(2031, 7, 13, 4, 5, 6, tzinfo=dt.UTC))
KINDS = (int, list, dt.date, dt.datetime)
SHAPES = (ValuesIterable, ValuesListIterable, FlatValuesListIterable, NamedValuesListIterable)


def _markers(kinds, base):
    number, day, time = base
    markers = []
    for i, kind in enumerate(kinds):
        if kind is dt.datetime:
            markers.append(time + dt.timedelta(microseconds=i + 1))
        elif kind is dt.date:
            markers.append(day + dt.timedelta(days=i))
        else:
            marker = number - 17 * i if number < 0 else number + 17 * i
            markers.append([marker] if kind is list else marker)
    return markers


def _value(kind, arg):
    """The argument as the SQL takes it; TypeError or ValueError for one it would not."""
    if kind is list:
        return [int(x) for x in arg]
    if kind is int:
        if isinstance(arg, bool) or not isinstance(arg, int):
            raise TypeError("not an int")
        return arg
    if kind is dt.datetime:
        if not isinstance(arg, dt.datetime) or arg.tzinfo is None:
            raise TypeError("not an aware datetime")
        return arg
    if isinstance(arg, dt.datetime) or not isinstance(arg, dt.date):
        raise TypeError("not a date")
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
        # A list argument may come as any iterable (a set, a generator): read it once.
        args = [list(a) if kind is list else a for kind, a in zip(self.kinds, args, strict=True)]
        try:
            values = [_value(kind, arg) for kind, arg in zip(self.kinds, args, strict=True)]
        except (TypeError, ValueError):
            values = None  # None, a naive time, ...: what the ORM makes of it
        connection = connections[using]
        plan = self._plans.get(using, False)
        if plan is False:
            plan = self._plans[using] = self._plan(using, connection)
        if (
            plan is None
            or values is None
            or any(kind is list and not v for kind, v in zip(self.kinds, values, strict=True))
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
        odd, ordinary = _markers(self.kinds, _ODD), _markers(self.kinds, _ORDINARY)
        first, second = self._compiled(using, odd), self._compiled(using, ordinary)
        if first is None or second is None:
            return None
        (queryset, compiler, sql, params), (_, _, other_sql, other_params) = first, second
        slots = _slots(params, odd)
        if (
            sql != other_sql
            or slots is None
            or slots != _slots(other_params, ordinary)
            or len(params) != len(other_params)
        ):
            return None
        used = {position for position, _ in slots}
        if any(
            params[p] != other_params[p] or type(params[p]) is not type(other_params[p])
            for p in range(len(params))
            if p not in used
        ):
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
        return sql, tuple(params), slots, shaped

    def _compiled(self, using, markers):
        try:
            queryset = self.build(*markers).using(using)
            compiler = queryset.query.get_compiler(using)
            sql, params = compiler.as_sql()
        except Exception:  # noqa: BLE001 (a marker the query cannot take: the ORM runs it as built)
            return None
        return queryset, compiler, sql, params


def _slots(params, markers):
    """[(position, argument index)] of every parameter that is a marker, or None when a marker
    is not found."""
    slots = []
    for index, wanted in enumerate(markers):
        found = [p for p, value in enumerate(params) if _same(value, wanted)]
        if not found:
            return None
        slots.extend((position, index) for position in found)
    return sorted(slots)


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
    return type(value) is type(wanted) and value == wanted
