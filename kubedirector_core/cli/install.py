"""``kubedirector install`` / ``kubedirector uninstall``: the operator on the current cluster.

Both work from the plain manifests in ``deploy/`` (the files its
``kustomization.yaml`` lists, in that order): install server-side applies
them with the field manager ``kubedirector-install``; uninstall deletes them
in reverse order but keeps the CRDs, and with them every KubeDirectorCluster
and KubeDirectorApp, unless ``--delete-crds`` is given. The operator's
namespace is kept while it still holds KubeDirector resources (system apps).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import click
import yaml

from kubedirector_core.plan.model import Manifest

FIELD_MANAGER: Final = "kubedirector-install"
#: The namespace the manifests in deploy/ are written for.
DEFAULT_NAMESPACE: Final = "kubedirector"
OPERATOR_DEPLOYMENT: Final = "kubedirector-operator"
OPERATOR_CONTAINER: Final = "operator"
CRD_GROUP: Final = "kubedirector.hpe.com"


@dataclass(frozen=True)
class _Resource:
    api_version: str
    plural: str
    namespaced: bool

    def collection(self, namespace: str | None) -> str:
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        return (
            f"{prefix}/namespaces/{namespace}/{self.plural}"
            if self.namespaced
            else (f"{prefix}/{self.plural}")
        )


#: Every kind deploy/ holds, and where it lives in the REST API.
_RESOURCES: Final = {
    "Namespace": _Resource("v1", "namespaces", False),
    "CustomResourceDefinition": _Resource(
        "apiextensions.k8s.io/v1", "customresourcedefinitions", False
    ),
    "ServiceAccount": _Resource("v1", "serviceaccounts", True),
    "Service": _Resource("v1", "services", True),
    "ClusterRole": _Resource("rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": _Resource("rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Role": _Resource("rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": _Resource("rbac.authorization.k8s.io/v1", "rolebindings", True),
    "Deployment": _Resource("apps/v1", "deployments", True),
    "ValidatingWebhookConfiguration": _Resource(
        "admissionregistration.k8s.io/v1", "validatingwebhookconfigurations", False
    ),
    "MutatingWebhookConfiguration": _Resource(
        "admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations", False
    ),
}


def default_manifests_dir() -> Path:
    """``deploy/`` of this checkout."""
    return Path(__file__).resolve().parents[2] / "deploy"


def load_manifests(directory: Path) -> list[Manifest]:
    """Every object of the files ``directory/kustomization.yaml`` lists, in that order.

    Raises :class:`click.ClickException` naming the file when one is missing
    or holds a kind this command does not know how to apply.
    """
    kustomization = directory / "kustomization.yaml"
    if not kustomization.is_file():
        raise click.ClickException(
            f"{kustomization} not found: pass --manifests with the deploy/ folder of a "
            "kubedirector-core checkout"
        )
    listed = yaml.safe_load(kustomization.read_text()).get("resources") or []
    manifests: list[Manifest] = []
    for relative in listed:
        path = directory / relative
        if not path.is_file():
            raise click.ClickException(f"{kustomization}: resource {relative} does not exist")
        for document in yaml.safe_load_all(path.read_text()):
            if not document:
                continue
            if document.get("kind") not in _RESOURCES:
                raise click.ClickException(
                    f"{path}: kind {document.get('kind')!r} is not one install knows how to apply"
                )
            manifests.append(document)
    return manifests


def customize(
    manifests: Iterable[Manifest], *, namespace: str, image: str | None
) -> list[Manifest]:
    """Copies of ``manifests`` moved to ``namespace`` and running ``image`` (if given)."""
    result = []
    for original in manifests:
        manifest = copy.deepcopy(original)
        metadata = manifest["metadata"]
        if manifest["kind"] == "Namespace":
            metadata["name"] = namespace
        elif _RESOURCES[manifest["kind"]].namespaced:
            metadata["namespace"] = namespace
        for subject in manifest.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount":
                subject["namespace"] = namespace
        for webhook in manifest.get("webhooks") or []:
            service = (webhook.get("clientConfig") or {}).get("service")
            if service is not None:  # the webhook Service moves with the operator
                service["namespace"] = namespace
        if manifest["kind"] == "Deployment" and metadata["name"] == OPERATOR_DEPLOYMENT:
            _customize_operator(manifest, namespace=namespace, image=image)
        result.append(manifest)
    return result


def _customize_operator(deployment: Manifest, *, namespace: str, image: str | None) -> None:
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        if container["name"] != OPERATOR_CONTAINER:
            continue
        if image:
            container["image"] = image
        if namespace != DEFAULT_NAMESPACE:
            # The system app catalog follows the operator into its namespace.
            container["args"] = [*container.get("args", []), f"--system-namespace={namespace}"]


def describe(manifest: Manifest) -> str:
    """``Kind name`` or ``Kind namespace/name``, for messages."""
    metadata = manifest["metadata"]
    where = f"{metadata['namespace']}/" if metadata.get("namespace") else ""
    return f"{manifest['kind']} {where}{metadata['name']}"


def object_path(manifest: Manifest) -> str:
    """The REST path of the object ``manifest`` describes."""
    metadata = manifest["metadata"]
    resource = _RESOURCES[manifest["kind"]]
    return f"{resource.collection(metadata.get('namespace'))}/{metadata['name']}"


def _api(kubeconfig: Path | None, context: str | None) -> Any:
    from kubernetes import client, config

    from kubedirector_core.runtime.connection import load_configuration
    from kubedirector_core.runtime.kubeapi import KubeApi

    try:
        configuration = load_configuration(kubeconfig, context)
    except config.ConfigException as error:
        raise click.ClickException(
            f"no usable cluster credentials ({error}); pass --kubeconfig or set KUBECONFIG"
        ) from error
    return KubeApi(client.ApiClient(configuration))


_kubeconfig_option = click.option(
    "--kubeconfig",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Kubeconfig to use (default: $KUBECONFIG, ~/.kube/config).",
)
_context_option = click.option("--context", default=None, help="Kubeconfig context.")
_namespace_option = click.option(
    "--namespace",
    "-n",
    default=DEFAULT_NAMESPACE,
    show_default=True,
    help="Namespace the operator runs in.",
)
_manifests_option = click.option(
    "--manifests",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Folder with the manifests (default: deploy/ of this checkout).",
)
_dry_run_option = click.option(
    "--dry-run", is_flag=True, help="Print what would be done; change nothing."
)


@click.command()
@_kubeconfig_option
@_context_option
@_namespace_option
@click.option("--image", default=None, help="Operator image (default: the one in deploy/).")
@_manifests_option
@_dry_run_option
@click.option(
    "--timeout",
    default=300.0,
    show_default=True,
    help="Seconds to wait for an earlier, terminating namespace of the operator to go.",
)
def install(
    kubeconfig: Path | None,
    context: str | None,
    namespace: str,
    image: str | None,
    manifests: Path | None,
    dry_run: bool,
    timeout: float,
) -> None:
    """Install (or upgrade) the CRDs, RBAC and the operator on the current cluster."""
    objects = customize(
        load_manifests(manifests or default_manifests_dir()), namespace=namespace, image=image
    )
    if dry_run:
        for manifest in objects:
            click.echo(f"would apply {describe(manifest)}")
        return
    from kubedirector_core.runtime.kubeapi import ApiError

    api = _api(kubeconfig, context)
    for manifest in objects:
        try:
            applied = _apply(api, manifest)
            if manifest["kind"] == "Namespace" and _terminating(applied):
                click.echo(f"waiting for the earlier {describe(manifest)} to finish terminating")
                _wait_gone(api, manifest, timeout)
                _apply(api, manifest)
        except ApiError as error:
            raise click.ClickException(f"applying {describe(manifest)}: {error}") from error
        click.echo(f"applied {describe(manifest)}")


def _apply(api: Any, manifest: Manifest) -> Any:
    from kubedirector_core.runtime.kubeapi import APPLY_PATCH

    return api.request(
        "PATCH",
        object_path(manifest),
        body=manifest,
        content_type=APPLY_PATCH,
        query=(("fieldManager", FIELD_MANAGER), ("force", "true")),
    )


def _terminating(applied: Any) -> bool:
    return bool(
        isinstance(applied, dict) and (applied.get("status") or {}).get("phase") == "Terminating"
    )


def _wait_gone(api: Any, manifest: Manifest, timeout: float) -> None:
    """Wait until the object is deleted; a namespace being deleted accepts no new objects."""
    from kubedirector_core.runtime.kubeapi import ApiError

    deadline = time.monotonic() + timeout
    while True:
        try:
            api.request("GET", object_path(manifest))
        except ApiError as error:
            if error.status == 404:
                return
            raise
        if time.monotonic() > deadline:
            raise click.ClickException(
                f"{describe(manifest)} is still terminating after {timeout:.0f}s; "
                "wait for it to be deleted, then run install again"
            )
        time.sleep(1.0)


def _count(api: Any, plural: str) -> int:
    from kubedirector_core.runtime.kubeapi import ApiError

    try:
        body = api.request("GET", f"/apis/{CRD_GROUP}/v1beta1/{plural}")
    except ApiError as error:
        if error.status == 404:
            return 0
        raise
    return len(body.get("items") or [])


def _delete(api: Any, manifest: Manifest, dry_run: bool) -> None:
    from kubedirector_core.runtime.kubeapi import ApiError

    if dry_run:
        click.echo(f"would delete {describe(manifest)}")
        return
    try:
        api.request(
            "DELETE",
            object_path(manifest),
            body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
        )
    except ApiError as error:
        if error.status == 404:
            click.echo(f"{describe(manifest)} was already gone")
            return
        raise click.ClickException(f"deleting {describe(manifest)}: {error}") from error
    click.echo(f"deleted {describe(manifest)}")


def _namespace_holds_resources(api: Any, namespace: str) -> bool:
    from kubedirector_core.runtime.kubeapi import ApiError

    for plural in ("kubedirectorapps", "kubedirectorclusters"):
        try:
            body = api.request("GET", f"/apis/{CRD_GROUP}/v1beta1/namespaces/{namespace}/{plural}")
        except ApiError as error:
            if error.status == 404:
                continue
            raise
        if body.get("items"):
            return True
    return False


def _remove_clusters(api: Any, timeout: float) -> None:
    """Delete every KubeDirectorCluster while the operator still runs to clean up after them."""
    path = f"/apis/{CRD_GROUP}/v1beta1/kubedirectorclusters"
    for cluster in api.request("GET", path).get("items") or []:
        metadata = cluster["metadata"]
        api.request(
            "DELETE",
            f"/apis/{CRD_GROUP}/v1beta1/namespaces/{metadata['namespace']}"
            f"/kubedirectorclusters/{metadata['name']}",
        )
    deadline = time.monotonic() + timeout
    while api.request("GET", path).get("items"):
        if time.monotonic() > deadline:
            raise click.ClickException(
                f"KubeDirectorClusters still exist after {timeout:.0f}s: the operator did not "
                "remove their children (is it running?). Nothing else was deleted."
            )
        time.sleep(1.0)


@click.command()
@_kubeconfig_option
@_context_option
@_namespace_option
@_manifests_option
@_dry_run_option
@click.option(
    "--delete-crds",
    is_flag=True,
    help="Also delete the CRDs, and with them EVERY KubeDirectorCluster and KubeDirectorApp.",
)
@click.option("--yes", is_flag=True, help="Do not ask before --delete-crds deletes resources.")
@click.option(
    "--timeout",
    default=300.0,
    show_default=True,
    help="Seconds --delete-crds waits for the clusters to be removed.",
)
def uninstall(
    kubeconfig: Path | None,
    context: str | None,
    namespace: str,
    manifests: Path | None,
    dry_run: bool,
    delete_crds: bool,
    yes: bool,
    timeout: float,
) -> None:
    """Remove the operator and its RBAC; keep the CRDs and every cluster unless --delete-crds."""
    objects = customize(
        load_manifests(manifests or default_manifests_dir()), namespace=namespace, image=None
    )
    crds = [m for m in objects if m["kind"] == "CustomResourceDefinition"]
    namespaces = [m for m in objects if m["kind"] == "Namespace"]
    rest = [m for m in objects if m not in crds and m not in namespaces]
    api = None if dry_run and not delete_crds else _api(kubeconfig, context)
    if delete_crds:
        clusters = _count(api, "kubedirectorclusters")
        apps = _count(api, "kubedirectorapps")
        click.echo(
            f"WARNING: --delete-crds deletes {clusters} KubeDirectorCluster(s) (with their "
            f"pods and volumes) and {apps} KubeDirectorApp(s) in every namespace.",
            err=True,
        )
        if not dry_run and not yes:
            click.confirm("Delete them?", abort=True, err=True)
        if dry_run:
            click.echo(f"would delete {clusters} KubeDirectorCluster(s) first")
        else:
            _remove_clusters(api, timeout)
    for manifest in reversed(rest):
        _delete(api, manifest, dry_run)
    if delete_crds:
        for manifest in reversed(crds):
            _delete(api, manifest, dry_run)
    else:
        for manifest in crds:
            click.echo(f"kept {describe(manifest)} (pass --delete-crds to delete it)")
    for manifest in namespaces:
        name = manifest["metadata"]["name"]
        if api is not None and not delete_crds and _namespace_holds_resources(api, name):
            click.echo(f"kept Namespace {name}: it holds KubeDirectorApps or clusters")
            continue
        if api is None:
            click.echo(f"would delete Namespace {name} unless it holds KubeDirector resources")
            continue
        _delete(api, manifest, dry_run)
