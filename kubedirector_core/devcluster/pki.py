"""Certificates for the local control plane: one CA, a certificate per component.

Every component gets its own key and certificate signed by a CA generated for
this control plane alone, so that the API server authenticates each of them by
name (``system:kube-scheduler``...) and RBAC applies as in a real cluster.
Keys are ECDSA P-256 (fast to generate); the service-account signing key is RSA
because that is what every Kubernetes release accepts. The certificates are
built by :mod:`kubedirector_core.tlsutil`, as the admission webhook's are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from kubedirector_core import tlsutil

_VALIDITY = timedelta(days=365)
_PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class KeyPair:
    """Paths of a PEM certificate and its PEM private key."""

    cert: Path
    key: Path


def _write_key(key: _PrivateKey, path: Path) -> None:
    path.write_bytes(tlsutil.pem_key(key))
    path.chmod(0o600)


class CertificateAuthority:
    """A CA kept on disk in ``directory`` (``ca.crt``, ``ca.key``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.cert_path = directory / "ca.crt"
        self.key_path = directory / "ca.key"

    def exists(self) -> bool:
        """True when the CA's certificate and key are already on disk."""
        return self.cert_path.exists() and self.key_path.exists()

    def create(self, common_name: str = "kubedirector-devcluster-ca") -> None:
        """Generate a fresh self-signed CA, replacing any on disk."""
        self.directory.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        key, cert = tlsutil.self_signed_ca(
            common_name, now - timedelta(minutes=5), now + _VALIDITY * 5, path_length=None
        )
        _write_key(key, self.key_path)
        self.cert_path.write_bytes(tlsutil.pem_certificate(cert))

    def issue(
        self,
        name: str,
        common_name: str,
        organizations: tuple[str, ...] = (),
        *,
        server_hosts: tuple[str, ...] = (),
        client: bool = True,
    ) -> KeyPair:
        """Issue a certificate into ``<directory>/<name>.crt`` and ``.key``.

        ``server_hosts`` (IP addresses or DNS names) make it a serving
        certificate too; ``client`` allows client authentication.
        """
        ca_key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        ca_cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        now = datetime.now(UTC)
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
        if server_hosts:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        key, cert = tlsutil.issue(
            ca_key,
            ca_cert,
            tlsutil.name(common_name, organizations),
            now - timedelta(minutes=5),
            now + _VALIDITY,
            usages=usages,
            hosts=server_hosts,
        )
        pair = KeyPair(self.directory / f"{name}.crt", self.directory / f"{name}.key")
        _write_key(key, pair.key)
        pair.cert.write_bytes(tlsutil.pem_certificate(cert))
        return pair


def write_service_account_keys(directory: Path) -> KeyPair:
    """Write the RSA key pair that signs service-account tokens (``sa.pub``, ``sa.key``)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pair = KeyPair(directory / "sa.pub", directory / "sa.key")
    _write_key(key, pair.key)
    pair.cert.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return pair
