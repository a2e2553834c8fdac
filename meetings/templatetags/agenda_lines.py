"""The agenda's lists, one <li> per line, joined in Python.

A week of a big company's agenda is some 800 lines (every decision, escalation and deal
closing); through the template engine they cost more than the rest of the page together. The
markup is the template's: each value escaped as autoescaping would and numbers printed plainly,
as under {% localize off %}; a key an older stored agenda lacks prints nothing, as a missing
variable does."""

from django import template
from django.utils.safestring import mark_safe

from meetings.html import text

register = template.Library()


def _values(item, *keys):
    get = item.get
    return [text(get(key, "")) for key in keys]


def _join(items, line):
    return mark_safe("".join(map(line, items)))  # noqa: S308 (each value passed through text())


def _escalation(e):
    pk, title, quarter, actor, when = _values(e, "id", "title", "quarter", "actor", "when")
    return f"<li>#{pk} {title} → {quarter} ({actor}, {when})</li>"


def _decision(e):
    pk, title, action, actor, when, reason = _values(
        e, "id", "title", "action", "actor", "when", "reason"
    )
    said = f": “{reason}”" if e.get("reason") else ""
    return f"<li>#{pk} {title}: {action} by {actor} ({when}){said}</li>"


def _change(c):
    kind, points, quarter, when, reason = _values(c, "kind", "points", "quarter", "when", "reason")
    return f"<li>{kind} {points} points ({quarter}, {when}): {reason}</li>"


def _deferred(r):
    pk, title, quarter, opens = _values(r, "id", "title", "quarter", "opens")
    return f"<li>#{pk} {title}: {quarter} opens {opens}</li>"


def _deal(d):
    account, amount, stage, closes, request, title = _values(
        d, "account", "amount", "stage", "closes", "request", "title"
    )
    status = text(str(d.get("status", "")).lower())  # {{ d.status|lower }}
    return f"<li>{account} ({amount}, {stage}) closes {closes}: #{request} {title} is {status}</li>"


def _action_item(a):
    title, owner, due = _values(a, "title", "owner", "due")
    overdue = " (overdue)" if a.get("overdue") else ""
    return f"<li>{title}: {owner}, due {due}{overdue}</li>"


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
