"""``kubedirector validate FILE...``: offline validation of apps, clusters and configs.

One line per problem, ``file: field.path: message`` (a file with several
documents names the document as ``file#N``); ``--output json`` prints a list
of objects instead. Exit status 0 when no problem is an error, 1 otherwise.
A cluster is checked against its app, taken from ``--app FILE``, from the
files being validated, or from the catalog; a KubeDirectorConfig among the
files validated (or given with ``--config FILE``) is the operator's, and its
``requiredSecretPrefix`` applies to the clusters.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from kubedirector_core.api import KubeDirectorApp
from kubedirector_core.api.documents import Document, read_documents
from kubedirector_core.catalog import env_paths, load_catalog
from kubedirector_core.errors import CatalogError, PluginError
from kubedirector_core.plugins import load_hooks
from kubedirector_core.problems import Problem
from kubedirector_core.validation import (
    PluginRules,
    validate_app,
    validate_config,
    validate_document,
)


@dataclass(frozen=True)
class Finding:
    """A problem and the file (and document) it was found in."""

    source: str
    problem: Problem

    def line(self) -> str:
        """The finding as one line of text."""
        path = f"{self.problem.path}: " if self.problem.path else ""
        warning = "warning: " if not self.problem.is_error else ""
        return f"{self.source}: {path}{warning}{self.problem.message}"

    def as_dict(self) -> dict[str, str | None]:
        """The finding as a JSON object."""
        return {
            "file": self.source,
            "path": self.problem.path,
            "message": self.problem.message,
            "severity": self.problem.severity.value,
            "source": self.problem.source,
        }


def _name(document: Document, count: int) -> str:
    return document.source if count == 1 else f"{document.source}#{document.index}"


def _read(files: Sequence[Path]) -> tuple[list[tuple[str, Document]], list[Finding]]:
    documents: list[tuple[str, Document]] = []
    findings: list[Finding] = []
    for file in files:
        read, problems = read_documents(file)
        findings += [Finding(str(file), problem) for problem in problems]
        documents += [(_name(document, len(read)), document) for document in read]
    return documents, findings


def _apps_in(documents: Sequence[tuple[str, Document]]) -> dict[str, KubeDirectorApp]:
    apps = {}
    for _source, document in documents:
        body = document.body
        if isinstance(body, dict) and body.get("kind") == "KubeDirectorApp":
            app, problems = validate_app(body)
            if app is not None and not any(problem.is_error for problem in problems):
                apps[app.name] = app
    return apps


def _secret_prefix_in(documents: Sequence[tuple[str, Document]]) -> str | None:
    """The requiredSecretPrefix of the last valid KubeDirectorConfig among ``documents``."""
    prefix = None
    for _source, document in documents:
        body = document.body
        if isinstance(body, dict) and body.get("kind") == "KubeDirectorConfig":
            config, problems = validate_config(body)
            if config is not None and config.spec is not None and not problems:
                prefix = config.spec.required_secret_prefix
    return prefix


def validate_files(
    files: Sequence[Path],
    app_files: Sequence[Path],
    catalog_paths: Sequence[Path],
    plugin_rules: PluginRules | None = None,
    config_files: Sequence[Path] = (),
) -> list[Finding]:
    """Validate every document of ``files``; return what is wrong, file by file.

    ``plugin_rules`` (the installed plugins' validate hooks) add their problems.
    A KubeDirectorConfig in ``config_files`` or ``files`` gives the clusters'
    required Secret prefix.
    """
    documents, findings = _read(files)
    app_documents, app_findings = _read(app_files)
    config_documents, config_findings = _read(config_files)
    findings += app_findings + config_findings
    prefix = _secret_prefix_in([*config_documents, *documents])
    apps: dict[str, KubeDirectorApp] = {}
    try:
        apps.update(load_catalog(catalog_paths).apps())
    except CatalogError as error:
        findings.append(Finding("catalog", Problem("", str(error))))
    apps.update(_apps_in(documents))
    apps.update(_apps_in(app_documents))
    for source, document in documents:
        _model, problems = validate_document(
            document.body, apps=apps, plugin_rules=plugin_rules, required_secret_prefix=prefix
        )
        findings += [Finding(source, problem) for problem in problems]
    return findings


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--app",
    "app_files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A file with the KubeDirectorApp that clusters use (repeatable).",
)
@click.option(
    "--catalog",
    "catalog_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A catalog folder or file to find apps in (repeatable; also $KUBEDIRECTOR_CATALOG).",
)
@click.option(
    "--config",
    "config_files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A file with the operator's KubeDirectorConfig (kd-global-config) to check against.",
)
@click.option(
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="How to print the problems.",
)
def validate(
    files: tuple[Path, ...],
    app_files: tuple[Path, ...],
    catalog_paths: tuple[Path, ...],
    config_files: tuple[Path, ...],
    output: str,
) -> None:
    """Check KubeDirector resource files offline; exit 1 when any has an error.

    The installed plugins' validate hooks run too (KD_PLUGINS / KD_DISABLED_PLUGINS apply).
    """
    try:
        hooks = load_hooks()
    except PluginError as error:
        raise click.ClickException(str(error)) from error
    findings = validate_files(
        files, app_files, [*catalog_paths, *env_paths()], hooks, config_files=config_files
    )
    if output == "json":
        click.echo(json.dumps([finding.as_dict() for finding in findings], indent=2))
    else:
        for finding in findings:
            click.echo(finding.line())
    if any(finding.problem.is_error for finding in findings):
        raise SystemExit(1)
