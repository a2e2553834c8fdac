"""Bad input through the pages: a 400 with the error on the page, nothing written, never a 500."""

import datetime as dt

import pytest
from django.utils import timezone

from requests_app.models import AuditEvent, Deal, FeatureRequest

from .conftest import snapshot


def new_request_post(button="submit", **overrides):
    data = {
        "title": "Bulk export of invoices",
        "problem": "Finance exports invoices one by one.",
        "proposed_solution": "",
        "importance": "important",
        "theme": "",
        "deals-TOTAL_FORMS": "1",
        "deals-INITIAL_FORMS": "0",
        "deals-MIN_NUM_FORMS": "0",
        "deals-MAX_NUM_FORMS": "20",
        "deals-0-account_name": "Globex",
        "deals-0-amount": "120000",
        "deals-0-currency": "USD",
        "deals-0-stage": "proposal",
        "deals-0-expected_close_date": (timezone.localdate() + dt.timedelta(days=30)).isoformat(),
        "deals-0-crm_ref": "",
        button: "1",
    }
    data.update(overrides)
    return data


def test_the_valid_form_creates_a_request(cast, login):
    """The baseline the cases below spoil one field at a time."""
    response = login(cast.rep).post("/requests/new/", new_request_post())
    assert response.status_code == 302
    assert FeatureRequest.objects.get().status == "submitted"


@pytest.mark.parametrize("button", ["submit", "draft"])
@pytest.mark.parametrize(
    "field, value, error",
    [
        ("title", "", "This field is required."),
        ("title", "   \t ", "This field is required."),
        ("title", "x" * 201, "at most 200 characters"),
        ("problem", "", "This field is required."),
        ("problem", "\n  \n", "This field is required."),
        ("problem", "p" * 1_000_000, "at most 20000 characters"),
        ("importance", "urgent!!", "Select a valid choice."),
        ("theme", "999999", "Select a valid choice."),
        ("deals-0-amount", "-1", "greater than or equal to 0"),
        ("deals-0-amount", "lots", "Enter the ARR as a number"),
        ("deals-0-amount", "1e400", "less than or equal to 100000000000"),
        ("deals-0-amount", "NaN", "Enter the ARR as a number"),
        ("deals-0-amount", "1000000000000", "less than or equal to"),
        ("deals-0-currency", "XYZ", "Choose a currency from the list (XYZ is not one)."),
        ("deals-0-stage", "won-ish", "Select a valid choice."),
        ("deals-0-expected_close_date", "1900-01-01", "Pick a close date within a year back"),
        ("deals-0-expected_close_date", "9999-12-31", "Pick a close date within a year back"),
        ("deals-0-expected_close_date", "yesterday", "Enter a valid date."),
        ("deals-0-account_name", "   ", "This field is required."),
        ("deals-TOTAL_FORMS", "abc", "ManagementForm data is missing or has been tampered"),
        ("deals-TOTAL_FORMS", "21", "Please submit at most 20 forms."),
    ],
)
def test_bad_new_request_answers_400_with_the_error_and_creates_nothing(
    cast, login, button, field, value, error
):
    response = login(cast.rep).post("/requests/new/", new_request_post(button, **{field: value}))

    assert response.status_code == 400
    assert error in response.content.decode()
    assert not FeatureRequest.objects.exists()
    assert not Deal.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_non_rep_cannot_create_requests(cast, login):
    for user in (cast.manager, cast.pm, cast.admin):
        response = login(user).post("/requests/new/", new_request_post())
        assert response.status_code == 403
    assert not FeatureRequest.objects.exists()


@pytest.mark.parametrize("action", ["return", "reject"])
@pytest.mark.parametrize("reason", [None, "", "    "])
def test_return_or_reject_without_a_reason_shows_the_error_and_changes_nothing(
    build, cast, login, action, reason
):
    fr = build.make("submitted")
    before = snapshot()
    data = {} if reason is None else {"reason": reason}

    response = login(cast.manager).post(f"/requests/{fr.pk}/{action}/", data)

    assert response.status_code == 400
    assert "a reason is required" in response.content.decode()
    assert snapshot() == before


@pytest.mark.parametrize("quarter", ["", "FY1900Q1", "not-a-quarter", "999999", "-1"])
def test_escalate_to_an_unknown_quarter_is_refused(build, cast, login, quarter):
    fr = build.make("submitted")
    before = snapshot()
    response = login(cast.manager).post(f"/requests/{fr.pk}/escalate/", {"quarter": quarter})
    assert response.status_code == 400
    assert "Choose the quarter" in response.content.decode()
    assert snapshot() == before


@pytest.mark.parametrize("target", ["", "abc", "0", "99999", "{self}"])
def test_merge_into_a_bad_target_is_refused(build, cast, login, target):
    fr = build.make("escalated")
    before = snapshot()
    response = login(cast.hos).post(
        f"/requests/{fr.pk}/merge/", {"target": target.format(self=fr.pk)}
    )
    assert response.status_code == 400
    assert snapshot() == before


def test_a_move_in_the_wrong_state_answers_409_with_the_reason(build, cast, login):
    fr = build.make("escalated")
    before = snapshot()
    response = login(cast.hos).post(f"/requests/{fr.pk}/reject/", {"reason": "No"})
    assert response.status_code == 409
    assert "Cannot reject this request: it is escalated" in response.content.decode()
    assert snapshot() == before


@pytest.mark.parametrize("action", ["approve_all", "frobnicate", "delete", "MOVES", "__init__"])
def test_an_unknown_action_answers_404(build, cast, login, action):
    fr = build.make("submitted")
    before = snapshot()
    assert login(cast.manager).post(f"/requests/{fr.pk}/{action}/").status_code == 404
    assert snapshot() == before


@pytest.mark.parametrize(
    "suffix", ["escalate/", "withdraw/", "deals/", "comments/", "notes/", "follow/"]
)
def test_get_on_a_post_only_endpoint_answers_405(build, cast, login, suffix):
    fr = build.make("escalated")
    assert login(cast.hos).get(f"/requests/{fr.pk}/{suffix}").status_code == 405


@pytest.mark.parametrize("url", ["/requests/", "/requests/similar/"])
def test_post_on_a_get_only_page_answers_405(cast, login, url):
    assert login(cast.rep).post(url).status_code == 405


@pytest.mark.parametrize(
    "field, value, error",
    [
        ("deal-amount", "-5", "greater than or equal to 0"),
        ("deal-amount", "a lot", "Enter the ARR as a number"),
        ("deal-currency", "XYZ", "XYZ is not one"),
        ("deal-expected_close_date", "1900-01-01", "Pick a close date"),
        ("deal-account_name", "", "This field is required."),
    ],
)
def test_a_bad_deal_on_an_existing_request_answers_400(build, cast, login, field, value, error):
    fr = build.make("escalated")
    before = snapshot()
    data = {
        "deal-account_name": "Initech",
        "deal-amount": "1000",
        "deal-currency": "EUR",
        "deal-stage": "qualified",
        "deal-expected_close_date": (timezone.localdate() + dt.timedelta(days=10)).isoformat(),
        "deal-crm_ref": "",
        field: value,
    }
    response = login(cast.outsider).post(f"/requests/{fr.pk}/deals/", data)
    assert response.status_code == 400
    assert error in response.content.decode()
    assert snapshot() == before


@pytest.mark.parametrize("body", ["", "   \n ", "c" * 5001])
@pytest.mark.parametrize("kind, user", [("comments", "manager"), ("notes", "pm")])
def test_an_empty_or_huge_comment_or_note_is_refused(build, login, kind, user, body):
    fr = build.make("escalated")
    before = snapshot()
    response = login(build.user(user)).post(f"/requests/{fr.pk}/{kind}/", {"body": body})
    assert response.status_code == 400
    assert snapshot() == before
    assert not fr.notes.exists()


@pytest.mark.parametrize(
    "field, value, error",
    [
        ("title", "  ", "This field is required."),
        ("problem", "p" * 20_001, "at most 20000 characters"),
        ("importance", "nope", "Select a valid choice."),
    ],
)
def test_a_bad_edit_answers_400_and_keeps_the_request(build, cast, login, field, value, error):
    fr = build.make("draft")
    data = {
        "title": fr.title,
        "problem": fr.problem,
        "proposed_solution": "",
        "importance": fr.importance,
        "theme": "",
        field: value,
    }
    response = login(cast.rep).post(f"/requests/{fr.pk}/edit/", data)
    assert response.status_code == 400
    assert error in response.content.decode()
    fresh = FeatureRequest.objects.get(pk=fr.pk)
    assert (fresh.title, fresh.problem, fresh.importance) == (fr.title, fr.problem, fr.importance)
    assert not AuditEvent.objects.filter(request=fr, action="edit").exists()


@pytest.mark.parametrize(
    "params",
    [
        {"status": "bogus"},
        {"quarter": "FY9999Q9"},
        {"quarter": "nonsense"},
        {"team": "abc"},
        {"team": "-1"},
        {"importance": "<script>"},
        {"theme": "abc"},
        {"theme": "99999999999999999999"},
        {"theme": "²"},
        {"team": "99999999999999999999"},
        {"team": "²"},
        {"account": "a" * 500},
        {"page": "abc"},
        {"page": "99999"},
        {"page": "-1"},
        {"q": "%_\\'\""},
    ],
)
def test_odd_list_filters_never_fail(build, cast, login, params):
    build.make("escalated")
    response = login(cast.hos).get("/requests/", params)
    assert response.status_code == 200


@pytest.mark.parametrize("team", ["²", "99999999999999999999", "abc", "-3"])
def test_odd_inbox_teams_show_no_team_instead_of_failing(build, cast, login, team):
    build.make("submitted")
    response = login(cast.hos).get("/inbox/", {"team": team})
    assert response.status_code == 200
    assert "No teams." in response.content.decode()


@pytest.mark.parametrize("theme", ["²", "99999999999999999999"])
def test_odd_theme_ids_on_the_themes_page_answer_404(cast, login, theme):
    response = login(cast.hop).post("/requests/themes/", {"theme": theme, "active": "0"})
    assert response.status_code == 404


@pytest.mark.parametrize("title", ["", "a", "x" * 5000, "%%%% ____", "<b>bold</b> words"])
def test_odd_similar_queries_never_fail(build, cast, login, title):
    build.make("escalated")
    assert login(cast.rep).get("/requests/similar/", {"title": title}).status_code == 200


@pytest.mark.parametrize("pk", ["0", "99999999999999999999999"])
def test_absurd_ids_answer_404(cast, login, pk):
    assert login(cast.hos).get(f"/requests/{pk}/").status_code == 404
