"""Structured logs in process: each Celery task run is one line with its id, state and duration,
and the production formatter turns every record into one JSON object.

(A request's line, from a real gunicorn with the production environment, is checked in
tests/test_deploy.py.)"""

import datetime as dt
import json
import logging
import sys

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
