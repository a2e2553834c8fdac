"""Structured logs in process: each Celery task run is one line with its id, state and duration,
and the production formatter turns every record into one JSON object.

(A request's line, from a real gunicorn with the production environment, is checked in
tests/test_deploy.py.)"""

import datetime as dt
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery import shared_task

from budgets.models import Quarter
from budgets.tasks import roll_quarters
from config.logs import ContextFilter, JsonLineFormatter

pytestmark = pytest.mark.django_db


def as_json_line(record):
    ContextFilter().filter(record)
    line = JsonLineFormatter().format(record)
    assert "\n" not in line
    return json.loads(line)


def test_a_task_run_is_one_line_with_its_id_state_and_duration(caplog):
    caplog.set_level(logging.INFO, logger="featurebudget.task")

    result = roll_quarters.apply()

    assert result.successful()
    assert Quarter.objects.count() == 2  # the task really ran
    records = [r for r in caplog.records if r.name == "featurebudget.task"]
    assert len(records) == 1
    line = as_json_line(records[0])
    assert line["task"] == "budgets.tasks.roll_quarters"
    assert line["state"] == "SUCCESS"
    assert line["task_id"] == result.id
    # Whatever the task logs on its way carries the task's id as its request id.
    assert line["request_id"] == result.id
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert (line["level"], line["name"]) == ("INFO", "featurebudget.task")
    assert dt.datetime.fromisoformat(line["time"]).utcoffset() == dt.timedelta(0)


@shared_task
def always_fails():
    raise RuntimeError("database went away")


def test_a_failed_task_run_is_an_error_line(caplog):
    caplog.set_level(logging.INFO, logger="featurebudget.task")

    result = always_fails.apply()

    assert result.failed()
    (record,) = [r for r in caplog.records if r.name == "featurebudget.task"]
    line = as_json_line(record)
    assert (line["level"], line["state"], line["task_id"]) == ("ERROR", "FAILURE", result.id)


def test_an_exception_is_kept_in_the_same_json_line():
    try:
        raise ValueError("bad input")
    except ValueError:
        record = logging.getLogger("featurebudget.test").makeRecord(
            "featurebudget.test",
            logging.ERROR,
            __file__,
            1,
            "it broke",
            (),
            sys.exc_info(),
        )

    line = as_json_line(record)

    assert line["message"] == "it broke"
    assert "ValueError: bad input" in line["exc_info"]
    assert line["request_id"] is None and line["user"] is None


# What Django itself logs for a 409 (a warning) and a 500 (an error), as a fresh process with
# the given environment prints it on stdout: logging is configured once per process.
LOG_A_409_AND_A_500 = """
import django
django.setup()
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils.log import log_response
for status in (409, 500):
    request = RequestFactory().post("/api/requests/7/approve/")
    response = HttpResponse(status=status)
    log_response("%s: %s", status, request.path, response=response, request=request)
"""


def django_request_lines(tmp_path, **env):
    result = subprocess.run(
        [sys.executable, "-c", LOG_A_409_AND_A_500],
        cwd=Path(__file__).resolve().parent.parent,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "VAR_DIR": str(tmp_path / "var"),
            "DEBUG": "false",
            "SECRET_KEY": "k3y-" + "x7Qp9LmZ2rT" * 5,
            "LOG_FORMAT": "json",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return [(line["level"], line["message"]) for line in lines if line["name"] == "django.request"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        # By default a client's 4xx is a warning line, as Django logs it.
        (
            {},
            [
                ("WARNING", "409: /api/requests/7/approve/"),
                ("ERROR", "500: /api/requests/7/approve/"),
            ],
        ),
        # LOG_LEVEL=ERROR (as make bench sets it: 409s are expected under load) silences
        # django.request's warnings too, though Django sets its own logger's level to INFO.
        ({"LOG_LEVEL": "ERROR"}, [("ERROR", "500: /api/requests/7/approve/")]),
    ],
    ids=["default", "error"],
)
def test_log_level_sets_the_floor_for_djangos_request_warnings_too(tmp_path, env, expected):
    assert django_request_lines(tmp_path, **env) == expected
