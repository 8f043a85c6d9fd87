"""The admission webhook's TLS, self-managed: a CA, a serving certificate, rotation.

Without cert-manager the operator keeps everything in one Secret of its own
namespace (``kubedirector-webhook-tls``): a CA, the serving certificate it
signed for ``<service>.<namespace>.svc``, and the *bundle*, the PEM list of
every CA the API server must trust (the webhook configurations' ``caBundle``).

:func:`rotate` is pure (the clock is an argument) and decides what changes:

* nothing yet: a new CA (:data:`CA_VALIDITY`) and serving certificate
  (:data:`SERVING_VALIDITY`);
* the serving certificate has less than a third of its lifetime left, names
  other hosts, or was signed by another CA: a new one, signed by the CA;
* the CA has less than a third of its lifetime left: a *next* CA is made and
  added to the bundle, but signs nothing yet. Only after
  :data:`CA_PROMOTE_AFTER` (long enough for every replica to have put the new
  bundle into the configurations, which they re-check every few minutes) does
  it become the CA and sign a new serving certificate. The old CA stays in the
  bundle until it expires, so a replica still serving the old certificate is
  trusted all along;
* CAs in the bundle that have expired are dropped; a CA found already expired
  (no replica ran during its last third) is replaced at once.

Because the bundle of a Secret only ever *grows* before a new CA signs
anything, any replica may write the Secret and the configurations: two
replicas racing write the same content or one loses with 409 and re-reads
(:mod:`kubedirector_core.runtime.webhook` does that).

The certificates here are kept in memory with an explicit clock; they are
built by :mod:`kubedirector_core.tlsutil`, which also builds the local control
plane's (:mod:`kubedirector_core.devcluster.pki`, on disk and for today only).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from kubedirector_core import tlsutil

#: How long a CA is valid; a next one is made when a third of this is left.
CA_VALIDITY = timedelta(days=5 * 365)
#: How long a serving certificate is valid; renewed when a third of this is left.
SERVING_VALIDITY = timedelta(days=90)
#: How long a next CA is only published in the bundle before it signs.
CA_PROMOTE_AFTER = timedelta(days=1)
#: Certificates start this long before "now", for clocks that lag.
_SKEW = timedelta(minutes=5)

#: The Secret's keys.
CA_CERT, CA_KEY = "ca.crt", "ca.key"
NEXT_CA_CERT, NEXT_CA_KEY = "next-ca.crt", "next-ca.key"
TLS_CERT, TLS_KEY = "tls.crt", "tls.key"
BUNDLE = "bundle.crt"


@dataclass(frozen=True)
class KeyPair:
    """A PEM certificate and its PEM private key, in memory."""

    cert: bytes
    key: bytes

    @property
    def certificate(self) -> x509.Certificate:
        """The parsed certificate."""
        return x509.load_pem_x509_certificate(self.cert)

    def remaining(self, now: datetime) -> timedelta:
        """Time left before it expires."""
        return self.certificate.not_valid_after_utc - now

    def lifetime(self) -> timedelta:
        """Its whole validity period."""
        cert = self.certificate
        return cert.not_valid_after_utc - cert.not_valid_before_utc


@dataclass(frozen=True)
class Material:
    """Everything the Secret holds."""

    #: Signs the serving certificate.
    ca: KeyPair
    #: The serving certificate (``tls.crt``/``tls.key``).
    serving: KeyPair
    #: Every CA the API server must trust, PEM concatenated (the caBundle).
    bundle: bytes
    #: A CA published in the bundle that signs nothing yet (see the module docstring).
    next_ca: KeyPair | None = None

    def to_data(self) -> dict[str, str]:
        """The Secret's ``data`` (base64 values)."""
        raw = {
            CA_CERT: self.ca.cert,
            CA_KEY: self.ca.key,
            TLS_CERT: self.serving.cert,
            TLS_KEY: self.serving.key,
            BUNDLE: self.bundle,
        }
        if self.next_ca is not None:
            raw[NEXT_CA_CERT] = self.next_ca.cert
            raw[NEXT_CA_KEY] = self.next_ca.key
        return {key: base64.b64encode(value).decode() for key, value in raw.items()}

    @classmethod
    def from_data(cls, data: Mapping[str, str]) -> Material | None:
        """Read a Secret's ``data``; ``None`` when a key is missing (then it is remade)."""
        try:
            raw = {key: base64.b64decode(value) for key, value in data.items()}
            material = cls(
                ca=KeyPair(raw[CA_CERT], raw[CA_KEY]),
                serving=KeyPair(raw[TLS_CERT], raw[TLS_KEY]),
                bundle=raw[BUNDLE],
                next_ca=(
                    KeyPair(raw[NEXT_CA_CERT], raw[NEXT_CA_KEY]) if NEXT_CA_CERT in raw else None
                ),
            )
            material.ca.certificate  # noqa: B018 (parses: a damaged Secret is remade)
            material.serving.certificate  # noqa: B018
        except (KeyError, ValueError):
            return None
        return material


def new_ca(common_name: str, now: datetime, validity: timedelta = CA_VALIDITY) -> KeyPair:
    """A self-signed CA valid from ``now`` (less the skew) for ``validity``."""
    key, cert = tlsutil.self_signed_ca(common_name, now - _SKEW, now + validity, path_length=0)
    return KeyPair(tlsutil.pem_certificate(cert), tlsutil.pem_key(key))


def issue_serving(
    ca: KeyPair, dns_names: Sequence[str], now: datetime, validity: timedelta = SERVING_VALIDITY
) -> KeyPair:
    """A serving certificate for ``dns_names`` signed by ``ca``, never outliving it."""
    ca_key = serialization.load_pem_private_key(ca.key, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the webhook CA's key is not an ECDSA key")
    ca_cert = ca.certificate
    key, cert = tlsutil.issue(
        ca_key,
        ca_cert,
        tlsutil.name(dns_names[0]),
        now - _SKEW,
        min(now + validity, ca_cert.not_valid_after_utc),
        usages=[ExtendedKeyUsageOID.SERVER_AUTH],
        hosts=dns_names,
    )
    return KeyPair(tlsutil.pem_certificate(cert), tlsutil.pem_key(key))


def bundle_certificates(bundle: bytes) -> list[x509.Certificate]:
    """The certificates of a PEM bundle, in order."""
    return x509.load_pem_x509_certificates(bundle) if bundle.strip() else []


def _bundle(certificates: Sequence[x509.Certificate]) -> bytes:
    seen: list[x509.Certificate] = []
    for cert in certificates:
        if cert not in seen:
            seen.append(cert)
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in seen)


def service_names(namespace: str, name: str) -> list[str]:
    """The DNS names the API server may use for a Service: it verifies ``<name>.<ns>.svc``."""
    return [f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"]


def rotate(
    material: Material | None, dns_names: Sequence[str], now: datetime
) -> tuple[Material, list[str]]:
    """The material as it should be at ``now``, and why it changed (empty: unchanged).

    Pure: the same input gives an equal result, except that new keys are random.
    """
    common_name = f"kubedirector-webhook-ca@{int(now.timestamp())}"
    if material is None:
        ca = new_ca(common_name, now)
        serving = issue_serving(ca, dns_names, now)
        return Material(ca, serving, _bundle([ca.certificate])), ["created a CA and certificate"]
    reasons: list[str] = []
    result = material
    live = [cert for cert in bundle_certificates(result.bundle) if cert.not_valid_after_utc > now]
    if len(live) != len(bundle_certificates(result.bundle)):
        reasons.append("dropped expired CAs from the bundle")
    trusted = [result.ca.certificate, *live]
    if result.next_ca is not None:
        trusted.append(result.next_ca.certificate)
    result = replace(result, bundle=_bundle(trusted))
    if result.ca.remaining(now) <= timedelta(0) and result.next_ca is None:
        # Nothing ran for the CA's last third: nothing trusts an expired CA anyway.
        fresh = new_ca(common_name, now)
        result = replace(result, ca=fresh, bundle=_bundle([*live, fresh.certificate]))
        reasons.append("replaced the expired CA")
    elif result.next_ca is None and result.ca.remaining(now) < result.ca.lifetime() / 3:
        next_ca = new_ca(common_name, now)
        result = replace(result, next_ca=next_ca, bundle=_bundle([*trusted, next_ca.certificate]))
        reasons.append("made the next CA and published it in the bundle")
    elif result.next_ca is not None and (
        now - (result.next_ca.certificate.not_valid_before_utc + _SKEW) >= CA_PROMOTE_AFTER
        or result.ca.remaining(now) <= timedelta(0)
    ):
        result = replace(result, ca=result.next_ca, next_ca=None)
        reasons.append("the next CA now signs")
    serving_cert = result.serving.certificate
    names = serving_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    if (
        result.serving.remaining(now) < result.serving.lifetime() / 3
        or sorted(names.get_values_for_type(x509.DNSName)) != sorted(dns_names)
        or serving_cert.issuer != result.ca.certificate.subject
    ):
        result = replace(result, serving=issue_serving(result.ca, dns_names, now))
        reasons.append("renewed the serving certificate")
    if result.bundle != material.bundle and not reasons:
        reasons.append("rewrote the bundle")
    return (result if reasons else material), reasons
