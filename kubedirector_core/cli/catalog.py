"""``kubedirector catalog list | show NAME | install [NAME...]``.

The catalog is read from ``--catalog`` paths, ``$KUBEDIRECTOR_CATALOG`` and
installed packages (see :mod:`kubedirector_core.catalog`). ``install``
server-side applies the apps as KubeDirectorApp resources with the current
kubeconfig context.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import yaml

from kubedirector_core.api import GROUP, VERSION
from kubedirector_core.catalog import Catalog, CatalogEntry, env_paths, load_catalog, select
from kubedirector_core.errors import CatalogError

FIELD_MANAGER = "kubedirector-catalog"


@dataclass(frozen=True)
class CatalogOptions:
    """Where the ``catalog`` sub-commands look for apps."""

    paths: tuple[Path, ...]
    include_installed: bool = True


def _load(options: CatalogOptions) -> Catalog:
    try:
        catalog = load_catalog(
            [*options.paths, *env_paths()], include_installed=options.include_installed
        )
    except CatalogError as error:
        raise click.ClickException(str(error)) from error
    for problem in catalog.problems:
        click.echo(f"warning: {problem}", err=True)
    return catalog


@click.group()
@click.option(
    "--catalog",
    "catalog_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A catalog folder or file (repeatable; also $KUBEDIRECTOR_CATALOG).",
)
@click.option(
    "--installed/--no-installed",
    default=True,
    show_default=True,
    help="Include the apps that installed plugin packages ship.",
)
@click.pass_context
def catalog(ctx: click.Context, catalog_paths: tuple[Path, ...], installed: bool) -> None:
    """List, show and install app definitions."""
    ctx.obj = CatalogOptions(catalog_paths, installed)


@catalog.command("list")
@click.pass_obj
def list_apps(options: CatalogOptions) -> None:
    """List the apps: name, version, label and source."""
    for entry in sorted(_load(options).entries, key=lambda entry: entry.name):
        spec = entry.app.spec
        click.echo(f"{entry.name}\t{spec.version}\t{spec.label.name}\t{entry.source}")


@catalog.command()
@click.argument("name")
@click.option("--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.pass_obj
def show(options: CatalogOptions, name: str, output: str) -> None:
    """Print the app named NAME."""
    try:
        entry = _load(options).get(name)
    except CatalogError as error:
        raise click.ClickException(str(error)) from error
    if output == "json":
        click.echo(json.dumps(entry.to_wire(), indent=2))
    else:
        click.echo(yaml.safe_dump(entry.to_wire(), sort_keys=False), nl=False)


def apply_app(api_client: Any, entry: CatalogEntry, namespace: str) -> None:
    """Server-side apply one app into ``namespace`` with the given kubernetes ApiClient."""
    from kubernetes import client

    body = entry.to_wire()
    body["metadata"] = {**body.get("metadata", {}), "namespace": namespace}
    client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "kubedirectorapps",
        entry.name,
        body,
        field_manager=FIELD_MANAGER,
        force=True,
        _content_type="application/apply-patch+yaml",
    )


@catalog.command()
@click.argument("names", nargs=-1)
@click.option("--namespace", "-n", default=None, help="Namespace (default: the context's).")
@click.option("--kubeconfig", type=click.Path(path_type=Path), default=None)
@click.pass_obj
def install(
    options: CatalogOptions,
    names: tuple[str, ...],
    namespace: str | None,
    kubeconfig: Path | None,
) -> None:
    """Apply the apps NAMES (all when none is named) to the current cluster."""
    from kubernetes import config
    from kubernetes.client.exceptions import ApiException

    try:
        entries = select(_load(options), names)
    except CatalogError as error:
        raise click.ClickException(str(error)) from error
    try:
        api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig) if kubeconfig else None
        )
        _contexts, current = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig) if kubeconfig else None
        )
    except Exception as error:
        raise click.ClickException(f"cannot use the kubeconfig: {error}") from error
    target = namespace or current.get("context", {}).get("namespace") or "default"
    with api_client:
        for entry in entries:
            try:
                apply_app(api_client, entry, target)
            except ApiException as error:
                raise click.ClickException(
                    f"{entry.name}: the API server refused the app: {error.reason}: {error.body}"
                ) from error
            click.echo(f"kubedirectorapp/{entry.name} applied in {target}")
