"""Segment's own Python SDK (segment-analytics-python, pinned) sends events to Meridian through the gateway, as an
application already instrumented for Segment would after pointing `host` at Meridian; the events are then read
back through Meridian's query API. Runs on SQLite and on PostgreSQL.

The SDK talks HTTPS to the gateway with `requests`, which trusts the platform's development CA through
`REQUESTS_CA_BUNDLE` (set by `conftest.py`); certificate verification stays on.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta, timezone

import requests
from segment.analytics.client import Client
from segment.analytics.request import APIError

from conftest import Meridian
from support import TIMEOUT, assert_problem


def _write_key(meridian: Meridian) -> dict[str, str]:
    response = meridian.api.post("/api/analytics/write-keys")
    assert response.status_code == 201, response.text
    body = response.json()
    return {"id": body["write_key"]["id"], "secret": body["secret"]}


def _client(meridian: Meridian, write_key: str) -> Client:
    # sync_mode: each call is one POST /v1/batch, and a refusal raises APIError here instead of being retried in
    # a background thread.
    return Client(write_key=write_key, host=meridian.url, sync_mode=True, max_retries=0)


def test_segment_sdk_events_land_and_are_queryable(meridian: Meridian) -> None:
    key = _write_key(meridian)
    client = _client(meridian, key["secret"])
    user = f"usr_seg_{secrets.token_hex(4)}"
    anonymous = f"anon_{secrets.token_hex(4)}"
    message_id = str(uuid.uuid4())
    client.identify(user, {"plan": "pro"})
    client.track(user, "Signed Up", {"source": "interop"}, message_id=message_id)
    client.track(user, "Order Completed", {"revenue": 42})
    client.page(user, category="Docs", name="Quickstart", properties={"path": "/docs"})
    client.track(anonymous_id=anonymous, event="Signed Up")
    # The same message again, as a retrying SDK would send it: a duplicate, stored once.
    client.track(user, "Signed Up", {"source": "interop"}, message_id=message_id)

    events = meridian.api.get("/api/analytics/events", params={"user_id": user})
    assert events.status_code == 200, events.text
    data = events.json()["data"]
    names = sorted(event["name"] for event in data)
    assert names == ["$identify", "$pageview", "Order Completed", "Signed Up"]
    assert all(event["source"] == "segment" for event in data)
    signed_up = next(event for event in data if event["name"] == "Signed Up")
    assert signed_up["id"] == message_id
    assert signed_up["properties"] == {"source": "interop"}
    page = next(event for event in data if event["name"] == "$pageview")
    assert page["properties"] == {"path": "/docs", "name": "Quickstart", "category": "Docs"}

    # The rollups saw both sign-ups (the user's and the anonymous visitor's) once each.
    now = datetime.now(timezone.utc)
    metrics = meridian.api.get(
        "/api/analytics/metrics",
        params={
            "event": "Signed Up", "interval": "hour",
            "from": (now - timedelta(hours=2)).isoformat().replace("+00:00", "Z"),
            "to": (now + timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
        },
    )
    assert metrics.status_code == 200, metrics.text
    total = metrics.json()["series"][0]["total"]
    assert total == {"count": 2, "unique_users": 2}

    # A funnel over what the SDK sent: sign-up then order, per user.
    funnel = meridian.api.get("/api/analytics/funnels", params={"steps": "Signed Up,Order Completed", "window": "1h"})
    assert funnel.status_code == 200, funnel.text
    assert [step["users"] for step in funnel.json()["steps"]] == [2, 1]


def test_a_revoked_or_wrong_write_key_is_refused(meridian: Meridian) -> None:
    key = _write_key(meridian)
    batch = {"batch": [{"type": "track", "userId": "u", "event": "x", "messageId": str(uuid.uuid4())}]}
    good = requests.post(f"{meridian.url}/v1/batch", json=batch, auth=(key["secret"], ""), timeout=TIMEOUT)
    assert good.status_code == 200, good.text
    assert good.json()["success"] is True

    wrong = requests.post(f"{meridian.url}/v1/batch", json=batch, auth=("mwk_wrong", ""), timeout=TIMEOUT)
    assert_problem(wrong, 401, "invalid-write-key")
    assert wrong.headers["WWW-Authenticate"] == 'Basic realm="segment"'

    assert meridian.api.delete(f"/api/analytics/write-keys/{key['id']}").status_code == 204
    client = _client(meridian, key["secret"])
    try:
        client.track("u", "After Revocation")
    except APIError as error:
        assert error.status == 401
    else:
        raise AssertionError("a revoked write key was accepted")
