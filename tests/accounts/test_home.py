"""The home dashboard: the current and next quarters' budgets, for every role."""

import pytest
from django.urls import reverse

ROLES = ["rep", "manager", "hos", "pm", "hop", "admin"]


def stat(response, name, quarter):
    """The number shown in the element marked data-testid="<name>-<quarter slug>"."""
    html = response.content.decode()
    marker = f'data-testid="{name}-{quarter.slug}">'
    assert marker in html, f"{marker} not on the page"
    return html.split(marker, 1)[1].split("<", 1)[0].strip()


def test_it_sends_anonymous_visitors_to_sign_in(client, db):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/"


@pytest.mark.parametrize("who", ROLES)
def test_it_shows_the_current_quarters_budget(client, cast, funded, who):
    client.force_login(getattr(cast, who))

    response = client.get(reverse("home"))

    assert response.status_code == 200
    assert stat(response, "allocated", funded) == "40"
    assert stat(response, "reserved", funded) == "0"
    assert stat(response, "remaining", funded) == "40"
    assert reverse("budgets:quarter", args=[funded.slug]).encode() in response.content


def test_it_shows_the_next_quarter_too(client, cast, funded, quarters):
    upcoming = quarters[1]
    client.force_login(cast.hos)

    response = client.get(reverse("home"))

    assert upcoming.label.encode() in response.content
    assert f'data-testid="no-capacity-{upcoming.slug}"'.encode() in response.content


def test_it_creates_the_open_quarters_on_first_visit(client, cast):
    from budgets.models import Quarter

    client.force_login(cast.rep)
    assert client.get(reverse("home")).status_code == 200
    assert Quarter.objects.count() == 2


def test_it_offers_the_head_of_product_to_set_capacity(client, cast, quarters):
    current = quarters[0]
    client.force_login(cast.hop)

    response = client.get(reverse("home"))

    link = f'href="{reverse("budgets:quarter", args=[current.slug])}#capacity"'
    assert link.encode() in response.content
    assert b"set it now" in response.content


@pytest.mark.parametrize("who", ["rep", "manager", "hos", "pm", "admin"])
def test_it_tells_everyone_else_who_sets_capacity(client, cast, quarters, who):
    client.force_login(getattr(cast, who))

    response = client.get(reverse("home"))

    assert b"#capacity" not in response.content
    assert b"the Head of Product sets it" in response.content


def test_once_capacity_is_set_the_link_is_gone_for_that_quarter(client, cast, funded):
    client.force_login(cast.hop)

    response = client.get(reverse("home"))

    assert f'data-testid="no-capacity-{funded.slug}"'.encode() not in response.content
