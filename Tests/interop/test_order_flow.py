"""The README's curl flow, with `requests`, through the gateway of a live `meridian serve`.

Each test runs on SQLite and on PostgreSQL (see `conftest.py`).
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


def test_user_sign_up_read_and_change(meridian: Meridian) -> None:
    base = meridian.url
    email = unique_email()
    created = requests.post(
        f"{base}/api/users",
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

    read = requests.get(f"{base}/api/users/{user['id']}", timeout=TIMEOUT)
    assert read.status_code == 200 and read.json() == user
    assert read.headers["ETag"] == '"v1"'

    # The same email in another case is the same account.
    taken = requests.post(
        f"{base}/api/users",
        json={"email": email.upper(), "name": "Someone Else", "password": "another long password"},
        timeout=TIMEOUT,
    )
    assert_problem(taken, 409, "email-taken")
    found = requests.get(f"{base}/api/users", params={"email": email.upper()}, timeout=TIMEOUT)
    assert found.status_code == 200
    assert [u["id"] for u in found.json()["data"]] == [user["id"]]

    renamed = requests.patch(
        f"{base}/api/users/{user['id']}", json={"name": "Augusta Ada King"}, headers={"If-Match": '"v1"'}, timeout=TIMEOUT
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Augusta Ada King"
    assert renamed.headers["ETag"] == '"v2"'
    stale = requests.patch(
        f"{base}/api/users/{user['id']}", json={"name": "Lost Update"}, headers={"If-Match": '"v1"'}, timeout=TIMEOUT
    )
    assert_problem(stale, 412)
    assert stale.headers["ETag"] == '"v2"'

    deleted = requests.delete(f"{base}/api/users/{user['id']}", timeout=TIMEOUT)
    assert deleted.status_code == 204
    assert_problem(requests.get(f"{base}/api/users/{user['id']}", timeout=TIMEOUT), 404)


def test_order_life_cycle_pending_paid_fulfilled_completed(meridian: Meridian) -> None:
    base = meridian.url
    user = create_user(base)

    created = create_order(base, user["id"])
    order = created.json()
    assert order["id"].startswith("ord_") and order["user_id"] == user["id"]
    assert order["status"] == "pending" and order["version"] == 1 and order["currency"] == "EUR"
    assert order["total"] == 2 * 1250 + 999, "the server computes the total"
    assert order["shipping_address"]["line2"] is None and order["shipping_address"]["region"] is None
    assert created.headers["Location"] == f"/api/orders/{order['id']}"
    assert created.headers["ETag"] == '"v1"'

    # Before paying, the items can be replaced wholesale under If-Match; the total follows.
    replaced = requests.put(
        f"{base}/api/orders/{order['id']}",
        json={"items": [{"sku": "SKU-9", "name": "Gizmo", "quantity": 3, "unit_price": 700}]},
        headers={"If-Match": '"v1"'},
        timeout=TIMEOUT,
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["items"] == [{"sku": "SKU-9", "name": "Gizmo", "quantity": 3, "unit_price": 700}]
    assert replaced.json()["total"] == 2100 and replaced.json()["version"] == 2
    assert replaced.headers["ETag"] == '"v2"'

    paid = pay(base, order["id"], "tok_visa")
    assert paid.status_code == 201, paid.text
    attempt = paid.json()
    assert attempt["id"].startswith("pay_") and attempt["order_id"] == order["id"]
    assert (attempt["kind"], attempt["status"], attempt["amount"], attempt["currency"]) == ("charge", "succeeded", 2100, "EUR")
    assert attempt["failure_reason"] is None

    current = get_order(base, order["id"])
    assert current.json()["status"] == "paid"
    etag = current.headers["ETag"]
    assert etag == f'"v{current.json()["version"]}"'

    # Paid orders keep their items.
    frozen = requests.put(
        f"{base}/api/orders/{order['id']}", json={"items": order_body(user["id"])["items"]}, timeout=TIMEOUT
    )
    assert assert_problem(frozen, 409)["current_status"] == "paid"

    fulfilled = requests.put(
        f"{base}/api/orders/{order['id']}", json={"status": "fulfilled"}, headers={"If-Match": etag}, timeout=TIMEOUT
    )
    assert fulfilled.status_code == 200, fulfilled.text
    assert fulfilled.json()["status"] == "fulfilled"
    assert fulfilled.json()["version"] == current.json()["version"] + 1

    # A fulfilled order can no longer be cancelled.
    assert assert_problem(requests.delete(f"{base}/api/orders/{order['id']}", timeout=TIMEOUT), 409)["current_status"] == "fulfilled"

    completed = requests.put(f"{base}/api/orders/{order['id']}", json={"status": "completed"}, timeout=TIMEOUT)
    assert completed.status_code == 200 and completed.json()["status"] == "completed"

    listed = requests.get(f"{base}/api/orders", params={"user_id": user["id"]}, timeout=TIMEOUT)
    assert listed.status_code == 200
    assert [o["id"] for o in listed.json()["data"]] == [order["id"]]
    assert listed.json()["next_cursor"] is None

    payments = requests.get(f"{base}/api/orders/{order['id']}/payments", timeout=TIMEOUT)
    assert payments.status_code == 200
    assert [p["id"] for p in payments.json()["data"]] == [attempt["id"]]
    assert payments.json()["next_cursor"] is None


@pytest.mark.parametrize("target", ["paid", "cancelled", "refunded", "pending", "completed"])
def test_illegal_status_moves_are_409_with_the_current_status(meridian: Meridian, target: str) -> None:
    base = meridian.url
    order = create_order(base, create_user(base)["id"]).json()
    response = requests.put(f"{base}/api/orders/{order['id']}", json={"status": target}, timeout=TIMEOUT)
    assert assert_problem(response, 409)["current_status"] == "pending"
    assert get_order(base, order["id"]).json()["version"] == 1


def test_cancelling_a_pending_order(meridian: Meridian) -> None:
    base = meridian.url
    order = create_order(base, create_user(base)["id"]).json()
    cancelled = requests.delete(f"{base}/api/orders/{order['id']}", headers={"If-Match": '"v1"'}, timeout=TIMEOUT)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    again = requests.delete(f"{base}/api/orders/{order['id']}", timeout=TIMEOUT)
    assert again.status_code == 200 and again.json() == cancelled.json(), "cancelling twice changes nothing"
    assert_problem(pay(base, order["id"]), 409)


def test_cancelling_a_paid_order_refunds_it(meridian: Meridian) -> None:
    base = meridian.url
    order = create_order(base, create_user(base)["id"]).json()
    charge = pay(base, order["id"])
    assert charge.status_code == 201, charge.text

    refunded = requests.delete(f"{base}/api/orders/{order['id']}", timeout=TIMEOUT)
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["status"] == "refunded"

    attempts = requests.get(f"{base}/api/orders/{order['id']}/payments", timeout=TIMEOUT).json()["data"]
    assert [(a["kind"], a["status"]) for a in attempts] == [("charge", "succeeded"), ("refund", "succeeded")]
    assert attempts[1]["amount"] == order["total"]

    again = requests.delete(f"{base}/api/orders/{order['id']}", timeout=TIMEOUT)
    assert again.status_code == 200 and again.json()["status"] == "refunded"
    attempts_after = requests.get(f"{base}/api/orders/{order['id']}/payments", timeout=TIMEOUT).json()["data"]
    assert len(attempts_after) == 2, "a second DELETE refunds nothing more"


def test_declined_payment_is_402_and_the_order_stays_pending(meridian: Meridian) -> None:
    base = meridian.url
    order = create_order(base, create_user(base)["id"]).json()
    declined = pay(base, order["id"], "tok_chargeDeclined")
    assert_problem(declined, 402, "payment-declined")
    assert get_order(base, order["id"]).json()["status"] == "pending"

    attempts = requests.get(f"{base}/api/orders/{order['id']}/payments", timeout=TIMEOUT).json()["data"]
    assert [(a["kind"], a["status"]) for a in attempts] == [("charge", "declined")]
    assert attempts[0]["failure_reason"]

    # Another card works afterwards.
    assert pay(base, order["id"], "tok_visa").status_code == 201
    assert get_order(base, order["id"]).json()["status"] == "paid"


def test_processing_error_is_502_and_safe_to_retry(meridian: Meridian) -> None:
    base = meridian.url
    order = create_order(base, create_user(base)["id"]).json()
    key = "retry-" + secrets.token_hex(8)
    failed = pay(base, order["id"], "tok_processingError", headers={"Idempotency-Key": key})
    assert_problem(failed, 502, "payment-processing-error")
    assert get_order(base, order["id"]).json()["status"] == "pending"
    attempts = requests.get(f"{base}/api/orders/{order['id']}/payments", timeout=TIMEOUT).json()["data"]
    assert [(a["kind"], a["status"]) for a in attempts] == [("charge", "failed")]

    # A 5xx is not remembered under the key: the retry runs again.
    retried = pay(base, order["id"], "tok_processingError", headers={"Idempotency-Key": key})
    assert_problem(retried, 502, "payment-processing-error")
    assert "Idempotent-Replayed" not in retried.headers
    assert pay(base, order["id"], "tok_visa").status_code == 201


def test_unknown_payment_method_is_a_field_error(meridian: Meridian) -> None:
    base = meridian.url
    order = create_order(base, create_user(base)["id"]).json()
    problem = assert_problem(pay(base, order["id"], "tok_nonsense"), 422, "validation")
    assert error_fields(problem) == {"payment_method"}
    assert requests.get(f"{base}/api/orders/{order['id']}/payments", timeout=TIMEOUT).json()["data"] == []


def test_paying_a_paid_order_is_409(meridian: Meridian) -> None:
    base = meridian.url
    order = create_order(base, create_user(base)["id"]).json()
    assert pay(base, order["id"]).status_code == 201
    assert assert_problem(pay(base, order["id"]), 409)["current_status"] == "paid"


def test_stale_if_match_is_412_and_changes_nothing(meridian: Meridian) -> None:
    base = meridian.url
    order = create_order(base, create_user(base)["id"]).json()
    first = requests.put(
        f"{base}/api/orders/{order['id']}",
        json={"shipping_address": {**order_body("x")["shipping_address"], "city": "Paris", "country": "FR"}},
        headers={"If-Match": '"v1"'},
        timeout=TIMEOUT,
    )
    assert first.status_code == 200, first.text
    assert first.headers["ETag"] == '"v2"'

    stale = requests.put(
        f"{base}/api/orders/{order['id']}",
        json={"items": [{"sku": "LOST", "name": "Lost update", "quantity": 1, "unit_price": 1}]},
        headers={"If-Match": '"v1"'},
        timeout=TIMEOUT,
    )
    assert_problem(stale, 412)
    assert stale.headers["ETag"] == '"v2"', "the 412 names the current version"
    current = get_order(base, order["id"]).json()
    assert current["version"] == 2 and current["shipping_address"]["city"] == "Paris"
    assert current["items"] == order["items"]

    assert_problem(
        requests.delete(f"{base}/api/orders/{order['id']}", headers={"If-Match": '"v1"'}, timeout=TIMEOUT), 412
    )
    assert get_order(base, order["id"]).json()["status"] == "pending"


def test_idempotency_key_replays_the_first_response(meridian: Meridian) -> None:
    base = meridian.url
    user = create_user(base)
    key = "order-" + secrets.token_hex(8)
    body = order_body(user["id"])
    first = requests.post(f"{base}/api/orders", json=body, headers={"Idempotency-Key": key}, timeout=TIMEOUT)
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers

    replay = requests.post(f"{base}/api/orders", json=body, headers={"Idempotency-Key": key}, timeout=TIMEOUT)
    assert replay.status_code == 201
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == first.json()
    assert replay.headers["Location"] == first.headers["Location"]
    assert replay.headers["ETag"] == first.headers["ETag"]

    other = requests.post(
        f"{base}/api/orders", json=order_body(user["id"], currency="USD"), headers={"Idempotency-Key": key}, timeout=TIMEOUT
    )
    assert_problem(other, 422, "idempotency-key-reused")

    orders = requests.get(f"{base}/api/orders", params={"user_id": user["id"]}, timeout=TIMEOUT).json()["data"]
    assert [o["id"] for o in orders] == [first.json()["id"]], "exactly one order was created"

    bad_key = requests.post(f"{base}/api/orders", json=body, headers={"Idempotency-Key": "é"}, timeout=TIMEOUT)
    assert_problem(bad_key, 400)


def test_payment_is_idempotent_too(meridian: Meridian) -> None:
    base = meridian.url
    order = create_order(base, create_user(base)["id"]).json()
    key = "pay-" + secrets.token_hex(8)
    first = pay(base, order["id"], headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    replay = pay(base, order["id"], headers={"Idempotency-Key": key})
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == first.json()
    attempts = requests.get(f"{base}/api/orders/{order['id']}/payments", timeout=TIMEOUT).json()["data"]
    assert len(attempts) == 1, "the card was charged once"


def test_order_validation_lists_every_bad_field(meridian: Meridian) -> None:
    base = meridian.url
    user = create_user(base)
    body = order_body(
        user["id"],
        currency="XXZ",
        items=[
            {"sku": "SKU-1", "name": "Widget", "quantity": 1, "unit_price": 100},
            {"sku": "SKU-2", "name": "Gadget", "quantity": 0, "unit_price": 100, "colour": "red"},
        ],
    )
    body["shipping_address"] = {**body["shipping_address"], "country": "gb"}
    problem = assert_problem(requests.post(f"{base}/api/orders", json=body, timeout=TIMEOUT), 422, "validation")
    assert {"currency", "items[1].quantity", "items[1].colour", "shipping_address.country"} <= error_fields(problem)

    unknown_user = requests.post(f"{base}/api/orders", json=order_body("usr_01JDQ4M8Z5X2E7K9T3W6B1N0RA"), timeout=TIMEOUT)
    assert error_fields(assert_problem(unknown_user, 422, "validation")) == {"user_id"}


def test_lists_are_paginated_in_creation_order(meridian: Meridian) -> None:
    base = meridian.url
    user = create_user(base)
    ids = [create_order(base, user["id"]).json()["id"] for _ in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"user_id": user["id"], "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = requests.get(f"{base}/api/orders", params=params, timeout=TIMEOUT)
        assert page.status_code == 200, page.text
        assert len(page.json()["data"]) <= 2
        seen += [o["id"] for o in page.json()["data"]]
        pages += 1
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == ids and pages == 3

    problem = assert_problem(requests.get(f"{base}/api/orders", params={"limit": 0, "colour": "red"}, timeout=TIMEOUT), 400)
    assert error_fields(problem) == {"limit", "colour"}
    assert_problem(requests.get(f"{base}/api/orders", params={"limit": 201}, timeout=TIMEOUT), 400)
    assert_problem(requests.get(f"{base}/api/users", params={"cursor": "!!not-ours!!"}, timeout=TIMEOUT), 400)


def test_request_id_is_kept_or_made(meridian: Meridian) -> None:
    base = meridian.url
    kept = requests.get(f"{base}/api/orders", headers={"X-Request-Id": "interop-trace-42"}, timeout=TIMEOUT)
    assert kept.headers["X-Request-Id"] == "interop-trace-42"
    made = requests.get(f"{base}/api/orders/ord_00000000000000000000000000", timeout=TIMEOUT)
    assert_problem(made, 404)
    assert made.headers["X-Request-Id"] and made.headers["X-Request-Id"] != "interop-trace-42"


def test_gateway_and_orders_service_agree(meridian: Meridian) -> None:
    """The gateway is a transparent proxy: the orders service answers the same thing directly."""
    base = meridian.url
    order = create_order(base, create_user(base)["id"]).json()
    direct = requests.get(f"{meridian.orders_url}/api/orders/{order['id']}", timeout=TIMEOUT)
    through = requests.get(f"{base}/api/orders/{order['id']}", timeout=TIMEOUT)
    assert direct.status_code == through.status_code == 200
    assert direct.json() == through.json()
    assert direct.headers["ETag"] == through.headers["ETag"]


def test_unknown_path_is_404_problem(meridian: Meridian) -> None:
    assert_problem(requests.get(f"{meridian.url}/api/nothing-here", timeout=TIMEOUT), 404)
    assert_problem(requests.get(f"{meridian.url}/no/such/path", timeout=TIMEOUT), 404)


@pytest.mark.parametrize("engine", ENGINES)
def test_data_survives_a_restart(launch_meridian, engine: str) -> None:
    server = launch_meridian(engine)
    base = server.url
    user = create_user(base)
    paid = create_order(base, user["id"]).json()
    assert pay(base, paid["id"]).status_code == 201
    pending = create_order(base, user["id"]).json()
    key = "restart-" + secrets.token_hex(8)
    keyed = requests.post(
        f"{base}/api/orders", json=order_body(user["id"]), headers={"Idempotency-Key": key}, timeout=TIMEOUT
    )
    assert keyed.status_code == 201
    before = {o: get_order(base, o).json() for o in (paid["id"], pending["id"], keyed.json()["id"])}
    payments_before = requests.get(f"{base}/api/orders/{paid['id']}/payments", timeout=TIMEOUT).json()

    server.restart()
    assert server.exit_codes == [0], "SIGTERM is a clean shutdown"
    base = server.url

    assert requests.get(f"{base}/api/users/{user['id']}", timeout=TIMEOUT).json() == user
    for order_id, order in before.items():
        assert get_order(base, order_id).json() == order
    assert requests.get(f"{base}/api/orders/{paid['id']}/payments", timeout=TIMEOUT).json() == payments_before
    replay = requests.post(
        f"{base}/api/orders", json=order_body(user["id"]), headers={"Idempotency-Key": key}, timeout=TIMEOUT
    )
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["id"] == keyed.json()["id"], "idempotency keys survive a restart"
    # And the restarted server still writes.
    assert requests.put(f"{base}/api/orders/{pending['id']}", json={"items": order_body("x")["items"][:1]}, timeout=TIMEOUT).status_code == 200


def test_sigterm_stops_the_server_cleanly(meridian: Meridian) -> None:
    """Runs last for each engine: the server that served this module shuts down gracefully, with status 0."""
    meridian.assert_clean_shutdown()
