"""``kubedirector run``: the operator itself."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from kubedirector_core.runtime.reconciler import RuntimeSettings


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
    help="Namespace of the apps every namespace may use (appCatalog: system).",
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
    help="Serve the admission webhooks on this port (with --webhook-cert/-key/-ca).",
)
@click.option(
    "--webhook-host",
    default="127.0.0.1",
    show_default=True,
    help="Address the webhooks listen on and the API server calls.",
)
@click.option("--webhook-cert", type=click.Path(exists=True, path_type=Path), default=None)
@click.option("--webhook-key", type=click.Path(exists=True, path_type=Path), default=None)
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
    webhook = None
    if webhook_port is not None:
        if not (webhook_cert and webhook_key and webhook_ca):
            raise click.UsageError(
                "--webhook-port needs --webhook-cert, --webhook-key and --webhook-ca"
            )
        from kubedirector_core.runtime.webhook import WebhookOptions

        webhook = WebhookOptions(
            port=webhook_port,
            certfile=webhook_cert,
            keyfile=webhook_key,
            ca_file=webhook_ca,
            host=webhook_host,
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
