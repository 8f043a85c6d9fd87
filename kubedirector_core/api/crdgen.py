"""Generate the CustomResourceDefinitions in ``deploy/crds/`` from the models.

``python -m kubedirector_core.api.crdgen [DIR]`` writes one YAML file per kind
(default ``deploy/crds``); ``--check`` exits 1 when the files on disk differ
from what the models give. The schemas are structural: every ``$ref`` is
inlined, ``X | None`` becomes ``X`` (``nullable: true`` only where KubeDirector
accepts an explicit null), titles and defaults are dropped (the API server must
not default what the models leave unset), and every property keeps its
description so that ``kubectl explain`` explains it.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from kubedirector_core.api.app import KubeDirectorApp
from kubedirector_core.api.base import GROUP, VERSION, Resource
from kubedirector_core.api.cluster import KubeDirectorCluster
from kubedirector_core.api.config import KubeDirectorConfig

CATEGORY: Final = "kubedirector"
HEADER: Final = (
    "# Generated from kubedirector_core/api by `python -m kubedirector_core.api.crdgen`;"
    " do not edit.\n"
)
_DROPPED_KEYS: Final = frozenset({"title", "default", "additionalProperties", "$defs"})


@dataclass(frozen=True)
class Kind:
    """What the CRD of one kind needs beyond its model."""

    model: type[Resource]
    plural: str
    short_name: str
    printer_columns: tuple[Mapping[str, str], ...]
    status: bool


def _column(name: str, type_: str, json_path: str, description: str) -> dict[str, str]:
    return {"name": name, "type": type_, "jsonPath": json_path, "description": description}


KINDS: Final = (
    Kind(
        model=KubeDirectorApp,
        plural="kubedirectorapps",
        short_name="kdapp",
        printer_columns=(
            _column("App Name", "string", ".spec.label.name", "Human-readable app name"),
            _column("Distro ID", "string", ".spec.distroID", "Series of versions of the app"),
            _column("Version", "string", ".spec.version", "Release of the app"),
            _column("Age", "date", ".metadata.creationTimestamp", "Time since creation"),
        ),
        status=False,
    ),
    Kind(
        model=KubeDirectorCluster,
        plural="kubedirectorclusters",
        short_name="kdcluster",
        printer_columns=(
            _column("App", "string", ".spec.app", "The KubeDirectorApp instantiated"),
            _column("State", "string", ".status.state", "Overall state of the cluster"),
            _column("Ready", "string", ".status.membersReady", "Ready members / members asked for"),
            _column("Age", "date", ".metadata.creationTimestamp", "Time since creation"),
        ),
        status=True,
    ),
    Kind(
        model=KubeDirectorConfig,
        plural="kubedirectorconfigs",
        short_name="kdconfig",
        printer_columns=(
            _column("State", "string", ".status.state", "State of the configuration"),
            _column("Age", "date", ".metadata.creationTimestamp", "Time since creation"),
        ),
        status=True,
    ),
)


def _describe(text: str) -> str:
    """Turn a docstring into a one-paragraph description."""
    return re.sub(r"\s+", " ", text.replace("``", "")).strip()


def _structural(node: Any, defs: Mapping[str, Any]) -> Any:
    """Return ``node`` as a structural schema: refs inlined, nulls folded, noise dropped."""
    if isinstance(node, list):
        return [_structural(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        node = {**target, **node}
    if "anyOf" in node:
        branches = [b for b in node.pop("anyOf") if b != {"type": "null"}]
        if len(branches) != 1:
            raise ValueError(f"cannot make a structural schema of anyOf {branches!r}")
        node = {**_structural(branches[0], defs), **node}
    extra = node.get("additionalProperties")
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS:
            continue
        if key == "description":
            result[key] = _describe(value)
        elif key == "properties":
            result[key] = {name: _structural(prop, defs) for name, prop in value.items()}
        elif key.startswith("x-kubernetes-") or key in ("enum", "required", "nullable"):
            result[key] = value
        else:
            result[key] = _structural(value, defs)
    if extra is True:
        result["x-kubernetes-preserve-unknown-fields"] = True
    elif isinstance(extra, dict):
        if "properties" in result:
            raise ValueError(
                "a structural schema cannot have both properties and additionalProperties"
            )
        result["additionalProperties"] = _structural(extra, defs)
    # pydantic writes JSON Schema 2020 numeric bounds (exclusiveMinimum: 0); CRDs
    # speak OpenAPI v3.0, where the bound is `minimum` and the flag a boolean.
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        value = result.get(exclusive)
        if value is not None and not isinstance(value, bool):
            result[bound] = value
            result[exclusive] = True
    if result.get("x-kubernetes-int-or-string"):
        result.pop("type", None)
    if result.get("nullable") is False:
        del result["nullable"]
    return result


def object_schema(model: type[Resource]) -> dict[str, Any]:
    """Return the structural openAPIV3Schema of a resource model."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    schema: dict[str, Any] = _structural(raw, raw.get("$defs", {}))
    schema["properties"].update(
        apiVersion={"type": "string", "description": "APIVersion of the resource."},
        kind={"type": "string", "description": "Kind of the resource."},
        # The API server allows nothing else here: it supplies ObjectMeta itself.
        metadata={"type": "object"},
    )
    return schema


def crd(kind: Kind) -> dict[str, Any]:
    """Return the CustomResourceDefinition of one kind."""
    name = kind.model.KIND
    version: dict[str, Any] = {
        "name": VERSION,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": object_schema(kind.model)},
        "additionalPrinterColumns": [dict(column) for column in kind.printer_columns],
    }
    if kind.status:
        version["subresources"] = {"status": {}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": name,
                "listKind": f"{name}List",
                "plural": kind.plural,
                "singular": kind.plural.removesuffix("s"),
                "shortNames": [kind.short_name],
                "categories": [CATEGORY],
            },
            "versions": [version],
        },
    }


def render(kind: Kind) -> str:
    """Return the YAML text of one kind's CRD, as checked in."""
    return HEADER + yaml.safe_dump(crd(kind), sort_keys=False, width=100)


def file_name(kind: Kind) -> str:
    """The file the kind's CRD is written to (KubeDirector's own naming)."""
    return f"{GROUP}_{kind.plural}_crd.yaml"


def write(directory: Path) -> list[Path]:
    """Write every CRD into ``directory``; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind in KINDS:
        path = directory / file_name(kind)
        path.write_text(render(kind), encoding="utf-8")
        paths.append(path)
    return paths


def drifted(directory: Path) -> list[Path]:
    """Return the CRD files in ``directory`` that are missing or differ from the models."""
    return [
        directory / file_name(kind)
        for kind in KINDS
        if not (directory / file_name(kind)).is_file()
        or (directory / file_name(kind)).read_text(encoding="utf-8") != render(kind)
    ]


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) the CRDs; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m kubedirector_core.api.crdgen")
    parser.add_argument("directory", nargs="?", default="deploy/crds", type=Path)
    parser.add_argument("--check", action="store_true", help="exit 1 when the files drifted")
    args = parser.parse_args(argv)
    if args.check:
        stale = drifted(args.directory)
        for path in stale:
            print(
                f"{path}: out of date; run python -m kubedirector_core.api.crdgen", file=sys.stderr
            )
        return 1 if stale else 0
    for path in write(args.directory):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
