"""The OpenAPI schema validates without warnings, and the schema and docs are served without
any third-party CDN."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from .conftest import API

ROOT = Path(settings.BASE_DIR)


def test_the_schema_validates_with_no_warnings():
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file",
         "/dev/null"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stderr and "Error" not in result.stderr, result.stderr


@pytest.mark.django_db
@pytest.mark.parametrize("who", [None, "rep"])
def test_the_schema_is_served_and_lists_every_endpoint(api, cast, who):
    response = api(getattr(cast, who) if who else None).get(f"{API}/schema/")

    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path in [
        "/api/v1/auth/token/",
        "/api/v1/me/",
        "/api/v1/quarters/",
        "/api/v1/quarters/{slug}/",
        "/api/v1/requests/",
        "/api/v1/requests/{id}/",
        "/api/v1/requests/{id}/events/",
        "/api/v1/requests/{id}/{action}/",
        "/api/v1/queues/{slug}/",
        "/api/v1/queues/{slug}/ranking/",
        "/api/v1/inbox/",
        "/api/v1/inbox/ranking/",
        "/api/v1/roadmap/",
        "/api/v1/meetings/{id}/agenda/",
        "/api/v1/users/",
        "/api/v1/themes/",
        "/api/v1/themes/{id}/",
        "/api/v1/requests/{id}/comments/",
        "/api/v1/requests/{id}/deals/",
        "/api/v1/meetings/",
        "/api/v1/meetings/{id}/",
        "/api/v1/meetings/{id}/decisions/",
        "/api/v1/meetings/{id}/actions/",
        "/api/v1/meetings/{id}/actions/{item_id}/",
    ]:
        assert path in paths, path
    assert "tokenAuth" in schema["components"]["securitySchemes"]
    # Every operation that answers with JSON says so (the inbox ranking once claimed no body).
    for path, operations in paths.items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status != "204":
                    assert "application/json" in response.get("content", {}), (method, path)


@pytest.mark.django_db
@pytest.mark.parametrize("who", [None, "hop"])
def test_the_docs_are_served_from_this_site_only(api, cast, who):
    response = api(getattr(cast, who) if who else None).get(f"{API}/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger" in html.lower()
    # Swagger UI's set-up script is a file of its own, so the page needs no inline script
    # under the Content-Security-Policy.
    assert "<script>" not in html
    script = api(getattr(cast, who) if who else None).get(f"{API}/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    for cdn in ("https://cdn", "unpkg", "jsdelivr", "cdnjs", "googleapis"):
        assert cdn not in html, cdn
        assert cdn not in script.content.decode(), cdn
    assert "/api/v1/schema/" in script.content.decode()


ERROR = "#/components/schemas/Error"
FIELD_ERRORS = "#/components/schemas/FieldErrors"
# Where the services can refuse with 403 or 409, by hand from DOMAIN.md: role checks and state.
FORBIDDEN_OR_CONFLICT = {
    ("post", "/api/v1/requests/{id}/{action}/"): {"403", "409"},
    ("patch", "/api/v1/requests/{id}/"): {"403", "409"},
    ("post", "/api/v1/requests/"): {"403"},
    ("put", "/api/v1/queues/{slug}/ranking/"): {"403", "409"},
    ("put", "/api/v1/inbox/ranking/"): {"403", "409"},
    ("get", "/api/v1/inbox/"): {"403"},
    ("get", "/api/v1/queues/{slug}/"): {"403"},
    ("post", "/api/v1/requests/{id}/comments/"): {"403"},
    ("post", "/api/v1/requests/{id}/deals/"): {"403"},
    ("post", "/api/v1/themes/"): {"403"},
    ("patch", "/api/v1/themes/{id}/"): {"403"},
    ("post", "/api/v1/meetings/{id}/decisions/"): {"403", "409"},
    ("patch", "/api/v1/meetings/{id}/actions/{item_id}/"): {"403"},
}


@pytest.mark.django_db
def test_every_operation_describes_its_errors_with_the_shared_shapes(api, cast):
    schema = yaml.safe_load(api(cast.rep).get(f"{API}/schema/").content)
    assert set(schema["components"]["schemas"]["Error"]["required"]) == {"detail", "code"}
    assert schema["components"]["schemas"]["FieldErrors"]["additionalProperties"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            where, responses = (method, path), operation["responses"]

            def ref(status, responses=responses):
                return responses[status]["content"]["application/json"]["schema"]["$ref"]

            # Even the open token endpoint answers a wrong password with 401.
            assert ref("401") == ERROR, where
            if "{" in path:
                assert ref("404") == ERROR, where
            if method in ("post", "put", "patch"):
                assert ref("400") == FIELD_ERRORS, where
            for status in FORBIDDEN_OR_CONFLICT.get(where, ()):
                assert ref(status) == ERROR, (where, status)
            known = {"200", "201", "204", "400", "401", "403", "404", "409"}
            if where == ("post", "/api/v1/auth/token/"):
                known.add("429")  # the failed-login lockout
            assert set(responses) <= known, where
