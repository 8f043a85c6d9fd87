"""The local control plane's PKI: a CA on disk and the certificates it issues to components."""

from __future__ import annotations

import ipaddress
import ssl
import stat
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubedirector_core.devcluster.pki import CertificateAuthority, write_service_account_keys


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_a_component_certificate_names_its_user_and_groups_and_chains_to_the_ca(
    tmp_path: Path,
) -> None:
    ca = CertificateAuthority(tmp_path)
    assert not ca.exists()
    ca.create()
    assert ca.exists()
    pair = ca.issue("client-admin", "kubernetes-admin", ("system:masters",))

    ca_cert, cert = _load(ca.cert_path), _load(pair.cert)
    cert.verify_directly_issued_by(ca_cert)
    assert ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubernetes-admin"
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        "system:masters"
    ]
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    # Private keys are readable by their owner only.
    for key in (ca.key_path, pair.key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    # Python's own TLS stack loads the CA and the pair (the key matches the certificate).
    context = ssl.create_default_context(cafile=str(ca.cert_path))
    context.load_cert_chain(pair.cert, pair.key)


def test_a_serving_certificate_names_addresses_as_ip_and_hosts_as_dns(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path)
    ca.create()
    pair = ca.issue(
        "apiserver", "kube-apiserver", server_hosts=("127.0.0.1", "localhost"), client=False
    )

    cert = _load(pair.cert)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_service_account_keys_are_an_rsa_pair(tmp_path: Path) -> None:
    pair = write_service_account_keys(tmp_path / "pki")
    assert pair.cert.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert pair.key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE(pair.key.stat().st_mode) == 0o600
