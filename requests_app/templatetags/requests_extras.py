from functools import lru_cache, partial

from django import template
from django.template import engines
from django.urls import get_script_prefix, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def arr(totals):
    """{'EUR': 50000, 'USD': 120000} -> 'EUR 50,000 · USD 120,000'."""
    if not totals:
        return "—"
    return " · ".join(f"{currency} {amount:,.0f}" for currency, amount in totals.items())


# A placeholder no real id takes: reversed once, then swapped for each row's id.
_PK_PLACEHOLDER = 987654321987


@lru_cache(maxsize=256)
def _url_around_pk(prefix, name, extra):
    """(before, after): the URL of `name` with the placeholder id cut out. Keyed on the
    script prefix too, so a deployment under a sub-path gets its own."""
    url = reverse(name, args=[_PK_PLACEHOLDER, *extra])
    before, found, after = url.partition(str(_PK_PLACEHOLDER))
    if not found:
        raise ValueError(f"{name} does not take the id as its first argument")
    return before, after


@register.simple_tag
def pk_url(name, pk, *extra):
    """{% url name pk %} for list rows: the same URL, without running the URL resolver for
    every row (reverse() was a third of a 50-row ranked page's rendering)."""
    return _pk_url(get_script_prefix(), name, pk, *extra)


def _pk_url(prefix, name, pk, *extra):
    before, after = _url_around_pk(prefix, name, extra)
    return f"{before}{int(pk)}{after}"


@register.simple_tag(takes_context=True)
def jinja(context, template_name, **extra):
    """Prints the Jinja2 template `template_name` (under templates/jinja2/) with this
    template's context and `extra`: the row loops of long lists (config/jinja2.py says why).

    `csrf_input` is the same hidden field {% csrf_token %} prints, masked once for the page."""
    values = context.flatten()
    values.update(extra)
    values["pk_url"] = partial(_pk_url, get_script_prefix())  # looked up once a page
    token = values.get("csrf_token")
    values["csrf_input"] = (
        format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)
        if token and token != "NOTPROVIDED"
        else ""
    )
    html = engines["jinja2"].get_template(template_name).template.render(values)
    return mark_safe(html)  # noqa: S308 (Jinja2 escaped every value it printed)
