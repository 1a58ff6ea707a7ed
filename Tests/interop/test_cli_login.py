"""`meridian login` as a person at a terminal uses it: the command prints a sign-in URL, the person completes the
form (here with `requests`, as a browser without JavaScript would), the browser is sent back to the command's
loopback listener, and the command prints the access token, which then works against the API.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import urllib.parse
from typing import IO

import requests

from conftest import Meridian, meridian_binary
from oauth_support import ADMIN_EMAIL, CLI_CLIENT_ID, TIMEOUT, open_login_page, submit_login
from support import assert_problem, bearer

URL_LINE = re.compile(r"^\s*(https?://\S+/oauth/authorize\?\S+)\s*$")
WAIT = 60


class Login:
    """`meridian login --no-browser` running, its standard error read line by line as it comes."""

    def __init__(self, meridian: Meridian) -> None:
        # The platform's development CA, as the README tells a person to pass it: the command verifies Meridian.
        self.process = subprocess.Popen(
            [
                str(meridian_binary()), "login", "--url", meridian.url, "--cacert", str(meridian.ca_path),
                "--no-browser", "--timeout", str(WAIT),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "HOME": str(meridian.data_dir)},
        )
        self.stderr: list[str] = []
        self.url = threading.Event()
        self.found: str | None = None
        self.reader = threading.Thread(target=self._read, args=(self.process.stderr,), daemon=True)
        self.reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.stderr.append(line)
            match = URL_LINE.match(line)
            if match and self.found is None:
                self.found = match.group(1)
                self.url.set()
        self.url.set()

    def authorization_url(self) -> str:
        assert self.url.wait(WAIT), "meridian login printed no sign-in URL"
        assert self.found, f"meridian login printed no sign-in URL:\n{''.join(self.stderr)}"
        return self.found

    def finish(self) -> tuple[int, str, str]:
        """Waits for the command; its exit status, standard output and standard error. (Not `communicate()`: the
        reader thread owns standard error, and two readers of one pipe would split its lines between them.)"""
        try:
            self.process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        assert self.process.stdout is not None
        # Only the token (or nothing) is written there, far below a pipe's buffer, so waiting first cannot block.
        stdout = self.process.stdout.read()
        self.process.stdout.close()
        self.reader.join(timeout=5)
        return self.process.returncode, stdout, "".join(self.stderr)


def test_meridian_login_prints_a_token_that_works(meridian: Meridian) -> None:
    login = Login(meridian)
    url = login.authorization_url()
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert url.startswith(meridian.url + "/oauth/authorize?")
    assert query["client_id"] == CLI_CLIENT_ID and query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43 and query["state"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/callback", query["redirect_uri"]), "an RFC 8252 loopback redirect"

    # The person signs in; the browser follows the redirect to the command's listener.
    browser = requests.Session()
    _, page = open_login_page(browser, url)
    assert page.client_name == "Meridian CLI"
    redirect = submit_login(browser, meridian.url, page, ADMIN_EMAIL, meridian.admin_password)
    assert redirect.status_code == 302, redirect.text[:300]
    landed = browser.get(redirect.headers["Location"], timeout=TIMEOUT)
    assert landed.status_code == 200, f"the command's listener answered {landed.status_code}: {landed.text[:300]}"

    status, stdout, stderr = login.finish()
    assert status == 0, f"meridian login exited with {status}:\n{stderr}"
    token = stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token), "standard output is the token alone"
    assert token not in stderr, "the token is printed once, on standard output"

    users = requests.get(f"{meridian.url}/api/users", headers=bearer(token), timeout=TIMEOUT)
    assert users.status_code == 200, users.text
    assert ADMIN_EMAIL in {user["email"] for user in users.json()["data"]}


def test_meridian_login_ignores_forged_redirects_and_reports_refusals(meridian: Meridian) -> None:
    """A redirect with another `state` (another local process guessing the port) is ignored and the command keeps
    waiting; a real refusal from the server (here: the request tampered to ask for `plain` PKCE) ends the command
    with a non-zero status, the reason, and no token."""
    login = Login(meridian)
    url = login.authorization_url()
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    forged = requests.get(
        query["redirect_uri"], params={"code": "stolen", "state": "not-the-state", "iss": meridian.url}, timeout=TIMEOUT
    )
    assert forged.status_code == 400
    assert login.process.poll() is None, "a forged redirect does not end the login"

    tampered = urllib.parse.urlsplit(url)._replace(
        query=urllib.parse.urlencode({**query, "code_challenge_method": "plain"})
    ).geturl()
    refusal = requests.get(tampered, allow_redirects=False, timeout=TIMEOUT)
    assert refusal.status_code == 302 and refusal.headers["Location"].startswith(query["redirect_uri"] + "?")
    requests.get(refusal.headers["Location"], timeout=TIMEOUT)

    status, stdout, stderr = login.finish()
    assert status != 0, "a refused sign-in is a failure"
    assert stdout.strip() == "", "no token is printed"
    assert "invalid_request" in stderr, stderr
    assert_problem(requests.get(f"{meridian.url}/api/users", timeout=TIMEOUT), 401)


def test_meridian_login_refuses_a_server_it_cannot_verify(meridian: Meridian) -> None:
    """Without the CA that signed Meridian's certificate the command trusts only the system's roots, so the TLS
    handshake fails and nothing is sent: no sign-in URL, a non-zero exit."""
    env = {key: value for key, value in os.environ.items() if key != "MERIDIAN_TLS_CA_FILE"}
    result = subprocess.run(
        [str(meridian_binary()), "login", "--url", meridian.url, "--no-browser", "--timeout", "5"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=WAIT, env={**env, "HOME": str(meridian.data_dir)},
    )
    assert result.returncode != 0
    assert result.stdout.strip() == ""
    assert "cannot reach" in result.stderr and "/oauth/authorize" not in result.stderr, result.stderr


def test_sigterm_stops_the_server_cleanly(meridian: Meridian) -> None:
    meridian.assert_clean_shutdown()
