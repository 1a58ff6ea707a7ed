"""Access tokens made outside the authorization server, to prove that the gateway and the services refuse every
one that breaks a rule, and only those.

Most forgeries need no secret: a real token with its payload changed, `alg: none`, HS256 keyed with the public
key (algorithm confusion), a key of our own under the server's `kid`. Tokens for another audience, another
issuer, or that have expired need the server's real signing key, or the refusal would only prove that the
signature is checked; the key is read from the users service's database (sealed at rest: it is opened with the
data directory's development master key), and a token minted with it under the correct claims must be *accepted*, which proves the
harness itself sound.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
import subprocess
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey

AUDIENCE = "meridian-api"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Header, claims and signature of a compact JWS, read without verifying anything."""
    header, payload, signature = token.split(".")
    pad = lambda part: part + "=" * (-len(part) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
        signature,
    )


@dataclass
class SigningKey:
    kid: str
    pem: str

    def mint(self, claims: dict[str, Any], kid: str | None = None) -> str:
        header = {"alg": "ES256", "typ": "JWT", "kid": kid or self.kid}
        return jwt.encode(header, claims, ECKey.import_key(self.pem), algorithms=["ES256"])


def _query(engine: str, data_dir: Path, database_url: str | None, psql: str, sqlite_sql: str, pg_sql: str) -> list[list[str]]:
    """Rows of a query on the users service's database, every value as text."""
    if engine == "sqlite":
        with sqlite3.connect(f"file:{data_dir / 'users.sqlite'}?mode=ro", uri=True) as connection:
            return [[str(value) for value in row] for row in connection.execute(sqlite_sql).fetchall()]
    assert database_url is not None
    parts = urllib.parse.urlsplit(database_url)
    libpq = urllib.parse.urlunsplit(
        (parts.scheme, parts.netloc, parts.path, urllib.parse.urlencode(
            [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "schema"]), "")
    )
    output = subprocess.run(
        [psql, "-X", "-A", "-t", "-F", "\t", "-d", libpq, "-c", pg_sql],
        check=True, capture_output=True, text=True,
    ).stdout
    return [line.split("\t") for line in output.splitlines() if line.strip()]


def _length_prefixed(part: str) -> bytes:
    data = part.encode()
    return len(data).to_bytes(4, "big") + data


def current_signing_key(engine: str, data_dir: Path, database_url: str | None, psql: str) -> SigningKey:
    """The users service's newest active signing key, from its SQLite file or its PostgreSQL schema.

    The private key is stored sealed (docs/data-protection.md): the master key (the development key `serve`
    generated in the data directory) unwraps the users service's data keys, which open the PEM. Doing this with
    the `cryptography` package, from the documented format alone, also checks that format independently.
    """
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    master = base64.b64decode((data_dir / "master.key").read_text().strip())
    data_keys: dict[int, bytes] = {}
    for version, wrapped in _query(
        engine, data_dir, database_url, psql,
        "SELECT version, hex(wrapped) FROM meridian_data_keys WHERE purpose = 'data' AND wrapped IS NOT NULL",
        "SELECT version, encode(wrapped, 'hex') FROM users.meridian_data_keys "
        "WHERE purpose = 'data' AND wrapped IS NOT NULL",
    ):
        blob = bytes.fromhex(wrapped)
        data_keys[int(version)] = AESGCM(master).decrypt(
            blob[:12], blob[12:], f"meridian-data-key|users|data|{version}".encode())
    rows = _query(
        engine, data_dir, database_url, psql,
        "SELECT kid, hex(private_key) FROM signing_keys WHERE retired_at IS NULL "
        "ORDER BY created_at DESC, kid DESC LIMIT 1",
        "SELECT kid, encode(private_key, 'hex') FROM users.signing_keys WHERE retired_at IS NULL "
        "ORDER BY created_at DESC, kid DESC LIMIT 1",
    )
    assert rows, "the users service has no active signing key"
    kid, sealed_hex = rows[0][0].strip(), rows[0][1].strip()
    sealed = bytes.fromhex(sealed_hex)
    version = int.from_bytes(sealed[:4], "big")
    aad = b"meridian-field-v1" + sealed[:4] + b"".join(
        _length_prefixed(part) for part in ("users", "signing_keys", "private_key", kid))
    pem = AESGCM(data_keys[version]).decrypt(sealed[4:16], sealed[16:], aad).decode()
    assert pem.startswith("-----BEGIN"), "the opened signing key is not PEM"
    return SigningKey(kid=kid, pem=pem)


def claims_like(token: str, **changes: Any) -> dict[str, Any]:
    """The claims of a real token with `changes` applied (a value of None removes the claim)."""
    _, claims, _ = unverified_parts(token)
    claims = dict(claims)
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def fresh_times(lifetime: int = 600) -> dict[str, int]:
    now = int(time.time())
    return {"iat": now, "nbf": now, "exp": now + lifetime}


def with_payload(token: str, claims: dict[str, Any]) -> str:
    """The token with another payload and its original signature: a tampered token."""
    header, _, signature = token.split(".")
    return f"{header}.{b64url_json(claims)}.{signature}"


def unsigned(token: str) -> str:
    """`alg: none` with the same claims and an empty signature."""
    header, claims, _ = unverified_parts(token)
    return f"{b64url_json({**header, 'alg': 'none'})}.{b64url_json(claims)}."


def hs256_with_public_key(token: str, public_jwk: dict[str, Any]) -> str:
    """Algorithm confusion: HS256, keyed with the issuer's public key as published."""
    header, claims, _ = unverified_parts(token)
    signing_input = f"{b64url_json({**header, 'alg': 'HS256'})}.{b64url_json(claims)}"
    secret = json.dumps(public_jwk, sort_keys=True).encode()
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def signed_by_stranger(token: str) -> str:
    """The same claims and `kid`, signed by a P-256 key the issuer never had."""
    header, claims, _ = unverified_parts(token)
    stranger = ECKey.generate_key("P-256")
    return jwt.encode({"alg": "ES256", "typ": "JWT", "kid": header["kid"]}, claims, stranger, algorithms=["ES256"])
