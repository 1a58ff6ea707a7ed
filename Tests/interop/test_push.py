"""Web Push against a loopback push service written here: payloads decrypted with `http_ece` (RFC 8291
aes128gcm), the VAPID JWT (RFC 8292) verified with `cryptography`, and a 410 deleting the subscription.

The platform is reached only through the conftest fixtures (its gateway URL and the admin's session). The push
service is plain HTTP on loopback, which `MERIDIAN_PUSH_ALLOW_LOOPBACK_HTTP` permits for tests only.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import re
import threading
import time
import urllib.parse
from typing import Any, Callable, Iterator

import http_ece
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from conftest import Meridian
from support import wait_until

DEADLINE = 30.0


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PushService:
    """Records every message and answers with the scripted statuses (201 once the script is empty)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: list[int] = []
        self.lock = threading.Lock()
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with service.lock:
                    service.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    status = service.answers.pop(0) if service.answers else 201
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def endpoint(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/push/{name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def push_service() -> Iterator[PushService]:
    service = PushService()
    yield service
    service.close()


def verify_vapid(header: str, endpoint: str) -> dict[str, Any]:
    """RFC 8292: `vapid t=<JWT>, k=<public key>`; the JWT is ES256 under k, with aud = the endpoint's origin."""
    assert header.startswith("vapid "), header
    params = dict(part.strip().split("=", 1) for part in header[len("vapid "):].split(","))
    token, key = params["t"], params["k"]
    public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
    head, payload, signature = token.split(".")
    raw = unb64url(signature)
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public_key.verify(der, f"{head}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        pytest.fail("the VAPID JWT signature does not verify")
    assert json.loads(unb64url(head))["alg"] == "ES256"
    claims = json.loads(unb64url(payload))
    origin = urllib.parse.urlsplit(endpoint)
    assert claims["aud"] == f"{origin.scheme}://{origin.netloc}"
    assert claims["exp"] > time.time() and claims["exp"] <= time.time() + 24 * 3600
    assert claims["sub"].startswith(("mailto:", "https:"))
    return claims


def subject_of(token: str) -> str:
    return json.loads(unb64url(token.split(".")[1]))["sub"]


def delivery_status(api: Any, notification_id: str) -> str | None:
    response = api.get(f"/api/notifications/{notification_id}")
    assert response.status_code == 200, response.text
    deliveries = response.json()["deliveries"]
    return deliveries[0]["status"] if deliveries else None


def test_push_is_decryptable_signed_and_410_unsubscribes(
    engine: str, launch_meridian: Callable[..., Meridian], push_service: PushService
) -> None:
    server = launch_meridian(engine, env={"MERIDIAN_PUSH_ALLOW_LOOPBACK_HTTP": "1"})
    api = server.api
    admin = subject_of(server.admin_token())

    key = api.get("/api/push-subscriptions/vapid-public-key")
    assert key.status_code == 200, key.text
    vapid_public = key.json()["public_key"]

    browser = ec.generate_private_key(ec.SECP256R1())
    auth = os.urandom(16)
    p256dh = browser.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    endpoint = push_service.endpoint("browser-1")
    created = api.post(
        "/api/push-subscriptions",
        json={"endpoint": endpoint, "expirationTime": None, "keys": {"p256dh": b64url(p256dh), "auth": b64url(auth)}},
    )
    assert created.status_code == 201, created.text
    subscription_id = created.json()["id"]
    assert "keys" not in created.json()

    sent = api.post(
        "/api/notifications",
        json={"recipients": [{"user_id": admin}], "channels": ["push"], "category": "news",
              "subject": "Grüße", "text": "Your parcel is on its way"},
    )
    assert sent.status_code == 202, sent.text
    notification_id = sent.json()["data"][0]["id"]
    wait_until(lambda: delivery_status(api, notification_id) == "sent", DEADLINE, "the push delivery")

    message = push_service.received[-1]
    headers = {name.lower(): value for name, value in message["headers"].items()}
    assert headers["content-encoding"] == "aes128gcm"
    assert int(headers["ttl"]) > 0
    assert headers["urgency"] in {"very-low", "low", "normal", "high"}
    # RFC 8030 section 5.4: a topic is at most 32 characters of the base64url alphabet. The API takes no topic;
    # Meridian names each notification's messages after it, so a re-sent copy replaces only its own earlier one.
    topic = headers["topic"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,32}", topic), topic
    assert topic == notification_id.replace("_", "-")[-32:]
    claims = verify_vapid(headers["authorization"], endpoint)
    assert headers["authorization"].endswith("k=" + vapid_public)
    assert claims["aud"] == f"http://127.0.0.1:{push_service.port}"
    plaintext = http_ece.decrypt(message["body"], private_key=browser, auth_secret=auth, version="aes128gcm")
    payload = json.loads(plaintext)
    assert payload["id"] == notification_id
    assert payload["title"] == "Grüße"
    assert payload["body"] == "Your parcel is on its way"

    # The push service says the subscription is gone: the delivery is dead and the subscription deleted.
    push_service.answers = [410]
    gone = api.post(
        "/api/notifications",
        json={"recipients": [{"user_id": admin}], "channels": ["push"], "category": "news", "subject": "s", "text": "t"},
    )
    assert gone.status_code == 202, gone.text
    gone_id = gone.json()["data"][0]["id"]
    wait_until(lambda: delivery_status(api, gone_id) == "dead", DEADLINE, "the 410 to be recorded")
    detail = api.get(f"/api/notifications/{gone_id}").json()
    assert detail["deliveries"][0]["attempts"][-1]["provider_status"] == 410
    listed = api.get("/api/push-subscriptions").json()["data"]
    assert subscription_id not in {item["id"] for item in listed}
    gone_topic = {name.lower(): value for name, value in push_service.received[-1]["headers"].items()}["topic"]
    assert gone_topic == gone_id.replace("_", "-")[-32:] and gone_topic != topic

    # The worker's deletion is audited like an owner's, with the service as the actor.
    audit = api.get(
        "/api/audit/notifications",
        params={"action": "push_subscription.delete", "resource_id": subscription_id},
    )
    assert audit.status_code == 200, audit.text
    records = audit.json()["data"]
    assert [record["actor"]["sub"] for record in records] == ["system:notifications"]
    assert records[0]["changes"]["provider_status"] == 410
