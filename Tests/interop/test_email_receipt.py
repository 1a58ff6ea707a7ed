"""End to end: paying an order through the gateway makes the orders service publish `order.paid`, the notifications
service consume it and send the customer a receipt, which arrives in a real SMTP server's mailbox (and in the
customer's in-app inbox). Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Iterator

import pytest

from conftest import Meridian, running_meridian
from smtp_server import RecordingSMTPServer, authenticated_starttls_server, meridian_smtp_env
from support import USER_PASSWORD, ApiSession, BearerAuth, create_order, create_user, pay, unique_email, wait_until
from test_email_delivery import DELIVERY_TIMEOUT, RETRY_ENV, messages_to, parse

SMTP_USER = "receipts"
SMTP_PASSWORD = "smtp " + secrets.token_hex(8)


@pytest.fixture(scope="module")
def receipt_smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordingSMTPServer]:
    with authenticated_starttls_server(tmp_path_factory.mktemp("smtp-ca"), SMTP_USER, SMTP_PASSWORD) as server:
        yield server


@pytest.fixture(scope="module")
def shop(engine: str, interop_root: Path, receipt_smtp: RecordingSMTPServer) -> Iterator[Meridian]:
    env = {**meridian_smtp_env(receipt_smtp, SMTP_USER, SMTP_PASSWORD, "Meridian <orders@meridian.test>"), **RETRY_ENV}
    with running_meridian(engine, interop_root, env) as server:
        yield server


def test_paying_an_order_mails_a_receipt(shop: Meridian, receipt_smtp: RecordingSMTPServer) -> None:
    api = shop.api
    email_address = unique_email()
    user = create_user(api, email=email_address, name="Zoë Müller")
    order = create_order(api, user["id"]).json()

    def mails(subject: str) -> list:
        return [m for m in messages_to(receipt_smtp, email_address) if str(parse(m)["Subject"]) == subject]

    # `order.created` sends the confirmation (the built-in order-created template), exactly once.
    confirmation = f"We received your order {order['id']}"
    wait_until(lambda: mails(confirmation), DELIVERY_TIMEOUT, "the order confirmation in the SMTP mailbox")
    assert mails(f"Receipt for your order {order['id']}") == [], "no receipt before payment"

    paid = pay(api, order["id"])
    assert paid.status_code == 201, paid.text
    received = wait_until(
        lambda: mails(f"Receipt for your order {order['id']}"), DELIVERY_TIMEOUT, "the receipt in the SMTP mailbox"
    )
    # Each event is delivered once: a second copy would come within the retry interval the suite configures (1 s).
    time.sleep(2)
    assert len(mails(f"Receipt for your order {order['id']}")) == 1
    assert len(mails(confirmation)) == 1
    receipt = parse(received[0])
    assert not receipt.defects
    assert [a.addr_spec for a in receipt["To"].addresses] == [email_address]
    assert receipt["Message-ID"]
    body = receipt.get_body(preferencelist=("plain",))
    assert body is not None and order["id"] in body.get_content()

    # The customer's own in-app inbox holds the receipt too.
    tokens = shop.sign_in(email_address, USER_PASSWORD)
    customer = ApiSession(shop.url, auth=BearerAuth(lambda: tokens.access_token))
    inbox = wait_until(
        lambda: [
            n for n in customer.get("/api/notifications").json().get("data", []) if n["subject"] == f"Receipt for your order {order['id']}"
        ],
        DELIVERY_TIMEOUT,
        "the receipt in the in-app inbox",
    )
    assert inbox[0]["user_id"] == user["id"]
