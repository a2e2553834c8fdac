"""HTML built in Python where the template engine cost too much per line: the agenda's lists
and the action-item owner's options."""

from html import escape


def text(value):
    """What {{ value }} prints with autoescaping on and localization off: Django's
    conditional_escape() without its lazy-string wrapper, which cost more than the escaping.
    Plain strings and integers, nearly every value, are told apart first: a page escapes
    some 6,000 of them."""
    kind = type(value)
    if kind is str:
        return escape(value)
    if kind is int:
        return str(value)
    if hasattr(value, "__html__"):
        return value.__html__()
    return escape(str(value))
