"""The README's curl flow, with `requests`, through the gateway of a live `meridian serve`.

The flow starts, like the README's, by obtaining a token: every request here carries the admin's access token,
obtained with the authorization code flow and PKCE (`Meridian.api`, see `conftest.py`). Each test runs on
SQLite and on PostgreSQL.
"""

from __future__ import annotations

import secrets

import pytest
import requests

from conftest import ENGINES, Meridian
from support import (
    TIMEOUT,
    TIMESTAMP,
    assert_problem,
    create_order,
    create_user,
    error_fields,
    get_order,
    order_body,
    pay,
    unique_email,
)


def test_the_api_needs_a_token(meridian: Meridian) -> None:
    """Without a token every business route is 401 with the RFC 6750 challenge, at the gateway; the same request
    with the admin's token goes through."""
    for method, path in [("GET", "/api/users"), ("GET", "/api/orders"), ("POST", "/api/orders"), ("GET", "/api/roles")]:
        response = requests.request(method, meridian.url + path, json={}, timeout=TIMEOUT)
        assert_problem(response, 401, "unauthenticated")
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert meridian.api.get("/api/orders").status_code == 200
    # Public: the contract itself and the authorization server's discovery document.
    assert requests.get(f"{meridian.url}/api/openapi.yaml", timeout=TIMEOUT).status_code == 200
    assert requests.get(f"{meridian.url}/.well-known/oauth-authorization-server", timeout=TIMEOUT).status_code == 200


def test_user_sign_up_read_and_change(meridian: Meridian) -> None:
    api = meridian.api
    email = unique_email()
    created = api.post(
        "/api/users",
        json={"email": email, "name": "Ada Lovelace", "password": "correct horse battery staple"},
        timeout=TIMEOUT,
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert set(user) == {"id", "email", "name", "roles", "created_at", "updated_at"}, "no password, no version"
    assert user["id"].startswith("usr_")
    assert user["email"] == email and user["name"] == "Ada Lovelace" and user["roles"] == ["customer"]
    assert TIMESTAMP.match(user["created_at"]) and TIMESTAMP.match(user["updated_at"])
    assert created.headers["Location"] == f"/api/users/{user['id']}"
    assert created.headers["ETag"] == '"v1"'
    assert created.headers["Content-Type"].startswith("application/json")

    read = api.get(f"/api/users/{user['id']}", timeout=TIMEOUT)
    assert read.status_code == 200 and read.json() == user
    assert read.headers["ETag"] == '"v1"'

    # The same email in another case is the same account.
    taken = api.post(
        "/api/users",
        json={"email": email.upper(), "name": "Someone Else", "password": "another long password"},
        timeout=TIMEOUT,
    )
    assert_problem(taken, 409, "email-taken")
    found = api.get("/api/users", params={"email": email.upper()}, timeout=TIMEOUT)
    assert found.status_code == 200
    assert [u["id"] for u in found.json()["data"]] == [user["id"]]

    renamed = api.patch(
        f"/api/users/{user['id']}", json={"name": "Augusta Ada King"}, headers={"If-Match": '"v1"'}, timeout=TIMEOUT
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Augusta Ada King"
    assert renamed.headers["ETag"] == '"v2"'
    stale = api.patch(
        f"/api/users/{user['id']}", json={"name": "Lost Update"}, headers={"If-Match": '"v1"'}, timeout=TIMEOUT
    )
    assert_problem(stale, 412)
    assert stale.headers["ETag"] == '"v2"'

    deleted = api.delete(f"/api/users/{user['id']}", timeout=TIMEOUT)
    assert deleted.status_code == 204
    assert_problem(api.get(f"/api/users/{user['id']}", timeout=TIMEOUT), 404)


def test_order_life_cycle_pending_paid_fulfilled_completed(meridian: Meridian) -> None:
    api = meridian.api
    user = create_user(api)

    created = create_order(api, user["id"])
    order = created.json()
    assert order["id"].startswith("ord_") and order["user_id"] == user["id"]
    assert order["status"] == "pending" and order["version"] == 1 and order["currency"] == "EUR"
    assert order["total"] == 2 * 1250 + 999, "the server computes the total"
    assert order["shipping_address"]["line2"] is None and order["shipping_address"]["region"] is None
    assert created.headers["Location"] == f"/api/orders/{order['id']}"
    assert created.headers["ETag"] == '"v1"'

    # Before paying, the items can be replaced wholesale under If-Match; the total follows.
    replaced = api.put(
        f"/api/orders/{order['id']}",
        json={"items": [{"sku": "SKU-9", "name": "Gizmo", "quantity": 3, "unit_price": 700}]},
        headers={"If-Match": '"v1"'},
        timeout=TIMEOUT,
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["items"] == [{"sku": "SKU-9", "name": "Gizmo", "quantity": 3, "unit_price": 700}]
    assert replaced.json()["total"] == 2100 and replaced.json()["version"] == 2
    assert replaced.headers["ETag"] == '"v2"'

    paid = pay(api, order["id"], "tok_visa")
    assert paid.status_code == 201, paid.text
    attempt = paid.json()
    assert attempt["id"].startswith("pay_") and attempt["order_id"] == order["id"]
    assert (attempt["kind"], attempt["status"], attempt["amount"], attempt["currency"]) == ("charge", "succeeded", 2100, "EUR")
    assert attempt["failure_reason"] is None

    current = get_order(api, order["id"])
    assert current.json()["status"] == "paid"
    etag = current.headers["ETag"]
    assert etag == f'"v{current.json()["version"]}"'

    # Paid orders keep their items.
    frozen = api.put(
        f"/api/orders/{order['id']}", json={"items": order_body(user["id"])["items"]}, timeout=TIMEOUT
    )
    assert assert_problem(frozen, 409)["current_status"] == "paid"

    fulfilled = api.put(
        f"/api/orders/{order['id']}", json={"status": "fulfilled"}, headers={"If-Match": etag}, timeout=TIMEOUT
    )
    assert fulfilled.status_code == 200, fulfilled.text
    assert fulfilled.json()["status"] == "fulfilled"
    assert fulfilled.json()["version"] == current.json()["version"] + 1

    # A fulfilled order can no longer be cancelled.
    assert assert_problem(api.delete(f"/api/orders/{order['id']}", timeout=TIMEOUT), 409)["current_status"] == "fulfilled"

    completed = api.put(f"/api/orders/{order['id']}", json={"status": "completed"}, timeout=TIMEOUT)
    assert completed.status_code == 200 and completed.json()["status"] == "completed"

    listed = api.get("/api/orders", params={"user_id": user["id"]}, timeout=TIMEOUT)
    assert listed.status_code == 200
    assert [o["id"] for o in listed.json()["data"]] == [order["id"]]
    assert listed.json()["next_cursor"] is None

    payments = api.get(f"/api/orders/{order['id']}/payments", timeout=TIMEOUT)
    assert payments.status_code == 200
    assert [p["id"] for p in payments.json()["data"]] == [attempt["id"]]
    assert payments.json()["next_cursor"] is None


@pytest.mark.parametrize("target", ["paid", "cancelled", "refunded", "pending", "completed"])
def test_illegal_status_moves_are_409_with_the_current_status(meridian: Meridian, target: str) -> None:
    api = meridian.api
    order = create_order(api, create_user(api)["id"]).json()
    response = api.put(f"/api/orders/{order['id']}", json={"status": target}, timeout=TIMEOUT)
    assert assert_problem(response, 409)["current_status"] == "pending"
    assert get_order(api, order["id"]).json()["version"] == 1


def test_cancelling_a_pending_order(meridian: Meridian) -> None:
    api = meridian.api
    order = create_order(api, create_user(api)["id"]).json()
    cancelled = api.delete(f"/api/orders/{order['id']}", headers={"If-Match": '"v1"'}, timeout=TIMEOUT)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    again = api.delete(f"/api/orders/{order['id']}", timeout=TIMEOUT)
    assert again.status_code == 200 and again.json() == cancelled.json(), "cancelling twice changes nothing"
    assert_problem(pay(api, order["id"]), 409)


def test_cancelling_a_paid_order_refunds_it(meridian: Meridian) -> None:
    api = meridian.api
    order = create_order(api, create_user(api)["id"]).json()
    charge = pay(api, order["id"])
    assert charge.status_code == 201, charge.text

    refunded = api.delete(f"/api/orders/{order['id']}", timeout=TIMEOUT)
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["status"] == "refunded"

    attempts = api.get(f"/api/orders/{order['id']}/payments", timeout=TIMEOUT).json()["data"]
    assert [(a["kind"], a["status"]) for a in attempts] == [("charge", "succeeded"), ("refund", "succeeded")]
    assert attempts[1]["amount"] == order["total"]

    again = api.delete(f"/api/orders/{order['id']}", timeout=TIMEOUT)
    assert again.status_code == 200 and again.json()["status"] == "refunded"
    attempts_after = api.get(f"/api/orders/{order['id']}/payments", timeout=TIMEOUT).json()["data"]
    assert len(attempts_after) == 2, "a second DELETE refunds nothing more"


def test_declined_payment_is_402_and_the_order_stays_pending(meridian: Meridian) -> None:
    api = meridian.api
    order = create_order(api, create_user(api)["id"]).json()
    declined = pay(api, order["id"], "tok_chargeDeclined")
    assert_problem(declined, 402, "payment-declined")
    assert get_order(api, order["id"]).json()["status"] == "pending"

    attempts = api.get(f"/api/orders/{order['id']}/payments", timeout=TIMEOUT).json()["data"]
    assert [(a["kind"], a["status"]) for a in attempts] == [("charge", "declined")]
    assert attempts[0]["failure_reason"]

    # Another card works afterwards.
    assert pay(api, order["id"], "tok_visa").status_code == 201
    assert get_order(api, order["id"]).json()["status"] == "paid"


def test_processing_error_is_502_and_safe_to_retry(meridian: Meridian) -> None:
    api = meridian.api
    order = create_order(api, create_user(api)["id"]).json()
    key = "retry-" + secrets.token_hex(8)
    failed = pay(api, order["id"], "tok_processingError", headers={"Idempotency-Key": key})
    assert_problem(failed, 502, "payment-processing-error")
    assert get_order(api, order["id"]).json()["status"] == "pending"
    attempts = api.get(f"/api/orders/{order['id']}/payments", timeout=TIMEOUT).json()["data"]
    assert [(a["kind"], a["status"]) for a in attempts] == [("charge", "failed")]

    # A 5xx is not remembered under the key: the retry runs again.
    retried = pay(api, order["id"], "tok_processingError", headers={"Idempotency-Key": key})
    assert_problem(retried, 502, "payment-processing-error")
    assert "Idempotent-Replayed" not in retried.headers
    assert pay(api, order["id"], "tok_visa").status_code == 201


def test_unknown_payment_method_is_a_field_error(meridian: Meridian) -> None:
    api = meridian.api
    order = create_order(api, create_user(api)["id"]).json()
    problem = assert_problem(pay(api, order["id"], "tok_nonsense"), 422, "validation")
    assert error_fields(problem) == {"payment_method"}
    assert api.get(f"/api/orders/{order['id']}/payments", timeout=TIMEOUT).json()["data"] == []


def test_paying_a_paid_order_is_409(meridian: Meridian) -> None:
    api = meridian.api
    order = create_order(api, create_user(api)["id"]).json()
    assert pay(api, order["id"]).status_code == 201
    assert assert_problem(pay(api, order["id"]), 409)["current_status"] == "paid"


def test_stale_if_match_is_412_and_changes_nothing(meridian: Meridian) -> None:
    api = meridian.api
    order = create_order(api, create_user(api)["id"]).json()
    first = api.put(
        f"/api/orders/{order['id']}",
        json={"shipping_address": {**order_body("x")["shipping_address"], "city": "Paris", "country": "FR"}},
        headers={"If-Match": '"v1"'},
        timeout=TIMEOUT,
    )
    assert first.status_code == 200, first.text
    assert first.headers["ETag"] == '"v2"'

    stale = api.put(
        f"/api/orders/{order['id']}",
        json={"items": [{"sku": "LOST", "name": "Lost update", "quantity": 1, "unit_price": 1}]},
        headers={"If-Match": '"v1"'},
        timeout=TIMEOUT,
    )
    assert_problem(stale, 412)
    assert stale.headers["ETag"] == '"v2"', "the 412 names the current version"
    current = get_order(api, order["id"]).json()
    assert current["version"] == 2 and current["shipping_address"]["city"] == "Paris"
    assert current["items"] == order["items"]

    assert_problem(
        api.delete(f"/api/orders/{order['id']}", headers={"If-Match": '"v1"'}, timeout=TIMEOUT), 412
    )
    assert get_order(api, order["id"]).json()["status"] == "pending"


def test_idempotency_key_replays_the_first_response(meridian: Meridian) -> None:
    api = meridian.api
    user = create_user(api)
    key = "order-" + secrets.token_hex(8)
    body = order_body(user["id"])
    first = api.post("/api/orders", json=body, headers={"Idempotency-Key": key}, timeout=TIMEOUT)
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers

    replay = api.post("/api/orders", json=body, headers={"Idempotency-Key": key}, timeout=TIMEOUT)
    assert replay.status_code == 201
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == first.json()
    assert replay.headers["Location"] == first.headers["Location"]
    assert replay.headers["ETag"] == first.headers["ETag"]

    other = api.post(
        "/api/orders", json=order_body(user["id"], currency="USD"), headers={"Idempotency-Key": key}, timeout=TIMEOUT
    )
    assert_problem(other, 422, "idempotency-key-reused")

    orders = api.get("/api/orders", params={"user_id": user["id"]}, timeout=TIMEOUT).json()["data"]
    assert [o["id"] for o in orders] == [first.json()["id"]], "exactly one order was created"

    bad_key = api.post("/api/orders", json=body, headers={"Idempotency-Key": "é"}, timeout=TIMEOUT)
    assert_problem(bad_key, 400)


def test_payment_is_idempotent_too(meridian: Meridian) -> None:
    api = meridian.api
    order = create_order(api, create_user(api)["id"]).json()
    key = "pay-" + secrets.token_hex(8)
    first = pay(api, order["id"], headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    replay = pay(api, order["id"], headers={"Idempotency-Key": key})
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == first.json()
    attempts = api.get(f"/api/orders/{order['id']}/payments", timeout=TIMEOUT).json()["data"]
    assert len(attempts) == 1, "the card was charged once"


def test_order_validation_lists_every_bad_field(meridian: Meridian) -> None:
    api = meridian.api
    user = create_user(api)
    body = order_body(
        user["id"],
        currency="XXZ",
        items=[
            {"sku": "SKU-1", "name": "Widget", "quantity": 1, "unit_price": 100},
            {"sku": "SKU-2", "name": "Gadget", "quantity": 0, "unit_price": 100, "colour": "red"},
        ],
    )
    body["shipping_address"] = {**body["shipping_address"], "country": "gb"}
    problem = assert_problem(api.post("/api/orders", json=body, timeout=TIMEOUT), 422, "validation")
    assert {"currency", "items[1].quantity", "items[1].colour", "shipping_address.country"} <= error_fields(problem)

    unknown_user = api.post("/api/orders", json=order_body("usr_01JDQ4M8Z5X2E7K9T3W6B1N0RA"), timeout=TIMEOUT)
    assert error_fields(assert_problem(unknown_user, 422, "validation")) == {"user_id"}


def test_lists_are_paginated_in_creation_order(meridian: Meridian) -> None:
    api = meridian.api
    user = create_user(api)
    ids = [create_order(api, user["id"]).json()["id"] for _ in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"user_id": user["id"], "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/api/orders", params=params, timeout=TIMEOUT)
        assert page.status_code == 200, page.text
        assert len(page.json()["data"]) <= 2
        seen += [o["id"] for o in page.json()["data"]]
        pages += 1
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == ids and pages == 3

    problem = assert_problem(api.get("/api/orders", params={"limit": 0, "colour": "red"}, timeout=TIMEOUT), 400)
    assert error_fields(problem) == {"limit", "colour"}
    assert_problem(api.get("/api/orders", params={"limit": 201}, timeout=TIMEOUT), 400)
    assert_problem(api.get("/api/users", params={"cursor": "!!not-ours!!"}, timeout=TIMEOUT), 400)


def test_request_id_is_kept_or_made(meridian: Meridian) -> None:
    api = meridian.api
    kept = api.get("/api/orders", headers={"X-Request-Id": "interop-trace-42"}, timeout=TIMEOUT)
    assert kept.headers["X-Request-Id"] == "interop-trace-42"
    made = api.get("/api/orders/ord_00000000000000000000000000", timeout=TIMEOUT)
    assert_problem(made, 404)
    assert made.headers["X-Request-Id"] and made.headers["X-Request-Id"] != "interop-trace-42"


def test_gateway_and_orders_service_agree(meridian: Meridian) -> None:
    """The gateway is a transparent proxy: the orders service answers the same thing directly."""
    api = meridian.api
    order = create_order(api, create_user(api)["id"]).json()
    direct = api.get(f"{meridian.orders_url}/api/orders/{order['id']}", timeout=TIMEOUT)
    through = api.get(f"/api/orders/{order['id']}", timeout=TIMEOUT)
    assert direct.status_code == through.status_code == 200
    assert direct.json() == through.json()
    assert direct.headers["ETag"] == through.headers["ETag"]


def test_unknown_path_is_404_problem(meridian: Meridian) -> None:
    api = meridian.api
    assert_problem(api.get("/api/nothing-here"), 404)
    assert_problem(api.get("/no/such/path"), 404)
    # Without a token too: a path no route serves is not found, whoever asks.
    assert_problem(requests.get(f"{meridian.url}/api/nothing-here", timeout=TIMEOUT), 404)


@pytest.mark.parametrize("engine", ENGINES)
def test_data_survives_a_restart(launch_meridian, engine: str) -> None:
    server = launch_meridian(engine)
    api = server.api
    user = create_user(api)
    paid = create_order(api, user["id"]).json()
    assert pay(api, paid["id"]).status_code == 201
    pending = create_order(api, user["id"]).json()
    key = "restart-" + secrets.token_hex(8)
    keyed = api.post(
        "/api/orders", json=order_body(user["id"]), headers={"Idempotency-Key": key}, timeout=TIMEOUT
    )
    assert keyed.status_code == 201
    before = {o: get_order(api, o).json() for o in (paid["id"], pending["id"], keyed.json()["id"])}
    payments_before = api.get(f"/api/orders/{paid['id']}/payments", timeout=TIMEOUT).json()

    server.restart()
    assert server.exit_codes == [0], "SIGTERM is a clean shutdown"
    # A new session (the old one's connections died with the old process); the admin's token from before the
    # restart is still valid: the signing keys are in the database, not in memory.
    api = server.api

    assert api.get(f"/api/users/{user['id']}", timeout=TIMEOUT).json() == user
    for order_id, order in before.items():
        assert get_order(api, order_id).json() == order
    assert api.get(f"/api/orders/{paid['id']}/payments", timeout=TIMEOUT).json() == payments_before
    replay = api.post(
        "/api/orders", json=order_body(user["id"]), headers={"Idempotency-Key": key}, timeout=TIMEOUT
    )
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["id"] == keyed.json()["id"], "idempotency keys survive a restart"
    # And the restarted server still writes.
    assert api.put(f"/api/orders/{pending['id']}", json={"items": order_body("x")["items"][:1]}, timeout=TIMEOUT).status_code == 200


def test_sigterm_stops_the_server_cleanly(meridian: Meridian) -> None:
    """Runs last for each engine: the server that served this module shuts down gracefully, with status 0."""
    meridian.assert_clean_shutdown()
