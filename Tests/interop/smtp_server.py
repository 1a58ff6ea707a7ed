"""A real SMTP server for the email tests: aiosmtpd with STARTTLS (or implicit TLS) under a throwaway test CA,
AUTH PLAIN and LOGIN, every accepted message recorded, and replies that a test scripts in advance (451 once, then
accept; 550 for one recipient; drop the connection after the data).

Two ways to use it:

- In pytest: `RecordingSMTPServer(...)` as a context manager (see the `smtp_server` fixture in the email tests).
- As its own process, for the Swift tests of MeridianKit's SMTP client and for `meridian` processes started by
  the interop suite: `python smtp_server.py --state-dir DIR [options]`. It writes `DIR/port` when it listens and
  keeps `DIR/state.json` (connections, AUTH logins, messages with their raw bytes in base64) up to date; SIGTERM
  stops it. `--make-ca DIR` only writes a test CA and a server certificate for localhost/127.0.0.1 and exits.

Reply rules (`--rule` as JSON, or `rules=` in Python), checked in order for each command:
  {"command": "RCPT", "match": "reject", "reply": "550 5.1.1 No such user"}   (match: a substring of the address)
  {"command": "DATA", "reply": "451 4.3.0 Try again later", "times": 1}        (times: how often; default always)
  {"command": "DATA", "action": "drop", "times": 1}                              (close without answering)
  {"command": "MAIL", "reply": "421 4.3.2 Shutting down"}
  {"command": "EHLO", "reply": "502 5.5.1 EHLO not implemented"}               (the client falls back to HELO)
  {"command": "DATA", "delay": 0.2}                                              (answer the end of data late)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime
import ipaddress
import json
import os
import signal
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


# --- a throwaway CA ----------------------------------------------------------------------------------------------


@dataclass
class TestCertificates:
    ca_file: Path
    cert_file: Path
    key_file: Path
    other_ca_file: Path  # a CA that signed nothing we serve: trusting only it must fail verification


def make_test_certificates(directory: Path) -> TestCertificates:
    """A CA and a server certificate for `localhost` and 127.0.0.1 (EC P-256, valid for a day)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)

    def make_ca(name: str) -> tuple[Any, Any]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                    key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return key, cert

    ca_key, ca_cert = make_ca("Meridian SMTP test CA")
    _, other_cert = make_ca("Meridian unrelated test CA")
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    result = TestCertificates(
        ca_file=directory / "smtp-ca.pem",
        cert_file=directory / "smtp-server.pem",
        key_file=directory / "smtp-server.key",
        other_ca_file=directory / "smtp-other-ca.pem",
    )
    result.ca_file.write_bytes(ca_cert.public_bytes(pem))
    result.other_ca_file.write_bytes(other_cert.public_bytes(pem))
    result.cert_file.write_bytes(server_cert.public_bytes(pem))
    result.key_file.write_bytes(
        server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return result


# --- the server ----------------------------------------------------------------------------------------------------


@dataclass
class ReceivedMessage:
    mail_from: str
    recipients: list[str]
    data: bytes
    peer: str
    encrypted: bool
    login: str | None


@dataclass
class _Rule:
    command: str
    reply: str | None = None
    action: str | None = None
    match: str | None = None
    times: int | None = None
    delay: float | None = None

    def applies(self, command: str, argument: str) -> bool:
        if self.command != command or self.times == 0:
            return False
        if self.match is not None and self.match not in argument:
            return False
        if self.times is not None:
            self.times -= 1
        return True


@dataclass
class _Recorder:
    """The handler aiosmtpd calls; everything it learns is kept under one lock (aiosmtpd runs in its own thread)."""

    rules: list[_Rule]
    state_file: Path | None
    messages: list[ReceivedMessage] = field(default_factory=list)
    connections: set[str] = field(default_factory=set)
    logins: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)

    def _rule(self, command: str, argument: str = "") -> _Rule | None:
        with self.lock:
            return next((rule for rule in self.rules if rule.applies(command, argument)), None)

    def _note_connection(self, session: Any) -> None:
        with self.lock:
            self.connections.add(f"{session.peer[0]}:{session.peer[1]}")
            self._save()

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]) -> list[str]:
        self._note_connection(session)
        rule = self._rule("EHLO")
        if rule and rule.reply:
            return [rule.reply]
        # With an EHLO hook, aiosmtpd leaves recording the greeting to the hook.
        session.host_name = hostname
        return responses

    async def handle_HELO(self, server: Any, session: Any, envelope: Any, hostname: str) -> str:
        self._note_connection(session)
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        rule = self._rule("MAIL", address)
        if rule and rule.reply:
            if rule.reply.startswith("421"):
                server.transport.close()
            return rule.reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        rule = self._rule("RCPT", address)
        if rule and rule.reply:
            return rule.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        rule = self._rule("DATA")
        if rule and rule.delay:
            # A slow server: widens the window in which a client can die between our acceptance and its record.
            await asyncio.sleep(rule.delay)
            rule = None
        if rule and rule.action == "drop":
            server.transport.close()
            return "250 never sent"
        if rule and rule.reply:
            return rule.reply
        login = getattr(session, "meridian_login", None)
        message = ReceivedMessage(
            mail_from=envelope.mail_from,
            recipients=list(envelope.rcpt_tos),
            data=bytes(envelope.original_content or envelope.content),
            peer=f"{session.peer[0]}:{session.peer[1]}",
            # STARTTLS sets session.ssl; with implicit TLS the transport itself is the TLS one.
            encrypted=session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
            login=login,
        )
        with self.lock:
            self.messages.append(message)
            self._save()
            self.changed.notify_all()
        return f"250 2.0.0 Ok: queued as {len(self.messages)}"

    def _save(self) -> None:
        """Writes the state file atomically (called with the lock held)."""
        if self.state_file is None:
            return
        state = {
            "connections": sorted(self.connections),
            "logins": self.logins,
            "messages": [
                {
                    "mail_from": m.mail_from,
                    "recipients": m.recipients,
                    "data": base64.b64encode(m.data).decode(),
                    "peer": m.peer,
                    "encrypted": m.encrypted,
                    "login": m.login,
                }
                for m in self.messages
            ],
        }
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(state))
        os.replace(temporary, self.state_file)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# With implicit TLS, aiosmtpd warns that AUTH does not require (STARTTLS) TLS; the connection is TLS already.
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")


class RecordingSMTPServer:
    """An aiosmtpd server on 127.0.0.1 that records what it accepts.

    security: "starttls" (offered, and required before MAIL), "tls" (implicit TLS) or "none".
    credentials: {user: password}; when set, AUTH is required (PLAIN and LOGIN unless `mechanisms` narrows it).
    """

    def __init__(
        self,
        *,
        security: str = "starttls",
        certificates: TestCertificates | None = None,
        credentials: dict[str, str] | None = None,
        mechanisms: list[str] | None = None,
        rules: list[dict[str, Any]] | None = None,
        state_file: Path | None = None,
        size_limit: int = 10 * 1024 * 1024,
        port: int | None = None,
    ) -> None:
        if security != "none" and certificates is None:
            raise ValueError("TLS needs certificates (make_test_certificates)")
        self.security = security
        self.certificates = certificates
        self.credentials = dict(credentials or {})
        self.recorder = _Recorder(rules=[_Rule(**rule) for rule in rules or []], state_file=state_file)
        self.port = port or free_port()
        context = None
        if certificates is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(certificates.cert_file, certificates.key_file)
        parameters: dict[str, Any] = {
            "data_size_limit": size_limit,
            # aiosmtpd only counts STARTTLS as TLS for AUTH; implicit TLS is encrypted from the first byte.
            "auth_require_tls": security == "starttls",
        }
        if security == "starttls":
            parameters.update(tls_context=context, require_starttls=True)
        if self.credentials:
            parameters.update(authenticator=self._authenticate, auth_required=True)
            if mechanisms:
                parameters["auth_exclude_mechanism"] = [m for m in ("PLAIN", "LOGIN") if m not in mechanisms]
        self.controller = Controller(
            self.recorder,
            hostname="127.0.0.1",
            port=self.port,
            ssl_context=context if security == "tls" else None,
            server_hostname="smtp.test",
            **parameters,
        )

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        ok = self.credentials.get(login) == password
        if ok:
            session.meridian_login = login
            with self.recorder.lock:
                self.recorder.logins.append(f"{mechanism}:{login}")
                self.recorder._save()
        return AuthResult(success=ok, handled=False)

    def __enter__(self) -> "RecordingSMTPServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.controller.start()
        with self.recorder.lock:
            self.recorder._save()

    def stop(self) -> None:
        self.controller.stop()

    def add_rule(self, **rule: Any) -> None:
        with self.recorder.lock:
            self.recorder.rules.append(_Rule(**rule))

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self.recorder.lock:
            return list(self.recorder.messages)

    @property
    def connections(self) -> int:
        with self.recorder.lock:
            return len(self.recorder.connections)

    def wait_for_messages(self, count: int, timeout: float) -> list[ReceivedMessage]:
        """Waits until at least `count` messages arrived (or the timeout passed); returns what arrived."""
        with self.recorder.changed:
            self.recorder.changed.wait_for(lambda: len(self.recorder.messages) >= count, timeout=timeout)
            return list(self.recorder.messages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--make-ca", type=Path, help="write a test CA and server certificate into DIR and exit")
    parser.add_argument("--state-dir", type=Path, help="where to write `port` and `state.json`")
    parser.add_argument("--security", choices=["starttls", "tls", "none"], default="starttls")
    parser.add_argument("--cert-dir", type=Path, help="certificates made by --make-ca (made here when missing)")
    parser.add_argument("--auth", action="append", default=[], help="USER:PASSWORD (repeatable)")
    parser.add_argument("--mechanism", action="append", default=[], help="offer only these AUTH mechanisms")
    parser.add_argument("--rule", action="append", default=[], help="a reply rule as JSON")
    parser.add_argument("--size-limit", type=int, default=10 * 1024 * 1024)
    arguments = parser.parse_args()

    if arguments.make_ca:
        make_test_certificates(arguments.make_ca)
        return
    if not arguments.state_dir:
        parser.error("--state-dir is required")
    arguments.state_dir.mkdir(parents=True, exist_ok=True)
    certificates = None
    if arguments.security != "none":
        directory = arguments.cert_dir or arguments.state_dir
        if not (directory / "smtp-ca.pem").exists():
            make_test_certificates(directory)
        certificates = TestCertificates(
            ca_file=directory / "smtp-ca.pem",
            cert_file=directory / "smtp-server.pem",
            key_file=directory / "smtp-server.key",
            other_ca_file=directory / "smtp-other-ca.pem",
        )
    server = RecordingSMTPServer(
        security=arguments.security,
        certificates=certificates,
        credentials=dict(pair.split(":", 1) for pair in arguments.auth),
        mechanisms=arguments.mechanism or None,
        rules=[json.loads(rule) for rule in arguments.rule],
        state_file=arguments.state_dir / "state.json",
        size_limit=arguments.size_limit,
    )
    stop = threading.Event()
    # A parent may start us with SIGTERM blocked (the mask is inherited); we want to hear it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    port_file = arguments.state_dir / "port"
    port_file.with_suffix(".tmp").write_text(str(server.port))
    os.replace(port_file.with_suffix(".tmp"), port_file)
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()


# --- helpers of the email interop tests ----------------------------------------------------------------------------


@contextlib.contextmanager
def authenticated_starttls_server(directory: Path, username: str, password: str) -> Iterator[RecordingSMTPServer]:
    """What a submission server looks like to the platform: STARTTLS required, a certificate from a fresh test CA
    in `directory`, AUTH with one account. Records what it accepts."""
    certificates = make_test_certificates(directory)
    with RecordingSMTPServer(security="starttls", certificates=certificates, credentials={username: password}) as server:
        yield server


def meridian_smtp_env(server: RecordingSMTPServer, username: str, password: str, sender: str) -> dict[str, str]:
    """The `MERIDIAN_SMTP_*` settings that point `meridian serve` at `server` (TLS verified with the test CA)."""
    assert server.certificates is not None
    return {
        "MERIDIAN_SMTP_HOST": "localhost",
        "MERIDIAN_SMTP_PORT": str(server.port),
        "MERIDIAN_SMTP_SECURITY": server.security,
        "MERIDIAN_SMTP_USERNAME": username,
        "MERIDIAN_SMTP_PASSWORD": password,
        "MERIDIAN_SMTP_FROM": sender,
        "MERIDIAN_SMTP_CA_FILE": str(server.certificates.ca_file),
    }
