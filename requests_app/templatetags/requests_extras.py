from django import template

register = template.Library()


@register.filter
def arr(totals):
    """{'EUR': 50000, 'USD': 120000} -> 'EUR 50,000 · USD 120,000'."""
    if not totals:
        return "—"
    return " · ".join(f"{currency} {amount:,.0f}" for currency, amount in totals.items())
