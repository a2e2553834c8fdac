"""Production readiness: Django's deploy checks, the image, and the compose stack.

No Docker engine runs in CI, so these tests read Dockerfile and docker-compose.yml and run
Django with the environment they would give it.
"""

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlparse

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
    assert '"gunicorn", "config.wsgi", "--config", "gunicorn.conf.py"' in cmd


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
    assert re.search(r"\bgunicorn config\.wsgi --config gunicorn\.conf\.py\b", web)
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


# --- gunicorn.conf.py -----------------------------------------------------------------------


def gunicorn_config(tmp_path, **env):
    result = run(
        ["-m", "gunicorn", "--config", "gunicorn.conf.py", "--print-config", "config.wsgi"],
        tmp_path,
        env,
    )
    settings = dict(
        re.match(r"(\w+)\s+= ?(.*)$", line).groups()
        for line in result.stdout.splitlines()
        if re.match(r"\w+\s+= ?", line)
    )
    return result, settings


def test_gunicorn_takes_workers_threads_and_timeout_from_the_environment(tmp_path):
    result, settings = gunicorn_config(
        tmp_path, WEB_CONCURRENCY="5", GUNICORN_THREADS="3", GUNICORN_TIMEOUT="45"
    )

    assert result.returncode == 0, result.stderr
    assert settings["bind"] == "['0.0.0.0:8000']"
    assert (settings["workers"], settings["threads"], settings["timeout"]) == ("5", "3", "45")
    assert settings["worker_class"] == "gthread"
    assert "%({x-request-id}o)s" in settings["access_log_format"]
    assert int(settings["max_requests"]) > 0


def test_gunicorn_refuses_a_bad_value_naming_it(tmp_path):
    result, _ = gunicorn_config(tmp_path, GUNICORN_THREADS="many")

    assert result.returncode != 0
    assert "GUNICORN_THREADS must be a whole number, not 'many'." in result.stderr


# --- The production stack, served by gunicorn -------------------------------------------------

PRODUCTION_USER = "ops.lead"
PRODUCTION_PASSWORD = "a-long-enough-password-for-prod-1"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Production:
    """gunicorn with gunicorn.conf.py and the production environment, on a migrated SQLite
    database with one user; its stdout (the logs) in a file."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.log = tmp_path / "stdout.log"
        self.env = {
            "DEBUG": "false",
            "SECRET_KEY": STRONG_KEY,
            "ALLOWED_HOSTS": "localhost",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "PORT": str(self.port),
            "WEB_CONCURRENCY": "1",
            "GUNICORN_THREADS": "2",
        }
        for step in (
            ["manage.py", "migrate", "--noinput"],
            ["manage.py", "collectstatic", "--noinput"],
            [
                "manage.py",
                "shell",
                "-c",
                "from accounts.models import User, Role; "
                f"u = User(username={PRODUCTION_USER!r}, role=Role.ADMIN); "
                f"u.set_password({PRODUCTION_PASSWORD!r}); u.save()",
            ],
        ):
            done = run(step, tmp_path, self.env)
            assert done.returncode == 0, done.stdout + done.stderr
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "VAR_DIR": str(tmp_path / "var"),
            **self.env,
        }
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "config.wsgi"],
            cwd=ROOT,
            env=environment,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert self.process.poll() is None, self.log.read_text()
                time.sleep(0.2)
        pytest.fail(f"gunicorn did not listen within 30 s:\n{self.log.read_text()}")

    def request(self, method, path, *, https=True, headers=None, body=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        sent = {"Host": "localhost", **(headers or {})}
        if https:
            sent["X-Forwarded-Proto"] = "https"  # what the TLS-terminating proxy adds
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        response.text = response.read().decode()
        connection.close()
        return response

    def log_lines(self):
        lines = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
        return lines

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    server = Production(tmp_path_factory.mktemp("production"))
    yield server
    server.stop()


def set_cookie(response, name):
    for header in response.headers.get_all("Set-Cookie") or []:
        if header.startswith(f"{name}="):
            return header
    pytest.fail(f"no {name} cookie in {response.headers.get_all('Set-Cookie')}")


def cookie_value(response, name):
    return set_cookie(response, name).split(";")[0].split("=", 1)[1]


def cookie_flags(response, name):
    parts = set_cookie(response, name).split(";")[1:]
    return {part.strip().split("=")[0].lower(): part for part in parts}


def sign_in(production):
    page = production.request("GET", "/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    csrf_cookie = cookie_value(page, "csrftoken")
    return production.request(
        "POST",
        "/accounts/login/",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf_cookie}",
            "Origin": "https://localhost",
        },
        body=urlencode(
            {
                "csrfmiddlewaretoken": token,
                "username": PRODUCTION_USER,
                "password": PRODUCTION_PASSWORD,
            }
        ),
    )


def test_plain_http_is_sent_to_https_but_the_health_probe_is_not(production):
    response = production.request("GET", "/accounts/login/", https=False)
    assert response.status == 301
    assert response.headers["Location"] == "https://localhost/accounts/login/"

    assert production.request("GET", "/healthz", https=False).status == 200


def test_pages_carry_the_security_headers(production):
    response = production.request("GET", "/accounts/login/")

    assert response.status == 200
    headers = response.headers
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    policy = dict(
        (directive.split()[0], directive.split()[1:])
        for directive in headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no inline script, no eval
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    # The page's scripts are all files from our origin.
    assert "<script>" not in response.text
    assert " onchange=" not in response.text and " onclick=" not in response.text


def test_cookies_are_secure_http_only_and_same_site(production):
    page = production.request("GET", "/accounts/login/")
    csrf = cookie_flags(page, "csrftoken")
    assert {"secure", "httponly", "samesite"} <= set(csrf)
    assert csrf["samesite"].strip() == "SameSite=Lax"

    signed_in = sign_in(production)

    assert signed_in.status == 302, signed_in.text[:500]
    session = cookie_flags(signed_in, "sessionid")
    assert {"secure", "httponly", "samesite"} <= set(session)
    assert session["samesite"].strip() == "SameSite=Lax"


def test_each_request_is_one_json_log_line(production):
    signed_in = sign_in(production)
    session = cookie_value(signed_in, "sessionid")

    home = production.request(
        "GET", "/", headers={"Cookie": f"sessionid={session}", "X-Request-ID": "lb-7f3a9c"}
    )
    missing = production.request("GET", "/no-such-page/")

    assert home.status == 200
    assert home.headers["X-Request-ID"] == "lb-7f3a9c"  # the proxy's id is kept
    assert re.fullmatch(r"[0-9a-f]{32}", missing.headers["X-Request-ID"])  # or one is made
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [line for line in production.log_lines() if line["name"] == "featurebudget.request"]
        by_id = {line["request_id"]: line for line in lines}
        if {"lb-7f3a9c", missing.headers["X-Request-ID"]} <= set(by_id):
            break
        time.sleep(0.1)
    home_line = by_id["lb-7f3a9c"]
    assert home_line["user"] == PRODUCTION_USER
    assert (home_line["method"], home_line["path"], home_line["status"]) == ("GET", "/", 200)
    assert isinstance(home_line["duration_ms"], float) and home_line["duration_ms"] >= 0
    assert home_line["level"] == "INFO" and home_line["time"]
    missing_line = by_id[missing.headers["X-Request-ID"]]
    assert (missing_line["user"], missing_line["path"], missing_line["status"]) == (
        None,
        "/no-such-page/",
        404,
    )
    # One line per request, whatever else the request logged.
    assert [line["request_id"] for line in lines].count("lb-7f3a9c") == 1
