"""``kubedirector render CLUSTER.yaml [--app APP.yaml]``: the objects a cluster gets, offline.

Prints, as multi-document YAML, the Services and StatefulSets the operator
would create for each KubeDirectorCluster in the file (as for a new cluster:
every member, after the installed plugins' ``kd_pre_create``). The app comes
from ``--app`` files, from the cluster file itself, or from the catalog
(``--catalog``, ``$KUBEDIRECTOR_CATALOG``, installed packages).
``--config FILE`` renders with the operator's KubeDirectorConfig
(``kd-global-config``: default service type, labels, domain...). A cluster
that does not validate prints its problems as ``file: field.path: message``
and the command exits 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import yaml

from kubedirector_core.api import KubeDirectorApp, KubeDirectorCluster
from kubedirector_core.api.documents import Document, read_documents
from kubedirector_core.catalog import env_paths, load_catalog
from kubedirector_core.errors import CatalogError, PluginError
from kubedirector_core.plan import render_objects
from kubedirector_core.plan.settings import OperatorSettings
from kubedirector_core.plugins import Hooks, load_hooks
from kubedirector_core.problems import Problem
from kubedirector_core.validation import validate_app, validate_cluster, validate_config


def _line(source: str, problem: Problem) -> str:
    path = f"{problem.path}: " if problem.path else ""
    return f"{source}: {path}{problem.message}"


def _read(path: Path) -> list[Document]:
    documents, problems = read_documents(path)
    if problems:
        raise click.ClickException("\n".join(_line(str(path), p) for p in problems))
    return documents


def _apps(documents: Sequence[Document]) -> tuple[dict[str, KubeDirectorApp], list[str]]:
    apps: dict[str, KubeDirectorApp] = {}
    lines: list[str] = []
    for document in documents:
        body = document.body
        if isinstance(body, dict) and body.get("kind") == "KubeDirectorApp":
            app, problems = validate_app(body)
            errors = [p for p in problems if p.is_error]
            lines += [_line(document.source, p) for p in errors]
            if app is not None and not errors:
                apps[app.name] = app
    return apps, lines


def _catalog_apps(catalog_paths: Sequence[Path]) -> dict[str, KubeDirectorApp]:
    try:
        return load_catalog([*catalog_paths, *env_paths()]).apps()
    except CatalogError as error:
        click.echo(f"warning: catalog: {error}", err=True)
        return {}


def read_settings(config_file: Path) -> OperatorSettings:
    """The settings of the KubeDirectorConfig in ``config_file``; its problems end the command."""
    configs = [
        doc
        for doc in _read(config_file)
        if isinstance(doc.body, dict) and doc.body.get("kind") == "KubeDirectorConfig"
    ]
    if len(configs) != 1:
        raise click.ClickException(
            f"{config_file}: holds {len(configs)} KubeDirectorConfigs; give a file with one"
        )
    config, problems = validate_config(configs[0].body)
    errors = [p for p in problems if p.is_error]
    if config is None or errors:
        raise click.ClickException("\n".join(_line(configs[0].source, p) for p in errors))
    return OperatorSettings.from_config(config)


def render_file(
    cluster_file: Path,
    app_files: Sequence[Path],
    catalog_paths: Sequence[Path],
    hooks: Hooks,
    namespace: str | None = None,
    settings: OperatorSettings | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The objects of every cluster in ``cluster_file``, and problems as printable lines.

    ``settings`` is the operator's KubeDirectorConfig (built-in values without).
    """
    settings = settings or OperatorSettings()
    documents = _read(cluster_file)
    given: list[Document] = [doc for path in app_files for doc in _read(path)]
    apps = _catalog_apps(catalog_paths)
    found, lines = _apps([*documents, *given])
    apps.update(found)
    clusters = [
        (doc.source, doc.body)
        for doc in documents
        if isinstance(doc.body, dict) and doc.body.get("kind") == "KubeDirectorCluster"
    ]
    if not clusters:
        lines.append(f"{cluster_file}: holds no KubeDirectorCluster")
    objects: list[dict[str, Any]] = []
    for source, body in clusters:
        name = (body.get("spec") or {}).get("app") if isinstance(body.get("spec"), dict) else None
        app = apps.get(name) if isinstance(name, str) else None
        cluster, problems = validate_cluster(
            body,
            app,
            plugin_rules=hooks,
            required_secret_prefix=settings.required_secret_prefix,
        )
        errors = [p for p in problems if p.is_error]
        lines += [_line(source, p) for p in errors]
        if cluster is None or app is None or errors:
            continue
        if namespace is not None:
            cluster = _in_namespace(cluster, namespace)
        objects += render_objects(app, cluster, hooks, settings)
    return objects, lines


def _in_namespace(cluster: KubeDirectorCluster, namespace: str) -> KubeDirectorCluster:
    metadata = cluster.metadata.model_copy(update={"namespace": namespace})
    return cluster.model_copy(update={"metadata": metadata})


@click.command()
@click.argument("cluster_file", type=click.Path(path_type=Path))
@click.option(
    "--app",
    "app_files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A file with the KubeDirectorApp the cluster uses (repeatable).",
)
@click.option(
    "--catalog",
    "catalog_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A catalog folder or file to find the app in (repeatable; also $KUBEDIRECTOR_CATALOG).",
)
@click.option("--namespace", "-n", default=None, help="Render as if in this namespace.")
@click.option(
    "--config",
    "config_file",
    default=None,
    type=click.Path(path_type=Path),
    help="A file with the operator's KubeDirectorConfig (kd-global-config) to render with.",
)
def render(
    cluster_file: Path,
    app_files: tuple[Path, ...],
    catalog_paths: tuple[Path, ...],
    namespace: str | None,
    config_file: Path | None,
) -> None:
    """Print the objects the operator would create for a cluster, as YAML; exit 1 on a problem."""
    try:
        hooks = load_hooks()
    except (PluginError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    settings = read_settings(config_file) if config_file is not None else None
    objects, lines = render_file(
        cluster_file, app_files, catalog_paths, hooks, namespace, settings=settings
    )
    if lines:
        for line in lines:
            click.echo(line, err=True)
        raise SystemExit(1)
    click.echo(yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False), nl=False)
