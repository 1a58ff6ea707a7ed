"""Runs the real `meridian serve` for the interop suites.

Every server gets free loopback ports, its own temporary data directory and, on PostgreSQL, its own fresh
database (created from `MERIDIAN_TEST_POSTGRES_URL`, dropped afterwards). A server is stopped with SIGTERM and
must exit with status 0: a graceful shutdown is part of what the suites check.

Every `/api` route needs an access token, so each server starts with a known admin password
(`MERIDIAN_ADMIN_PASSWORD`) and the suites sign in as that admin through the real authorization code flow with
PKCE (`Meridian.api` is a session that carries the admin's token and refreshes it before it expires).
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests

from oauth_support import ADMIN_EMAIL, OAuthFlowError, TokenSet, sign_in_with_code_flow
from support import ApiSession, BearerAuth

REPO = Path(__file__).resolve().parents[2]
# Every server's log is copied here when it is torn down, so a failure can be read after the run.
LOG_DIR = REPO / ".tmp" / "interop-logs"
# Hypothesis (under Schemathesis) keeps its files out of the work tree's top level.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(REPO / ".tmp" / "hypothesis"))
CRASH_MARKERS = re.compile(r"Fatal error|Assertion failed|Precondition failed|Crash|fatalError|Illegal instruction")
ENGINES = ["sqlite", "postgres"]
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
# The first admin's password: 12 to 72 bytes, like every password.
ADMIN_PASSWORD = "interop admin " + secrets.token_hex(12)


def meridian_binary() -> Path:
    """The binary under test: `MERIDIAN_BIN`, else the debug build."""
    path = Path(os.environ.get("MERIDIAN_BIN", REPO / ".build" / "debug" / "meridian"))
    if not path.is_file():
        pytest.fail(f"meridian binary not found at {path}: run `swift build --product meridian` or set MERIDIAN_BIN")
    return path


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports() -> tuple[int, int]:
    """A gateway port, and a base port whose next five ports are free too (one per internal service)."""
    for _ in range(200):
        base = 20000 + secrets.randbelow(30000)
        candidates = [base + offset for offset in range(6)]
        if all(_port_is_free(port) for port in candidates):
            return candidates[5], base
    raise RuntimeError("no free loopback ports found")


# --- PostgreSQL: a fresh database per server -------------------------------------------------------------------


def _psql() -> str:
    found = shutil.which("psql") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"), reverse=True)), None)
    if not found:
        pytest.fail("psql not found; install postgresql-client")
    return found


def _admin_url(base_url: str) -> str:
    """The URL of the server's `postgres` maintenance database, psql-compatible (libpq rejects `schema=`)."""
    parts = urllib.parse.urlsplit(base_url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k == "sslmode"]
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/postgres", urllib.parse.urlencode(query), ""))


def _run_sql(base_url: str, statement: str) -> None:
    subprocess.run(
        [_psql(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", _admin_url(base_url), "-c", statement],
        check=True,
        capture_output=True,
        env={**os.environ, "PGOPTIONS": "--client-min-messages=warning"},
    )


def create_database(base_url: str) -> str:
    """Creates an empty database next to the one `base_url` names; returns its URL."""
    name = "meridian_interop_" + secrets.token_hex(6)
    _run_sql(base_url, f"CREATE DATABASE {name}")
    parts = urllib.parse.urlsplit(base_url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "schema"]
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + name, urllib.parse.urlencode(query), ""))


def drop_database(database_url: str) -> None:
    name = urllib.parse.urlsplit(database_url).path.lstrip("/")
    _run_sql(database_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def postgres_url_or_skip() -> str:
    url = os.environ.get("MERIDIAN_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("MERIDIAN_TEST_POSTGRES_URL is not set (scripts/test starts PostgreSQL and sets it)")
    return url


# --- the server ------------------------------------------------------------------------------------------------


@dataclass
class Meridian:
    """One `meridian serve` process and where to reach it."""

    engine: str
    data_dir: Path
    database_url: str | None
    gateway_port: int
    internal_base: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    exit_codes: list[int] = field(default_factory=list)
    admin_password: str = ADMIN_PASSWORD
    _admin_tokens: TokenSet | None = None
    # Extra environment for the process (e.g. the MERIDIAN_SMTP_* settings of the email tests).
    extra_env: dict[str, str] = field(default_factory=dict)

    # Where the suite keeps the one development CA every server of the session is given (see `start`).
    shared_ca_dir: Path | None = None

    @property
    def url(self) -> str:
        """The gateway: the public entry, HTTPS (TLS 1.3 only)."""
        return f"https://127.0.0.1:{self.gateway_port}"

    @property
    def users_url(self) -> str:
        return f"https://127.0.0.1:{self.internal_base}"

    @property
    def orders_url(self) -> str:
        """The orders service itself, behind the gateway."""
        return f"https://127.0.0.1:{self.internal_base + 1}"

    @property
    def tls_dir(self) -> Path:
        return self.data_dir / "tls"

    @property
    def ca_path(self) -> Path:
        """The development CA certificate `serve` made (or was given) in its data directory: what clients trust."""
        return self.tls_dir / "ca.pem"

    def command(self) -> list[str]:
        command = [
            str(meridian_binary()),
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--listen",
            f"127.0.0.1:{self.gateway_port}",
            "--internal-port-base",
            str(self.internal_base),
        ]
        if self.database_url:
            command += ["--database-url", self.database_url]
        return command

    @property
    def api(self) -> ApiSession:
        """A session on the gateway that acts as the admin: relative paths are under `url`."""
        return ApiSession(self.url, auth=BearerAuth(self.admin_token), verify=str(self.ca_path))

    def api_at(self, base_url: str) -> ApiSession:
        """The same, on another base URL (a service behind the gateway)."""
        return ApiSession(base_url, auth=BearerAuth(self.admin_token), verify=str(self.ca_path))

    def admin_token(self) -> str:
        """A current access token of the admin: signed in once with the code flow, refreshed (rotating the refresh
        token) when less than a minute of it is left."""
        if self._admin_tokens is None:
            self._admin_tokens = sign_in_with_code_flow(self.url, ADMIN_EMAIL, self.admin_password)
        elif self._admin_tokens.expires_soon():
            self._admin_tokens = self._admin_tokens.refreshed(self.url)
        return self._admin_tokens.access_token

    def sign_in(self, email: str, password: str) -> TokenSet:
        """Tokens of any account, through the code flow of the built-in public client."""
        return sign_in_with_code_flow(self.url, email, password)

    def start(self) -> None:
        assert self.process is None, "already running"
        env = {**os.environ, "MERIDIAN_BCRYPT_COST": "4", "MERIDIAN_ADMIN_PASSWORD": self.admin_password,
               # The suites sign in many times a second from one address; the limiter has its own Swift tests.
               "MERIDIAN_RATELIMIT_ENABLED": "false"}
        env.update(self.extra_env)
        self._seed_ca()
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=self.data_dir
        )
        log.close()
        self._adopt_ca()
        self._wait_until_ready()

    # --- TLS: one development CA for the session -------------------------------------------------------------
    # The first server makes the development CA as `serve` does on a first run; it becomes the session's CA and
    # every later server gets a copy in its data directory before it starts, which it reuses (the "existing CA"
    # path). So one trust anchor serves every client in the suite: `REQUESTS_CA_BUNDLE` points at it, which
    # `requests` uses whenever a call does not say `verify=` itself, and verification stays on everywhere.

    def _seed_ca(self) -> None:
        if self.shared_ca_dir is None or not (self.shared_ca_dir / "ca.pem").exists() or self.ca_path.exists():
            return
        self.tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name in ("ca.pem", "ca-key.pem"):
            shutil.copy2(self.shared_ca_dir / name, self.tls_dir / name)

    def _adopt_ca(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not (self.ca_path.exists() and (self.tls_dir / "server.pem").exists()):
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"meridian serve exited with {self.process.returncode} while starting\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"meridian serve made no development CA in {self.tls_dir}\n{self.log_tail()}")
            time.sleep(0.05)
        if self.shared_ca_dir is None:
            return
        if not (self.shared_ca_dir / "ca.pem").exists():
            self.shared_ca_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            # `serve` writes (and renames into place) the key before the certificate, so both are whole here.
            for name in ("ca-key.pem", "ca.pem"):
                shutil.copy2(self.tls_dir / name, self.shared_ca_dir / name)
        os.environ["REQUESTS_CA_BUNDLE"] = str(self.shared_ca_dir / "ca.pem")

    def _wait_until_ready(self) -> None:
        """Ready means the gateway says so, the admin can sign in through it, and every service accepts the admin's
        token through it (so each is listening, and the gateway and the services have the signing keys)."""
        deadline = time.monotonic() + START_TIMEOUT
        probes = [
            "/readyz", "/.well-known/oauth-authorization-server", "sign-in", "/api/users?limit=1", "/api/orders?limit=1",
            "/api/notifications?limit=1", "/api/analytics/write-keys",
        ]
        pending = list(probes)
        last = ""
        while pending:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"meridian serve exited with {self.process.returncode} while starting\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"meridian serve was not ready after {START_TIMEOUT:.0f} s ({last})\n{self.log_tail()}")
            try:
                if pending[0] == "sign-in":
                    self.admin_token()
                    pending.pop(0)
                    continue
                headers = {"Authorization": f"Bearer {self.admin_token()}"} if pending[0].startswith("/api/") else {}
                response = requests.get(self.url + pending[0], headers=headers, timeout=2, verify=str(self.ca_path))
                if response.status_code == 200:
                    pending.pop(0)
                    continue
                last = f"{pending[0]}: {response.status_code}"
            except (requests.RequestException, OAuthFlowError) as error:
                last = f"{pending[0]}: {error}"
            time.sleep(0.1)

    def stop(self) -> int:
        """SIGTERM, then wait for the graceful shutdown; returns the exit status."""
        assert self.process is not None, "not running"
        process, self.process = self.process, None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise AssertionError(f"meridian serve did not stop within {STOP_TIMEOUT:.0f} s of SIGTERM\n{self.log_tail()}")
        self.exit_codes.append(process.returncode)
        return process.returncode

    def assert_clean_shutdown(self) -> None:
        """Stops the server with SIGTERM and asserts that it was still running and exited with status 0."""
        assert self.process is not None, "the server was already stopped"
        crashed = self.process.poll()
        code = self.stop()
        assert crashed is None, f"meridian serve died earlier with status {crashed}\n{self.log_tail()}"
        assert code == 0, f"meridian serve exited with {code} on SIGTERM\n{self.log_tail()}"

    def restart(self) -> None:
        code = self.stop()
        assert code == 0, f"meridian serve exited with {code} on SIGTERM\n{self.log_tail()}"
        self.start()

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's log, and first any line that says why a process crashed."""
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        crash = [line for line in text if CRASH_MARKERS.search(line)][:10]
        return "\n".join(
            ["--- meridian serve log: crash lines ---", *crash] * bool(crash)
            + [f"--- meridian serve log (tail; whole log kept in {LOG_DIR}) ---", *text[-lines:]]
        )


class MeridianFactory:
    """Launches servers for one test (or one session) and tears every one of them down."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.servers: list[Meridian] = []
        self.databases: list[str] = []

    def launch(self, engine: str, *, start: bool = True, env: dict[str, str] | None = None) -> Meridian:
        database_url = None
        if engine == "postgres":
            database_url = create_database(postgres_url_or_skip())
            self.databases.append(database_url)
        data_dir = Path(tempfile.mkdtemp(prefix=f"meridian-{engine}-", dir=self.root))
        gateway_port, internal_base = free_ports()
        server = Meridian(
            engine=engine,
            data_dir=data_dir,
            database_url=database_url,
            gateway_port=gateway_port,
            internal_base=internal_base,
            log_path=data_dir / "serve.log",
            extra_env=dict(env or {}),
            shared_ca_dir=self.root / "shared-ca",
        )
        self.servers.append(server)
        if start:
            server.start()
        return server

    def close(self) -> None:
        failures = []
        for server in self.servers:
            if server.process is not None:
                code = server.stop()
                if code != 0:
                    failures.append(f"meridian serve ({server.engine}) exited with {code} on SIGTERM\n{server.log_tail()}")
            LOG_DIR.mkdir(parents=True, exist_ok=True)
            if server.log_path.exists():
                shutil.copyfile(server.log_path, LOG_DIR / f"{server.data_dir.name}.log")
        for url in self.databases:
            try:
                drop_database(url)
            except subprocess.CalledProcessError:
                pass
        if failures:
            pytest.fail("\n".join(failures), pytrace=False)


@pytest.fixture(scope="session")
def interop_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="meridian-interop-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The storage engine the module's servers run on: SQLite files, or a fresh PostgreSQL database."""
    return request.param


@pytest.fixture(scope="module")
def meridian(engine: str, interop_root: Path) -> Iterator[Meridian]:
    """A running server shared by the tests of one module on one engine; each module gets its own, so a crash
    one module provokes does not fail another's tests."""
    with running_meridian(engine, interop_root) as server:
        yield server


@contextlib.contextmanager
def running_meridian(engine: str, interop_root: Path, env: dict[str, str] | None = None) -> Iterator[Meridian]:
    """A platform started with `env` over the defaults, stopped and its files removed on leaving the block."""
    factory = MeridianFactory(interop_root)
    try:
        yield factory.launch(engine, env=env)
    finally:
        factory.close()


@pytest.fixture
def launch_meridian(interop_root: Path) -> Iterator[Callable[..., Meridian]]:
    """Starts private servers for one test, e.g. to stop and start them again."""
    factory = MeridianFactory(interop_root)
    try:
        yield factory.launch
    finally:
        factory.close()

