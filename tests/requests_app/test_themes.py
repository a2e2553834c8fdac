import pytest

from requests_app.models import ProductTheme

pytestmark = pytest.mark.django_db


def test_it_lets_a_product_manager_add_a_theme(client, cast):
    client.force_login(cast.pm)
    response = client.post(
        "/requests/themes/", {"name": "  Enterprise   security ", "description": "SSO"}
    )
    assert response.status_code == 302
    assert list(ProductTheme.objects.values_list("name", flat=True)) == ["Enterprise security"]
    assert "Enterprise security" in client.get("/requests/themes/").content.decode()


def test_it_refuses_duplicate_and_blank_names(client, cast):
    ProductTheme.objects.create(name="Analytics")
    client.force_login(cast.hop)
    dup = client.post("/requests/themes/", {"name": "analytics"})
    blank = client.post("/requests/themes/", {"name": "   "})
    assert dup.status_code == 400 and "already exists" in dup.content.decode()
    assert blank.status_code == 400 and "Name the theme" in blank.content.decode()
    assert ProductTheme.objects.count() == 1


def test_it_retires_a_theme_so_new_requests_cannot_pick_it(client, cast):
    theme = ProductTheme.objects.create(name="Analytics")
    client.force_login(cast.pm)
    client.post("/requests/themes/", {"theme": theme.pk, "active": "0"})
    theme.refresh_from_db()
    assert not theme.is_active
    client.force_login(cast.rep)
    assert "Analytics" not in client.get("/requests/new/").content.decode()


@pytest.mark.parametrize("who", ["rep", "manager", "hos", "admin"])
def test_it_keeps_themes_to_product_roles(client, cast, who):
    client.force_login(getattr(cast, who))
    assert client.get("/requests/themes/").status_code == 403
    assert client.post("/requests/themes/", {"name": "Sneaky"}).status_code == 403
    assert not ProductTheme.objects.exists()


def test_it_answers_404_for_an_unknown_theme(client, cast):
    client.force_login(cast.pm)
    assert client.post("/requests/themes/", {"theme": "999", "active": "0"}).status_code == 404
    assert client.post("/requests/themes/", {"theme": "abc", "active": "0"}).status_code == 404
