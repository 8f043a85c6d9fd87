"""The app catalog: KubeDirectorApp definitions from files, folders and installed packages.

Sources, in the order they are searched (the first app of a name wins):

1. paths given explicitly: a folder (every ``*.yaml``, ``*.yml`` and
   ``*.json`` file under it, recursively, in name order) or a single file
   (multi-document YAML or JSON);
2. installed packages that declare an entry point in the group
   ``kubedirector.catalog``; the entry point names a callable that takes no
   argument and returns the path of a folder of app files::

       [project.entry-points."kubedirector.catalog"]
       kd-spark = "kd_spark:catalog_path"

Documents of other kinds (example clusters next to their apps) are skipped.
An app that does not validate is left out and reported as a problem of its
file, never raised.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from importlib_metadata import entry_points

from kubedirector_core.api import KubeDirectorApp
from kubedirector_core.api.documents import DOCUMENT_SUFFIXES, Document, read_documents
from kubedirector_core.errors import CatalogError
from kubedirector_core.problems import Problem, Severity
from kubedirector_core.validation import validate_app

#: The entry-point group through which installed packages add app folders.
ENTRY_POINT_GROUP = "kubedirector.catalog"

#: Environment variable with extra catalog paths, separated by os.pathsep.
PATH_VARIABLE = "KUBEDIRECTOR_CATALOG"


@dataclass(frozen=True)
class CatalogEntry:
    """An app of the catalog and the document it was read from."""

    app: KubeDirectorApp
    source: str

    @property
    def name(self) -> str:
        """The app's name (its metadata.name)."""
        return self.app.name

    def to_wire(self) -> dict[str, Any]:
        """The app's document, as it will be applied to the cluster."""
        return self.app.to_wire()


@dataclass(frozen=True)
class SourceProblem:
    """A problem found while reading the catalog, with the file it is in."""

    source: str
    problem: Problem

    def __str__(self) -> str:
        where = f"{self.problem.path}: " if self.problem.path else ""
        return f"{self.source}: {where}{self.problem.message}"


@dataclass(frozen=True)
class Catalog:
    """The apps found, by name, and what went wrong while finding them."""

    entries: tuple[CatalogEntry, ...] = ()
    problems: tuple[SourceProblem, ...] = field(default=())

    def names(self) -> list[str]:
        """The names of the apps, sorted."""
        return sorted(entry.name for entry in self.entries)

    def get(self, name: str) -> CatalogEntry:
        """Return the app named ``name``; raise :class:`CatalogError` naming the known apps."""
        for entry in self.entries:
            if entry.name == name:
                return entry
        known = ", ".join(self.names()) or "(none)"
        raise CatalogError(f"no app named {name!r} in the catalog; known apps: {known}")

    def apps(self) -> dict[str, KubeDirectorApp]:
        """The apps by name."""
        return {entry.name: entry.app for entry in self.entries}


def document_files(path: Path) -> list[Path]:
    """The files a catalog path stands for: itself, or the documents under a folder."""
    if path.is_dir():
        return sorted(
            candidate
            for candidate in path.rglob("*")
            if candidate.is_file() and candidate.suffix in DOCUMENT_SUFFIXES
        )
    return [path]


def installed_paths() -> list[tuple[str, Path]]:
    """Folders declared by installed packages (entry-point name, folder).

    Raises :class:`CatalogError` naming the entry point when one cannot be
    loaded or does not return a path.
    """
    found = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            result = point.load()()
        except Exception as error:
            raise CatalogError(
                f"catalog entry point {point.name!r} ({point.value}) failed: {error}"
            ) from error
        if not isinstance(result, (str, os.PathLike)):
            raise CatalogError(
                f"catalog entry point {point.name!r} returned {result!r}, not a folder path"
            )
        found.append((point.name, Path(result)))
    return found


def env_paths() -> list[Path]:
    """Catalog paths named by the KUBEDIRECTOR_CATALOG environment variable."""
    value = os.environ.get(PATH_VARIABLE, "")
    return [Path(part) for part in value.split(os.pathsep) if part]


def _entries_of(document: Document) -> tuple[list[CatalogEntry], list[SourceProblem]]:
    body = document.body
    if not isinstance(body, dict) or body.get("kind") != "KubeDirectorApp":
        return [], []
    app, problems = validate_app(body)
    source = document.source if document.index == 1 else f"{document.source}#{document.index}"
    reported = [SourceProblem(source, problem) for problem in problems]
    if app is None or any(problem.is_error for problem in problems):
        return [], reported
    return [CatalogEntry(app, source)], reported


def load_catalog(paths: Iterable[Path], *, include_installed: bool = True) -> Catalog:
    """Read the apps of ``paths`` and, unless told not to, of installed packages."""
    sources = list(paths)
    if include_installed:
        sources += [path for _name, path in installed_paths()]
    entries: list[CatalogEntry] = []
    problems: list[SourceProblem] = []
    seen: dict[str, str] = {}
    for source in sources:
        if not source.exists():
            problems.append(SourceProblem(str(source), Problem("", "does not exist")))
            continue
        for file in document_files(source):
            documents, read_problems = read_documents(file)
            problems += [SourceProblem(str(file), problem) for problem in read_problems]
            for document in documents:
                found, found_problems = _entries_of(document)
                problems += found_problems
                for entry in found:
                    if entry.name in seen:
                        problems.append(_shadowed(entry, seen[entry.name]))
                        continue
                    seen[entry.name] = entry.source
                    entries.append(entry)
    return Catalog(tuple(entries), tuple(problems))


def _shadowed(entry: CatalogEntry, first: str) -> SourceProblem:
    return SourceProblem(
        entry.source,
        Problem(
            "metadata.name",
            f"app {entry.name!r} is also defined in {first}, which wins; rename one of them",
            Severity.WARNING,
        ),
    )


def select(catalog: Catalog, names: Sequence[str]) -> list[CatalogEntry]:
    """The entries named (all of them when ``names`` is empty); unknown names raise."""
    if not names:
        return list(catalog.entries)
    return [catalog.get(name) for name in names]
