"""``kubedirector run``: the operator itself."""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kubedirector_core.runtime.reconciler import RuntimeSettings

if TYPE_CHECKING:
    from kubedirector_core.runtime.webhook import WebhookOptions

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def _webhook_options(
    port: int | None,
    host: str,
    listen: str | None,
    service: str | None,
    cert: Path | None,
    key: Path | None,
    ca: Path | None,
) -> WebhookOptions | None:
    """The webhook options the flags ask for; :class:`click.UsageError` naming the flag."""
    from kubedirector_core.runtime.health import parse_bind_address
    from kubedirector_core.runtime.webhook import WebhookOptions

    if (cert is None) != (key is None):
        raise click.UsageError("--webhook-cert and --webhook-key go together: give both")
    if port is not None:
        if listen is not None or service is not None:
            raise click.UsageError(
                "--webhook-port (URL mode) cannot be combined with --webhook-listen/"
                "--webhook-service (Service mode): choose one"
            )
        if not (cert and key and ca):
            raise click.UsageError(
                "--webhook-port needs --webhook-cert, --webhook-key and --webhook-ca"
            )
        return WebhookOptions(
            listen=(host, port), url_host=host, certfile=cert, keyfile=key, ca_file=ca
        )
    if listen is None and service is None:
        if cert or ca:
            raise click.UsageError(
                "--webhook-cert/--webhook-key/--webhook-ca need --webhook-port or "
                "--webhook-listen with --webhook-service"
            )
        return None
    if listen is None or service is None:
        missing = "--webhook-service" if service is None else "--webhook-listen"
        raise click.UsageError(
            f"{missing} is missing: --webhook-listen and --webhook-service go together "
            "(e.g. --webhook-listen=:9443 --webhook-service=kubedirector/kubedirector-webhook)"
        )
    try:
        address = parse_bind_address(listen, option="--webhook-listen")
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--webhook-listen") from error
    if address is None:
        raise click.BadParameter(
            "0 cannot turn the webhooks off here", param_hint="--webhook-listen"
        )
    namespace, _, name = service.partition("/")
    if not (_DNS_LABEL.fullmatch(namespace) and _DNS_LABEL.fullmatch(name)):
        raise click.BadParameter(
            f"{service!r} is not NAMESPACE/NAME of a Service "
            "(e.g. kubedirector/kubedirector-webhook)",
            param_hint="--webhook-service",
        )
    return WebhookOptions(
        listen=address, service=(namespace, name), certfile=cert, keyfile=key, ca_file=ca
    )


@click.command()
@click.option(
    "--kubeconfig",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="Kubeconfig to use (default: $KUBECONFIG, in-cluster credentials, ~/.kube/config).",
)
@click.option("--context", default=None, help="Kubeconfig context (default: the current one).")
@click.option(
    "--namespace",
    "-n",
    "namespaces",
    multiple=True,
    help="Watch only this namespace (repeat for several). Default: every namespace.",
)
@click.option(
    "--namespace-selector",
    default=None,
    help="Reconcile only clusters in namespaces whose labels match, e.g. 'team=data,env!=dev'.",
)
@click.option(
    "--system-namespace",
    default="kubedirector",
    show_default=True,
    help=(
        "Namespace of the apps every namespace may use (appCatalog: system) and of "
        "KubeDirectorConfig kd-global-config."
    ),
)
@click.option("--workers", default=4, show_default=True, help="Clusters reconciled at once.")
@click.option(
    "--action-concurrency",
    default=8,
    show_default=True,
    help="In-container commands (setup, notifications) running at once.",
)
@click.option(
    "--action-timeout",
    default=600.0,
    show_default=True,
    help="Seconds an in-container command may run before it is reported as timed out.",
)
@click.option(
    "--watch-timeout",
    default=300.0,
    show_default=True,
    help="Seconds after which every watch is renewed (guards against silently stalled streams).",
)
@click.option(
    "--webhook-port",
    type=int,
    default=None,
    help="URL mode (local runs): serve the admission webhooks on --webhook-host:PORT and "
    "register that URL (with --webhook-cert/-key/-ca).",
)
@click.option(
    "--webhook-host",
    default="127.0.0.1",
    show_default=True,
    help="URL mode: address the webhooks listen on and the API server calls.",
)
@click.option(
    "--webhook-listen",
    default=None,
    help="Service mode: serve the admission webhooks on ADDR:PORT or :PORT, on every "
    "replica (with --webhook-service).",
)
@click.option(
    "--webhook-service",
    default=None,
    help="Service mode: NAMESPACE/NAME of the Service in front of the replicas; the "
    "webhook configurations route through it. Without --webhook-cert/-key the operator "
    "keeps a CA and certificate in the Secret kubedirector-webhook-tls of that namespace.",
)
@click.option(
    "--webhook-cert",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Serving certificate (PEM), e.g. from cert-manager; re-read every few minutes.",
)
@click.option(
    "--webhook-key",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Key of --webhook-cert (PEM).",
)
@click.option(
    "--webhook-ca",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="CA that signed --webhook-cert: the API server trusts it for the webhooks.",
)
@click.option(
    "--leader-elect/--no-leader-elect",
    default=False,
    show_default=True,
    help="Act only while holding the leader Lease (run several replicas for high availability).",
)
@click.option(
    "--leader-election-namespace",
    default=None,
    help="Namespace of the leader Lease (default: $POD_NAMESPACE, else kubedirector).",
)
@click.option(
    "--leader-election-id",
    default="kubedirector-operator",
    show_default=True,
    help="Name of the leader Lease; replicas sharing it elect one leader.",
)
@click.option(
    "--metrics-bind-address",
    default="0",
    show_default=True,
    help="Serve Prometheus metrics at /metrics on host:port or :port; 0 turns it off.",
)
@click.option(
    "--health-probe-bind-address",
    default="0",
    show_default=True,
    help="Serve /healthz and /readyz on host:port or :port; 0 turns it off.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one object per line with time, level, logger, message, namespace, cluster.",
)
@click.option("--verbose", "-v", is_flag=True, help="Log debug messages.")
def run(
    kubeconfig: Path | None,
    context: str | None,
    namespaces: tuple[str, ...],
    namespace_selector: str | None,
    system_namespace: str,
    workers: int,
    action_concurrency: int,
    action_timeout: float,
    watch_timeout: float,
    webhook_port: int | None,
    webhook_host: str,
    webhook_listen: str | None,
    webhook_service: str | None,
    webhook_cert: Path | None,
    webhook_key: Path | None,
    webhook_ca: Path | None,
    leader_elect: bool,
    leader_election_namespace: str | None,
    leader_election_id: str,
    metrics_bind_address: str,
    health_probe_bind_address: str,
    log_format: str,
    verbose: bool,
) -> None:
    """Run the operator: reconcile KubeDirectorClusters until interrupted."""
    from kubedirector_core.runtime.health import parse_bind_address
    from kubedirector_core.runtime.leader import ElectionOptions, default_namespace
    from kubedirector_core.runtime.logs import configure_logging
    from kubedirector_core.runtime.operator import OperatorOptions, run_operator
    from kubedirector_core.runtime.selectors import parse_selector

    if namespace_selector is not None:
        try:
            parse_selector(namespace_selector)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--namespace-selector") from error
    webhook = _webhook_options(
        webhook_port,
        webhook_host,
        webhook_listen,
        webhook_service,
        webhook_cert,
        webhook_key,
        webhook_ca,
    )
    addresses = {}
    for option, value in (
        ("--metrics-bind-address", metrics_bind_address),
        ("--health-probe-bind-address", health_probe_bind_address),
    ):
        try:
            addresses[option] = parse_bind_address(value, option=option)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint=option) from error
    election = None
    if leader_elect:
        election = ElectionOptions(
            namespace=leader_election_namespace or default_namespace(), name=leader_election_id
        )
    configure_logging("json" if log_format == "json" else "text", verbose=verbose)
    options = OperatorOptions(
        kubeconfig=kubeconfig,
        context=context,
        namespaces=namespaces,
        namespace_selector=namespace_selector,
        system_namespace=system_namespace,
        workers=workers,
        watch_server_timeout=watch_timeout,
        webhook=webhook,
        leader_election=election,
        metrics_address=addresses["--metrics-bind-address"],
        health_address=addresses["--health-probe-bind-address"],
        runtime=RuntimeSettings(
            action_concurrency=action_concurrency, action_timeout=action_timeout
        ),
    )
    code = 0
    try:
        run_operator(options)
    except Exception:
        logging.getLogger("kubedirector").exception("the operator stopped")
        code = 1
    # In-container commands may still run in worker threads and cannot be
    # interrupted; leave without waiting for them. Their effect is recorded in
    # the guest, and the next operator resumes from the clusters' status.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
