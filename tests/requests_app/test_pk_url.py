"""{% pk_url %} gives list rows the same URLs as {% url %}, without resolving each row."""

import pytest
from django.template import Context, Template
from django.urls import NoReverseMatch, reverse
from django.urls.base import set_script_prefix

from requests_app.templatetags.requests_extras import pk_url


@pytest.mark.parametrize(
    "name, extra",
    [
        ("requests:detail", ()),
        ("requests:move", ("escalate",)),
        ("review_decide", ()),
        ("review_estimate", ()),
    ],
)
@pytest.mark.parametrize("pk", [1, 42, 987654, 2**31 - 1])
def test_it_gives_the_url_reverse_gives(name, extra, pk):
    assert pk_url(name, pk, *extra) == reverse(name, args=[pk, *extra])


def test_it_follows_the_script_prefix_of_a_sub_path_deployment():
    set_script_prefix("/budget-tool/")
    try:
        assert pk_url("requests:detail", 7) == "/budget-tool/requests/7/"
    finally:
        set_script_prefix("/")
    assert pk_url("requests:detail", 7) == "/requests/7/"


def test_it_renders_in_a_template_and_assigns_with_as():
    html = Template(
        "{% load requests_extras %}{% pk_url 'requests:detail' pk %}|"
        "{% pk_url 'requests:move' pk 'escalate' as url %}{{ url }}"
    ).render(Context({"pk": 5}))
    assert html == "/requests/5/|/requests/5/escalate/"


def test_a_url_without_an_id_fails_as_url_would():
    with pytest.raises(NoReverseMatch):
        pk_url("requests:list", 5)
