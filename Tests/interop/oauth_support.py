"""The browser's and the OAuth client's side of Meridian's sign-in, written with plain HTTP so that the suites can
obtain tokens: the sign-in page is fetched, its form parsed (hidden fields, CSRF token, labels, the client's
name, the error shown) and submitted with the CSRF cookie, the code taken from the redirect and exchanged.

`test_oauth_flow.py` drives the same flow with authlib as the OAuth client; this module is what the fixtures
and the attack tests build on.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import requests

TIMEOUT = 30
ADMIN_EMAIL = "admin@meridian.local"
CLI_CLIENT_ID = "meridian-cli"
# `meridian-cli` is registered with this loopback URI; a request may name it on any port (RFC 8252 7.3).
CLI_REDIRECT_URI = "http://127.0.0.1:8765/callback"
# The platform serves HTTPS only, so the cookie carries the __Host- prefix (Secure, no Domain, Path=/).
CSRF_COOKIE = "__Host-meridian-csrf"


class OAuthFlowError(RuntimeError):
    """A step of the sign-in did not answer as a working server would."""


# --- PKCE (RFC 7636) ------------------------------------------------------------------------------------------


def new_verifier() -> str:
    """43 to 128 unreserved characters; 64 here."""
    return secrets.token_urlsafe(48)


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


# --- the sign-in page ------------------------------------------------------------------------------------------


@dataclass
class LoginPage:
    """What the sign-in page offers, as a browser without JavaScript sees it."""

    action: str = ""
    method: str = ""
    hidden: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, dict[str, str]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    client_name: str = ""
    error: str = ""
    scripts: int = 0

    def label_of(self, name: str) -> str:
        """The text of the `<label for=…>` of the input named `name`."""
        return self.labels.get(self.inputs.get(name, {}).get("id", ""), "")


class _LoginPageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = LoginPage()
        self._label_for: str | None = None
        self._capture: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.page.action = attributes.get("action", "")
            self.page.method = attributes.get("method", "get").lower()
        elif tag == "input":
            name = attributes.get("name", "")
            if attributes.get("type") == "hidden":
                self.page.hidden[name] = attributes.get("value", "")
            elif name:
                self.page.inputs[name] = attributes
        elif tag == "label":
            self._label_for = attributes.get("for", "")
            self.page.labels[self._label_for] = ""
        elif tag == "strong" and attributes.get("id") == "client-name":
            self._capture = "client"
        elif tag == "p" and attributes.get("role") == "alert":
            self._capture = "error"
        elif tag == "script":
            self.page.scripts += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._label_for = None
        elif tag in ("strong", "p"):
            self._capture = None

    def handle_data(self, data: str) -> None:
        if self._label_for is not None:
            self.page.labels[self._label_for] += data.strip()
        if self._capture == "client":
            self.page.client_name += data
        elif self._capture == "error":
            self.page.error += data


def parse_login_page(html: str) -> LoginPage:
    parser = _LoginPageParser()
    parser.feed(html)
    parser.close()
    return parser.page


# --- the flow --------------------------------------------------------------------------------------------------


def authorization_params(
    verifier: str | None = None, *, redirect_uri: str = CLI_REDIRECT_URI, client_id: str = CLI_CLIENT_ID, **extra: str
) -> dict[str, str]:
    """A sound authorization request; `extra` adds or overrides parameters."""
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": secrets.token_urlsafe(16),
        "code_challenge": s256(verifier or new_verifier()),
        "code_challenge_method": "S256",
    }
    params.update(extra)
    return params


def open_login_page(session: requests.Session, authorize_url: str) -> tuple[requests.Response, LoginPage]:
    response = session.get(authorize_url, allow_redirects=False, timeout=TIMEOUT)
    if response.status_code != 200 or not response.headers.get("Content-Type", "").startswith("text/html"):
        raise OAuthFlowError(f"the sign-in page answered {response.status_code}: {response.text[:300]}")
    return response, parse_login_page(response.text)


def submit_login(
    session: requests.Session, base: str, page: LoginPage, email: str, password: str, **overrides: str
) -> requests.Response:
    """Submits the page's form as a browser would: every hidden field, the typed credentials, the cookie jar."""
    if page.method != "post":
        raise OAuthFlowError(f"the sign-in form's method is {page.method!r}")
    form = {**page.hidden, "email": email, "password": password, **overrides}
    return session.post(urllib.parse.urljoin(base + "/", page.action), data=form, allow_redirects=False, timeout=TIMEOUT)


def redirect_parameters(response: requests.Response) -> dict[str, str]:
    """The query of a `302` back to the client, one value per name (a repeated one is an error)."""
    if response.status_code != 302:
        raise OAuthFlowError(f"expected a redirect to the client, got {response.status_code}: {response.text[:300]}")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(response.headers["Location"]).query, keep_blank_values=True)
    if any(len(values) != 1 for values in query.values()):
        raise OAuthFlowError(f"a parameter is repeated in {response.headers['Location']}")
    return {name: values[0] for name, values in query.items()}


def authorization_code(base: str, email: str, password: str, verifier: str, **params: str) -> dict[str, str]:
    """Signs in through the sign-in page; returns the parameters of the redirect (code, state, iss)."""
    session = requests.Session()
    request = authorization_params(verifier, **params)
    _, page = open_login_page(session, f"{base}/oauth/authorize?{urllib.parse.urlencode(request)}")
    redirect = redirect_parameters(submit_login(session, base, page, email, password))
    if "code" not in redirect:
        raise OAuthFlowError(f"the sign-in did not give a code: {redirect}")
    if redirect.get("state") != request["state"]:
        raise OAuthFlowError("the state came back changed")
    redirect["redirect_uri"] = request["redirect_uri"]
    return redirect


def token_request(base: str, form: dict[str, str], **kwargs: Any) -> requests.Response:
    return requests.post(f"{base}/oauth/token", data=form, timeout=TIMEOUT, **kwargs)


@dataclass
class TokenSet:
    """A token response and when its access token expires (by the local clock, which shares the server's)."""

    access_token: str
    refresh_token: str | None
    expires_at: float
    scope: str
    client_id: str = CLI_CLIENT_ID

    @classmethod
    def from_response(cls, response: requests.Response, client_id: str = CLI_CLIENT_ID) -> TokenSet:
        if response.status_code != 200:
            raise OAuthFlowError(f"the token endpoint answered {response.status_code}: {response.text[:300]}")
        body = response.json()
        return cls(
            access_token=body["access_token"],
            refresh_token=body.get("refresh_token"),
            expires_at=time.time() + body["expires_in"],
            scope=body["scope"],
            client_id=client_id,
        )

    def expires_soon(self, margin: float = 60) -> bool:
        return time.time() > self.expires_at - margin

    def refreshed_response(self, base: str) -> requests.Response:
        """The token endpoint's answer to this set's refresh token, whatever it is."""
        if not self.refresh_token:
            raise OAuthFlowError("no refresh token to refresh with")
        form = {"grant_type": "refresh_token", "refresh_token": self.refresh_token, "client_id": self.client_id}
        return token_request(base, form)

    def refreshed(self, base: str) -> TokenSet:
        """The next tokens of the family; this set's refresh token is spent by it."""
        return TokenSet.from_response(self.refreshed_response(base), self.client_id)


def exchange_code(base: str, code: str, verifier: str, redirect_uri: str = CLI_REDIRECT_URI) -> requests.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
        "client_id": CLI_CLIENT_ID,
    }
    return token_request(base, form)


def sign_in_with_code_flow(base: str, email: str, password: str) -> TokenSet:
    """The whole flow with the built-in public client `meridian-cli`: tokens for this account."""
    verifier = new_verifier()
    redirect = authorization_code(base, email, password, verifier)
    return TokenSet.from_response(exchange_code(base, redirect["code"], verifier))


def client_credentials(base: str, client_id: str, client_secret: str, **form: str) -> requests.Response:
    return token_request(
        base, {"grant_type": "client_credentials", **form}, auth=requests.auth.HTTPBasicAuth(client_id, client_secret)
    )
