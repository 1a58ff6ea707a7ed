"""TLS 1.3 on every listener, checked with tools nobody here wrote: sslyze (PyPI) against Mozilla's "modern"
profile, and OpenSSL's `s_client` for the protocol versions; the certificate the gateway presents must chain to
the development CA that `serve` made and must follow that CA's rules (at most 90 days, the loopback names).
"""

from __future__ import annotations

import base64
import datetime
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from conftest import Meridian

TIMEOUT = 120


def sslyze_command() -> list[str]:
    """sslyze from the suite's virtual environment (pinned in requirements.txt)."""
    beside = Path(sys.executable).with_name("sslyze")
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "sslyze"]


def listeners(meridian: Meridian) -> dict[str, int]:
    """The gateway and one service behind it."""
    return {"gateway": meridian.gateway_port, "orders": meridian.internal_base + 1}


@pytest.mark.parametrize("listener", ["gateway", "orders"])
def test_sslyze_mozilla_modern_profile_passes(meridian: Meridian, listener: str) -> None:
    port = listeners(meridian)[listener]
    result = subprocess.run(
        [*sslyze_command(), "--mozilla_config=modern", f"--certinfo_ca_file={meridian.ca_path}", f"localhost:{port}"],
        capture_output=True, text=True, timeout=TIMEOUT,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"sslyze found {listener} not compliant with Mozilla's modern profile:\n{output}"
    assert "OK - Compliant" in output, output
    assert "TLS_AES_128_GCM_SHA256" in output, "TLS 1.3 cipher suites are offered"


def openssl() -> str:
    found = shutil.which("openssl")
    if not found:
        pytest.fail("openssl not found: apt-get install openssl (scripts/test does)")
    return found


def s_client(port: int, *options: str, ca: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [openssl(), "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost", *options]
    if ca is not None:
        command += ["-CAfile", str(ca), "-verify_return_error", "-verify_hostname", "localhost"]
    return subprocess.run(command, input="", capture_output=True, text=True, timeout=TIMEOUT)


@pytest.mark.parametrize("listener", ["gateway", "orders"])
def test_tls_1_2_is_refused(meridian: Meridian, listener: str) -> None:
    result = s_client(listeners(meridian)[listener], "-tls1_2")
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"a TLS 1.2 handshake succeeded:\n{output}"
    assert "protocol version" in output, output
    assert "Cipher is (NONE)" in output


@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
def test_older_versions_are_refused(meridian: Meridian, version: str) -> None:
    result = s_client(meridian.gateway_port, version)
    assert result.returncode != 0, result.stdout


@pytest.mark.parametrize("listener", ["gateway", "orders"])
def test_tls_1_3_works_and_verifies_against_the_development_ca(meridian: Meridian, listener: str) -> None:
    result = s_client(listeners(meridian)[listener], "-tls1_3", ca=meridian.ca_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Protocol  : TLSv1.3" in output or "New, TLSv1.3" in output, output
    assert "Verify return code: 0 (ok)" in output, output


def test_the_gateway_certificate_chains_to_the_generated_ca(meridian: Meridian) -> None:
    ca = x509.load_pem_x509_certificate(meridian.ca_path.read_bytes())
    result = s_client(meridian.gateway_port, "-tls1_3", "-showcerts", ca=meridian.ca_path)
    assert result.returncode == 0, result.stderr
    served = x509.load_pem_x509_certificates(
        "".join(result.stdout.partition("-----BEGIN CERTIFICATE-----")[1:]).encode()
    )
    leaf = served[0]
    # Signed by the CA's key, and named as issued by it.
    leaf.verify_directly_issued_by(ca)
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey) and ca.public_key().curve.name == "secp256r1"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # The leaf: at most 90 days, a server certificate, valid for the loopback names.
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert lifetime <= datetime.timedelta(days=90), lifetime
    assert leaf.not_valid_after_utc - datetime.datetime.now(datetime.UTC) > datetime.timedelta(days=30)
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH]
    )
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert {str(address) for address in names.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", "::1"}


def test_generated_files_are_private(meridian: Meridian) -> None:
    """The CA key and the leaf key (and the certificates beside them) are 0600 in a 0700 directory."""
    assert oct(meridian.tls_dir.stat().st_mode & 0o777) == oct(0o700)
    for name in ("ca.pem", "ca-key.pem", "server.pem", "server-key.pem"):
        assert oct((meridian.tls_dir / name).stat().st_mode & 0o777) == oct(0o600), name


def test_serve_prints_the_ca_path_at_start_up(meridian: Meridian) -> None:
    log = meridian.log_path.read_text(errors="replace")
    assert str(meridian.ca_path) in log, "serve names the CA certificate to trust at start-up"


def test_a_client_without_the_ca_is_refused(meridian: Meridian) -> None:
    """Verification is on for clients too: certifi's public roots do not include the development CA."""
    import certifi

    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{meridian.url}/healthz", timeout=10, verify=certifi.where())
    assert requests.get(f"{meridian.url}/healthz", timeout=10, verify=str(meridian.ca_path)).status_code == 200


def test_sigterm_stops_the_server_cleanly(meridian: Meridian) -> None:
    meridian.assert_clean_shutdown()


# --- PostgreSQL over TLS ------------------------------------------------------------------------------------------


def _other_ca(directory: Path) -> Path:
    """A CA that signed nothing Meridian or PostgreSQL serves."""
    from cryptography.hazmat.primitives import hashes, serialization

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "Unrelated CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = directory / "other-ca.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def test_postgres_over_tls_verifies_the_server(meridian: Meridian, tmp_path: Path) -> None:
    """A PostgreSQL with `ssl = on` (TLS 1.3 minimum) and a certificate from the development CA: `meridian migrate`
    connects with `sslmode=verify-full&sslrootcert=<that CA>`, and refuses the same server with another CA, or
    with `sslmode=require` and only the system's roots (require never skips verification)."""
    if meridian.engine != "postgres":
        pytest.skip("runs once, in the PostgreSQL module")
    import pwd

    from conftest import REPO, meridian_binary

    name = "tls-interop"
    script = REPO / "scripts" / "start-postgres"
    url_file = tmp_path / "url"
    started = subprocess.run(
        [str(script), "--name", name, "--fresh", "--url-file", str(url_file)], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert started.returncode == 0, started.stderr
    try:
        data = (REPO / ".tmp" / "pg" / name).resolve()
        for source, target in (("server.pem", "server.crt"), ("server-key.pem", "server.key")):
            shutil.copyfile(meridian.tls_dir / source, data / target)
            os.chmod(data / target, 0o600)
            if os.getuid() == 0:
                owner = pwd.getpwnam("postgres")
                os.chown(data / target, owner.pw_uid, owner.pw_gid)
        plain = url_file.read_text().strip()
        from conftest import _psql

        subprocess.run(
            [_psql(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", plain, "-c", "ALTER SYSTEM SET ssl = on",
             "-c", "ALTER SYSTEM SET ssl_min_protocol_version = 'TLSv1.3'", "-c", "SELECT pg_reload_conf()"],
            check=True, capture_output=True, timeout=TIMEOUT,
        )
        base = plain.split("?")[0]
        env = {**os.environ, "MERIDIAN_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}

        def migrate(query: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(meridian_binary()), "migrate", "--service", "orders", "--database-url", f"{base}?{query}"],
                capture_output=True, text=True, timeout=TIMEOUT, env=env,
            )

        verified = migrate(f"sslmode=verify-full&sslrootcert={meridian.ca_path}")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        stranger = migrate(f"sslmode=verify-full&sslrootcert={_other_ca(tmp_path)}")
        assert stranger.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in stranger.stdout + stranger.stderr
        system_roots = migrate("sslmode=require")
        assert system_roots.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in system_roots.stdout + system_roots.stderr
    finally:
        subprocess.run([str(script), "--name", name, "--stop"], capture_output=True, timeout=TIMEOUT)
