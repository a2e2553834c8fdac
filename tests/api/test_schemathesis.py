"""schemathesis against the live server, as a rep, a manager and the Head of Product: no
response is a 5xx and none breaks the published OpenAPI schema.

The demo company (seed_demo) gives the run real requests in every state, quarters with budgets
and meetings; their ids and slugs are offered to schemathesis as dictionaries, so most calls reach
the code behind the 404 for an unknown id. The run is the CLI a developer would type, in a
subprocess against pytest-django's live server, bounded (a few examples per operation) and
deterministic, so the same code gives the same verdict every time.
"""

import io
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.models import User
from budgets.models import Quarter
from meetings.models import Meeting
from requests_app import services
from requests_app.api import ACTIONS

from .conftest import API

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "schemathesis-demo-password"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# The fuzzing phase's budget per operation; the coverage phase's boundary cases come on top.
MAX_EXAMPLES = 5
ROLES = {"rep": "rep.east1", "manager": "mgr.east", "head_of_product": "hop"}

CONFIG = """
[dictionaries]
ids = {{ values = {ids} }}
quarters = {{ values = {quarters} }}
actions = {{ values = {actions} }}

# Real values most of the time, generated ones (unknown ids, odd strings) the rest.
[parameters]
"path.id" = {{ dictionary = "ids", probability = 0.7 }}
"path.slug" = {{ dictionary = "quarters", probability = 0.7 }}
"path.action" = {{ dictionary = "actions", probability = 0.8 }}
"""


def token_for(live_server, username):
    request = urllib.request.Request(
        f"{live_server.url}{API}/auth/token/",
        data=json.dumps({"username": username, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        return json.load(response)["token"]


def write_config(path, user):
    ids = sorted(services.requests_visible_to(user).values_list("pk", flat=True))
    ids += sorted(Meeting.objects.values_list("pk", flat=True)[:5])
    quarters = [q.slug for q in Quarter.objects.all()]
    path.write_text(
        CONFIG.format(
            ids=json.dumps(ids),
            quarters=json.dumps(quarters),
            actions=json.dumps(ACTIONS),
        )
    )


@pytest.mark.parametrize("role", ROLES)
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    live_server, monkeypatch, tmp_path, role
):
    monkeypatch.setenv("DEMO_PASSWORD", PASSWORD)
    call_command("seed_demo", stdout=io.StringIO())
    user = User.objects.get(username=ROLES[role])
    config = tmp_path / "schemathesis.toml"
    write_config(config, user)
    report = tmp_path / "report.json"

    result = subprocess.run(  # noqa: S603
        [
            str(SCHEMATHESIS),
            "--config-file", str(config),
            "run", f"{live_server.url}{API}/schema/",
            "--header", f"Authorization: Token {token_for(live_server, user.username)}",
            "--checks", "not_a_server_error,response_schema_conformance",
            "--max-examples", str(MAX_EXAMPLES),
            "--generation-deterministic",
            "--request-timeout", "30",
            "--workers", "1",
            # A fresh connection per call: on the live server a kept-alive one stalls each
            # response on TCP's delayed ACK (about 40 ms), which tripled the run's time.
            "--header", "Connection: close",
            # Revoking its own token would turn the rest of the run into 401s.
            "--exclude-operation-id", "auth_token_destroy",
            "--no-color",
            "--report", "json", "--report-json-path", str(report),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip

    output = result.stdout[-20_000:] + result.stderr[-5_000:]
    assert report.is_file(), output
    summary = json.loads(report.read_text())
    assert summary["failures"] == [], output
    assert summary["errors"] == [], output
    assert result.returncode == 0, output
    # Every operation of the schema but the one left out was exercised, as this user.
    operations = summary["operations"]
    assert operations["selected"] == operations["total"] - 1 > 10
    assert operations["tested"] == operations["selected"]
    assert summary["test_cases"]["generated"] > 100 * operations["tested"] // 10
    # The token worked: the caller's own profile was answered, not refused.
    assert summary["valid_rates"]["GET /api/v1/me/"]["fuzzing"]["accepted"] > 0, output
