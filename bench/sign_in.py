#!/usr/bin/env python3
"""Prints an access token of an account of a running Meridian, obtained the way a person's app obtains one: the
authorization code flow with PKCE through the built-in public client `meridian-cli`, the sign-in form fetched,
its CSRF token read and the form submitted with the CSRF cookie. Standard library only.

    MERIDIAN_TLS_CA_FILE=data/tls/ca.pem bench/sign_in.py https://127.0.0.1:8080 admin@meridian.local PASSWORD
"""

from __future__ import annotations

import base64
import hashlib
import http.cookiejar
import json
import os
import re
import secrets
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request

CLIENT_ID = "meridian-cli"
# Registered as http://127.0.0.1/callback; a loopback redirect may use any port (RFC 8252 section 7.3). Nothing
# listens there: the code is read from the redirect, which is not followed.
REDIRECT_URI = "http://127.0.0.1:8765/callback"


class KeepRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def main(base: str, email: str, password: str) -> str:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    request = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    # Verified TLS 1.3 against the CA in MERIDIAN_TLS_CA_FILE (serve's data/tls/ca.pem), else the system's roots.
    tls = ssl.create_default_context(cafile=os.environ.get("MERIDIAN_TLS_CA_FILE") or None)
    tls.minimum_version = ssl.TLSVersion.TLSv1_3
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), KeepRedirects(),
        urllib.request.HTTPSHandler(context=tls),
    )
    page = opener.open(f"{base}/oauth/authorize?{urllib.parse.urlencode(request)}", timeout=30).read().decode()
    csrf = re.search(r'name="csrf_token" value="([A-Za-z0-9_-]+)"', page)
    if not csrf:
        raise SystemExit("sign_in.py: the sign-in page has no CSRF token")
    form = urllib.parse.urlencode({**request, "csrf_token": csrf.group(1), "email": email, "password": password})
    try:
        opener.open(f"{base}/oauth/authorize", data=form.encode(), timeout=30)
        raise SystemExit("sign_in.py: the sign-in was not redirected back (wrong credentials?)")
    except urllib.error.HTTPError as redirect:
        if redirect.code != 302:
            raise SystemExit(f"sign_in.py: the sign-in answered {redirect.code}") from None
        location = redirect.headers["Location"]
    returned = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    if returned.get("state") != state or "code" not in returned:
        raise SystemExit(f"sign_in.py: unexpected redirect {location}")
    exchange = urllib.parse.urlencode(
        {
            "grant_type": "authorization_code",
            "code": returned["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
            "client_id": CLIENT_ID,
        }
    )
    tokens = json.loads(opener.open(f"{base}/oauth/token", data=exchange.encode(), timeout=30).read())
    return tokens["access_token"]


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    print(main(*sys.argv[1:]))
