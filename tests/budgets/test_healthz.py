"""/healthz, the load balancer's probe: 200 while the database answers, 503 when it does not.

(The view lives in accounts; its tests are kept with the budgets suite.)
"""

import pytest
from django.conf import settings
from django.db import OperationalError, connection, connections

from config.celery import app as celery_app


def test_it_answers_ok_without_signing_in(client, db):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["database"] == "ok"
    assert set(body) == {"status", "database", "broker"}
    assert body["status"] == ("ok" if body["broker"] == "ok" else "degraded")
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.redis
def test_it_reaches_the_redis_broker(client, db):
    assert settings.CELERY_BROKER_URL.startswith("redis://")

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_it_answers_503_when_the_database_is_down(client, db, monkeypatch):
    def refused(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed")

    # Every use of the database in this request fails the way the driver does when the
    # server is gone; nothing in the view itself is replaced.
    with monkeypatch.context() as patch:
        patch.setattr(connections["default"], "cursor", refused)
        response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "OperationalError"
    assert body["status"] == "degraded"
    assert "broker" in body


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_answers_503_when_the_postgres_server_cannot_be_reached(client, monkeypatch):
    # Reconnect to a port where no server listens: a real refused connection from psycopg.
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "HOST", "127.0.0.1")
    monkeypatch.setitem(connection.settings_dict, "PORT", "1")
    try:
        response = client.get("/healthz")
    finally:
        connection.close()

    assert response.status_code == 503
    assert response.json()["database"] == "OperationalError"


def test_it_stays_up_but_degraded_when_the_broker_is_down(client, db, monkeypatch):
    monkeypatch.setitem(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")

    response = client.get("/healthz")

    # The web tier can still serve pages; the broker is reported, not fatal.
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "database": "ok", "broker": "OperationalError"}


def test_it_refuses_anything_but_get(client, db):
    assert client.post("/healthz").status_code == 405
    assert client.put("/healthz").status_code == 405
