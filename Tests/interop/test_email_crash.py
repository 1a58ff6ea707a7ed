"""The crash test of email delivery: a burst of notifications is accepted, then `meridian serve` (and with it the
notifications service and its workers) is killed with SIGKILL again and again while the burst is being delivered
to a real SMTP server, and restarted each time. Every notification must reach the server; a message may arrive
twice only when the server accepted it just before a kill and the service had not yet recorded that, and then the
copies carry the same Message-ID. The number of duplicates is reported (in the test's properties and in
`.tmp/interop-logs/email-crash-report.txt`).
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator

import pytest

from conftest import LOG_DIR, Meridian
from smtp_server import RecordingSMTPServer, make_test_certificates, meridian_smtp_env
from test_email_delivery import email_delivery, parse, send_email, unique_address, wait_until

BURST = 40
KILLS = 3
SMTP_USER = "crash"
SMTP_PASSWORD = "smtp " + secrets.token_hex(8)


@pytest.fixture
def slow_smtp(tmp_path: Path) -> Iterator[RecordingSMTPServer]:
    """Answers the end of data late, so a kill often lands between its acceptance and the service's record."""
    certificates = make_test_certificates(tmp_path / "ca")
    with RecordingSMTPServer(
        security="starttls",
        certificates=certificates,
        credentials={SMTP_USER: SMTP_PASSWORD},
        rules=[{"command": "DATA", "delay": 0.15}],
    ) as server:
        yield server


def kill_and_restart(server: Meridian) -> None:
    process = server.process
    assert process is not None and process.poll() is None, "the server died on its own\n" + server.log_tail()
    process.kill()
    process.wait()
    server.exit_codes.append(process.returncode)
    server.process = None
    server.start()


def test_sigkill_during_a_burst_loses_nothing(
    engine: str, launch_meridian: Callable[..., Meridian], slow_smtp: RecordingSMTPServer,
    record_property: Callable[[str, object], None],
) -> None:
    env = {
        **meridian_smtp_env(slow_smtp, SMTP_USER, SMTP_PASSWORD, "Meridian <crash@meridian.test>"),
        "MERIDIAN_NOTIFICATIONS_RETRY_BASE_MS": "200",
        "MERIDIAN_NOTIFICATIONS_RETRY_MAX_SECONDS": "1",
        # A killed worker's claim is taken over after the lease; keep it short so the test ends soon.
        "MERIDIAN_NOTIFICATIONS_LEASE_SECONDS": "5",
    }
    server = launch_meridian(engine, env=env)
    addresses = [unique_address(f"burst{index}") for index in range(BURST)]
    # Every notification is acknowledged (202) before the kills start: each is a promise the platform must keep.
    notifications = [send_email(server, address, subject=f"Burst {index}") for index, address in enumerate(addresses)]

    delivered = lambda: sum(1 for address in addresses if any(address in m.recipients for m in slow_smtp.messages))  # noqa: E731
    for kill in range(1, KILLS + 1):
        target = BURST * kill // (KILLS + 1)
        wait_until(lambda: delivered() >= target, 120, f"{target} of {BURST} messages before kill {kill}")
        kill_and_restart(server)

    wait_until(lambda: delivered() == BURST, 180, f"all {BURST} messages after {KILLS} kills")
    for notification in notifications:
        wait_until(
            lambda: email_delivery(server, notification["id"])["status"] == "sent",
            60,
            f"notification {notification['id']} recorded as sent",
        )
    time.sleep(1.0)  # a late duplicate, if any, lands now and is counted

    per_address = Counter(recipient for m in slow_smtp.messages for recipient in m.recipients)
    duplicates = sum(count - 1 for count in per_address.values())
    for address in addresses:
        copies = [m for m in slow_smtp.messages if address in m.recipients]
        assert copies, f"no message for {address}"
        ids = {str(parse(m)["Message-ID"]) for m in copies}
        assert len(ids) == 1, f"copies of one notification carry different Message-IDs: {ids}"
    assert set(per_address) == set(addresses), "a message went to an address nobody sent to"

    record_property("email_duplicates", duplicates)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with open(LOG_DIR / "email-crash-report.txt", "a") as report:
        report.write(
            f"{engine}: {BURST} notifications, {KILLS} SIGKILLs, {len(slow_smtp.messages)} messages received, "
            f"{duplicates} duplicates (same Message-ID)\n"
        )
    print(f"email crash test ({engine}): {duplicates} duplicate(s) among {BURST} notifications after {KILLS} kills")
