"""Small helpers the interop suites share: making users and orders through the public API, and reading problems."""

from __future__ import annotations

import re
import secrets
from typing import Any

import requests

PROBLEM_BASE = "https://meridian.dev/problems/"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
TIMEOUT = 30


def unique_email() -> str:
    return f"interop-{secrets.token_hex(6)}@example.com"


def order_body(user_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "user_id": user_id,
        "currency": "EUR",
        "items": [
            {"sku": "SKU-1", "name": "Widget", "quantity": 2, "unit_price": 1250},
            {"sku": "SKU-2", "name": "Gadget", "quantity": 1, "unit_price": 999},
        ],
        "shipping_address": {
            "name": "Ada Lovelace",
            "line1": "1 Main St",
            "city": "London",
            "postal_code": "N1 9GU",
            "country": "GB",
        },
    }
    body.update(overrides)
    return body


def create_user(base: str, **overrides: Any) -> dict[str, Any]:
    body = {"email": unique_email(), "name": "Ada Lovelace", "password": "correct horse battery staple"}
    body.update(overrides)
    response = requests.post(f"{base}/api/users", json=body, timeout=TIMEOUT)
    assert response.status_code == 201, response.text
    return response.json()


def create_order(base: str, user_id: str, **overrides: Any) -> requests.Response:
    response = requests.post(f"{base}/api/orders", json=order_body(user_id, **overrides), timeout=TIMEOUT)
    assert response.status_code == 201, response.text
    return response


def pay(base: str, order_id: str, method: str = "tok_visa", **kwargs: Any) -> requests.Response:
    return requests.post(
        f"{base}/api/orders/{order_id}/payments", json={"payment_method": method}, timeout=TIMEOUT, **kwargs
    )


def get_order(base: str, order_id: str) -> requests.Response:
    response = requests.get(f"{base}/api/orders/{order_id}", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return response


def assert_problem(response: requests.Response, status: int, kind: str | None = None) -> dict[str, Any]:
    """Asserts an RFC 9457 problem with this status (and type `…/kind`); returns its body."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text[:500]}"
    content_type = response.headers.get("Content-Type", "")
    assert content_type.split(";")[0].strip() == "application/problem+json", content_type
    problem = response.json()
    assert problem["status"] == status
    assert isinstance(problem["title"], str) and problem["title"]
    assert problem["type"].startswith(PROBLEM_BASE), problem["type"]
    if kind is not None:
        assert problem["type"] == PROBLEM_BASE + kind, problem
    assert response.headers.get("X-Request-Id"), "every response carries X-Request-Id"
    return problem


def error_fields(problem: dict[str, Any]) -> set[str]:
    return {error["field"] for error in problem.get("errors", [])}
