"""Text people typed is shown as text on the request page and the budget page, never run as
markup.

Both pages print their content with Jinja2 templates (config/jinja2.py); they must escape
titles, descriptions, deals, comments, notes, names, reasons and team names as the Django
templates around them do."""

import pytest

from budgets.services import budget_set_capacity
from requests_app import services
from requests_app.models import FeatureRequest, ProductTheme

from .conftest import deal_data

pytestmark = pytest.mark.django_db

MARKUP = {
    "title": '<script>alert("title")</script>',
    "problem": "<b>problem</b>",
    "solution": "<u>solution</u>",
    "account": "<i>Account</i>",
    "crm": "<a href=x>crm</a>",
    "rep": "<em>Rep</em>",
    "team": "<img src=x onerror=alert(1)>",
    "theme": "<s>Theme</s>",
    "comment": "<script>comment()</script>",
    "note": "<script>note()</script>",
    "returned": "<marquee>returned</marquee>",
    "other": "<h1>Other title</h1>",
    "capacity": "<blink>capacity</blink>",
    "hop": "<tt>Hop</tt>",
}


def escaped(text):
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&#34;"), text.replace('"', "&quot;")


def assert_printed_as_text(html, *keys):
    for key in keys:
        text = MARKUP[key]
        assert text not in html, f"{key} printed as markup"
        assert any(form in html for form in escaped(text)), f"{key} not shown"


@pytest.fixture
def marked_up(build, cast):
    """An escalated request (and another it may merge into) whose every typed text holds
    markup: returned once with a reason, commented on, noted, with a deal and a follower."""
    cast.rep.first_name = MARKUP["rep"]
    cast.rep.save()
    cast.manager.team_name = MARKUP["team"]
    cast.manager.save()
    theme = ProductTheme.objects.create(name=MARKUP["theme"])
    fr = build.draft(
        title=MARKUP["title"],
        problem=MARKUP["problem"],
        proposed_solution=MARKUP["solution"],
        theme=theme,
        deals=0,
    )
    services.deal_add(
        fr=fr, actor=cast.rep, data=deal_data(account=MARKUP["account"], crm_ref=MARKUP["crm"])
    )
    services.request_submit(fr=fr, actor=cast.rep)
    fr = FeatureRequest.objects.get(pk=fr.pk)
    services.request_return(fr=fr, actor=cast.manager, reason=MARKUP["returned"])
    services.request_submit(fr=FeatureRequest.objects.get(pk=fr.pk), actor=cast.rep)
    fr = services.request_escalate(
        fr=FeatureRequest.objects.get(pk=fr.pk), actor=cast.manager, quarter=build.current
    )
    services.comment_add(fr=fr, actor=cast.rep, body=MARKUP["comment"])
    services.note_add(fr=fr, actor=cast.pm, body=MARKUP["note"])
    build.escalated(title=MARKUP["other"])
    return fr


def test_the_request_page_prints_typed_text_as_text(client, cast, marked_up):
    client.force_login(cast.hop)
    html = client.get(f"/requests/{marked_up.pk}/").content.decode()
    assert_printed_as_text(
        html,
        "title",
        "problem",
        "solution",
        "account",
        "crm",
        "rep",
        "team",
        "theme",
        "comment",
        "note",
        "returned",
        "other",  # a merge choice
    )


def test_the_budget_page_prints_typed_text_as_text(client, build, cast, marked_up):
    cast.hop.first_name = MARKUP["hop"]
    cast.hop.save()
    budget_set_capacity(
        quarter=build.current, capacity=200, actor=cast.hop, reason=MARKUP["capacity"]
    )
    build.decide(marked_up, "approved")  # the ledger's reason names the request's title
    client.force_login(cast.hop)
    html = client.get(f"/budget/{build.current.slug}/").content.decode()
    assert_printed_as_text(html, "capacity", "hop", "title", "team", "theme")
