"""A small OTLP/HTTP trace receiver for the interop suite: accepts `POST /v1/traces` with an
`ExportTraceServiceRequest` in protobuf (optionally gzip-compressed), decodes it with the `opentelemetry-proto`
package and keeps every span, flattened with its resource's and its own attributes. Listens on loopback only.

    with OTLPReceiver() as receiver:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
        ...
        spans = receiver.spans_of(trace_id)
"""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

PROTOBUF = "application/x-protobuf"


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as the receiver got it; ids are lower-case hex (`parent_span_id` is "" for a root)."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str  # "server", "client", "producer", "consumer" or "internal"
    attributes: dict[str, Any]
    resource: dict[str, Any]
    status_code: int
    start_unix_nano: int
    end_unix_nano: int

    def __repr__(self) -> str:
        service = self.attributes.get("meridian.service", "?")
        return f"<{self.kind} {self.name!r} {service} {self.span_id} parent={self.parent_span_id or '-'}>"


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {item.key: _value(item.value) for item in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _kind(span: ProtoSpan) -> str:
    name = ProtoSpan.SpanKind.Name(span.kind)  # e.g. "SPAN_KIND_SERVER"
    return name.removeprefix("SPAN_KIND_").lower()


@dataclass
class OTLPReceiver:
    """The receiver, as a context manager: a threaded HTTP server on 127.0.0.1 at a free port."""

    spans: list[ReceivedSpan] = field(default_factory=list)
    # Requests that were not a well-formed export (wrong path, media type or body): a test asserts none came.
    rejected: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        """The base URL for `OTEL_EXPORTER_OTLP_ENDPOINT` (the exporter appends `/v1/traces`)."""
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def spans_of(self, trace_id: str) -> list[ReceivedSpan]:
        with self._lock:
            return [span for span in self.spans if span.trace_id == trace_id]

    def _record(self, request: ExportTraceServiceRequest) -> None:
        received = []
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(ReceivedSpan(
                        trace_id=span.trace_id.hex(), span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(), name=span.name, kind=_kind(span),
                        attributes=_attributes(span.attributes), resource=resource, status_code=span.status.code,
                        start_unix_nano=span.start_time_unix_nano, end_unix_nano=span.end_time_unix_nano,
                    ))
        with self._lock:
            self.spans.extend(received)

    def _reject(self, reason: str) -> None:
        with self._lock:
            self.rejected.append(reason)

    def __enter__(self) -> "OTLPReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/v1/traces":
                    receiver._reject(f"path {self.path}")
                    return self._answer(404, b"", "text/plain")
                if self.headers.get("Content-Type", "").split(";")[0].strip() != PROTOBUF:
                    receiver._reject(f"content type {self.headers.get('Content-Type')}")
                    return self._answer(415, b"", "text/plain")
                try:
                    if self.headers.get("Content-Encoding", "").lower() == "gzip":
                        body = gzip.decompress(body)
                    request = ExportTraceServiceRequest()
                    request.ParseFromString(body)
                except Exception as error:  # a malformed export is recorded, not raised in the server thread
                    receiver._reject(f"undecodable body: {error}")
                    return self._answer(400, b"", "text/plain")
                receiver._record(request)
                self._answer(200, ExportTraceServiceResponse().SerializeToString(), PROTOBUF)

            def _answer(self, status: int, payload: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="otlp-receiver", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
