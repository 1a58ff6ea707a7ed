#!/usr/bin/env python3
"""Makes the signing key, its JWKS and one access token for bench/gateway-compare.

    gateway-compare-token.py OUT_DIR ISSUER

writes OUT_DIR/jwks.json (what the stand-in users service, nginx, serves) and prints an ES256 access token with
Meridian's claims (docs/identity.md), valid for an hour. The key exists only for the benchmark run.
"""
import base64, json, sys, time, uuid
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives import hashes


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


out, issuer = sys.argv[1], sys.argv[2]
key = ec.generate_private_key(ec.SECP256R1())
numbers = key.public_key().public_numbers()
kid = "bench-" + uuid.uuid4().hex[:8]
jwk = {"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
       "x": b64(numbers.x.to_bytes(32, "big")), "y": b64(numbers.y.to_bytes(32, "big"))}
with open(f"{out}/jwks.json", "w") as f:
    json.dump({"keys": [jwk]}, f)
now = int(time.time())
claims = {"iss": issuer, "sub": "usr_bench", "aud": ["meridian-api"], "iat": now, "nbf": now, "exp": now + 3600,
          "jti": "tok_" + uuid.uuid4().hex, "client_id": "cli_bench", "scope": "openid",
          "roles": ["admin"], "permissions": ["orders:read"]}
header = {"alg": "ES256", "typ": "JWT", "kid": kid}
signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
print(signing_input + "." + b64(r.to_bytes(32, "big") + s.to_bytes(32, "big")))
