"""The agenda's lists, one <li> per line, joined in Python.

A week of a big company's agenda is some 800 lines (every decision, escalation and deal
closing); through the template engine they cost more than the rest of the page together. The
markup is the template's: each value escaped as autoescaping would and numbers printed plainly,
as under {% localize off %}; a key an older stored agenda lacks prints nothing, as a missing
variable does."""

from html import escape

from django import template
from django.utils.safestring import mark_safe

from meetings.html import text

register = template.Library()


def _line(template, values):
    """`template` (markup-free text: no &, <, >, " or ') with `values` in it, escaped once as
    a whole: the same as escaping each value (escaping works character by character), for a
    sixth of the calls. A value with its own markup (__html__) keeps it: each value goes
    through text() then, as the template engine would print it."""
    for value in values:
        kind = type(value)
        if kind is not str and kind is not int:
            break
    else:
        return f"<li>{escape(template.format(*values))}</li>"
    return f"<li>{template.format(*map(text, values))}</li>"


def _values(item, *keys):
    get = item.get
    return [get(key, "") for key in keys]


def _join(items, line):
    return mark_safe("".join(map(line, items)))  # noqa: S308 (each line passed through _line())


def _escalation(e):
    return _line("#{} {} → {} ({}, {})", _values(e, "id", "title", "quarter", "actor", "when"))


def _decision(e):
    values = _values(e, "id", "title", "action", "actor", "when")
    if e.get("reason"):
        return _line("#{} {}: {} by {} ({}): “{}”", [*values, e["reason"]])
    return _line("#{} {}: {} by {} ({})", values)


def _change(c):
    return _line(
        "{} {} points ({}, {}): {}", _values(c, "kind", "points", "quarter", "when", "reason")
    )


def _deferred(r):
    return _line("#{} {}: {} opens {}", _values(r, "id", "title", "quarter", "opens"))


def _deal(d):
    values = _values(d, "account", "amount", "stage", "closes", "request", "title")
    status = str(d.get("status", "")).lower()  # {{ d.status|lower }}
    return _line("{} ({}, {}) closes {}: #{} {} is {}", [*values, status])


def _action_item(a):
    overdue = " (overdue)" if a.get("overdue") else ""
    return _line("{}: {}, due {}" + overdue, _values(a, "title", "owner", "due"))


def _lines_filter(name, line):
    """A filter joining one agenda list's items, each printed by `line`."""

    def lines(items):
        return _join(items, line)

    lines.__name__ = name
    return register.filter(name, lines)


escalation_lines = _lines_filter("escalation_lines", _escalation)
decision_lines = _lines_filter("decision_lines", _decision)
change_lines = _lines_filter("change_lines", _change)
deferred_lines = _lines_filter("deferred_lines", _deferred)
deal_lines = _lines_filter("deal_lines", _deal)
action_item_lines = _lines_filter("action_item_lines", _action_item)
