"""``kubedirector dev``: the local control plane for development and tests."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType

import click

from kubedirector_core.devcluster.build import ensure_binaries
from kubedirector_core.devcluster.cluster import ControlPlane, UpOptions, default_state_dir
from kubedirector_core.errors import DevClusterError

_state_option = click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder holding the control plane's state (default: $KD_DEVCLUSTER_STATE or "
    "~/.local/state/kubedirector/devcluster/default).",
)


@click.group()
def dev() -> None:
    """A real local Kubernetes control plane: etcd, API server, controllers, scheduler, KWOK."""


@dev.command()
@_state_option
@click.option("--nodes", default=3, show_default=True, help="Fake CPU nodes.")
@click.option("--gpu-nodes", default=0, show_default=True, help="Fake GPU nodes.")
@click.option("--gpus-per-node", default=1, show_default=True, help="nvidia.com/gpu per GPU node.")
@click.option("--api-port", default=0, help="API server port on 127.0.0.1 (default: a free one).")
def up(
    state_dir: Path | None, nodes: int, gpu_nodes: int, gpus_per_node: int, api_port: int
) -> None:
    """Build (first time only) and start the control plane, then print how to use it."""
    plane = ControlPlane(state_dir)

    def interrupted(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        plane.up(
            UpOptions(
                nodes=nodes, gpu_nodes=gpu_nodes, gpus_per_node=gpus_per_node, api_port=api_port
            )
        )
    except KeyboardInterrupt:
        plane.processes.stop_all()
        click.echo("interrupted: stopped everything that had been started", err=True)
        sys.exit(130)
    except DevClusterError as error:
        raise click.ClickException(str(error)) from error
    click.echo("\nThe control plane is running. Point kubectl at it with:\n")
    click.echo(f"  export KUBECONFIG={plane.kubeconfig}")
    click.echo(f"\nkubectl itself (built for this release) is at {plane.kubectl_path}")
    click.echo("Stop it with: kubedirector dev down")


@dev.command()
def build() -> None:
    """Build the control plane's binaries and helm into the cache (only what is missing)."""
    from kubedirector_core.devcluster.tools import helm_binary

    try:
        binaries = ensure_binaries()
        helm_binary()
    except DevClusterError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"binaries ready in {binaries.kube_apiserver.parent.parent.parent}")


@dev.command()
@_state_option
def status(state_dir: Path | None) -> None:
    """Show whether the control plane runs, its processes and its nodes."""
    plane = ControlPlane(state_dir)
    records = plane.status()
    if not records:
        click.echo(f"no control plane in {plane.state_dir}")
        sys.exit(1)
    running = plane.is_running()
    click.echo(f"control plane in {plane.state_dir}: {'running' if running else 'NOT running'}")
    for name, pid, alive in records:
        click.echo(f"  {name:<26} pid {pid:<8} {'up' if alive else 'down'}")
    if running:
        click.echo(f"kubeconfig: {plane.kubeconfig}")
        click.echo(plane.kubectl("get", "nodes").stdout.rstrip())
    sys.exit(0 if running else 1)


@dev.command()
@_state_option
def down(state_dir: Path | None) -> None:
    """Stop every process the control plane started and remove its state."""
    plane = ControlPlane(state_dir)
    stopped = plane.down()
    where = state_dir or default_state_dir()
    click.echo(f"stopped {', '.join(stopped)}" if stopped else f"nothing was running in {where}")


@dev.command()
@_state_option
def env(state_dir: Path | None) -> None:
    """Print exports pointing kubectl at the control plane: eval "$(kubedirector dev env)"."""
    plane = ControlPlane(state_dir)
    if not plane.is_running():
        raise click.ClickException(
            f"no control plane runs in {plane.state_dir}; start one with `kubedirector dev up`"
        )
    click.echo(f"export KUBECONFIG={plane.kubeconfig}")
    click.echo(f"export PATH={plane.kubectl_path.parent}:$PATH")
