"""Email through `meridian serve`'s notifications service to a real SMTP server (aiosmtpd with STARTTLS under a
test CA, and AUTH): the received messages are checked with Python's `email` package, a 451 is retried and
delivered once, and a 550 is recorded as a permanent failure. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
import secrets
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import Meridian, running_meridian
from smtp_server import ReceivedMessage, RecordingSMTPServer, authenticated_starttls_server, meridian_smtp_env
from support import wait_until

SMTP_USER = "meridian-mailer"
SMTP_PASSWORD = "smtp " + secrets.token_hex(8)
SENDER = '"Meridian Shop" <shop@meridian.test>'
DELIVERY_TIMEOUT = 60.0
# Fast retries, so that a 451 is retried within the test.
RETRY_ENV = {"MERIDIAN_NOTIFICATIONS_RETRY_BASE_MS": "200", "MERIDIAN_NOTIFICATIONS_RETRY_MAX_SECONDS": "1"}


def unique_address(tag: str) -> str:
    return f"{tag}-{secrets.token_hex(5)}@example.com"


def messages_to(server: RecordingSMTPServer, address: str) -> list[ReceivedMessage]:
    return [message for message in server.messages if address in message.recipients]


def send_email(meridian: Meridian, address: str, **content: Any) -> dict[str, Any]:
    body = {
        "recipients": [{"email": address}],
        "channels": ["email"],
        "category": "updates",
        "subject": "Hello",
        "text": "Hello there",
    }
    body.update(content)
    response = meridian.api.post(
        "/api/notifications", json=body, headers={"Idempotency-Key": secrets.token_hex(16)}
    )
    assert response.status_code == 202, response.text
    notifications = response.json()["data"]
    assert len(notifications) == 1
    assert [d["channel"] for d in notifications[0]["deliveries"]] == ["email"]
    return notifications[0]


def email_delivery(meridian: Meridian, notification_id: str) -> dict[str, Any]:
    response = meridian.api.get(f"/api/notifications/{notification_id}")
    assert response.status_code == 200, response.text
    deliveries = [d for d in response.json()["deliveries"] if d["channel"] == "email"]
    assert len(deliveries) == 1
    return deliveries[0]


def wait_for_status(meridian: Meridian, notification_id: str, statuses: set[str]) -> dict[str, Any]:
    return wait_until(
        lambda: (lambda d: d if d["status"] in statuses else None)(email_delivery(meridian, notification_id)),
        DELIVERY_TIMEOUT,
        f"the email delivery to reach {sorted(statuses)}",
    )


def parse(message: ReceivedMessage) -> email.message.EmailMessage:
    return email.message_from_bytes(message.data, policy=email.policy.default)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def smtp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordingSMTPServer]:
    with authenticated_starttls_server(tmp_path_factory.mktemp("smtp-ca"), SMTP_USER, SMTP_PASSWORD) as server:
        yield server


@pytest.fixture(scope="module")
def mailing_meridian(engine: str, interop_root: Path, smtp_server: RecordingSMTPServer) -> Iterator[Meridian]:
    """A platform whose notifications service sends email through `smtp_server`."""
    env = {**meridian_smtp_env(smtp_server, SMTP_USER, SMTP_PASSWORD, SENDER), **RETRY_ENV}
    with running_meridian(engine, interop_root, env) as server:
        yield server


def test_received_messages_are_well_formed(mailing_meridian: Meridian, smtp_server: RecordingSMTPServer) -> None:
    address = unique_address("wellformed")
    subject = "Ihre Bestellung ist bezahlt — merci, Zoë ✅ " + "long subject words " * 6
    text = "Hello Zoë,\n\nyour total is 33,49 €.\n.\nA line that is quite long " + "and goes on " * 12 + "\nBye"
    html = "<p>Hello Zoë,</p><p>your total is <b>33,49&nbsp;€</b>.</p>"
    notification = send_email(mailing_meridian, address, subject=subject, text=text, html=html)
    delivery = wait_for_status(mailing_meridian, notification["id"], {"sent", "dead"})
    assert delivery["status"] == "sent", delivery

    received = wait_until(lambda: messages_to(smtp_server, address), DELIVERY_TIMEOUT, "the message")
    assert len(received) == 1
    raw = received[0]
    assert raw.encrypted, "the message must travel over STARTTLS"
    assert raw.login == SMTP_USER
    assert raw.mail_from == "shop@meridian.test"
    assert raw.recipients == [address]

    # The wire form: 7-bit, CRLF only, no line over 78 characters (RFC 5322 §2.1.1).
    assert all(byte < 0x80 for byte in raw.data)
    lines = raw.data.split(b"\r\n")
    assert all(b"\n" not in line and b"\r" not in line for line in lines)
    assert max(len(line) for line in lines) <= 78

    message = parse(raw)
    assert not message.defects, message.defects
    assert str(message["Subject"]) == subject
    assert message["From"].addresses[0].addr_spec == "shop@meridian.test"
    assert message["From"].addresses[0].display_name == "Meridian Shop"
    assert [a.addr_spec for a in message["To"].addresses] == [address]
    assert email.utils.parsedate_to_datetime(str(message["Date"])).utcoffset() is not None
    assert message["MIME-Version"] == "1.0"
    message_id = str(message["Message-ID"])
    assert re.fullmatch(r"<[^<>@\s]+@meridian\.test>", message_id), message_id
    for name in ("Date", "From", "To", "Subject", "Message-ID"):
        assert len(message.get_all(name) or []) == 1, name

    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    for part in parts:
        assert not part.defects, part.defects
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] in ("quoted-printable", "base64")
    assert parts[0].get_content().replace("\r\n", "\n").rstrip("\n") == text
    assert parts[1].get_content().replace("\r\n", "\n").rstrip("\n") == html


def test_a_451_is_retried_and_delivered_once(mailing_meridian: Meridian, smtp_server: RecordingSMTPServer) -> None:
    address = unique_address("greylisted")
    smtp_server.add_rule(command="RCPT", match=address, reply="451 4.7.1 Greylisted, try again later", times=1)
    notification = send_email(mailing_meridian, address)
    delivery = wait_for_status(mailing_meridian, notification["id"], {"sent", "dead"})
    assert delivery["status"] == "sent", delivery

    # Give a stray extra attempt the chance to show up before counting.
    time.sleep(1.0)
    received = messages_to(smtp_server, address)
    assert len(received) == 1, f"expected exactly one message, got {len(received)}"
    shown = mailing_meridian.api.get(f"/api/notifications/{notification['id']}").json()
    attempts = [d for d in shown["deliveries"] if d["channel"] == "email"][0]["attempts"]
    assert [a["outcome"] for a in attempts] == ["transient", "sent"], attempts
    assert attempts[0]["provider_status"] == 451
    assert attempts[1]["provider_status"] == 250


def test_a_451_at_the_end_of_data_is_retried_with_the_same_message_id(
    mailing_meridian: Meridian, smtp_server: RecordingSMTPServer
) -> None:
    address = unique_address("busy")
    # DATA rules match any message: the module's other deliveries are finished by now (each test waits for its own).
    smtp_server.add_rule(command="DATA", reply="451 4.3.0 Temporary local problem", times=1)
    notification = send_email(mailing_meridian, address)
    delivery = wait_for_status(mailing_meridian, notification["id"], {"sent", "dead"})
    assert delivery["status"] == "sent", delivery
    received = messages_to(smtp_server, address)
    assert len(received) == 1
    assert delivery["attempt_count"] == 2


def test_a_550_is_a_permanent_failure(mailing_meridian: Meridian, smtp_server: RecordingSMTPServer) -> None:
    address = unique_address("unknown")
    smtp_server.add_rule(command="RCPT", match=address, reply="550 5.1.1 No such user here")
    notification = send_email(mailing_meridian, address)
    delivery = wait_for_status(mailing_meridian, notification["id"], {"sent", "dead"})
    assert delivery["status"] == "dead", delivery

    shown = mailing_meridian.api.get(f"/api/notifications/{notification['id']}").json()
    attempts = [d for d in shown["deliveries"] if d["channel"] == "email"][0]["attempts"]
    # Permanent: one attempt, never retried.
    assert [a["outcome"] for a in attempts] == ["permanent"], attempts
    assert attempts[0]["provider_status"] == 550
    assert messages_to(smtp_server, address) == []

    dead = mailing_meridian.api.get("/api/notifications/dead-letters", params={"limit": 100})
    assert dead.status_code == 200, dead.text
    assert delivery["id"] in [d["id"] for d in dead.json()["data"]]
