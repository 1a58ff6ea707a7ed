"""Requests the gateway refuses never reach a service, and the gateway keeps no database: it reports each refusal
to analytics, which appends it to its audit log as `request.deny` (issue 4: "A request that is denied (401/403)
is recorded too"). Runs `meridian serve` on SQLite and on PostgreSQL, as every interop module does.
"""

from __future__ import annotations

import requests

from conftest import Meridian
from support import TIMEOUT, wait_until


def test_a_refusal_at_the_gateway_lands_in_the_audit_log(meridian: Meridian) -> None:
    refused = requests.get(f"{meridian.url}/api/orders", headers={"Authorization": "Bearer not-a-token"},
                           timeout=TIMEOUT)
    assert refused.status_code == 401, refused.text
    request_id = refused.headers["X-Request-Id"]

    def recorded() -> list[dict]:
        reply = meridian.api.get("/api/audit/analytics", params={"action": "request.deny"})
        assert reply.status_code == 200, reply.text
        return [record for record in reply.json()["data"] if record["request_id"] == request_id]

    records = wait_until(recorded, 30, f"the audit record of the refused request {request_id}")
    assert len(records) == 1
    record = records[0]
    assert record["outcome"] == "denied"
    assert record["resource"] == {"type": "route", "id": "GET /api/orders"}
    assert record["actor"]["sub"] is None
    assert record["source_address"] == "127.0.0.1"
    assert record["changes"]["reported_by"] == "gateway"
    assert record["changes"]["reason"] == "invalid-token"
    assert record["changes"]["status"] == 401
    # The token the client sent is not kept anywhere in the record.
    assert "not-a-token" not in str(record)
