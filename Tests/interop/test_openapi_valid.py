"""The OpenAPI document is valid OpenAPI 3.1, and its examples and conventions are consistent with it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest
import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

REPO = Path(__file__).resolve().parents[2]
DOCUMENT = REPO / "openapi" / "openapi.yaml"
SERVED = REPO / "Sources" / "Gateway" / "Resources" / "openapi.yaml"
# The gateway's table of proxied prefixes (`Upstream.routes`): the source of truth for what goes through the proxy.
UPSTREAMS = REPO / "Sources" / "Gateway" / "Proxy" / "Upstream.swift"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}

# The public routes of the API contract. Operational routes (/healthz, /readyz, /metrics) are not part of it.
EXPECTED_OPERATIONS = {
    ("post", "/api/users"),
    ("get", "/api/users"),
    ("get", "/api/users/{id}"),
    ("patch", "/api/users/{id}"),
    ("delete", "/api/users/{id}"),
    ("put", "/api/users/{id}/roles"),
    ("post", "/api/roles"),
    ("get", "/api/roles"),
    ("get", "/api/roles/{name}"),
    ("put", "/api/roles/{name}"),
    ("delete", "/api/roles/{name}"),
    ("post", "/api/clients"),
    ("get", "/api/clients"),
    ("post", "/api/orders"),
    ("get", "/api/orders"),
    ("get", "/api/orders/{id}"),
    ("put", "/api/orders/{id}"),
    ("delete", "/api/orders/{id}"),
    ("post", "/api/orders/{id}/payments"),
    ("get", "/api/orders/{id}/payments"),
    ("get", "/api/openapi.yaml"),
    ("get", "/oauth/authorize"),
    ("post", "/oauth/authorize"),
    ("post", "/oauth/token"),
    ("post", "/oauth/revoke"),
    ("post", "/oauth/introspect"),
    ("get", "/.well-known/oauth-authorization-server"),
    ("get", "/.well-known/openid-configuration"),
    ("get", "/.well-known/jwks.json"),
    # Notifications.
    ("post", "/api/notifications"),
    ("get", "/api/notifications"),
    ("get", "/api/notifications/dead-letters"),
    ("get", "/api/notifications/{id}"),
    ("post", "/api/notifications/{id}/read"),
    ("post", "/api/notifications/{id}/retry"),
    ("get", "/api/notification-templates"),
    ("post", "/api/notification-templates"),
    ("get", "/api/notification-templates/{id}"),
    ("put", "/api/notification-templates/{id}"),
    ("delete", "/api/notification-templates/{id}"),
    ("get", "/api/notification-preferences/{user_id}"),
    ("put", "/api/notification-preferences/{user_id}"),
    ("post", "/api/push-subscriptions"),
    ("get", "/api/push-subscriptions"),
    ("get", "/api/push-subscriptions/vapid-public-key"),
    ("delete", "/api/push-subscriptions/{id}"),
    # Analytics.
    ("post", "/api/analytics/events"),
    ("get", "/api/analytics/events"),
    ("get", "/api/analytics/metrics"),
    ("get", "/api/analytics/usage"),
    ("get", "/api/analytics/funnels"),
    ("delete", "/api/analytics/users/{id}"),
    ("post", "/api/analytics/write-keys"),
    ("get", "/api/analytics/write-keys"),
    ("delete", "/api/analytics/write-keys/{id}"),
    ("post", "/v1/batch"),
    ("post", "/v1/track"),
    ("post", "/v1/identify"),
    ("post", "/v1/page"),
    # The audit logs, one per service.
    ("get", "/api/audit"),
    ("get", "/api/audit/users"),
    ("get", "/api/audit/orders"),
    ("get", "/api/audit/notifications"),
    ("get", "/api/audit/analytics"),
}

# Segment's tracking API. Not OAuth routes: their credential is a Segment write key, sent as the HTTP Basic user
# name (empty password) as Segment's SDKs send it, and checked by analytics; the gateway lets them through without
# a token. Their bodies are Segment's open wire format (the SDKs add `context`, `integrations`, `_metadata`, …,
# which are ignored as Segment ignores them), so they are the one exception to closed request bodies.
WRITE_KEY_OPERATIONS = {
    ("post", "/v1/batch"),
    ("post", "/v1/track"),
    ("post", "/v1/identify"),
    ("post", "/v1/page"),
}
# Routes anyone may call without a token: the document itself, the authorization server, its discovery
# documents. `POST /api/users` is public only when self-registration is enabled, so a token is optional there.
PUBLIC_OPERATIONS = {
    (method, path) for method, path in EXPECTED_OPERATIONS if path.startswith(("/oauth/", "/.well-known/"))
} | {("get", "/api/openapi.yaml")}
TOKEN_OPTIONAL = {("post", "/api/users")}
# The OAuth endpoints answer in the forms OAuth clients and browsers read, not with problems: JSON errors of
# RFC 6749 section 5.2 at the token, revocation and introspection endpoints, HTML pages at the authorization
# endpoint. Only failures of the gateway in front of them (413 over its body limit, 503, 504) are problems.
OAUTH_JSON_ERRORS = {"/oauth/token", "/oauth/revoke", "/oauth/introspect"}
HTML_PAGES = {"/oauth/authorize"}
GATEWAY_FAILURES = {"413", "429", "503", "504"}
# `POST /api/clients` does not replay: the replayed answer would hand out the client's secret a second time. Nor
# does `POST /api/analytics/write-keys`, for the same reason: it refuses `Idempotency-Key` with a 400.
NOT_IDEMPOTENT = {"/api/clients", "/api/analytics/write-keys"}
# Creations whose 201 names the new resource (`Location`) and its version (`ETag`), and may be a replay.
VERSIONED_CREATIONS = {"/api/users", "/api/orders", "/api/roles", "/api/notification-templates"}


def proxied_prefixes() -> list[str]:
    """The prefixes of `Upstream.routes`, read from the gateway's source: `("/api/users", "users"),`."""
    source = UPSTREAMS.read_text()
    table = source[source.index("static let routes") :]
    table = table[: table.index("]\n")]
    return re.findall(r'\(\s*"(/[^"]*)"\s*,\s*"[a-z]+"\s*\)', table)


def under(path: str, prefix: str) -> bool:
    """A prefix matches itself and everything below it, never a longer segment (as `Upstream.routes` says)."""
    return path == prefix or path.startswith(prefix + "/")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    spec, _ = read_from_filename(str(DOCUMENT))
    return spec


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def resolve(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        pointer = node["$ref"].removeprefix("#/").split("/")
        node = document
        for part in pointer:
            node = node[part]
    return node


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML 1.2 requires mapping keys to be unique; PyYAML keeps the last of two silently, strict parsers
    (the gateway's own Yams, many code generators) refuse the document."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            assert key not in seen, f"duplicate key {key!r} at line {key_node.start_mark.line + 1}"
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def test_document_has_no_duplicate_keys() -> None:
    assert yaml.load(DOCUMENT.read_text(), Loader=_UniqueKeyLoader)["openapi"]


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    validate(document)


def test_repository_copy_is_the_served_file() -> None:
    assert DOCUMENT.is_symlink(), "openapi/openapi.yaml links to the gateway's resource"
    assert DOCUMENT.resolve() == SERVED.resolve()
    yaml.safe_load(SERVED.read_text())


def test_every_public_route_is_documented_and_nothing_else(document: dict[str, Any]) -> None:
    documented = {(method, path) for method, path, _ in operations(document)}
    assert documented == EXPECTED_OPERATIONS


def test_operations_are_named_and_every_response_carries_a_request_id(document: dict[str, Any]) -> None:
    names = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(names) == len(set(names)), "operationIds are unique"
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            response = resolve(document, response)
            label = f"{method.upper()} {path} {status}"
            assert "X-Request-Id" in response.get("headers", {}), label
            if not status.startswith(("4", "5")):
                continue
            media = list(response["content"])
            if path in OAUTH_JSON_ERRORS and status not in GATEWAY_FAILURES:
                assert media == ["application/json"], label
                assert resolve(document, response["content"]["application/json"]["schema"])["properties"]["error"]
            elif path in HTML_PAGES and status not in GATEWAY_FAILURES:
                assert media == ["text/html"], label
            elif path in HTML_PAGES and status == "429":
                # The gateway's rate-limit problem always; the sign-in throttle's page where there is a form.
                assert "application/problem+json" in media and set(media) <= {"text/html", "application/problem+json"}, label
            elif path in HTML_PAGES and status == "413":
                assert set(media) == {"text/html", "application/problem+json"}, label
            else:
                assert media == ["application/problem+json"], label


def test_every_api_route_needs_a_token_but_the_public_ones(document: dict[str, Any]) -> None:
    assert "security" not in document, "each operation says whether it needs a token; no global default hides one"
    schemes = document["components"]["securitySchemes"]
    flows = schemes["oauth2"]["flows"]
    assert set(flows) == {"authorizationCode", "clientCredentials"}, "no implicit and no password flow"
    assert flows["authorizationCode"]["authorizationUrl"] == "/oauth/authorize"
    assert flows["authorizationCode"]["tokenUrl"] == flows["clientCredentials"]["tokenUrl"] == "/oauth/token"
    assert "PKCE" in schemes["oauth2"]["description"] and "S256" in schemes["oauth2"]["description"]
    assert schemes["bearerJWT"] == {**schemes["bearerJWT"], "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["segmentWriteKey"] == {**schemes["segmentWriteKey"], "type": "http", "scheme": "basic"}
    write_key_users = {
        (method, path) for method, path, op in operations(document) if {"segmentWriteKey": []} in op.get("security", [])
    }
    assert write_key_users == WRITE_KEY_OPERATIONS, "only Segment's routes take a write key"
    for method, path, operation in operations(document):
        label = f"{method.upper()} {path}"
        requirements = operation.get("security")
        assert requirements is not None, f"{label} says whether it needs a token"
        if (method, path) in PUBLIC_OPERATIONS:
            assert {} in requirements or requirements == [], f"{label} is public"
            assert not any("oauth2" in r or "bearerJWT" in r for r in requirements), label
            continue
        if (method, path) in WRITE_KEY_OPERATIONS:
            assert requirements == [{"segmentWriteKey": []}], f"{label}: the write key and nothing else"
            # No permissions, so no 403: an absent, unknown or revoked key (or a bearer token) is a 401 with the
            # Basic challenge; two Authorization headers are not a key either, so they are a 401 too, not a 400.
            assert "403" not in operation["responses"], label
            response = resolve(document, operation["responses"]["401"])
            challenge = resolve(document, response["headers"]["WWW-Authenticate"])
            assert challenge["required"] is True, f"{label} 401 carries WWW-Authenticate"
            assert challenge["schema"]["pattern"].startswith("^Basic "), f"{label} 401 challenges for Basic"
            assert list(response["content"]) == ["application/problem+json"], f"{label} 401"
            continue
        alternatives = [r for r in requirements if r]
        assert alternatives == [{"oauth2": []}, {"bearerJWT": []}], label
        assert ({} in requirements) == ((method, path) in TOKEN_OPTIONAL), f"{label}: a token is optional only where documented"
        for status in ("401", "403"):
            response = resolve(document, operation["responses"][status])
            challenge = resolve(document, response["headers"]["WWW-Authenticate"])
            assert challenge["required"] is True, f"{label} {status} carries WWW-Authenticate"
            assert list(response["content"]) == ["application/problem+json"], f"{label} {status}"
        assert "400" in operation["responses"], f"{label}: two Authorization headers are a 400"


def test_oauth_endpoints_are_form_encoded_and_document_their_errors(document: dict[str, Any]) -> None:
    paths = document["paths"]
    for path in ("/oauth/token", "/oauth/revoke", "/oauth/introspect"):
        operation = paths[path]["post"]
        assert list(operation["requestBody"]["content"]) == ["application/x-www-form-urlencoded"], path
        assert {"200", "400", "401"} <= set(operation["responses"]), path
        challenge = resolve(document, resolve(document, operation["responses"]["401"])["headers"]["WWW-Authenticate"])
        assert challenge["required"] is True, f"{path}: invalid_client carries a Basic challenge (RFC 6749 5.2)"
        assert operation["security"] == [{"clientSecretBasic": []}, {}], path
    token = resolve(document, paths["/oauth/token"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"])
    grants = resolve(document, token["properties"]["grant_type"])["enum"]
    assert set(grants) == {"authorization_code", "refresh_token", "client_credentials"}, "no password, no implicit"
    authorize = paths["/oauth/authorize"]
    parameters = {resolve(document, p)["name"]: resolve(document, p) for p in authorize["get"]["parameters"]}
    assert parameters["code_challenge"]["required"] is True, "PKCE is required for every client"
    assert parameters["code_challenge_method"]["schema"]["enum"] == ["S256"], "S256 only, never plain"
    assert parameters["response_type"]["schema"]["enum"] == ["code"], "no implicit flow"
    login = resolve(document, authorize["get"]["responses"]["200"])
    assert list(login["content"]) == ["text/html"]
    assert "302" in authorize["get"]["responses"] and "302" in authorize["post"]["responses"]
    assert list(authorize["post"]["requestBody"]["content"]) == ["application/x-www-form-urlencoded"]
    jwks = paths["/.well-known/jwks.json"]["get"]["responses"]["200"]["content"]
    assert list(jwks) == ["application/jwk-set+json"]


def test_request_bodies_are_closed_json_objects(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        if "requestBody" not in operation or path.startswith("/oauth/"):
            continue
        content = operation["requestBody"]["content"]
        assert list(content) == ["application/json"]
        schema = resolve(document, content["application/json"]["schema"])
        if (method, path) in WRITE_KEY_OPERATIONS:
            # Segment's wire format is open, and the document says so rather than leaving it unsaid.
            assert schema["type"] == "object" and schema["additionalProperties"] is True, f"{method.upper()} {path}"
        else:
            assert schema["type"] == "object" and schema["additionalProperties"] is False, f"{method.upper()} {path}"
        for code in ("400", "413", "415", "422"):
            assert code in operation["responses"], f"{method.upper()} {path} documents {code}"
    for method, path in WRITE_KEY_OPERATIONS:
        assert "requestBody" in document["paths"][path][method], f"{method.upper()} {path} has a body"


def test_posts_accept_idempotency_keys_and_creations_carry_location_and_etag(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        if method != "post" or not path.startswith("/api/"):
            continue
        parameters = [resolve(document, p)["name"] for p in operation.get("parameters", [])]
        assert ("Idempotency-Key" in parameters) == (path not in NOT_IDEMPOTENT), path
        if path in VERSIONED_CREATIONS:
            headers = resolve(document, operation["responses"]["201"])["headers"]
            assert {"Location", "ETag", "Idempotent-Replayed"} <= set(headers), path


def test_conditional_writes_document_if_match_and_412(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        if method in ("put", "patch") or (
            method == "delete" and path.startswith(("/api/orders/", "/api/notification-templates/"))
        ):
            parameters = [resolve(document, p)["name"] for p in operation.get("parameters", [])]
            assert "If-Match" in parameters, f"{method.upper()} {path}"
            assert "ETag" in resolve(document, operation["responses"]["412"])["headers"]


def test_proxied_routes_document_gateway_failures(document: dict[str, Any]) -> None:
    proxied = proxied_prefixes()
    # The table was read, and it holds what the gateway has always proxied.
    assert {"/api/users", "/api/orders", "/api/roles", "/api/clients", "/oauth", "/.well-known"} <= set(proxied)
    checked = 0
    for method, path, operation in operations(document):
        if any(under(path, prefix) for prefix in proxied):
            # Every proxied request passes the rate limiter (ProxyRoutes), so every one of them can be a 429.
            assert {"429", "503", "504"} <= set(operation["responses"]), f"{method.upper()} {path}"
            limited = resolve(document, operation["responses"]["429"])
            assert {"Retry-After", "RateLimit", "RateLimit-Policy"} <= set(limited["headers"]), f"{method.upper()} {path}"
            checked += 1
    # The gateway's own: its document and the merged audit list.
    assert checked == len(EXPECTED_OPERATIONS) - 2, "every route but the gateway's own two is proxied"


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    registry = Registry().with_resource("urn:meridian:openapi", Resource(contents=document, specification=DRAFT202012))
    rebased = _rebase(schema)
    return jsonschema.Draft202012Validator(rebased, registry=registry, format_checker=jsonschema.FormatChecker())


def _rebase(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: ("urn:meridian:openapi" + value if key == "$ref" and value.startswith("#") else _rebase(value))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rebase(item) for item in node]
    return node


def _examples(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
    for method, path, operation in operations(document):
        bodies = []
        if "requestBody" in operation:
            bodies.append(("request", operation["requestBody"]["content"]))
        for status, response in operation["responses"].items():
            bodies.append((status, resolve(document, response).get("content", {})))
        for where, content in bodies:
            for media in content.values():
                for name, example in media.get("examples", {}).items():
                    yield f"{method.upper()} {path} {where} {name}", media["schema"], resolve(document, example)["value"]


def test_every_example_matches_its_schema(document: dict[str, Any]) -> None:
    checked = 0
    for label, schema, value in _examples(document):
        errors = sorted(_validator(document, schema).iter_errors(value), key=str)
        assert not errors, f"{label}: {errors[0].message}"
        checked += 1
    assert checked >= 15


def test_schema_examples_match_their_schemas(document: dict[str, Any]) -> None:
    for name, schema in document["components"]["schemas"].items():
        for example in schema.get("examples", []):
            assert not list(_validator(document, schema).iter_errors(example)), name
