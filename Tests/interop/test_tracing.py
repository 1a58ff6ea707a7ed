"""Distributed tracing end to end: `meridian serve` exports its spans over OTLP/HTTP to a small receiver in this
suite (otlp_receiver.py, decoding with `opentelemetry-proto`), and placing one order through the gateway yields one
trace that runs gateway → orders → outbox dispatch → notifications (and analytics), every span linked to its
parent. The test is the client that starts the trace: its `traceparent` names the gateway's parent.

How far a trace goes: to the email. The notifications service's consumer span (`process order.created`) queues
the confirmation with its `traceparent`; the delivery worker's `deliver email` span, later and in another task,
continues from it, and its `smtp send` client span hands the message to a real SMTP server (smtp_server.py).
Database transactions and reads appear as `db.*` client spans inside the spans that run them.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from conftest import Meridian, running_meridian
from otlp_receiver import OTLPReceiver, ReceivedSpan
from smtp_server import RecordingSMTPServer, authenticated_starttls_server, meridian_smtp_env
from support import create_user, order_body, unique_email, wait_until
from test_push import PushService, b64url, delivery_status, subject_of

EXPORT_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def otlp() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as receiver:
        yield receiver


SMTP_USER = "tracing"
SMTP_PASSWORD = "smtp " + secrets.token_hex(8)


@pytest.fixture(scope="module")
def tracing_smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordingSMTPServer]:
    with authenticated_starttls_server(tmp_path_factory.mktemp("tracing-smtp-ca"), SMTP_USER, SMTP_PASSWORD) as server:
        yield server


@pytest.fixture(scope="module")
def traced(engine: str, interop_root: Path, otlp: OTLPReceiver, tracing_smtp: RecordingSMTPServer) -> Iterator[Meridian]:
    env = {
        **meridian_smtp_env(tracing_smtp, SMTP_USER, SMTP_PASSWORD, "Meridian <orders@meridian.test>"),
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
        # The configurable sampler: parent-based, every root kept (the default, spelled out).
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "1.0",
        # Export batches soon after the spans end rather than every 5 s.
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        # test_push_services_get_no_trace_headers: the push service is plain HTTP on loopback.
        "MERIDIAN_PUSH_ALLOW_LOOPBACK_HTTP": "1",
    }
    with running_meridian(engine, interop_root, env) as server:
        yield server


def one(spans: list[ReceivedSpan], what: str, **match: object) -> ReceivedSpan:
    """The single span of `spans` whose kind/name/parent/attributes are as given (attribute keys with dots are
    passed as `attr_<key with _ for .>`)."""
    def fits(span: ReceivedSpan) -> bool:
        for key, expected in match.items():
            if key.startswith("attr_"):
                actual = span.attributes.get(key.removeprefix("attr_").replace("__", "."))
            else:
                actual = getattr(span, key)
            if actual != expected:
                return False
        return True

    found = [span for span in spans if fits(span)]
    assert len(found) == 1, f"expected one {what}, found {found} among {spans}"
    return found[0]


def child_of(ancestor: ReceivedSpan, spans: list[ReceivedSpan], what: str, **match: object) -> ReceivedSpan:
    """The single span matching `match` below `ancestor`, directly or through client spans only: the HTTP client
    (AsyncHTTPClient) adds a span of its own per attempt between a caller's span and the callee's server span."""
    by_id = {span.span_id: span for span in spans}

    def descends(span: ReceivedSpan) -> bool:
        parent = by_id.get(span.parent_span_id)
        while parent is not None and parent.span_id != ancestor.span_id:
            if parent.kind != "client":
                return False
            parent = by_id.get(parent.parent_span_id)
        return parent is not None

    return one([span for span in spans if descends(span)], what, **match)


def test_one_order_placement_is_one_trace_from_the_gateway_to_the_email(
    traced: Meridian, otlp: OTLPReceiver, tracing_smtp: RecordingSMTPServer, engine: str
) -> None:
    api = traced.api
    email_address = unique_email()
    user = create_user(api, email=email_address)
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    placed = api.post("/api/orders", json=order_body(user["id"]),
                      headers={"traceparent": f"00-{trace_id}-{caller_span}-01"})
    assert placed.status_code == 201, placed.text

    # Each span waited for here ends after the spans inside it, so once these are exported the trace is whole:
    # both outbox deliveries (each around its consumer's server and consumer spans) and the email's delivery
    # (around its smtp send).
    def complete() -> list[ReceivedSpan] | None:
        spans = otlp.spans_of(trace_id)
        deliveries = {s.attributes.get("messaging.destination.name") for s in spans
                      if s.kind == "client" and s.name == "deliver order.created"}
        emailed = any(s.name == "deliver email" for s in spans)
        return spans if {"notifications", "analytics"} <= deliveries and emailed else None

    spans = wait_until(
        complete, EXPORT_TIMEOUT,
        "the outbox deliveries of order.created to notifications and analytics and the email's delivery span",
        seen=lambda: (otlp.spans_of(trace_id), len(otlp.spans), otlp.rejected))

    gateway = one(spans, "gateway server span", kind="server", attr_meridian__service="gateway",
                  parent_span_id=caller_span)
    assert gateway.name == gateway.attributes["http.route"], "server spans are named by the route template"
    proxy = one(spans, "gateway client span", kind="client", parent_span_id=gateway.span_id,
                attr_peer__service="orders")
    orders = child_of(proxy, spans, "orders server span", kind="server", attr_meridian__service="orders")
    assert orders.name == "/api/orders" and orders.attributes["http.response.status_code"] == 201
    # The outbox row kept the orders span's traceparent; its delivery continues from there, later, in the
    # dispatcher's own task.
    dispatch = one(spans, "outbox delivery to notifications", kind="client", name="deliver order.created",
                   parent_span_id=orders.span_id, attr_messaging__destination__name="notifications")
    assert dispatch.attributes["meridian.service"] == "orders"
    receiving = child_of(dispatch, spans, "notifications server span", kind="server",
                         attr_meridian__service="notifications")
    assert receiving.name == "/internal/events"
    consuming = one(spans, "notifications consumer span", kind="consumer", parent_span_id=receiving.span_id)
    assert consuming.name == "process order.created"
    assert consuming.attributes["meridian.event.producer"] == "orders"
    assert consuming.attributes["messaging.message.id"] == dispatch.attributes["messaging.message.id"]

    # The same event reaches analytics through its own outbox delivery, in the same trace.
    to_analytics = one(spans, "outbox delivery to analytics", kind="client", name="deliver order.created",
                       parent_span_id=orders.span_id, attr_messaging__destination__name="analytics")
    analytics_server = child_of(to_analytics, spans, "analytics server span", kind="server",
                                attr_meridian__service="analytics")
    assert analytics_server.name == "/internal/events"
    analytics_consumer = one(spans, "analytics consumer span", kind="consumer",
                             parent_span_id=analytics_server.span_id)
    assert analytics_consumer.name == "process order.created"
    assert analytics_consumer.attributes["messaging.message.id"] == dispatch.attributes["messaging.message.id"]

    # The orders service's SQL: its transactions and reads are client spans of the request that ran them.
    database = [span for span in spans if span.parent_span_id == orders.span_id and span.name.startswith("db.")]
    assert "db.transaction" in {span.name for span in database}, spans
    system = "postgresql" if engine == "postgres" else "sqlite"
    assert all(span.kind == "client" and span.attributes["db.system"] == system for span in database), database

    # The confirmation email: queued by the consumer with its traceparent, sent later by the delivery worker in a
    # span continuing from there, and handed to the SMTP server in a client span naming only the server.
    delivering = one(spans, "notifications delivery span", name="deliver email", parent_span_id=consuming.span_id)
    assert delivering.attributes["meridian.service"] == "notifications"
    assert delivering.attributes["meridian.delivery.outcome"] == "sent"
    smtp = one(spans, "smtp send span", name="smtp send", kind="client", parent_span_id=delivering.span_id)
    assert smtp.attributes["server.address"] == "localhost"
    assert smtp.attributes["server.port"] == tracing_smtp.port
    assert smtp.attributes["smtp.reply.code"] == 250
    assert any(email_address in message.recipients for message in tracing_smtp.messages), "the email arrived"
    # No span carries the recipient's address.
    assert not [span for span in spans if any(email_address in str(value) for value in span.attributes.values())]

    # One tree: every span's parent is in the trace (or is the caller), and every span ended after it started.
    ids = {span.span_id for span in spans}
    assert len(ids) == len(spans), "span ids are unique"
    orphans = [span for span in spans if span.parent_span_id not in ids | {caller_span}]
    assert not orphans, f"spans whose parent is not in the trace: {orphans}"
    assert all(span.end_unix_nano >= span.start_unix_nano > 0 for span in spans)
    assert {span.resource.get("service.name") for span in spans} == {"meridian"}
    assert not otlp.rejected, otlp.rejected


def test_a_request_without_a_traceparent_starts_its_own_trace_and_log_lines_carry_its_ids(
    traced: Meridian, otlp: OTLPReceiver
) -> None:
    api = traced.api
    assert api.get("/api/users/usr_does_not_exist").status_code == 404

    def root() -> ReceivedSpan | None:
        for span in list(otlp.spans):
            if (span.kind == "server" and span.attributes.get("meridian.service") == "gateway"
                    and span.attributes.get("url.path") == "/api/users/usr_does_not_exist"):
                return span
        return None

    gateway = wait_until(root, EXPORT_TIMEOUT, "the gateway's span of a request without a traceparent")
    assert gateway.parent_span_id == "", "the gateway starts the trace"
    users = wait_until(
        lambda: [s for s in otlp.spans_of(gateway.trace_id)
                 if s.kind == "server" and s.attributes.get("meridian.service") == "users"],
        EXPORT_TIMEOUT, "the users service's span in the same trace")
    assert users[0].attributes["http.response.status_code"] == 404
    # Personal data and credentials never reach a span: no headers are recorded, only the route template names it.
    assert users[0].name == users[0].attributes["http.route"] != "/api/users/usr_does_not_exist"
    assert not any("authorization" in key for span in otlp.spans for key in span.attributes)

    def logged() -> list[dict] | None:
        lines = []
        for text in traced.log_path.read_text(errors="replace").splitlines():
            try:
                line = json.loads(text)
            except ValueError:
                continue
            if isinstance(line, dict) and line.get("trace_id"):
                lines.append(line)
        return lines or None

    lines = wait_until(logged, 10, "a log line written inside a span")
    exported = {(span.trace_id, span.span_id) for span in otlp.spans}
    assert any((line["trace_id"], line.get("span_id")) in exported for line in lines), lines[:5]


def test_spans_still_waiting_for_their_batch_are_exported_on_shutdown(
    launch_meridian: Callable[..., Meridian], otlp: OTLPReceiver
) -> None:
    # A batch every ten minutes: the only way this request's spans reach the receiver within the test is the
    # flush of graceful shutdown (SIGTERM).
    server = launch_meridian("sqlite", env={"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
                                            "OTEL_BSP_SCHEDULE_DELAY": "600000"})
    trace_id = secrets.token_hex(16)
    response = server.api.get("/api/orders", headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"})
    assert response.status_code == 200, response.text
    server.assert_clean_shutdown()
    services = {span.attributes.get("meridian.service") for span in otlp.spans_of(trace_id) if span.kind == "server"}
    assert services == {"gateway", "orders"}, otlp.spans_of(trace_id)


def test_the_sampler_is_parent_based_with_a_configurable_ratio_for_roots(
    launch_meridian: Callable[..., Meridian], otlp: OTLPReceiver
) -> None:
    # Ratio 0: a request that starts its own trace is dropped; one whose caller sampled its trace is kept whole.
    server = launch_meridian("sqlite", env={"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
                                            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                                            "OTEL_TRACES_SAMPLER_ARG": "0"})
    api = server.api
    assert api.get("/api/orders", params={"limit": "7"}).status_code == 200
    sampled = secrets.token_hex(16)
    response = api.get("/api/orders", params={"limit": "8"},
                       headers={"traceparent": f"00-{sampled}-{secrets.token_hex(8)}-01"})
    assert response.status_code == 200, response.text
    server.assert_clean_shutdown()  # flushes whatever was sampled

    kept = {span.attributes.get("meridian.service") for span in otlp.spans_of(sampled) if span.kind == "server"}
    assert kept == {"gateway", "orders"}, otlp.spans_of(sampled)
    # The query identifies the requests' server spans (the sampled one's shows it is recorded at all).
    assert any(span.attributes.get("url.query") == "limit=8" for span in otlp.spans_of(sampled))
    dropped = [span for span in otlp.spans if span.attributes.get("url.query") == "limit=7"]
    assert dropped == [], dropped


def test_push_services_get_no_trace_headers(traced: Meridian, otlp: OTLPReceiver) -> None:
    """A push service is a third party: the request to it carries no W3C trace headers (they would let it link a
    notification to Meridian's internal traces), while Meridian's own client span still records the call."""
    push_service = PushService()
    try:
        received = _push_once(traced, push_service, trace_id := secrets.token_hex(16))
    finally:
        push_service.close()
    assert not {name.lower() for name in received["headers"]} & {"traceparent", "tracestate", "baggage"}, received
    span = wait_until(
        lambda: next((s for s in otlp.spans_of(trace_id) if s.kind == "client" and s.attributes.get("peer.service") == "web-push"), None),
        EXPORT_TIMEOUT, "the push client span in the request's trace", seen=lambda: otlp.spans_of(trace_id))
    assert span.attributes["server.address"] == "127.0.0.1"


def _push_once(traced: Meridian, push_service: PushService, trace_id: str) -> dict:
    """Subscribes the admin at `push_service`, sends one push within trace `trace_id`, and returns what arrived."""
    api = traced.api
    admin = subject_of(traced.admin_token())
    browser = ec.generate_private_key(ec.SECP256R1())
    p256dh = browser.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    created = api.post("/api/push-subscriptions", json={
        "endpoint": push_service.endpoint("traced"), "expirationTime": None,
        "keys": {"p256dh": b64url(p256dh), "auth": b64url(secrets.token_bytes(16))}})
    assert created.status_code == 201, created.text
    sent = api.post(
        "/api/notifications",
        json={"recipients": [{"user_id": admin}], "channels": ["push"], "category": "news", "subject": "s", "text": "t"},
        headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"})
    assert sent.status_code == 202, sent.text
    notification_id = sent.json()["data"][0]["id"]
    wait_until(lambda: delivery_status(api, notification_id) == "sent", EXPORT_TIMEOUT, "the push delivery")
    return push_service.received[-1]
