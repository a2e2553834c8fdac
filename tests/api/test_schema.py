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
