"""The live gateway against its own OpenAPI document, fuzzed by Schemathesis, and hostile requests by hand.

Schemathesis reads the document the gateway serves at `/api/openapi.yaml` and sends schema-shaped requests
(from the documented examples, boundary values and random data; valid and deliberately invalid) to every
operation. Each response must:

- not be a server error (5xx);
- have a documented status code, content type and headers for its operation;
- match the documented response schema (problems are `application/problem+json` with the Problem schema);
- reject data the document says is invalid (a 2xx for an invalid request is a contract break).

Random ids would only ever find 404s, so part of the valid cases are pointed at users and orders that exist.

Every request carries the admin's access token (a Schemathesis auth provider that signs in with the code flow and
refreshes before the token expires), so the fuzzer reaches the handlers behind the token check instead of
bouncing off it with 401s. The OAuth endpoints and the discovery documents are fuzzed too: they are public.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from pathlib import Path
from typing import Any, Iterator

import hypothesis.strategies as st
import pytest
import requests
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation

from conftest import Meridian, running_meridian
from oauth_support import authorization_params, open_login_page, submit_login
from support import (
    TIMEOUT,
    ApiSession,
    assert_problem,
    bearer,
    create_order,
    create_user,
    error_fields,
    order_body,
    pay,
    unique_email,
)

# Bounded so that the whole interop suite stays within a few minutes; raise it locally to dig deeper.
MAX_EXAMPLES = int(os.environ.get("MERIDIAN_FUZZ_EXAMPLES", "40"))

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
]


# What counts as refusing a request the document calls invalid. The authorization endpoint refuses a request
# whose client and redirect URI are sound by redirecting the error to that URI (RFC 6749 section 4.1.2.1): 302.
REFUSALS = ["302", "400", "401", "403", "404", "405", "406", "409", "412", "413", "415", "422", "428", "429", "5xx"]


def fuzz_config(base_url: str) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "base-url": base_url,
            "request-timeout": 30,
            "generation": {"max-examples": MAX_EXAMPLES, "mode": "all", "database": "none"},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
            "checks": {
                "enabled": False,
                **{name: {"enabled": True} for name in CHECKS},
                # Refusing invalid data with 412 (a stale If-Match is checked before the body is read) or 413 is
                # a refusal too.
                "negative_data_rejection": {"enabled": True, "expected-statuses": REFUSALS},
            },
        }
    )


def seed(api: ApiSession) -> dict[str, list[str]]:
    """Users, orders in each status and a custom role that the fuzzer can then read, change, pay and cancel."""
    users = [create_user(api)["id"] for _ in range(2)]
    pending = create_order(api, users[0]).json()["id"]
    paid = create_order(api, users[0]).json()["id"]
    assert pay(api, paid).status_code == 201
    fulfilled = create_order(api, users[1]).json()["id"]
    assert pay(api, fulfilled).status_code == 201
    assert api.put(f"/api/orders/{fulfilled}", json={"status": "fulfilled"}).status_code == 200
    role = api.post("/api/roles", json={"name": "fuzz-clerk", "permissions": ["orders:read"]})
    assert role.status_code == 201, role.text
    return {"users": users, "orders": [pending, paid, fulfilled], "roles": ["fuzz-clerk", "customer", "support"]}


@pytest.fixture(scope="module")
def fuzz_target(engine: str, interop_root: Path) -> Iterator[Meridian]:
    """The fuzzer's own server, so that whatever it breaks does not fail the hand-written tests below."""
    with running_meridian(engine, interop_root) as server:
        yield server


@pytest.fixture(scope="module")
def api_schema(fuzz_target: Meridian) -> Any:
    base = fuzz_target.url
    schema = schemathesis.openapi.from_url(f"{base}/api/openapi.yaml", config=fuzz_config(base))
    authenticate_as_admin(schema, fuzz_target)
    point_at_known_resources(schema, seed(fuzz_target.api))
    return schema


def authenticate_as_admin(schema: Any, server: Meridian) -> None:
    """Every generated request carries a current admin token (its other headers stay as generated)."""

    @schema.auth(refresh_interval=None)
    class AdminToken:
        def get(self, case: Any, context: Any) -> str:
            # The server's own cache refreshes the token a minute before it expires.
            return server.admin_token()

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), **bearer(data)}


def point_at_known_resources(schema: Any, known: dict[str, list[str]]) -> None:
    """Points some valid cases at users and orders that exist; invalid parts stay as generated."""

    @schema.hook
    def flatmap_case(context: Any, case: Any) -> Any:
        meta = case.meta
        path_is_valid = meta is None or not meta.is_negative_at(ParameterLocation.PATH)
        body_is_valid = meta is None or not meta.is_negative_at(ParameterLocation.BODY)
        query_is_valid = meta is None or not meta.is_negative_at(ParameterLocation.QUERY)
        strategy = st.just(case)
        if path_is_valid and "id" in (case.path_parameters or {}):
            pool = known["users"] if case.operation.path.startswith("/api/users/") else known["orders"]
            strategy = strategy.flatmap(lambda c: st.sampled_from([None, *pool]).map(lambda i: _with_path_id(c, i)))
        if path_is_valid and "name" in (case.path_parameters or {}):
            strategy = strategy.flatmap(
                lambda c: st.sampled_from([None, *known["roles"]]).map(lambda n: _with_path_name(c, n))
            )
        if body_is_valid and isinstance(case.body, dict) and "user_id" in case.body:
            strategy = strategy.flatmap(
                lambda c: st.sampled_from([None, *known["users"]]).map(lambda u: _with_body_user(c, u))
            )
        if query_is_valid and isinstance(case.query, dict) and "user_id" in case.query:
            strategy = strategy.flatmap(
                lambda c: st.sampled_from([None, *known["users"]]).map(lambda u: _with_query_user(c, u))
            )
        return strategy


def _with_path_id(case: Any, value: str | None) -> Any:
    if value is not None:
        case.path_parameters = {**case.path_parameters, "id": value}
    return case


def _with_path_name(case: Any, value: str | None) -> Any:
    if value is not None:
        case.path_parameters = {**case.path_parameters, "name": value}
    return case


def _with_body_user(case: Any, value: str | None) -> Any:
    if value is not None:
        case.body = {**case.body, "user_id": value}
    return case


def _with_query_user(case: Any, value: str | None) -> Any:
    if value is not None:
        case.query = {**case.query, "user_id": value}
    return case


fuzzed = schemathesis.pytest.from_fixture("api_schema")


@fuzzed.parametrize()
def test_live_api_conforms_to_its_openapi_document(case: Any) -> None:
    case.call_and_validate()


def test_fuzzed_server_survived_and_stops_cleanly(fuzz_target: Meridian) -> None:
    fuzz_target.assert_clean_shutdown()


# --- the document itself ---------------------------------------------------------------------------------------


def test_gateway_serves_the_repository_document(meridian: Meridian) -> None:
    response = requests.get(f"{meridian.url}/api/openapi.yaml", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Type"].split(";")[0] == "application/yaml"
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "openapi", "openapi.yaml"), "rb") as document:
        assert response.content == document.read(), "the gateway serves openapi/openapi.yaml as it is"


# --- hostile requests ------------------------------------------------------------------------------------------


def _body_routes(meridian: Meridian) -> list[tuple[str, str]]:
    """One route of each kind that reads a JSON body, with real ids so that only the body decides."""
    api = meridian.api
    user = create_user(api)["id"]
    order = create_order(api, user).json()["id"]
    return [
        ("POST", "/api/users"),
        ("PATCH", f"/api/users/{user}"),
        ("PUT", f"/api/users/{user}/roles"),
        ("POST", "/api/roles"),
        ("PUT", "/api/roles/customer"),
        ("POST", "/api/clients"),
        ("POST", "/api/orders"),
        ("PUT", f"/api/orders/{order}"),
        ("POST", f"/api/orders/{order}/payments"),
    ]


def _send(meridian: Meridian, method: str, path: str, body: bytes, content_type: str = "application/json") -> requests.Response:
    """With the admin's token, so that the body is what decides."""
    return meridian.api.request(method, path, data=body, headers={"Content-Type": content_type})


@pytest.mark.parametrize(
    "body",
    [b'{"email": ', b"{'email': 'a@b.c'}", b"", b"   ", b"[]", b'"text"', b"42", b"null", b"{} {}", b'{"a": NaN}'],
    ids=["truncated", "single-quotes", "empty", "whitespace", "array", "string", "number", "null", "two-docs", "nan"],
)
def test_malformed_or_non_object_json_is_400(meridian: Meridian, body: bytes) -> None:
    for method, path in _body_routes(meridian):
        assert_problem(_send(meridian, method, path, body), 400)


def test_invalid_utf8_is_400(meridian: Meridian) -> None:
    for method, path in _body_routes(meridian):
        assert_problem(_send(meridian, method, path, b'{"name": "Ada \xff\xfe Lovelace"}'), 400)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data; boundary=x"])
def test_non_json_content_type_is_415(meridian: Meridian, content_type: str) -> None:
    body = json.dumps({"payment_method": "tok_visa"}).encode()
    for method, path in _body_routes(meridian):
        assert_problem(_send(meridian, method, path, body, content_type), 415)


def test_json_with_a_charset_is_json(meridian: Meridian) -> None:
    body = json.dumps({"email": unique_email(), "name": "Ada", "password": "correct horse battery staple"}).encode()
    response = _send(meridian, "POST", "/api/users", body, "application/json; charset=utf-8")
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("target", ["gateway", "orders"])
def test_body_over_one_mebibyte_is_413(meridian: Meridian, target: str) -> None:
    api = meridian.api if target == "gateway" else meridian.api_at(meridian.orders_url)
    user = create_user(meridian.api)["id"]
    body = order_body(user)
    body["items"][0]["name"] = "x" * (1 << 20)
    response = api.post("/api/orders", json=body)
    assert_problem(response, 413)
    # Just under the limit is read (and then refused for what it says, not for its size).
    body["items"][0]["name"] = "x" * ((1 << 20) - 1000)
    assert_problem(api.post("/api/orders", json=body), 422, "validation")


def test_much_larger_body_does_not_hurt_the_server(meridian: Meridian) -> None:
    try:
        response = meridian.api.post(
            "/api/orders", data=b"[" * (16 << 20), headers={"Content-Type": "application/json"}
        )
        assert_problem(response, 413)
    except requests.ConnectionError:
        pass  # The server may hang up on a client that keeps sending after the 413; that is fine.
    assert requests.get(f"{meridian.url}/readyz", timeout=TIMEOUT).status_code == 200


def test_unknown_fields_are_422_and_listed(meridian: Meridian) -> None:
    api = meridian.api
    sign_up = {"email": unique_email(), "name": "Ada", "password": "correct horse battery staple", "is_admin": True, "roles": ["admin"]}
    problem = assert_problem(api.post("/api/users", json=sign_up), 422, "validation")
    assert error_fields(problem) == {"is_admin", "roles"}

    user = create_user(api)["id"]
    body = order_body(user, total=1, status="paid")
    body["shipping_address"] = {**body["shipping_address"], "gate_code": "1234"}
    body["items"] = [{**body["items"][0], "discount": 100}]
    problem = assert_problem(api.post("/api/orders", json=body), 422, "validation")
    assert error_fields(problem) == {"total", "status", "shipping_address.gate_code", "items[0].discount"}
    assert api.get("/api/orders", params={"user_id": user}).json()["data"] == []


def test_wrong_types_and_bounds_are_422_and_listed(meridian: Meridian) -> None:
    api = meridian.api
    user = create_user(api)["id"]
    items = [
        {"sku": "A", "name": "A", "quantity": "2", "unit_price": 100},
        {"sku": "B", "name": "B", "quantity": 10001, "unit_price": 100},
        {"sku": "C", "name": "C", "quantity": 1, "unit_price": 100000001},
        {"sku": "D", "name": "D", "quantity": 1.5, "unit_price": 100},
        {"sku": "E", "name": "E", "quantity": 99999999999999999999999, "unit_price": 1},
        {"sku": "", "name": "F" * 201, "quantity": 1, "unit_price": 0},
    ]
    problem = assert_problem(api.post("/api/orders", json=order_body(user, items=items)), 422)
    assert {
        "items[0].quantity",
        "items[1].quantity",
        "items[2].unit_price",
        "items[3].quantity",
        "items[4].quantity",
        "items[5].sku",
        "items[5].name",
        "items[5].unit_price",
    } <= error_fields(problem)
    too_many = [{"sku": "A", "name": "A", "quantity": 1, "unit_price": 1}] * 101
    assert error_fields(assert_problem(api.post("/api/orders", json=order_body(user, items=too_many)), 422)) == {"items"}
    assert error_fields(assert_problem(api.post("/api/orders", json=order_body(user, items=[])), 422)) == {"items"}
    control = {"email": unique_email(), "name": "Ada\u0000Lovelace", "password": "correct horse battery staple"}
    assert error_fields(assert_problem(api.post("/api/users", json=control), 422)) == {"name"}
    short = {"email": unique_email(), "name": "Ada", "password": "short"}
    assert error_fields(assert_problem(api.post("/api/users", json=short), 422)) == {"password"}
    # 72 characters but more than 72 bytes: bcrypt would silently ignore the rest.
    wide = {"email": unique_email(), "name": "Ada", "password": "é" * 72}
    assert error_fields(assert_problem(api.post("/api/users", json=wide), 422)) == {"password"}


@pytest.mark.parametrize("depth", [64, 100_000])
def test_deep_nesting_is_refused_without_harm(meridian: Meridian, depth: int) -> None:
    """Deeply nested JSON must be a clean 4xx, never a stack overflow that kills the process."""
    nested = b'{"email": "a@b.c", "name": ' + b"[" * depth + b"]" * depth + b', "password": "correct horse battery"}'
    for method, path in _body_routes(meridian):
        response = _send(meridian, method, path, nested)
        assert response.status_code in (400, 422), response.text[:300]
        assert_problem(response, response.status_code)
    assert requests.get(f"{meridian.url}/readyz", timeout=TIMEOUT).status_code == 200


def test_wrong_method_and_unknown_paths_are_problems(meridian: Meridian) -> None:
    api = meridian.api
    for method, path in [
        ("PATCH", "/api/orders"),
        ("DELETE", "/api/users"),
        ("GET", "/api/orders/x/y/z"),
        ("POST", "/api"),
        ("DELETE", "/api/clients"),
        ("GET", "/oauth/token"),
        ("POST", "/.well-known/jwks.json"),
    ]:
        response = api.request(method, path, json={})
        assert 400 <= response.status_code < 500, f"{method} {path}: {response.status_code}"
        assert_problem(response, response.status_code)


def test_repeated_and_garbage_query_parameters_are_400(meridian: Meridian) -> None:
    api = meridian.api
    for query in ["limit=1&limit=2", "limit=abc", "limit=-1", "status=shipped", "cursor=", "unknown=1"]:
        response = api.get(f"/api/orders?{query}")
        assert response.status_code == 400, f"?{query} gave {response.status_code}"
        assert_problem(response, 400)


def test_upstream_answering_before_reading_the_body_does_not_hurt_the_gateway(meridian: Meridian) -> None:
    """A service may refuse a request (404 for an unknown id) without reading its body; the gateway, which is
    still streaming that body upstream, must keep serving the connection and the process."""
    session = meridian.api
    body = {"name": "Augusta Ada King", "payment_method": "tok_visa", "items": order_body("x")["items"]}
    # The crash this guards against is a race; a few hundred requests make it show reliably.
    for _ in range(100):
        for method, path in [
            ("PATCH", "/api/users/0"),
            ("POST", "/api/orders/0/payments"),
            ("PUT", "/api/orders/ord_00000000000000000000000000"),
        ]:
            assert_problem(session.request(method, path, json=body), 404)
    assert requests.get(f"{meridian.url}/readyz", timeout=TIMEOUT).status_code == 200


def _sign_in_with(meridian: Meridian, email: str) -> requests.Response:
    browser = requests.Session()
    _, page = open_login_page(browser, f"{meridian.url}/oauth/authorize?{urllib.parse.urlencode(authorization_params())}")
    return submit_login(browser, meridian.url, page, email, "a password that is wrong")


NUL_REQUESTS: dict[str, Any] = {
    "authorize client_id": lambda m: requests.get(f"{m.url}/oauth/authorize", params={"client_id": "a\x00b", "redirect_uri": "x"}, allow_redirects=False, timeout=TIMEOUT),
    "sign-in form client_id": lambda m: requests.post(f"{m.url}/oauth/authorize", data={"client_id": "meridian-cli\x00"}, allow_redirects=False, timeout=TIMEOUT),
    "sign-in email": lambda m: _sign_in_with(m, "ada\x00@example.com"),
    "token client_id": lambda m: requests.post(f"{m.url}/oauth/token", data={"grant_type": "client_credentials", "client_id": "a\x00b"}, timeout=TIMEOUT),
    "token Basic client_id": lambda m: requests.post(f"{m.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=("a\x00b", "secret"), timeout=TIMEOUT),
    "revoke client_id": lambda m: requests.post(f"{m.url}/oauth/revoke", data={"client_id": "a\x00b", "token": "x"}, timeout=TIMEOUT),
    "introspect client_id": lambda m: requests.post(f"{m.url}/oauth/introspect", data={"client_id": "a\x00b", "client_secret": "s", "token": "x"}, timeout=TIMEOUT),
    "users email filter": lambda m: m.api.get("/api/users", params={"email": "ada\x00@example.com"}),
    "role name": lambda m: m.api.get("/api/roles/a%00b"),
}


@pytest.mark.parametrize("where", sorted(NUL_REQUESTS))
def test_nul_bytes_in_lookups_are_not_server_errors(meridian: Meridian, where: str) -> None:
    """A NUL byte is valid in JSON, form and query text but not in a PostgreSQL text value: a lookup by such a
    value must be refused (or simply find nothing) before it reaches the database, never be a 500. Found by the
    fuzzer on `GET /oauth/authorize` with PostgreSQL."""
    response = NUL_REQUESTS[where](meridian)
    assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:200]}"


def test_sigterm_stops_the_server_cleanly(meridian: Meridian) -> None:
    """Runs last for each engine: the server survived what was sent to it and shuts down with status 0."""
    meridian.assert_clean_shutdown()
