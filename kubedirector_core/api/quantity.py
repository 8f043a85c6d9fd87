"""Kubernetes resource quantities ("4Gi", "500m", "1e3", 2) as exact decimals.

The grammar is Kubernetes' own (``k8s.io/apimachinery/pkg/api/resource``): a
signed decimal number followed by an optional binary suffix (Ki..Ei), decimal
suffix (n, u, m, k, M, G, T, P, E) or decimal exponent (e3, E-2).
"""

from __future__ import annotations

import decimal
import re
from typing import Annotated, Final

from pydantic import PlainValidator, WithJsonSchema

#: The pattern a quantity written as a string must match (used in the CRDs too).
QUANTITY_PATTERN: Final = (
    r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$"
)

_QUANTITY_RE: Final = re.compile(QUANTITY_PATTERN)

_SUFFIX_FACTORS: Final = {
    "": decimal.Decimal(1),
    "n": decimal.Decimal("1e-9"),
    "u": decimal.Decimal("1e-6"),
    "m": decimal.Decimal("1e-3"),
    "k": decimal.Decimal("1e3"),
    "M": decimal.Decimal("1e6"),
    "G": decimal.Decimal("1e9"),
    "T": decimal.Decimal("1e12"),
    "P": decimal.Decimal("1e15"),
    "E": decimal.Decimal("1e18"),
    "Ki": decimal.Decimal(2**10),
    "Mi": decimal.Decimal(2**20),
    "Gi": decimal.Decimal(2**30),
    "Ti": decimal.Decimal(2**40),
    "Pi": decimal.Decimal(2**50),
    "Ei": decimal.Decimal(2**60),
}

# Kubernetes itself rejects exponents this large; bounding them keeps the
# arithmetic on a quantity cheap whatever a user writes.
_MAX_EXPONENT: Final = 100

#: The JSON schema of a quantity, as Kubernetes writes it for its own resources.
QUANTITY_SCHEMA: Final = {
    "x-kubernetes-int-or-string": True,
    "pattern": QUANTITY_PATTERN,
}


def parse_quantity(value: str | int) -> decimal.Decimal:
    """Return the exact value of a Kubernetes quantity ("4Gi" -> 4294967296).

    Raises :class:`ValueError` naming the value and showing valid examples when
    it is not a quantity.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a quantity: write a string such as '4Gi' or '2'")
    if isinstance(value, int):
        return decimal.Decimal(value)
    text = str(value).strip()
    match = _QUANTITY_RE.match(text)
    if match is None:
        raise ValueError(
            f"{value!r} is not a quantity: write a number with an optional unit, "
            "such as '4Gi', '512Mi', '2', '500m' or '1e3'"
        )
    number, _fraction, suffix = match.group(1), match.group(2), match.group(3) or ""
    sign = "-" if text.startswith("-") else ""
    amount = decimal.Decimal(sign + number)
    if suffix[:1] in ("e", "E") and len(suffix) > 1:
        exponent = int(suffix[1:])
        if abs(exponent) > _MAX_EXPONENT:
            raise ValueError(f"{value!r} is not a usable quantity: its exponent is too large")
        return amount.scaleb(exponent)
    return amount * _SUFFIX_FACTORS[suffix]


def _validated_quantity(value: object) -> int | str:
    """Accept a quantity as written (a string or an integer) unchanged, or raise ValueError."""
    if isinstance(value, float):
        raise ValueError(f"{value!r} is not a quantity: write decimals as a string, e.g. '{value}'")
    if not isinstance(value, (int, str)):
        raise ValueError(f"{value!r} is not a quantity: write a string such as '4Gi' or '500m'")
    parse_quantity(value)
    return value


#: A quantity as written on the wire: a string such as "4Gi" or a plain integer.
Quantity = Annotated[
    int | str,
    PlainValidator(_validated_quantity),
    WithJsonSchema(dict(QUANTITY_SCHEMA)),
]
