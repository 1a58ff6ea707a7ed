"""The OpenAPI document is valid OpenAPI 3.1, and its examples and conventions are consistent with it."""

from __future__ import annotations

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
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}

# The public routes of the API contract. Operational routes (/healthz, /readyz, /metrics) are not part of it.
EXPECTED_OPERATIONS = {
    ("post", "/api/users"),
    ("get", "/api/users"),
    ("get", "/api/users/{id}"),
    ("patch", "/api/users/{id}"),
    ("delete", "/api/users/{id}"),
    ("post", "/api/orders"),
    ("get", "/api/orders"),
    ("get", "/api/orders/{id}"),
    ("put", "/api/orders/{id}"),
    ("delete", "/api/orders/{id}"),
    ("post", "/api/orders/{id}/payments"),
    ("get", "/api/orders/{id}/payments"),
    ("get", "/api/openapi.yaml"),
}


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
            assert "X-Request-Id" in response.get("headers", {}), f"{method.upper()} {path} {status}"
            if status.startswith(("4", "5")):
                assert list(response["content"]) == ["application/problem+json"], f"{method.upper()} {path} {status}"


def test_request_bodies_are_closed_json_objects(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        if "requestBody" not in operation:
            continue
        content = operation["requestBody"]["content"]
        assert list(content) == ["application/json"]
        schema = resolve(document, content["application/json"]["schema"])
        assert schema["type"] == "object" and schema["additionalProperties"] is False, f"{method.upper()} {path}"
        for code in ("400", "413", "415", "422"):
            assert code in operation["responses"], f"{method.upper()} {path} documents {code}"


def test_posts_accept_idempotency_keys_and_creations_carry_location_and_etag(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        if method != "post":
            continue
        parameters = [resolve(document, p)["name"] for p in operation.get("parameters", [])]
        assert "Idempotency-Key" in parameters, path
        if path in ("/api/users", "/api/orders"):
            headers = resolve(document, operation["responses"]["201"])["headers"]
            assert {"Location", "ETag", "Idempotent-Replayed"} <= set(headers)


def test_conditional_writes_document_if_match_and_412(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        if method in ("put", "patch") or (method == "delete" and path.startswith("/api/orders/")):
            parameters = [resolve(document, p)["name"] for p in operation.get("parameters", [])]
            assert "If-Match" in parameters, f"{method.upper()} {path}"
            assert "ETag" in resolve(document, operation["responses"]["412"])["headers"]


def test_proxied_routes_document_gateway_failures(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        if path.startswith(("/api/users", "/api/orders")):
            assert {"503", "504"} <= set(operation["responses"]), f"{method.upper()} {path}"


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
