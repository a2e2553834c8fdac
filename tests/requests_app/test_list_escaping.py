"""Text people typed is shown as text on the ranked lists, never run as markup.

The rows of the queue, the review and the inbox are printed by Jinja2 templates
(config/jinja2.py); these pages must escape a title, a team name and a person's name as the
Django templates around them do."""

import pytest

from requests_app.models import FeatureRequest, Status

from .test_ranked_pages import queued, submitted_to

pytestmark = pytest.mark.django_db

TITLE = '<script>alert("t")</script> & <b>bold</b>'
TEAM = "<img src=x onerror=alert(1)>"
NAME = "<i>Rep</i>"


@pytest.fixture
def marked_up(cast, quarters):
    """A queued request and a submitted one whose title, team and author name hold markup."""
    cast.manager.team_name = TEAM
    cast.manager.save()
    cast.rep.first_name = NAME
    cast.rep.save()
    queued_pk, submitted_pk = queued(cast, quarters[0], 1) + submitted_to(cast.manager, cast.rep, 1)
    FeatureRequest.objects.filter(pk__in=[queued_pk, submitted_pk]).update(title=TITLE)
    return quarters[0]


def _page(client, user, path):
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize(
    ("who", "path", "shown"),
    [
        ("hos", "/queue/?quarter={slug}", [TITLE, TEAM]),
        ("hop", "/review/?quarter={slug}", [TITLE, TEAM]),
        ("manager", "/inbox/", [TITLE, NAME]),
        ("hos", "/inbox/", [TITLE, NAME, TEAM]),
    ],
)
def test_markup_in_rows_is_printed_as_text(client, cast, marked_up, who, path, shown):
    html = _page(client, getattr(cast, who), path.format(slug=marked_up.slug))
    assert "<script>" not in html and "<img src=x" not in html and "<i>Rep</i>" not in html
    assert "<b>bold</b>" not in html
    for text in shown:
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert escaped.replace('"', "&#34;") in html or escaped.replace('"', "&quot;") in html


def test_a_row_of_the_queue_links_its_request_with_its_title(client, cast, marked_up):
    html = _page(client, cast.hos, f"/queue/?quarter={marked_up.slug}")
    pk = FeatureRequest.objects.get(status=Status.ESCALATED).pk
    assert f'<a href="/requests/{pk}/">&lt;script&gt;' in html
