"""Small helpers the interop suites share: an authenticated session on the API, making users and orders through
it, and reading problems."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any, Callable

import requests

PROBLEM_BASE = "https://meridian.dev/problems/"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
TIMEOUT = 30


class BearerAuth(requests.auth.AuthBase):
    """Sends `Authorization: Bearer <token>`, asking `token()` for the current one on every request."""

    def __init__(self, token: Callable[[], str]) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request


class ApiSession(requests.Session):
    """A session on one base URL: `api.get("/api/orders")` goes to `<base>/api/orders`; full URLs go where they
    say. Every request has a timeout unless it names one."""

    def __init__(
        self, base_url: str, auth: requests.auth.AuthBase | None = None, verify: str | bool = True
    ) -> None:
        super().__init__()
        self.base_url = base_url
        self.auth = auth
        # The CA to verify the server with (the platform's development CA); verification is never turned off.
        self.verify = verify

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if isinstance(url, str) and url.startswith("/"):
            url = self.base_url + url
        kwargs.setdefault("timeout", TIMEOUT)
        return super().request(method, url, *args, **kwargs)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


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


# The password `create_user` gives every account, so that tests can sign in as it.
USER_PASSWORD = "correct horse battery staple"


def create_user(api: requests.Session, **overrides: Any) -> dict[str, Any]:
    body = {"email": unique_email(), "name": "Ada Lovelace", "password": USER_PASSWORD}
    body.update(overrides)
    response = api.post("/api/users", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def create_order(api: requests.Session, user_id: str, **overrides: Any) -> requests.Response:
    response = api.post("/api/orders", json=order_body(user_id, **overrides))
    assert response.status_code == 201, response.text
    return response


def pay(api: requests.Session, order_id: str, method: str = "tok_visa", **kwargs: Any) -> requests.Response:
    return api.post(f"/api/orders/{order_id}/payments", json={"payment_method": method}, **kwargs)


def get_order(api: requests.Session, order_id: str) -> requests.Response:
    response = api.get(f"/api/orders/{order_id}")
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


def wait_until(condition: Callable[[], Any], timeout: float, what: str, seen: Callable[[], object] | None = None) -> Any:
    """Polls `condition` until it returns something truthy (returned) or `timeout` seconds pass (an assertion
    failure naming `what`, and what `seen` reports, if given)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"; seen: {seen()}" if seen is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(0.1)
