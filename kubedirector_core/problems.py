"""A problem found in a resource: where it is and what is wrong.

Validation rules, plugin ``validate`` hooks, the CLI, the admission webhook and
the reconciler all speak in :class:`Problem` values, so that one message reads
the same wherever it is caught.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """How bad a problem is: errors reject a resource, warnings only inform."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a resource.

    ``path`` is a dotted field path in the resource as written on the wire,
    with list indices in brackets (``spec.roles[1].members``); an empty path
    means the resource as a whole. ``message`` says what is wrong and what to
    do about it, in a sentence a person can act on.
    """

    path: str
    message: str
    severity: Severity = Severity.ERROR
    #: The plugin that reported the problem, or ``None`` for the core's own rules.
    source: str | None = None

    def __str__(self) -> str:
        where = self.path or "(resource)"
        return f"{where}: {self.message}"

    @property
    def is_error(self) -> bool:
        """True when the problem rejects the resource."""
        return self.severity is Severity.ERROR
