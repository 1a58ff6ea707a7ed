"""Meridian's authorization server driven by a third-party OAuth client (authlib), its tokens checked by a
third-party JOSE library (joserfc), and every RFC 9700 attack of the identity issue tried against it.

The happy path: discovery (RFC 8414), an authorization request with PKCE S256 built by authlib's
`OAuth2Session`, the HTML sign-in form fetched and submitted over HTTP (hidden fields and the CSRF cookie
parsed as a browser would), the code exchanged by authlib, the access token verified against the JWKS, the
refresh token rotated, tokens revoked (RFC 7009) and introspected (RFC 7662) by a confidential client that
`meridian admin create-client` registered on the same data while the server ran.

The attacks, each expected to fail in the way the RFCs say: redirect URI variants, code reuse (which also
revokes what the code gave), a wrong, missing or `plain` PKCE proof, refresh token reuse (which revokes the
family), tokens for another audience, expired, tampered or forged tokens (401 with
`WWW-Authenticate: Bearer error="invalid_token"`), and the implicit and password grants. Then RBAC seen from
outside: a customer sees its own orders and account only, and someone else's are 404.

Each test runs on SQLite and on PostgreSQL (see `conftest.py`).
"""

from __future__ import annotations

import http.client
import os
import secrets
import ssl
import subprocess
import time
import urllib.parse
from typing import Any

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from conftest import Meridian, _psql, meridian_binary
from forged_tokens import (
    AUDIENCE,
    SigningKey,
    claims_like,
    current_signing_key,
    fresh_times,
    hs256_with_public_key,
    signed_by_stranger,
    unsigned,
    unverified_parts,
    with_payload,
)
from oauth_support import (
    CLI_CLIENT_ID,
    CLI_REDIRECT_URI,
    CSRF_COOKIE,
    TIMEOUT,
    TokenSet,
    authorization_code,
    authorization_params,
    exchange_code,
    new_verifier,
    open_login_page,
    parse_login_page,
    redirect_parameters,
    s256,
    sign_in_with_code_flow,
    submit_login,
    token_request,
)
from support import USER_PASSWORD, ApiSession, BearerAuth, assert_problem, bearer, create_order, create_user, order_body

GENERIC_LOGIN_ERROR = "The email or password is incorrect."


# --- fixtures --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def metadata(meridian: Meridian) -> dict[str, Any]:
    response = requests.get(f"{meridian.url}/.well-known/oauth-authorization-server", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def jwks(meridian: Meridian, metadata: dict[str, Any]) -> KeySet:
    response = requests.get(metadata["jwks_uri"], timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/jwk-set+json")
    return KeySet.import_key_set(response.json())


@pytest.fixture(scope="module")
def introspector(meridian: Meridian) -> tuple[str, str]:
    """A confidential client registered with `meridian admin create-client`, offline, on the running server's
    data (its SQLite file or its PostgreSQL database), as an operator would."""
    storage = ["--database-url", meridian.database_url] if meridian.database_url else ["--data-dir", str(meridian.data_dir)]
    # The master key `serve` generated for development: offline admin commands never generate one themselves.
    storage += ["--master-key-file", str(meridian.data_dir / "master.key")]
    completed = subprocess.run(
        [str(meridian_binary()), "admin", "create-client", "--name", "Interop introspector", "--confidential", *storage],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MERIDIAN_BCRYPT_COST": "4", "MERIDIAN_LOG_LEVEL": "warning"},
        stdin=subprocess.DEVNULL,
    )
    assert completed.returncode == 0, f"create-client failed ({completed.returncode}): {completed.stderr[-2000:]}"
    printed = dict(line.split(": ", 1) for line in completed.stdout.splitlines() if ": " in line)
    assert printed["client_id"].startswith("cli_"), completed.stdout
    assert len(printed["client_secret"]) >= 43
    assert printed["client_secret"] not in completed.stderr, "the secret goes to standard output only"
    return printed["client_id"], printed["client_secret"]


@pytest.fixture
def customer(meridian: Meridian) -> dict[str, Any]:
    """A fresh account with the `customer` role, and its password."""
    return {**create_user(meridian.api), "password": USER_PASSWORD}


def public_client(metadata: dict[str, Any], port: int = 8765, **kwargs: Any) -> OAuth2Session:
    """authlib as the `meridian-cli` public client: no secret, PKCE S256."""
    return OAuth2Session(
        client_id=CLI_CLIENT_ID,
        token_endpoint_auth_method="none",
        redirect_uri=f"http://127.0.0.1:{port}/callback",
        code_challenge_method="S256",
        scope="api",
        token_endpoint=metadata["token_endpoint"],
        **kwargs,
    )


def introspect(meridian: Meridian, introspector: tuple[str, str], token: str) -> dict[str, Any]:
    client_id, secret = introspector
    with OAuth2Session(client_id=client_id, client_secret=secret) as client:
        response = client.introspect_token(f"{meridian.url}/oauth/introspect", token=token)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    return response.json()


def signed_in_api(meridian: Meridian, email: str, password: str = USER_PASSWORD) -> ApiSession:
    """A session on the gateway carrying the tokens of this account (signed in with the code flow)."""
    tokens = sign_in_with_code_flow(meridian.url, email, password)
    return ApiSession(meridian.url, auth=BearerAuth(lambda: tokens.access_token))


def browser_sign_in(meridian: Meridian, authorize_url: str, email: str, password: str) -> requests.Response:
    """What a browser without JavaScript does: load the page (and its cookie), submit the form."""
    session = requests.Session()
    _, page = open_login_page(session, authorize_url)
    return submit_login(session, meridian.url, page, email, password)


def assert_oauth_error(response: requests.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, f"expected {status} {error}, got {response.status_code}: {response.text[:300]}"
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["error"] == error, body
    return body


def assert_invalid_token(response: requests.Response) -> None:
    """RFC 6750 section 3.1: 401 with a Bearer challenge naming invalid_token."""
    assert_problem(response, 401, "invalid-token")
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"'), response.headers


# --- discovery -------------------------------------------------------------------------------------------------


def test_discovery_metadata_is_valid_rfc8414(meridian: Meridian, metadata: dict[str, Any]) -> None:
    # authlib's own model of RFC 8414 checks every member it knows (and that the issuer is loopback or https).
    AuthorizationServerMetadata(metadata).validate()
    assert metadata["issuer"] == meridian.url
    for endpoint in ("authorization_endpoint", "token_endpoint", "revocation_endpoint", "introspection_endpoint", "jwks_uri"):
        assert metadata[endpoint].startswith(meridian.url + "/"), endpoint
    assert metadata["response_types_supported"] == ["code"], "no implicit flow"
    assert metadata["code_challenge_methods_supported"] == ["S256"], "no plain PKCE"
    assert set(metadata["grant_types_supported"]) == {"authorization_code", "refresh_token", "client_credentials"}
    assert metadata["authorization_response_iss_parameter_supported"] is True
    openid = requests.get(f"{meridian.url}/.well-known/openid-configuration", timeout=TIMEOUT)
    assert openid.status_code == 200 and openid.json() == metadata


# --- the code flow with authlib --------------------------------------------------------------------------------


def test_authlib_code_flow_with_pkce_and_the_html_form(
    meridian: Meridian, metadata: dict[str, Any], jwks: KeySet, customer: dict[str, Any]
) -> None:
    client = public_client(metadata)
    verifier = generate_token(64)
    url, state = client.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert query["code_challenge_method"] == "S256" and query["code_challenge"] == s256(verifier)

    # The sign-in page, as a browser without JavaScript gets it.
    browser = requests.Session()
    page_response, page = open_login_page(browser, url)
    assert page.client_name == "Meridian CLI", "the page names the client asking"
    assert page.label_of("email") == "Email" and page.label_of("password") == "Password", "every field is labelled"
    assert page.inputs["password"]["type"] == "password" and page.inputs["email"]["autocomplete"] == "username"
    assert page.scripts == 0, "the page needs no JavaScript"
    assert page.hidden["csrf_token"] and page.hidden["code_challenge"] == query["code_challenge"]
    assert page.hidden["state"] == state and page.hidden["redirect_uri"] == client.redirect_uri
    cookie = page_response.headers["Set-Cookie"]
    assert cookie.startswith(f"{CSRF_COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie, cookie
    assert browser.cookies.get(CSRF_COOKIE)
    policy = page_response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert page_response.headers["Cache-Control"] == "no-store"

    redirect = submit_login(browser, meridian.url, page, customer["email"], customer["password"])
    location = redirect.headers["Location"]
    assert redirect.status_code == 302 and location.startswith(client.redirect_uri + "?"), location
    returned = redirect_parameters(redirect)
    assert returned["state"] == state and returned["iss"] == metadata["issuer"], "state unchanged, iss (RFC 9207)"

    # authlib checks the state and sends code, redirect_uri and the verifier.
    token = client.fetch_token(authorization_response=location, code_verifier=verifier)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 600 and token["scope"] == "api"
    assert token["refresh_token"] and token["refresh_token"] != token["access_token"]

    # The access token, verified with joserfc against the published keys.
    header, _, _ = unverified_parts(token["access_token"])
    assert header["alg"] == "ES256" and jwks.get_by_kid(header["kid"])
    verified = jwt.decode(token["access_token"], jwks, algorithms=["ES256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": metadata["issuer"]},
        aud={"essential": True, "value": AUDIENCE},
        sub={"essential": True, "value": customer["id"]},
        exp={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
    ).validate(verified.claims)
    claims = verified.claims
    assert claims["client_id"] == CLI_CLIENT_ID and claims["scope"] == "api" and claims["roles"] == ["customer"]
    assert set(claims["permissions"]) == {"users:read:own", "users:write:own", "orders:read:own", "orders:write:own", "notifications:read:own", "notifications:write:own"}
    assert claims["exp"] - claims["iat"] == 600 and claims["jti"].startswith("tok_")
    with pytest.raises(BadSignatureError):
        jwt.decode(with_payload(token["access_token"], {**claims, "roles": ["admin"]}), jwks, algorithms=["ES256"])

    # And the API takes it: the customer reads its own account.
    own = requests.get(f"{meridian.url}/api/users/{customer['id']}", headers=bearer(token["access_token"]), timeout=TIMEOUT)
    assert own.status_code == 200 and own.json()["email"] == customer["email"]


def test_the_token_response_is_not_cached(meridian: Meridian, customer: dict[str, Any]) -> None:
    verifier = new_verifier()
    redirect = authorization_code(meridian.url, customer["email"], customer["password"], verifier)
    response = exchange_code(meridian.url, redirect["code"], verifier)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"


def test_refresh_rotates_the_refresh_token(meridian: Meridian, metadata: dict[str, Any], customer: dict[str, Any]) -> None:
    tokens = sign_in_with_code_flow(meridian.url, customer["email"], customer["password"])
    client = public_client(metadata, token={"access_token": tokens.access_token, "refresh_token": tokens.refresh_token, "token_type": "Bearer"})
    first = dict(client.token)
    second = dict(client.refresh_token())
    assert second["refresh_token"] != first["refresh_token"], "a new refresh token on every use"
    assert second["access_token"] != first["access_token"]
    third = dict(client.refresh_token())
    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])
    response = requests.get(f"{meridian.url}/api/users/{customer['id']}", headers=bearer(third["access_token"]), timeout=TIMEOUT)
    assert response.status_code == 200
    # A narrower scope may be asked for, a wider one never.
    narrowed = token_request(meridian.url, {"grant_type": "refresh_token", "refresh_token": third["refresh_token"], "client_id": CLI_CLIENT_ID, "scope": "api admin"})
    assert_oauth_error(narrowed, 400, "invalid_scope")


def test_revocation_rfc7009(
    meridian: Meridian, metadata: dict[str, Any], customer: dict[str, Any], introspector: tuple[str, str]
) -> None:
    tokens = sign_in_with_code_flow(meridian.url, customer["email"], customer["password"])
    assert introspect(meridian, introspector, tokens.access_token)["active"] is True
    client = public_client(metadata)

    revoked = client.revoke_token(metadata["revocation_endpoint"], token=tokens.refresh_token, token_type_hint="refresh_token")
    assert revoked.status_code == 200 and revoked.content == b""
    # The refresh token is dead, and so is the grant: the access token issued with it is no longer active.
    assert_oauth_error(tokens.refreshed_response(meridian.url), 400, "invalid_grant")
    assert introspect(meridian, introspector, tokens.refresh_token) == {"active": False}
    assert introspect(meridian, introspector, tokens.access_token) == {"active": False}

    # Unknown, malformed and already revoked tokens are answered alike: 200, revealing nothing.
    for token in (tokens.refresh_token, secrets.token_urlsafe(32), "not a token"):
        assert client.revoke_token(metadata["revocation_endpoint"], token=token).status_code == 200

    # An access token can be revoked on its own (introspection stops reporting it active).
    other = sign_in_with_code_flow(meridian.url, customer["email"], customer["password"])
    assert client.revoke_token(metadata["revocation_endpoint"], token=other.access_token, token_type_hint="access_token").status_code == 200
    assert introspect(meridian, introspector, other.access_token) == {"active": False}
    # A client cannot revoke another client's token: the introspector's attempt on a meridian-cli token is a no-op.
    third = sign_in_with_code_flow(meridian.url, customer["email"], customer["password"])
    client_id, secret = introspector
    with OAuth2Session(client_id=client_id, client_secret=secret) as confidential:
        assert confidential.revoke_token(metadata["revocation_endpoint"], token=third.refresh_token).status_code == 200
    assert introspect(meridian, introspector, third.refresh_token)["active"] is True


def test_introspection_rfc7662(
    meridian: Meridian, metadata: dict[str, Any], customer: dict[str, Any], introspector: tuple[str, str]
) -> None:
    tokens = sign_in_with_code_flow(meridian.url, customer["email"], customer["password"])
    active = introspect(meridian, introspector, tokens.access_token)
    _, claims, _ = unverified_parts(tokens.access_token)
    assert active["active"] is True and active["token_type"] == "Bearer"
    assert (active["sub"], active["client_id"], active["scope"], active["aud"]) == (customer["id"], CLI_CLIENT_ID, "api", AUDIENCE)
    assert (active["exp"], active["jti"], active["iss"]) == (claims["exp"], claims["jti"], metadata["issuer"])
    assert active["roles"] == ["customer"]
    refresh = introspect(meridian, introspector, tokens.refresh_token)
    assert refresh["active"] is True and refresh["sub"] == customer["id"] and refresh["client_id"] == CLI_CLIENT_ID
    for garbage in ("", "x", secrets.token_urlsafe(32), tokens.access_token[:-4] + "AAAA"):
        if garbage:
            assert introspect(meridian, introspector, garbage) == {"active": False}

    # Only confidential clients may ask, and only with their secret.
    public = OAuth2Session(client_id=CLI_CLIENT_ID, token_endpoint_auth_method="none")
    refused = public.introspect_token(metadata["introspection_endpoint"], token=tokens.access_token)
    assert_oauth_error(refused, 401, "invalid_client")
    assert refused.headers["WWW-Authenticate"].startswith("Basic ")
    client_id, _ = introspector
    wrong = OAuth2Session(client_id=client_id, client_secret="not-the-secret-" + secrets.token_urlsafe(20))
    assert_oauth_error(wrong.introspect_token(metadata["introspection_endpoint"], token=tokens.access_token), 401, "invalid_client")


def test_client_credentials_for_the_cli_registered_client(meridian: Meridian, metadata: dict[str, Any], jwks: KeySet, introspector: tuple[str, str]) -> None:
    client_id, secret = introspector
    with OAuth2Session(client_id=client_id, client_secret=secret, token_endpoint=metadata["token_endpoint"]) as service:
        token = service.fetch_token(grant_type="client_credentials")
    assert "refresh_token" not in token, "client credentials get no refresh token"
    claims = jwt.decode(token["access_token"], jwks, algorithms=["ES256"]).claims
    assert claims["sub"] == client_id and claims["roles"] == ["service"]
    headers = bearer(token["access_token"])
    assert requests.get(f"{meridian.url}/api/users", headers=headers, timeout=TIMEOUT).status_code == 200, "service may read users"
    forbidden = requests.post(f"{meridian.url}/api/roles", json={"name": "nope", "permissions": []}, headers=headers, timeout=TIMEOUT)
    assert_problem(forbidden, 403, "insufficient-permission")
    assert forbidden.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'
    # The same secret sent both ways at once, or a public client asking for client credentials, is refused.
    both = token_request(meridian.url, {"grant_type": "client_credentials", "client_secret": secret}, auth=(client_id, secret))
    assert_oauth_error(both, 400, "invalid_request")
    public = token_request(meridian.url, {"grant_type": "client_credentials", "client_id": CLI_CLIENT_ID})
    assert_oauth_error(public, 400, "unauthorized_client")


# --- the sign-in form over HTTP --------------------------------------------------------------------------------


def test_wrong_credentials_get_one_generic_error(meridian: Meridian, customer: dict[str, Any]) -> None:
    url = f"{meridian.url}/oauth/authorize?{urllib.parse.urlencode(authorization_params())}"
    wrong_password = browser_sign_in(meridian, url, customer["email"], "not the right password")
    unknown_account = browser_sign_in(meridian, url, f"nobody-{secrets.token_hex(4)}@example.com", "whatever password")
    for response in (wrong_password, unknown_account):
        assert response.status_code == 400 and "Location" not in response.headers
        page = parse_login_page(response.text)
        assert page.error.strip() == GENERIC_LOGIN_ERROR, "the same words whether or not the account exists"
        assert page.hidden["csrf_token"], "the form is shown again, ready for another try"
    assert parse_login_page(wrong_password.text).inputs["email"]["value"] == customer["email"]


def test_the_form_needs_its_csrf_cookie(meridian: Meridian, customer: dict[str, Any]) -> None:
    url = f"{meridian.url}/oauth/authorize?{urllib.parse.urlencode(authorization_params())}"
    browser = requests.Session()
    _, page = open_login_page(browser, url)
    # A cross-site POST carries no SameSite=Strict cookie: the right password is refused all the same.
    forged = requests.post(f"{meridian.url}/oauth/authorize", data={**page.hidden, "email": customer["email"], "password": customer["password"]}, allow_redirects=False, timeout=TIMEOUT)
    assert forged.status_code == 403 and "Location" not in forged.headers
    # A token from another browser's page does not match this cookie either.
    other = requests.Session()
    _, other_page = open_login_page(other, url)
    mixed = submit_login(browser, meridian.url, page, customer["email"], customer["password"], csrf_token=other_page.hidden["csrf_token"])
    assert mixed.status_code == 403
    assert submit_login(browser, meridian.url, page, customer["email"], customer["password"]).status_code == 302


def test_failed_sign_ins_are_throttled(meridian: Meridian) -> None:
    victim = create_user(meridian.api)
    url = f"{meridian.url}/oauth/authorize?{urllib.parse.urlencode(authorization_params())}"
    statuses = []
    # Five failures are free; after them each attempt must wait a doubling delay. Stop at the first refusal so
    # that the address's own (looser) throttle is not spent for the rest of this module.
    for _ in range(12):
        response = browser_sign_in(meridian, url, victim["email"], "a wrong password!")
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[:5] == [400] * 5, statuses
    assert statuses[-1] == 429, f"no attempt was throttled: {statuses}"
    assert int(response.headers["Retry-After"]) >= 1
    assert "Too many failed sign-in attempts" in parse_login_page(response.text).error


# --- RFC 9700 attacks ------------------------------------------------------------------------------------------


REDIRECT_URI_VARIANTS = [
    "http://127.0.0.1:8765/callback/",
    "http://127.0.0.1:8765/callbacks",
    "http://127.0.0.1:8765/Callback",
    "http://127.0.0.1:8765/callback/../evil",
    "http://127.0.0.1:8765/callback?next=https://evil.example",
    "http://127.0.0.1:8765/callback#fragment",
    "http://127.0.0.1:8765",
    "http://localhost:8765/callback",
    "http://127.0.0.2:8765/callback",
    "http://[::1]:8765/callback",
    "https://127.0.0.1:8765/callback",
    "http://127.0.0.1.evil.example/callback",
    "http://127.0.0.1@evil.example/callback",
    "http://127.0.0.1:8765@evil.example/callback",
    "https://evil.example/callback",
    "//evil.example/callback",
    "http://127.0.0.1:99999/callback",
    "",
]


@pytest.mark.parametrize("redirect_uri", REDIRECT_URI_VARIANTS)
def test_redirect_uri_must_match_exactly_and_errors_are_not_redirected(meridian: Meridian, redirect_uri: str) -> None:
    params = authorization_params(redirect_uri=redirect_uri)
    response = requests.get(f"{meridian.url}/oauth/authorize", params=params, allow_redirects=False, timeout=TIMEOUT)
    assert response.status_code == 400, f"{redirect_uri!r}: {response.status_code}"
    assert "Location" not in response.headers, "never a redirect to an unregistered URI"
    assert response.headers["Content-Type"].startswith("text/html")
    # Even with the other parameters wrong too, nothing is sent there.
    broken = requests.get(f"{meridian.url}/oauth/authorize", params={**params, "response_type": "token"}, allow_redirects=False, timeout=TIMEOUT)
    assert broken.status_code == 400 and "Location" not in broken.headers


def test_loopback_redirect_may_change_only_its_port(meridian: Meridian, customer: dict[str, Any]) -> None:
    verifier = new_verifier()
    code = authorization_code(meridian.url, customer["email"], customer["password"], verifier, redirect_uri="http://127.0.0.1:40123/callback")
    assert code["redirect_uri"] == "http://127.0.0.1:40123/callback"
    # The token request must repeat the URI of the authorization request exactly: another port is refused.
    assert_oauth_error(exchange_code(meridian.url, code["code"], verifier, redirect_uri="http://127.0.0.1:40124/callback"), 400, "invalid_grant")


def test_hidden_redirect_uri_tampered_in_the_form_is_not_followed(meridian: Meridian, customer: dict[str, Any]) -> None:
    url = f"{meridian.url}/oauth/authorize?{urllib.parse.urlencode(authorization_params())}"
    browser = requests.Session()
    _, page = open_login_page(browser, url)
    response = submit_login(browser, meridian.url, page, customer["email"], customer["password"], redirect_uri="https://evil.example/callback")
    assert response.status_code == 400 and "Location" not in response.headers


def test_code_reuse_fails_and_revokes_what_the_code_gave(meridian: Meridian, customer: dict[str, Any], introspector: tuple[str, str]) -> None:
    verifier = new_verifier()
    code = authorization_code(meridian.url, customer["email"], customer["password"], verifier)
    first = TokenSet.from_response(exchange_code(meridian.url, code["code"], verifier))
    assert introspect(meridian, introspector, first.access_token)["active"] is True
    replay = exchange_code(meridian.url, code["code"], verifier)
    assert_oauth_error(replay, 400, "invalid_grant")
    # RFC 6749 section 4.1.2: the code leaked, so everything issued from it is revoked.
    assert introspect(meridian, introspector, first.access_token) == {"active": False}
    assert introspect(meridian, introspector, first.refresh_token) == {"active": False}
    assert_oauth_error(first.refreshed_response(meridian.url), 400, "invalid_grant")


def test_verifier_mismatch_is_refused_and_spends_the_code(meridian: Meridian, customer: dict[str, Any]) -> None:
    verifier = new_verifier()
    code = authorization_code(meridian.url, customer["email"], customer["password"], verifier)
    assert_oauth_error(exchange_code(meridian.url, code["code"], new_verifier()), 400, "invalid_grant")
    # One attempt per code: an attacker who got the code cannot keep guessing, and the owner must start over.
    assert_oauth_error(exchange_code(meridian.url, code["code"], verifier), 400, "invalid_grant")


def test_missing_verifier_is_refused(meridian: Meridian, customer: dict[str, Any]) -> None:
    verifier = new_verifier()
    code = authorization_code(meridian.url, customer["email"], customer["password"], verifier)
    form = {"grant_type": "authorization_code", "code": code["code"], "redirect_uri": CLI_REDIRECT_URI, "client_id": CLI_CLIENT_ID}
    assert_oauth_error(token_request(meridian.url, form), 400, "invalid_grant")
    malformed = {**form, "code_verifier": "short"}
    assert_oauth_error(token_request(meridian.url, malformed), 400, "invalid_request")


@pytest.mark.parametrize(
    "change",
    [
        {"code_challenge_method": "plain"},
        {"code_challenge_method": None},
        {"code_challenge": None},
        {"code_challenge": None, "code_challenge_method": None},
        {"code_challenge": "too-short"},
        {"code_challenge_method": "S512"},
    ],
    ids=["plain", "method-missing-means-plain", "challenge-missing", "no-pkce-at-all", "challenge-malformed", "unknown-method"],
)
def test_pkce_is_required_and_s256_only(meridian: Meridian, change: dict[str, str | None]) -> None:
    """The error goes back to the (sound) redirect URI, with state and iss, as RFC 6749 4.1.2.1 says."""
    params = authorization_params()
    if change.get("code_challenge_method") == "plain":
        params["code_challenge"] = new_verifier()
    for name, value in change.items():
        if value is None:
            params.pop(name)
        else:
            params[name] = value
    response = requests.get(f"{meridian.url}/oauth/authorize", params=params, allow_redirects=False, timeout=TIMEOUT)
    returned = redirect_parameters(response)
    assert response.headers["Location"].startswith(CLI_REDIRECT_URI + "?")
    assert returned["error"] == "invalid_request" and "code" not in returned
    assert returned["state"] == params["state"] and returned["iss"] == meridian.url


def test_refresh_token_reuse_revokes_the_family(meridian: Meridian, customer: dict[str, Any], introspector: tuple[str, str]) -> None:
    first = sign_in_with_code_flow(meridian.url, customer["email"], customer["password"])
    second = first.refreshed(meridian.url)
    third = second.refreshed(meridian.url)
    # The thief (or the victim) presents a rotated-out token: the server cannot tell who is who.
    assert_oauth_error(first.refreshed_response(meridian.url), 400, "invalid_grant")
    # So the whole family is gone: the current refresh token and the access tokens issued from the family.
    assert_oauth_error(third.refreshed_response(meridian.url), 400, "invalid_grant")
    for token in (second.access_token, third.access_token, third.refresh_token):
        assert introspect(meridian, introspector, token) == {"active": False}
    # Another sign-in of the same account is another family, untouched.
    assert sign_in_with_code_flow(meridian.url, customer["email"], customer["password"]).refreshed(meridian.url).access_token


def test_refresh_token_of_another_client_is_refused(meridian: Meridian, customer: dict[str, Any]) -> None:
    tokens = sign_in_with_code_flow(meridian.url, customer["email"], customer["password"])
    # Another public client, registered through the admin API, that may use refresh tokens too.
    other = meridian.api.post("/api/clients", json={"name": "Other app", "type": "public", "redirect_uris": ["http://127.0.0.1/cb"]})
    assert other.status_code == 201, other.text
    assert "client_secret" not in other.json() and other.headers["Cache-Control"] == "no-store"
    stolen = token_request(meridian.url, {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token, "client_id": other.json()["id"]})
    assert_oauth_error(stolen, 400, "invalid_grant")
    assert tokens.refreshed(meridian.url).access_token, "the rightful client's token was not spent"


@pytest.fixture(scope="module")
def signing_key(meridian: Meridian) -> SigningKey:
    return current_signing_key(meridian.engine, meridian.data_dir, meridian.database_url, _psql() if meridian.database_url else "")


def _targets(meridian: Meridian) -> list[tuple[str, str]]:
    """The gateway, and the orders service behind it, which must not trust the gateway's check."""
    return [(meridian.url, "/api/orders"), (meridian.orders_url, "/api/orders"), (meridian.users_url, "/api/users")]


def test_token_checks_at_the_gateway_and_in_the_service(meridian: Meridian, signing_key: SigningKey, jwks: KeySet) -> None:
    real = meridian.admin_token()
    good = signing_key.mint(claims_like(real, **fresh_times(), jti="tok_" + secrets.token_hex(13)))
    now = int(time.time())
    refused = {
        "another audience": signing_key.mint(claims_like(real, **fresh_times(), aud="billing-api")),
        "audience list without ours": signing_key.mint(claims_like(real, **fresh_times(), aud=["billing-api"])),
        "another issuer": signing_key.mint(claims_like(real, **fresh_times(), iss="https://evil.example")),
        "expired": signing_key.mint(claims_like(real, iat=now - 3600, nbf=now - 3600, exp=now - 600)),
        "not yet valid": signing_key.mint(claims_like(real, iat=now, nbf=now + 3600, exp=now + 4200)),
        "without exp": signing_key.mint(claims_like(real, exp=None)),
        "unknown kid": signing_key.mint(claims_like(real, **fresh_times()), kid="not-a-key-of-ours"),
        "tampered roles": with_payload(real, claims_like(real, roles=["admin", "support"])),
        "tampered subject": with_payload(real, claims_like(real, sub="usr_01JDQ4M8Z5X2E7K9T3W6B1N0RA")),
        "alg none": unsigned(real),
        "HS256 with the public key": hs256_with_public_key(real, jwks.keys[0].as_dict(private=False)),
        "signed by a stranger": signed_by_stranger(real),
        "truncated": real[:-10],
        "garbage": "not.a.token",
    }
    for base, path in _targets(meridian):
        response = requests.get(base + path, headers=bearer(good), timeout=TIMEOUT)
        assert response.status_code == 200, f"the harness's own correct token must pass at {base}: {response.text}"
        for name, token in refused.items():
            response = requests.get(base + path, headers=bearer(token), timeout=TIMEOUT)
            assert response.status_code == 401, f"{name} at {base}: {response.status_code}"
            assert_invalid_token(response)
        missing = requests.get(base + path, timeout=TIMEOUT)
        assert_problem(missing, 401, "unauthenticated")
        assert missing.headers["WWW-Authenticate"] == "Bearer"
        status, challenge = _with_two_authorization_headers(base + path, real)
        assert status == 400 and challenge == 'Bearer error="invalid_request"', f"two Authorization headers at {base}"


def _with_two_authorization_headers(url: str, token: str) -> tuple[int, str]:
    """requests cannot send a header twice; http.client can (over TLS, trusting the suite's CA, verification on)."""
    parts = urllib.parse.urlsplit(url)
    assert parts.scheme == "https", url
    context = ssl.create_default_context(cafile=os.environ["REQUESTS_CA_BUNDLE"])
    connection = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=TIMEOUT, context=context)
    try:
        connection.putrequest("GET", parts.path)
        connection.putheader("Authorization", f"Bearer {token}")
        connection.putheader("Authorization", f"Bearer {token}")
        connection.endheaders()
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("WWW-Authenticate", "")
    finally:
        connection.close()


def test_implicit_and_password_grants_are_refused(meridian: Meridian, metadata: dict[str, Any]) -> None:
    # Implicit: response_type=token is refused at the redirect URI, and no token appears anywhere.
    params = authorization_params(response_type="token")
    response = requests.get(f"{meridian.url}/oauth/authorize", params=params, allow_redirects=False, timeout=TIMEOUT)
    returned = redirect_parameters(response)
    assert returned["error"] == "unsupported_response_type" and "#" not in response.headers["Location"]
    assert "access_token" not in response.headers["Location"]
    # Password: authlib's resource-owner password request, with the admin's real credentials.
    client = public_client(metadata)
    with pytest.raises(OAuthError) as refused:
        client.fetch_token(grant_type="password", username="admin@meridian.local", password=meridian.admin_password)
    assert refused.value.error == "unsupported_grant_type"
    for grant in ("password", "implicit", "token", "urn:ietf:params:oauth:grant-type:device_code"):
        form = {"grant_type": grant, "client_id": CLI_CLIENT_ID, "username": "admin@meridian.local", "password": meridian.admin_password}
        assert_oauth_error(token_request(meridian.url, form), 400, "unsupported_grant_type")


# --- RBAC, seen from outside -----------------------------------------------------------------------------------


def test_a_customer_sees_only_its_own_orders_and_account(meridian: Meridian) -> None:
    admin = meridian.api
    alice, bob = create_user(admin), create_user(admin)
    alice_api, bob_api = signed_in_api(meridian, alice["email"]), signed_in_api(meridian, bob["email"])

    # Alice places her own order with her own token (orders:write:own); not one for Bob.
    mine = create_order(alice_api, alice["id"]).json()
    assert_problem(alice_api.post("/api/orders", json=order_body(bob["id"])), 403, "insufficient-permission")
    bobs = create_order(admin, bob["id"]).json()

    assert alice_api.get(f"/api/orders/{mine['id']}").status_code == 200
    # Bob's order does not exist as far as Alice can tell: 404 exactly as for an id nobody has.
    for method, path, body in [
        ("GET", f"/api/orders/{bobs['id']}", None),
        ("GET", f"/api/orders/{bobs['id']}/payments", None),
        ("PUT", f"/api/orders/{bobs['id']}", {"shipping_address": order_body(alice["id"])["shipping_address"]}),
        ("DELETE", f"/api/orders/{bobs['id']}", None),
        ("POST", f"/api/orders/{bobs['id']}/payments", {"payment_method": "tok_visa"}),
        ("GET", f"/api/users/{bob['id']}", None),
        ("PATCH", f"/api/users/{bob['id']}", {"name": "Mallory"}),
    ]:
        response = alice_api.request(method, path, json=body)
        problem = assert_problem(response, 404, "not-found")
        absent = alice_api.request(method, path.replace(bobs["id"], "ord_01JDQ4N2F7Y3B9C5D1E6G8H0JK").replace(bob["id"], "usr_01JDQ4M8Z5X2E7K9T3W6B1N0RA"), json=body)
        assert assert_problem(absent, 404)["detail"] == problem["detail"], "someone else's looks like no one's"
    assert admin.get(f"/api/orders/{bobs['id']}").json()["status"] == "pending", "nothing changed"

    # Lists hold her own only, whatever she filters on.
    assert [o["id"] for o in alice_api.get("/api/orders").json()["data"]] == [mine["id"]]
    assert alice_api.get("/api/orders", params={"user_id": bob["id"]}).json()["data"] == []
    assert [u["id"] for u in alice_api.get("/api/users").json()["data"]] == [alice["id"]]
    assert [o["id"] for o in bob_api.get("/api/orders").json()["data"]] == [bobs["id"]]

    # What only the back office may do is 403 on her own order: paying is hers, fulfilling is not.
    assert alice_api.post(f"/api/orders/{mine['id']}/payments", json={"payment_method": "tok_visa"}).status_code == 201
    assert_problem(alice_api.put(f"/api/orders/{mine['id']}", json={"status": "fulfilled"}), 403, "insufficient-permission")
    assert_problem(alice_api.delete(f"/api/orders/{mine['id']}"), 403, "insufficient-permission")
    # And the admin-only routes are 403 with the insufficient_scope challenge.
    for method, path in [("GET", "/api/roles"), ("GET", "/api/clients"), ("DELETE", f"/api/users/{alice['id']}"), ("PUT", f"/api/users/{alice['id']}/roles")]:
        response = alice_api.request(method, path, json={"roles": ["admin"]} if method == "PUT" else None)
        assert_problem(response, 403, "insufficient-permission")
        assert response.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'


def test_roles_granted_through_the_api_reach_new_tokens(meridian: Meridian, customer: dict[str, Any]) -> None:
    admin = meridian.api
    name = "clerk-" + secrets.token_hex(3)
    created = admin.post("/api/roles", json={"name": name, "permissions": ["orders:read"]})
    assert created.status_code == 201, created.text
    before = sign_in_with_code_flow(meridian.url, customer["email"], customer["password"])
    assigned = admin.put(f"/api/users/{customer['id']}/roles", json={"roles": ["customer", name]})
    assert assigned.status_code == 200 and assigned.json()["roles"] == ["customer", name]
    after = sign_in_with_code_flow(meridian.url, customer["email"], customer["password"])
    _, claims, _ = unverified_parts(after.access_token)
    assert sorted(claims["roles"]) == sorted(["customer", name]) and "orders:read" in claims["permissions"]
    other = create_order(admin, create_user(admin)["id"]).json()
    # orders:read lets the clerk read anyone's order; the token issued before the change still cannot.
    assert requests.get(f"{meridian.url}/api/orders/{other['id']}", headers=bearer(after.access_token), timeout=TIMEOUT).status_code == 200
    assert requests.get(f"{meridian.url}/api/orders/{other['id']}", headers=bearer(before.access_token), timeout=TIMEOUT).status_code == 404
    assert_problem(admin.delete(f"/api/roles/{name}"), 409, "role-in-use")


def test_sigterm_stops_the_server_cleanly(meridian: Meridian) -> None:
    """Runs last for each engine: the server survived the attacks and shuts down with status 0."""
    meridian.assert_clean_shutdown()
