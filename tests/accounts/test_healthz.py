"""The load balancer's probe: /healthz answers without signing in."""


def test_it_reports_the_database(client, db):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["database"] == "ok"
    assert response["Cache-Control"].startswith("max-age=0")


def test_it_refuses_post(client, db):
    assert client.post("/healthz").status_code == 405
