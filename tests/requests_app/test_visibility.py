"""Who sees what (DOMAIN.md), through the pages: lists never show, and detail pages answer 404
for, what a role may not open; actions on hidden requests answer 404, on visible ones 403."""

import re

import pytest

from requests_app import services

from .conftest import ROLES, STATES, domain_sees, reached_product, status_of

ROW_LINK = re.compile(r'href="/requests/(\d+)/"')


@pytest.fixture
def world(build, cast):
    """One request of the cast's rep in every state, plus the outsider's own draft and
    submitted request (another team's), keyed by (author role, state)."""
    escalated = build.make("escalated")  # also what the merged ones were merged into
    world = {
        ("author", state): escalated
        if state == "escalated"
        else build.make(state, merge_target=escalated)
        for state in STATES
    }
    for state in ("draft", "submitted", "escalated"):
        world[("outsider", state)] = build.make(state, author=cast.outsider)
    return world


def _expected(role, author_role, state):
    """domain_sees() for a request written by `author_role` (author or outsider)."""
    if author_role == "author":
        return domain_sees(role, status_of(state), escalated=reached_product(state))
    # For the outsider's requests the two teams swap places.
    mirror = {
        "outsider": "author",
        "other_manager": "manager",
        "author": "outsider",
        "manager": "other_manager",
    }
    return domain_sees(mirror.get(role, role), status_of(state), escalated=reached_product(state))


def _listed(client, **params):
    ids, page = set(), 1
    while True:
        response = client.get("/requests/", {**params, "page": page})
        assert response.status_code == 200
        ids |= {int(pk) for pk in ROW_LINK.findall(response.content.decode())}
        if "Next →" not in response.content.decode():
            return ids
        page += 1


@pytest.mark.parametrize("role", ROLES)
def test_lists_and_detail_pages_show_exactly_what_the_role_may_see(build, world, login, role):
    client = login(build.user(role))
    expected = {
        fr.pk for (author_role, state), fr in world.items() if _expected(role, author_role, state)
    }

    assert _listed(client) == expected
    for (author_role, state), fr in world.items():
        response = client.get(f"/requests/{fr.pk}/")
        want = 200 if fr.pk in expected else 404
        assert response.status_code == want, (author_role, state)


@pytest.mark.parametrize("role", ROLES)
def test_a_status_filter_does_not_reveal_hidden_requests(build, world, login, role):
    client = login(build.user(role))
    for status in ("draft", "submitted", "returned", "rejected", "withdrawn", "merged"):
        expected = {
            fr.pk
            for (author_role, state), fr in world.items()
            if status_of(state) == status and _expected(role, author_role, state)
        }
        assert _listed(client, status=status) == expected, status


def test_product_roles_see_escalated_and_later_but_not_what_the_manager_holds(build, world, login):
    client = login(build.user("pm"))
    for state in ("escalated", "deferred", "declined", "cancelled", "approved", "shipped"):
        assert client.get(f"/requests/{world[('author', state)].pk}/").status_code == 200
    for state in ("draft", "submitted", "returned", "rejected", "withdrawn", "merged"):
        assert client.get(f"/requests/{world[('author', state)].pk}/").status_code == 404


def test_a_draft_withdrawn_before_submitting_stays_the_authors_alone(build, cast, login):
    fr = build.make("draft")
    services.request_withdraw(fr=fr, actor=cast.rep)
    assert login(cast.rep).get(f"/requests/{fr.pk}/").status_code == 200
    for role in ("manager", "hos", "pm", "hop", "outsider", "admin"):
        client = login(build.user(role))
        assert client.get(f"/requests/{fr.pk}/").status_code == 404
        assert fr.pk not in _listed(client)


def test_admin_sees_the_roadmap_only(build, world, login):
    client = login(build.user("admin"))
    visible = {
        state
        for state in STATES
        if client.get(f"/requests/{world[('author', state)].pk}/").status_code == 200
    }
    assert visible == {"approved", "in_progress", "shipped"}


@pytest.mark.parametrize("role", ROLES)
def test_internal_product_notes_are_shown_to_product_roles_only(build, cast, login, role):
    fr = build.make("escalated")
    services.note_add(fr=fr, actor=cast.pm, body="Internal: overlaps with the Q3 rewrite.")
    services.comment_add(fr=fr, actor=cast.manager, body="Public: customers keep asking.")
    user = build.user(role)
    response = login(user).get(f"/requests/{fr.pk}/")

    if role == "admin":
        assert response.status_code == 404
        return
    html = response.content.decode()
    assert "Public: customers keep asking." in html
    shows_notes = role in ("pm", "hop")
    assert ("Internal: overlaps with the Q3 rewrite." in html) is shows_notes
    assert ("Internal product notes" in html) is shows_notes


def test_a_merged_request_does_not_reveal_a_target_the_user_cannot_open(build, cast, login):
    target = build.make("submitted", title="Still in the East inbox")
    fr = build.make("escalated")
    services.request_merge(fr=fr, target=target, actor=cast.manager)

    for user in (cast.pm, cast.outsider, cast.other_manager):
        html = login(user).get(f"/requests/{fr.pk}/").content.decode()
        assert "Still in the East inbox" not in html
        assert f"/requests/{target.pk}/" not in html
    html = login(cast.manager).get(f"/requests/{fr.pk}/").content.decode()
    assert f'merged into <a href="/requests/{target.pk}/">' in html


def test_a_non_product_user_cannot_add_a_note_even_to_a_visible_request(build, cast, login):
    fr = build.make("escalated")
    response = login(cast.hos).post(f"/requests/{fr.pk}/notes/", {"body": "Sneaky"})
    assert response.status_code == 403
    assert not fr.notes.exists()


# --- Actions on hidden and visible requests ------------------------------------------------


@pytest.mark.parametrize(
    "role, state, action",
    [
        ("manager", "draft", "submit"),
        ("manager", "draft", "withdraw"),
        ("hos", "draft", "escalate"),
        ("pm", "submitted", "escalate"),
        ("hop", "submitted", "merge"),
        ("hop", "returned", "withdraw"),
        ("pm", "rejected", "withdraw"),
        ("other_manager", "submitted", "reject"),
        ("outsider", "submitted", "withdraw"),
        ("admin", "escalated", "withdraw"),
        ("admin", "deferred", "reopen"),
    ],
)
def test_an_action_on_a_hidden_request_answers_404(build, login, role, state, action):
    fr = build.make(state)
    response = login(build.user(role)).post(
        f"/requests/{fr.pk}/{action}/", {"reason": "Because", "quarter": build.current.slug}
    )
    assert response.status_code == 404
    assert type(fr).objects.get(pk=fr.pk).status == fr.status


@pytest.mark.parametrize(
    "role, state, action",
    [
        ("manager", "returned", "submit"),
        ("hos", "returned", "submit"),
        ("author", "submitted", "escalate"),
        ("author", "submitted", "reject"),
        ("outsider", "escalated", "withdraw"),
        ("other_manager", "escalated", "withdraw"),
        ("other_manager", "escalated", "merge"),
        ("pm", "escalated", "withdraw"),
        ("pm", "escalated", "merge"),
        ("manager", "deferred", "reopen"),
        ("hop", "deferred", "reopen"),
    ],
)
def test_an_action_a_user_may_see_but_not_take_answers_403(build, login, role, state, action):
    target = build.make("escalated")
    fr = build.make(state)
    response = login(build.user(role)).post(
        f"/requests/{fr.pk}/{action}/",
        {"reason": "Because", "quarter": build.current.slug, "target": target.pk},
    )
    assert response.status_code == 403
    assert type(fr).objects.get(pk=fr.pk).status == fr.status


@pytest.mark.parametrize(
    "path",
    [
        "/requests/{pk}/",
        "/requests/{pk}/edit/",
    ],
)
def test_an_unknown_request_answers_404(build, login, path):
    fr = build.make("escalated")
    client = login(build.user("hos"))
    assert client.get(path.format(pk=fr.pk + 1000)).status_code == 404


@pytest.mark.parametrize(
    "path", ["escalate", "withdraw", "merge", "deals", "comments", "notes", "follow"]
)
def test_posting_to_an_unknown_request_answers_404(build, login, path):
    fr = build.make("escalated")
    client = login(build.user("hos"))
    assert client.post(f"/requests/{fr.pk + 1000}/{path}/", {"body": "x"}).status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(build, client):
    fr = build.make("shipped")
    for url in ("/requests/", f"/requests/{fr.pk}/"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response["Location"]
