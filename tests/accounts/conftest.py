"""Shared by the outbox tests: switching the Celery broker off and on, and a real webhook
receiver that checks signatures with the README's recipe.

The Celery app reads its broker URL when it first builds a producer pool and keeps that pool,
so pointing it elsewhere means changing the setting *and* dropping the cached pools.
"""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from accounts.models import WebhookEndpoint
from config.celery import app as celery_app

CLOSED_PORT = "redis://127.0.0.1:1/0"


def _drop_broker_pools():
    """Forget the pools made for the previous broker URL, so the next publish builds new ones
    from the current setting. (Not closed: kombu keeps pools per URL and hands the same one
    back when the URL returns.)"""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker(monkeypatch):
    """Switch the Celery app's broker: `broker.down()`, `broker.back()`."""
    original = celery_app.conf.broker_url

    class Broker:
        def down(self):
            monkeypatch.setitem(celery_app.conf, "broker_url", CLOSED_PORT)
            _drop_broker_pools()

        def back(self):
            monkeypatch.setitem(celery_app.conf, "broker_url", original)
            _drop_broker_pools()

    yield Broker()
    monkeypatch.setitem(celery_app.conf, "broker_url", original)
    _drop_broker_pools()


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_recipe():
    """The README's verify_signature, exactly as printed there."""
    text = README.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    [recipe] = [b for b in blocks if "def verify_signature" in b]
    namespace = {}
    exec(recipe, namespace)  # noqa: S102 -- our own README
    return namespace["verify_signature"]


verify_signature = readme_recipe()


class Receiver:
    """An HTTP server in a thread. Answers POSTs with the next code of `script` (the last one
    repeats), records every request and whether its signature verified, and accepts each
    event id once, as a receiver that dedupes would."""

    def __init__(self):
        self.script = [200]
        self.secrets = {}  # path -> the secret of the endpoint registered there
        self.hits = []
        self.accepted = []
        self.hold = None  # a threading.Event the handler waits on before answering
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k: v for k, v in self.headers.items()}
                code = receiver.script[min(len(receiver.hits), len(receiver.script) - 1)]
                receiver.hits.append(
                    {
                        "path": self.path,
                        "headers": headers,
                        "body": body,
                        "verified": verify_signature(receiver.secrets[self.path], headers, body),
                        "code": code,
                    }
                )
                receiver.arrived.set()
                if receiver.hold is not None:
                    receiver.hold.wait(10)
                delivery = headers.get("X-FeatureBudget-Delivery")
                if 200 <= code < 300 and delivery not in receiver.accepted:
                    receiver.accepted.append(delivery)
                self.send_response(code)
                if code in (301, 302, 307, 308):
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def subscribe(self, path="/hook", **fields):
        """Register this receiver as a webhook endpoint, as an admin would."""
        endpoint = WebhookEndpoint.objects.create(url=self.url_for(path), **fields)
        self.secrets[path] = endpoint.secret
        return endpoint

    def url_for(self, path):
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def events(self):
        return [json.loads(h["body"]) for h in self.hits]

    def close(self):
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()
