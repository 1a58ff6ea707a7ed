"""The sign-in page in a real browser: Debian's headless Chromium driven by Selenium through Debian's
chromedriver (no browser or driver is downloaded; Selenium Manager must not run).

A client (authlib's `OAuth2Session`) builds the authorization request with PKCE; the browser opens it, the page
shows the client's name and labelled fields, a wrong password gets the generic error, the right one sends the
browser back to a small loopback HTTP server standing in for the app, and the code it carries is exchanged.
The whole sign-in runs with JavaScript disabled in the browser: the page must not need it.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import queue
import shutil
import socket
import ssl
import threading
import urllib.parse
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.selenium_manager import SeleniumManager
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from conftest import Meridian
from oauth_support import CLI_CLIENT_ID, TIMEOUT
from support import USER_PASSWORD, bearer, create_user

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT = 30


class Callback:
    """The app's side of the redirect: a loopback HTTP server that records the query of `/callback`."""

    def __init__(self) -> None:
        received: queue.Queue[dict[str, str]] = queue.Queue()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                parts = urllib.parse.urlsplit(self.path)
                if parts.path != "/callback":
                    self.send_error(404)
                    return
                received.put(dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)))
                body = b"<!doctype html><title>Signed in</title><p id=done>You may close this window.</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.received = received
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/callback"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def callback() -> Iterator[Callback]:
    server = Callback()
    try:
        yield server
    finally:
        server.close()


def leaf_spki_pin(meridian: Meridian) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)) of the certificate the server presents, fetched over a connection
    verified against the platform CA (so the pin is of a certificate that chains to it)."""
    context = ssl.create_default_context(cafile=str(meridian.ca_path))
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    with socket.create_connection(("127.0.0.1", meridian.gateway_port), timeout=TIMEOUT) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            der = tls.getpeercert(binary_form=True)
    assert der, "the gateway presented no certificate"
    spki = x509.load_der_x509_certificate(der).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture(scope="module")
def browser(
    interop_root: Path, monkeypatch_module: pytest.MonkeyPatch, meridian: Meridian
) -> Iterator[webdriver.Chrome]:
    """Headless Chromium from Debian's packages. Paths are explicit and Selenium Manager is disabled, so nothing
    is looked up or downloaded; if either package is missing the test fails and says which."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    assert not missing, f"missing {', '.join(missing)}: apt-get install chromium chromium-driver (scripts/test does)"

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("Selenium Manager must not run: the browser and the driver come from Debian")

    monkeypatch_module.setattr(SeleniumManager, "binary_paths", refuse)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = Path(interop_root) / "chromium-profile"
    for argument in (
        "--headless=new",
        # Tests run as root in CI, where Chromium's sandbox cannot start.
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-component-update",
        "--window-size=1024,768",
        f"--user-data-dir={profile}",
        # TLS: Chromium verifies the server as always, and accepts exactly one more key: the one the gateway's
        # leaf certificate carries, read above over a connection verified against the platform CA. This is
        # pinning, not disabling: any other certificate (another key, another CA, a self-signed one) still fails.
        # It stands in for installing the development CA into an NSS database, which needs certutil.
        f"--ignore-certificate-errors-spki-list={leaf_spki_pin(meridian)}",
    ):
        options.add_argument(argument)
    # The sign-in must work without JavaScript: turn it off for every page.
    options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(Path(interop_root) / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    patch = pytest.MonkeyPatch()
    try:
        yield patch
    finally:
        patch.undo()


def sign_in_page(browser: webdriver.Chrome, url: str) -> None:
    browser.delete_all_cookies()
    browser.get(url)
    WebDriverWait(browser, WAIT).until(expected_conditions.presence_of_element_located((By.ID, "email")))


def fill_and_submit(browser: webdriver.Chrome, email: str, password: str) -> None:
    email_field = browser.find_element(By.ID, "email")
    email_field.clear()
    email_field.send_keys(email)
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


def test_sign_in_in_a_real_browser(meridian: Meridian, browser: webdriver.Chrome, callback: Callback) -> None:
    user = create_user(meridian.api)
    metadata = requests.get(f"{meridian.url}/.well-known/oauth-authorization-server", timeout=TIMEOUT).json()
    client = OAuth2Session(
        client_id=CLI_CLIENT_ID,
        token_endpoint_auth_method="none",
        redirect_uri=callback.redirect_uri,
        code_challenge_method="S256",
        token_endpoint=metadata["token_endpoint"],
    )
    verifier = generate_token(64)
    url, state = client.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier)

    sign_in_page(browser, url)
    assert browser.title == "Sign in · Meridian"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert browser.find_element(By.ID, "client-name").text == "Meridian CLI", "the page names the app asking"
    # Every field has a visible label tied to it, which is what a screen reader announces.
    for field, label in (("email", "Email"), ("password", "Password")):
        assert browser.find_element(By.CSS_SELECTOR, f"label[for={field}]").text == label
        element = browser.find_element(By.ID, field)
        assert element.get_attribute("required") is not None and element.is_displayed()
    assert browser.find_element(By.ID, "password").get_attribute("type") == "password"
    assert not browser.find_elements(By.TAG_NAME, "script")

    # A wrong password: the page again, with the generic error announced as an alert and tied to the field.
    fill_and_submit(browser, user["email"], "not the right password")
    error = WebDriverWait(browser, WAIT).until(expected_conditions.presence_of_element_located((By.ID, "login-error")))
    assert error.text == "The email or password is incorrect." and error.get_attribute("role") == "alert"
    assert browser.find_element(By.ID, "email").get_attribute("aria-describedby") == "login-error"
    assert browser.find_element(By.ID, "email").get_attribute("value") == user["email"], "the email is kept"
    assert callback.received.empty(), "a failed sign-in never reaches the app"

    # The right password: the browser lands on the app's loopback redirect with a code.
    fill_and_submit(browser, user["email"], USER_PASSWORD)
    try:
        returned = callback.received.get(timeout=WAIT)
    except queue.Empty:
        raise AssertionError(f"the browser did not come back to the app; it is at {browser.current_url}") from None
    WebDriverWait(browser, WAIT).until(expected_conditions.url_contains("/callback"))
    assert browser.current_url.startswith(callback.redirect_uri + "?")
    assert returned["state"] == state and returned["iss"] == metadata["issuer"]
    assert set(returned) == {"code", "state", "iss"}

    token = client.fetch_token(code=returned["code"], state=state, code_verifier=verifier)
    assert token["token_type"] == "Bearer" and token["refresh_token"]
    me = requests.get(f"{meridian.url}/api/users/{user['id']}", headers=bearer(token["access_token"]), timeout=TIMEOUT)
    assert me.status_code == 200 and me.json()["id"] == user["id"]


def test_unregistered_redirect_shows_an_error_page_in_the_browser(meridian: Meridian, browser: webdriver.Chrome, callback: Callback) -> None:
    """An app that is not registered for this redirect URI gets nothing: the browser stays on Meridian's page."""
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": CLI_CLIENT_ID,
            "redirect_uri": callback.redirect_uri.replace("127.0.0.1", "localhost"),
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
        }
    )
    browser.get(f"{meridian.url}/oauth/authorize?{query}")
    try:
        WebDriverWait(browser, WAIT).until(expected_conditions.title_is("Cannot sign in · Meridian"))
    except TimeoutException:
        raise AssertionError(f"expected the error page, got {browser.title!r} at {browser.current_url}") from None
    assert browser.current_url.startswith(meridian.url)
    assert "not registered" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert callback.received.empty()


def test_sigterm_stops_the_server_cleanly(meridian: Meridian) -> None:
    meridian.assert_clean_shutdown()
