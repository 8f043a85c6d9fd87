"""Self-managed webhook TLS: what :func:`rotate` renews, and when, on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509

from kubedirector_core.runtime.webhooktls import (
    CA_PROMOTE_AFTER,
    CA_VALIDITY,
    SERVING_VALIDITY,
    Material,
    bundle_certificates,
    rotate,
    service_names,
)

NAMES = service_names("kubedirector", "kubedirector-webhook")
START = datetime(2026, 1, 1, tzinfo=UTC)


def dns_names(material: Material) -> list[str]:
    extension = material.serving.certificate.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    return extension.value.get_values_for_type(x509.DNSName)


def verifies(ca: x509.Certificate, cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, x509.InvalidSignature):
        return False
    return True


def test_nothing_yet_makes_a_ca_and_a_certificate_for_the_service() -> None:
    material, reasons = rotate(None, NAMES, START)
    assert reasons == ["created a CA and certificate"]
    assert dns_names(material) == [
        "kubedirector-webhook.kubedirector.svc",
        "kubedirector-webhook.kubedirector.svc.cluster.local",
    ]
    assert verifies(material.ca.certificate, material.serving.certificate)
    assert bundle_certificates(material.bundle) == [material.ca.certificate]
    # The Secret round trip keeps everything.
    assert Material.from_data(material.to_data()) == material


def test_a_fresh_certificate_is_left_alone() -> None:
    material, _ = rotate(None, NAMES, START)
    again, reasons = rotate(material, NAMES, START + SERVING_VALIDITY / 2)
    assert reasons == []
    assert again is material


def test_a_serving_certificate_with_less_than_a_third_left_is_renewed_by_the_same_ca() -> None:
    material, _ = rotate(None, NAMES, START)
    now = START + SERVING_VALIDITY * 2 / 3 + timedelta(hours=1)
    renewed, reasons = rotate(material, NAMES, now)
    assert reasons == ["renewed the serving certificate"]
    assert renewed.ca == material.ca, "the CA is kept"
    assert renewed.bundle == material.bundle, "the caBundle does not change"
    assert renewed.serving != material.serving
    assert renewed.serving.remaining(now) > SERVING_VALIDITY - timedelta(minutes=1)
    assert verifies(material.ca.certificate, renewed.serving.certificate)


def test_other_service_names_get_a_new_certificate() -> None:
    material, _ = rotate(None, NAMES, START)
    moved, reasons = rotate(material, service_names("ops", "kd"), START)
    assert reasons == ["renewed the serving certificate"]
    assert dns_names(moved) == ["kd.ops.svc", "kd.ops.svc.cluster.local"]


def test_a_ca_near_expiry_is_replaced_with_both_in_the_bundle_during_the_overlap() -> None:
    material, _ = rotate(None, NAMES, START)
    old_ca = material.ca.certificate
    # Keep the serving certificate fresh as the operator would, up to the CA's last third.
    now = START + CA_VALIDITY * 2 / 3 + timedelta(days=1)
    published, reasons = rotate(material, NAMES, now)
    assert "made the next CA and published it in the bundle" in reasons
    assert published.next_ca is not None
    new_ca = published.next_ca.certificate
    assert bundle_certificates(published.bundle) == [old_ca, new_ca]
    # Until the bundle has had time to reach the configurations, the old CA still signs.
    assert published.ca.certificate == old_ca
    assert verifies(old_ca, published.serving.certificate)
    waiting, reasons = rotate(published, NAMES, now + CA_PROMOTE_AFTER / 2)
    assert "the next CA now signs" not in reasons
    assert waiting.ca.certificate == old_ca

    later = now + CA_PROMOTE_AFTER + timedelta(minutes=1)
    promoted, reasons = rotate(waiting, NAMES, later)
    assert reasons == ["the next CA now signs", "renewed the serving certificate"]
    assert promoted.ca.certificate == new_ca
    assert promoted.next_ca is None
    assert verifies(new_ca, promoted.serving.certificate)
    # Both CAs stay trusted: a replica still serving the old certificate keeps working.
    assert bundle_certificates(promoted.bundle) == [old_ca, new_ca]

    # Once the old CA has expired it leaves the bundle; the new one stays.
    after_expiry = old_ca.not_valid_after_utc + timedelta(minutes=1)
    cleaned, reasons = rotate(promoted, NAMES, after_expiry)
    assert "dropped expired CAs from the bundle" in reasons
    assert bundle_certificates(cleaned.bundle) == [new_ca]
    assert cleaned.ca.certificate == new_ca


def test_a_damaged_secret_is_remade() -> None:
    material, _ = rotate(None, NAMES, START)
    data = material.to_data()
    del data["tls.key"]
    assert Material.from_data(data) is None
    assert Material.from_data({**material.to_data(), "tls.crt": "bm90IGEgY2VydA=="}) is None


def test_an_expired_ca_is_replaced_at_once() -> None:
    material, _ = rotate(None, NAMES, START)
    now = START + CA_VALIDITY + timedelta(days=1)
    replaced, reasons = rotate(material, NAMES, now)
    assert reasons[:2] == ["dropped expired CAs from the bundle", "replaced the expired CA"]
    assert "renewed the serving certificate" in reasons
    assert replaced.ca != material.ca
    assert bundle_certificates(replaced.bundle) == [replaced.ca.certificate]
    assert verifies(replaced.ca.certificate, replaced.serving.certificate)
