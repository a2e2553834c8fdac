"""Production readiness: Django's deploy checks, the image, and the compose stack.

No Docker engine runs in CI, so these tests read Dockerfile and docker-compose.yml and run
Django with the environment they would give it.
"""

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker", "beat")
STRONG_KEY = "Zq8vN3kP7xR2mT9wL4cY6hB1sD5fG0jA-e7Hu2Kp9Qx4Vn6Wm3Rt8Ys1Lc5B"  # 60


def run(args, tmp_path, env):
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "VAR_DIR": str(tmp_path / "var"),
        **env,
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- Django's deployment checklist ----------------------------------------------------------


def test_check_deploy_passes_with_production_settings(tmp_path):
    assert len(STRONG_KEY) == 60
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        tmp_path,
        {
            "DEBUG": "false",
            "SECRET_KEY": STRONG_KEY,
            "ALLOWED_HOSTS": "budget.example.com",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
        },
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr
    assert "?: (security." not in result.stdout + result.stderr


# --- Dockerfile -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dockerfile():
    return (ROOT / "Dockerfile").read_text()


def test_the_image_builds_from_the_lock_file_and_runs_as_a_user(dockerfile):
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.MULTILINE)
    assert "COPY requirements.lock" in dockerfile
    assert "pip install -r requirements.lock" in dockerfile
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    cmd = re.search(r"^CMD\s+(.+)$", dockerfile, re.MULTILINE).group(1)
    assert '"gunicorn", "config.wsgi"' in cmd
    assert "0.0.0.0:8000" in cmd


def test_the_images_collectstatic_step_works(dockerfile, tmp_path):
    """Run the build's collectstatic step as the Dockerfile does: DEBUG off, throwaway key."""
    step = re.search(
        r"RUN (DEBUG=\S+)\s*\\\s*SECRET_KEY=(\S+)\s*\\\s*python manage\.py collectstatic",
        dockerfile,
    )
    assert step, "the Dockerfile runs collectstatic with DEBUG and a throwaway SECRET_KEY"
    assert step.group(1) == "DEBUG=false"

    result = run(
        ["manage.py", "collectstatic", "--noinput"],
        tmp_path,
        {"DEBUG": "false", "SECRET_KEY": step.group(2)},
    )

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "staticfiles" / "staticfiles.json").is_file()


def test_the_build_context_leaves_out_local_state():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "var", ".env"):
        assert entry in ignored


# --- docker-compose.yml ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def interpolate(value):
    """What compose makes of ${NAME:-default} with nothing set in the shell or .env."""
    value = str(value)
    if re.search(r"\$\{\w+(:?\?)", value):
        pytest.fail(f"{value!r} requires a variable from the shell; compose would not start")
    value = re.sub(r"\$\{\w+:?-([^}]*)\}", r"\1", value)
    value = re.sub(r"\$\{\w+\}", "", value)
    return value.replace("$$", "$")


def environment_of(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {name: interpolate(value) for name, value in env.items()}


def command_of(service):
    command = service.get("command") or []
    return command if isinstance(command, str) else " ".join(command)


def settings_variables():
    source = (ROOT / "config" / "settings.py").read_text()
    return set(re.findall(r'env_\w+\(\s*"([A-Z_][A-Z0-9_]*)"', source))


def test_settings_variables_are_found():
    # Guards the regex: if settings stops using env_* helpers this test must be rewritten.
    assert {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "EMAIL_URL"} <= settings_variables()


def test_the_stack_has_every_service(compose):
    assert {"postgres", "redis", "web", "worker", "beat", "mailpit"} <= set(compose["services"])
    services = compose["services"]
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["mailpit"]["image"].split(":")[0] == "axllent/mailpit"
    assert any(str(port).endswith("8025") for port in services["mailpit"].get("ports", []))


def test_web_worker_and_beat_run_one_image(compose):
    services = compose["services"]
    builds = {repr(services[name].get("build")) for name in APP_SERVICES}
    images = {services[name].get("image") for name in APP_SERVICES}
    assert len(builds) == 1 and builds != {"None"}
    assert len(images) == 1
    environments = [environment_of(services[name]) for name in APP_SERVICES]
    assert environments[0] == environments[1] == environments[2]


def test_each_app_service_runs_its_process(compose):
    services = compose["services"]
    web = command_of(services["web"])
    assert re.search(r"\bgunicorn config\.wsgi\b", web)
    assert "0.0.0.0:8000" in web
    assert any(str(port).endswith("8000") for port in services["web"]["ports"])
    # Migrations run on start, before gunicorn serves.
    assert "migrate --noinput" in web
    assert web.index("migrate") < web.index("gunicorn")
    assert re.search(r"\bcelery -A config worker\b", command_of(services["worker"]))
    assert re.search(r"\bcelery -A config beat\b", command_of(services["beat"]))
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1


def test_services_have_healthchecks_and_wait_for_them(compose):
    services = compose["services"]
    for name in ("postgres", "redis", "mailpit", "web", "worker"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    assert services["web"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["web"]["depends_on"]["redis"]["condition"] == "service_healthy"
    # Workers must not run tasks against a database that is not migrated yet.
    assert services["worker"]["depends_on"]["web"]["condition"] == "service_healthy"
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_set_only_variables_settings_reads(compose, name):
    unknown = set(environment_of(compose["services"][name])) - settings_variables()
    assert not unknown, f"{name} sets variables settings never reads: {sorted(unknown)}"


def test_the_environment_points_at_the_stack(compose):
    services = compose["services"]
    env = environment_of(services["web"])

    assert env["DEBUG"] == "false"
    assert len(env["SECRET_KEY"]) >= 50

    database = urlparse(env["DATABASE_URL"])
    assert database.scheme in {"postgres", "postgresql"}
    assert (database.hostname, database.port or 5432) == ("postgres", 5432)
    postgres = environment_of(services["postgres"])
    assert database.path.lstrip("/") == postgres["POSTGRES_DB"]
    assert database.username == postgres["POSTGRES_USER"]
    assert database.password == postgres["POSTGRES_PASSWORD"]

    redis = urlparse(env["REDIS_URL"])
    assert (redis.scheme, redis.hostname, redis.port or 6379) == ("redis", "redis", 6379)

    email = urlparse(env["EMAIL_URL"])
    # Mailpit takes SMTP on 1025 and shows what it caught on 8025.
    assert (email.scheme, email.hostname, email.port) == ("smtp", "mailpit", 1025)


def test_settings_start_with_the_compose_environment(compose, tmp_path):
    env = environment_of(compose["services"]["web"])
    result = run(
        [
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "d = s.DATABASES['default']; "
            "print(s.DEBUG, d['ENGINE'], d['HOST'], d['PORT'], s.CELERY_BROKER_URL, "
            "s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT)",
        ],
        tmp_path,
        {**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "False",
        "django.db.backends.postgresql",
        "postgres",
        "5432",
        "redis://redis:6379/0",
        "django.core.mail.backends.smtp.EmailBackend",
        "mailpit",
        "1025",
    ]
