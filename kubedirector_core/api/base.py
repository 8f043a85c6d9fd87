"""The base of every model: KubeDirector's wire names, exact round trips.

Attributes are snake_case in Python and carry KubeDirector's exact wire name as
their alias (``distro_id`` <-> ``distroID``). :meth:`WireModel.to_wire` gives
back what was read: fields that were absent stay absent and an explicit
``null`` stays ``null`` (KubeDirector gives ``defaultConfigPackage: null`` a
meaning of its own).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP = "kubedirector.hpe.com"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"


class WireModel(BaseModel):
    """A part of a resource as written on the wire; unknown fields are errors."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        validate_by_alias=True,
        validate_by_name=True,
        extra="forbid",
    )

    def to_wire(self) -> dict[str, Any]:
        """Return the document as written on the wire, with KubeDirector's field names."""
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")

    @classmethod
    def from_wire(cls, document: Mapping[str, Any]) -> Self:
        """Build the model from a wire document; raises pydantic's ``ValidationError``."""
        return cls.model_validate(document)


class OpenWireModel(WireModel):
    """A part where KubeDirector keeps unknown fields (its CRD preserves them).

    Unknown fields are kept, round-trip unchanged, and are reported by the
    validator as warnings.
    """

    model_config = ConfigDict(extra="allow")


class ObjectMeta(BaseModel):
    """Kubernetes object metadata; only the fields this project reads are typed."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str | None = Field(default=None, description="The resource's name.")
    namespace: str | None = Field(default=None, description="The resource's namespace.")
    labels: dict[str, str] | None = Field(default=None, description="Labels.")
    annotations: dict[str, str] | None = Field(default=None, description="Annotations.")
    generation: int | None = Field(default=None, description="The spec's generation.")
    uid: str | None = Field(default=None, description="The resource's unique id.")

    def to_wire(self) -> dict[str, Any]:
        """Return the metadata as written on the wire."""
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")


class Resource(WireModel):
    """A top-level KubeDirector resource: apiVersion, kind, metadata."""

    KIND: ClassVar[str] = ""

    api_version: str = Field(
        alias="apiVersion", description=f"Always {API_VERSION!r} for KubeDirector resources."
    )
    kind: str = Field(description="The kind of the resource.")
    metadata: ObjectMeta = Field(
        default_factory=ObjectMeta, description="Standard Kubernetes object metadata."
    )

    @property
    def name(self) -> str:
        """The resource's name ("" when the document has none)."""
        return self.metadata.name or ""

    @property
    def namespace(self) -> str | None:
        """The resource's namespace, when the document says."""
        return self.metadata.namespace
