"""Settings come from the environment; a bad value stops start-up and names the variable.

Each case starts a fresh interpreter, because settings are read once per process.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STRONG_KEY = "k3y-" + "x7Qp9LmZ2rT" * 5  # 59 characters, not the development default


def start(tmp_path, code="import django; django.setup()", **env):
    """Run `code` after Django starts, with only the given variables set (plus VAR_DIR)."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "VAR_DIR": str(tmp_path / "var"),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


BAD_VALUES = [
    ({"DEBUG": "maybe"}, "DEBUG must be true or false, not 'maybe'."),
    ({"SALES_BUDGET_PERCENT": "ten"}, "SALES_BUDGET_PERCENT must be a whole number"),
    ({"SALES_BUDGET_PERCENT": "0"}, "SALES_BUDGET_PERCENT must be between 1 and 100, not 0."),
    (
        {"SALES_BUDGET_PERCENT": "101"},
        "SALES_BUDGET_PERCENT must be between 1 and 100, not 101.",
    ),
    (
        {"FISCAL_YEAR_START_MONTH": "13"},
        "FISCAL_YEAR_START_MONTH must be between 1 and 12, not 13.",
    ),
    ({"TIME_ZONE": "Mars/Base"}, "TIME_ZONE is not a known time zone: 'Mars/Base'."),
    ({"DATABASE_URL": "nonsense://x"}, "DATABASE_URL is not a usable database URL"),
    ({"REDIS_URL": "http://x"}, "REDIS_URL must be a redis:// or rediss:// URL"),
    ({"EMAIL_URL": "nonsense://x"}, "EMAIL_URL is not a usable email URL"),
    ({"LOGIN_FAILURE_LIMIT": "five"}, "LOGIN_FAILURE_LIMIT must be a whole number"),
    ({"LOGIN_LOCKOUT_MINUTES": "0"}, "LOGIN_LOCKOUT_MINUTES must be between 1 and 1440, not 0."),
    ({"TRUSTED_PROXY_COUNT": "-1"}, "TRUSTED_PROXY_COUNT must be between 0 and 5, not -1."),
    ({"WEBHOOK_MAX_ATTEMPTS": "0"}, "WEBHOOK_MAX_ATTEMPTS must be between 1 and 20, not 0."),
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be json or text, not 'xml'."),
    ({"LOG_LEVEL": "loud"}, "LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL"),
    ({"CELERY_WORKER_CONCURRENCY": "0"}, "CELERY_WORKER_CONCURRENCY must be at least 1, not 0."),
    ({"DEBUG": "false"}, "Set the SECRET_KEY environment variable"),
    ({"DEBUG": "false", "SECRET_KEY": "too-short"}, "SECRET_KEY must be a random string"),
]


@pytest.mark.parametrize(
    ("env", "message"),
    BAD_VALUES,
    ids=["+".join(f"{k}={v}" for k, v in env.items()) for env, _ in BAD_VALUES],
)
def test_a_bad_value_stops_start_up_naming_the_variable(tmp_path, env, message):
    result = start(tmp_path, **env)

    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: ")
    assert message in last_line


def test_the_defaults_need_no_environment(tmp_path):
    result = start(
        tmp_path,
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME'], "
        "s.CELERY_BROKER_URL, s.SALES_BUDGET_PERCENT, s.FISCAL_YEAR_START_MONTH, s.TIME_ZONE, "
        "s.EMAIL_BACKEND)",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "True",
        "django.db.backends.sqlite3",
        str(tmp_path / "var" / "db.sqlite3"),
        "filesystem://",
        "10",
        "1",
        "UTC",
        "django.core.mail.backends.filebased.EmailBackend",
    ]
    # Everything local lands under VAR_DIR, never in the repository.
    assert (tmp_path / "var" / "celery").is_dir()


def test_production_values_are_read(tmp_path):
    result = start(
        tmp_path,
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, "
        "s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.ALLOWED_HOSTS, s.SECURE_SSL_REDIRECT, "
        "s.SALES_BUDGET_PERCENT, s.FISCAL_YEAR_START_MONTH, s.TIME_ZONE)",
        DEBUG="false",
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="budget.example.com, www.budget.example.com",
        DATABASE_URL="postgres://app:secret@db.internal:5432/featurebudget",
        REDIS_URL="redis://redis.internal:6379/0",
        EMAIL_URL="smtp://mail.internal:1025",
        SALES_BUDGET_PERCENT="15",
        FISCAL_YEAR_START_MONTH="2",
        TIME_ZONE="Europe/Berlin",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "False",
        "django.db.backends.postgresql",
        "redis://redis.internal:6379/0",
        "django.core.mail.backends.smtp.EmailBackend",
        "mail.internal",
        "1025",
        "['budget.example.com',",
        "'www.budget.example.com']",
        "True",
        "15",
        "2",
        "Europe/Berlin",
    ]


PRODUCTION_EXTRAS = [
    # A Redis that is down fails a connect in 3 s; logs are JSON; the proxy's header is trusted.
    ({}, ["3", "10", "3", "json", "('HTTP_X_FORWARDED_PROTO', 'https')"]),
    # Without a proxy that strips it, a client's X-Forwarded-Proto is not believed.
    ({"TRUST_X_FORWARDED_PROTO": "false", "LOG_FORMAT": "text"}, ["3", "10", "3", "text", "None"]),
]


@pytest.mark.parametrize(("env", "expected"), PRODUCTION_EXTRAS, ids=["defaults", "no-proxy"])
def test_production_broker_timeouts_logs_and_proxy_header(tmp_path, env, expected):
    result = start(
        tmp_path,
        "import django; django.setup(); from django.conf import settings as s; "
        "o = s.CELERY_BROKER_TRANSPORT_OPTIONS; "
        "print(o['socket_connect_timeout'], o['socket_timeout'], "
        "s.CELERY_REDIS_SOCKET_CONNECT_TIMEOUT, s.LOG_FORMAT, "
        "getattr(s, 'SECURE_PROXY_SSL_HEADER', None), sep='|')",
        DEBUG="false",
        SECRET_KEY=STRONG_KEY,
        REDIS_URL="redis://redis.internal:6379/0",
        **env,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().split("|") == expected
