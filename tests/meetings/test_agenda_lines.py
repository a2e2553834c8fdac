"""The agenda's lists are joined in Python ({% load agenda_lines %}) for speed; each line must
be what the template loop it replaced printed: the same markup, every value escaped, numbers
plain, a key an older stored agenda lacks printed as nothing."""

import pytest
from django.template import Context, Template

from meetings.templatetags import agenda_lines

# The loops _agenda.html had, one per list, under {% localize off %} as the agenda is now.
TEMPLATE_LOOPS = {
    "escalation_lines": "{% for e in items %}<li>#{{ e.id }} {{ e.title }} → {{ e.quarter }} "
    "({{ e.actor }}, {{ e.when }})</li>{% endfor %}",
    "decision_lines": "{% for e in items %}<li>#{{ e.id }} {{ e.title }}: {{ e.action }} by "
    "{{ e.actor }} ({{ e.when }}){% if e.reason %}: “{{ e.reason }}”{% endif %}</li>{% endfor %}",
    "change_lines": "{% for c in items %}<li>{{ c.kind }} {{ c.points }} points "
    "({{ c.quarter }}, {{ c.when }}): {{ c.reason }}</li>{% endfor %}",
    "deferred_lines": "{% for r in items %}<li>#{{ r.id }} {{ r.title }}: {{ r.quarter }} "
    "opens {{ r.opens }}</li>{% endfor %}",
    "deal_lines": "{% for d in items %}<li>{{ d.account }} ({{ d.amount }}, {{ d.stage }}) "
    "closes {{ d.closes }}: #{{ d.request }} {{ d.title }} is {{ d.status|lower }}</li>"
    "{% endfor %}",
    "action_item_lines": "{% for a in items %}<li>{{ a.title }}: {{ a.owner }}, due {{ a.due }}"
    "{% if a.overdue %} (overdue){% endif %}</li>{% endfor %}",
}

NASTY = '<b>Tom & "Jerry"</b>\'s'

LINES = [
    # Plain values, as build_agenda() makes them.
    {
        "id": 12345,
        "title": "Export invoices",
        "quarter": "FY2027 Q1",
        "actor": "Hop Bench",
        "when": "1 Dec 2026",
        "action": "approve product",
        "reason": "",
        "kind": "Change cost",
        "points": 1200,
        "opens": "1 Jan 2027",
        "account": "Acme",
        "amount": "USD 1,200,000",
        "stage": "Proposal",
        "closes": "3 Dec 2026",
        "request": 7,
        "status": "Escalated",
        "owner": "Hos Bench",
        "due": "2 Dec 2026",
        "overdue": True,
    },
    # Markup and quotes in every value a person typed.
    {
        "id": 1,
        "title": NASTY,
        "quarter": "",
        "actor": NASTY,
        "when": "1 Dec 2026",
        "action": "decline",
        "reason": NASTY,
        "kind": NASTY,
        "points": -3,
        "opens": "",
        "account": NASTY,
        "amount": "EUR 0",
        "stage": NASTY,
        "closes": "",
        "request": 2,
        "status": NASTY,
        "owner": NASTY,
        "due": "",
        "overdue": False,
    },
    # A stored agenda from before a key existed, and values that are not strings.
    {"id": 3, "title": None, "points": 2.5, "overdue": None},
]


@pytest.mark.parametrize("name", sorted(TEMPLATE_LOOPS))
def test_each_list_prints_what_its_template_loop_printed(name):
    loop = Template(
        "{% load l10n %}{% localize off %}" + TEMPLATE_LOOPS[name] + "{% endlocalize %}"
    )
    expected = loop.render(Context({"items": LINES}))
    assert getattr(agenda_lines, name)(LINES) == expected
    assert "<b>" not in expected and "&lt;b&gt;" in expected


def test_the_agenda_template_uses_them_and_marks_nothing_else_safe():
    html = Template("{% load agenda_lines %}<ul>{{ items|decision_lines }}</ul>").render(
        Context({"items": LINES})
    )
    assert html.startswith("<ul><li>#12345 Export invoices: approve product by Hop Bench")
    assert NASTY not in html
