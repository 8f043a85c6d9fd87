"""X.509 builders shared by the webhook's TLS and the local control plane's PKI.

Both make certificates the same way: ECDSA P-256 keys, SHA-256 signatures, a
random serial, the subject ``O=<organizations>..., CN=<common name>``. What
differs (validity, CA path length, usages, alternative names, where the PEM
goes) is an argument: :mod:`kubedirector_core.runtime.webhooktls` keeps the
results in memory with an explicit clock, :mod:`kubedirector_core.devcluster.pki`
writes them to disk. This module depends on nothing of the project.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

__all__ = [
    "CA_KEY_USAGE",
    "general_name",
    "issue",
    "name",
    "pem_certificate",
    "pem_key",
    "self_signed_ca",
]

#: What a CA's key may do: sign certificates and CRLs (and digital signatures).
CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    key_cert_sign=True,
    crl_sign=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    encipher_only=False,
    decipher_only=False,
)


def name(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    """``O=<each organization>, CN=<common_name>``."""
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def general_name(host: str) -> x509.GeneralName:
    """An IP address entry for an address, a DNS name entry for anything else."""
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    """The private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def pem_certificate(cert: x509.Certificate) -> bytes:
    """The certificate as PEM."""
    return cert.public_bytes(serialization.Encoding.PEM)


def self_signed_ca(
    common_name: str, not_before: datetime, not_after: datetime, *, path_length: int | None
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new key and the self-signed CA certificate for it (key usage :data:`CA_KEY_USAGE`)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(common_name))
        .issuer_name(name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(CA_KEY_USAGE, critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    subject: x509.Name,
    not_before: datetime,
    not_after: datetime,
    *,
    usages: Sequence[x509.ObjectIdentifier],
    hosts: Sequence[str] = (),
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new key and a leaf certificate for it signed by ``ca_key``.

    ``usages`` are the extended key usages (e.g. server or client
    authentication); ``hosts`` (IP addresses or DNS names, see
    :func:`general_name`) become the subject alternative names, none if empty.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
    )
    if hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([general_name(host) for host in hosts]), critical=False
        )
    return key, builder.sign(ca_key, hashes.SHA256())
