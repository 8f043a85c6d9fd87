"""The local control plane: etcd, kube-apiserver, controller-manager, scheduler, KWOK.

:class:`ControlPlane` owns one state folder::

    <state>/state.json         ports and options of the running control plane
    <state>/processes.json     PIDs and command lines of what it started
    <state>/pki/               CA, one certificate per component, SA keys
    <state>/kubeconfigs/       admin.kubeconfig and one per component
    <state>/etcd/              etcd's data
    <state>/logs/              one log per process
    <state>/pods/<ns>/<pod>/   each pod's own directory for exec'd commands

Everything listens on 127.0.0.1 only, on ports that were free at start. It
stops only the processes it recorded, by PID (see :mod:`.processes`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from kubedirector_core.devcluster import kwok, versions
from kubedirector_core.devcluster.agent import PodDirectories
from kubedirector_core.devcluster.build import Binaries, cache_root, ensure_binaries
from kubedirector_core.devcluster.pki import (
    CertificateAuthority,
    KeyPair,
    write_service_account_keys,
)
from kubedirector_core.devcluster.processes import (
    ProcessRecord,
    ProcessTable,
    TLSClient,
    free_port,
    http_ok,
    port_is_free,
    wait_until,
)
from kubedirector_core.errors import DevClusterError

Progress = Callable[[str], None]
SERVICE_CIDR = "10.96.0.0/16"
_API_HOSTS = (
    "127.0.0.1",
    "localhost",
    "10.96.0.1",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


def default_state_dir() -> Path:
    """Where ``kubedirector dev`` keeps its control plane unless told otherwise."""
    explicit = os.environ.get("KD_DEVCLUSTER_STATE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "kubedirector" / "devcluster" / "default"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class UpOptions:
    """How to start the control plane."""

    nodes: int = 3
    gpu_nodes: int = 0
    gpus_per_node: int = 1
    #: 0 picks a free port.
    api_port: int = 0
    #: How long a node may miss heartbeats before its Ready condition turns Unknown
    #: (and the unreachable taints are added); also KWOK's node lease duration.
    node_monitor_grace_seconds: int = 40
    #: Tie every process to the caller's life (for test sessions).
    die_with_parent: bool = False
    #: Users whose requests the API server writes to :attr:`ControlPlane.audit_log`
    #: (level Metadata, one JSON line per stage); empty: no audit log.
    audit_users: tuple[str, ...] = ()


@dataclass
class Ports:
    """The loopback ports the components listen on."""

    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int

    @classmethod
    def choose(cls, api_port: int) -> Ports:
        """Pick free ports; ``api_port`` (if non-zero) must be free or this fails clearly."""
        if api_port and not port_is_free(api_port):
            raise DevClusterError(
                f"port {api_port} on 127.0.0.1 is already in use; choose another with "
                "--api-port or leave it out to pick a free one"
            )
        chosen: set[int] = {api_port} if api_port else set()
        picks: list[int] = []
        while len(picks) < 5:
            port = free_port()
            if port not in chosen:
                chosen.add(port)
                picks.append(port)
        etcd_client, etcd_peer, kcm, scheduler, kwok_port = picks
        return cls(etcd_client, etcd_peer, api_port or free_port(), kcm, scheduler, kwok_port)


@dataclass
class _Certificates:
    ca: Path
    apiserver: KeyPair
    etcd: KeyPair
    etcd_client: KeyPair
    kubelet_client: KeyPair
    kwok_serving: KeyPair
    service_account: KeyPair
    clients: dict[str, KeyPair] = field(default_factory=dict)


# name -> (common name, organizations) of each client identity.
_IDENTITIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": ("kubernetes-admin", ("system:masters",)),
    "controller-manager": ("system:kube-controller-manager", ()),
    "scheduler": ("system:kube-scheduler", ()),
    # KWOK stands in for every kubelet and writes node and pod status for all of them.
    "kwok": ("kwok-controller", ("system:masters",)),
    "agent": ("kd-devcluster-agent", ("system:masters",)),
}


class ControlPlane:
    """A local Kubernetes control plane kept in one state folder."""

    def __init__(self, state_dir: Path | None = None) -> None:
        self.state_dir = (state_dir or default_state_dir()).resolve()
        self.processes = ProcessTable(self.state_dir)
        self._binaries: Binaries | None = None

    # -- paths -------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (``system:masters``)."""
        return self.state_dir / "kubeconfigs" / "admin.kubeconfig"

    @property
    def pods_dir(self) -> Path:
        """Root of the per-pod exec directories."""
        return self.state_dir / "pods"

    def pod_dir(self, namespace: str, pod: str) -> Path:
        """The directory in which commands exec'd into ``namespace/pod`` run."""
        return PodDirectories(self.pods_dir).directory(namespace, pod)

    @property
    def _state_file(self) -> Path:
        return self.state_dir / "state.json"

    def state(self) -> dict[str, Any]:
        """What ``up`` recorded: ports, options, versions (empty if never started)."""
        if not self._state_file.exists():
            return {}
        return dict(json.loads(self._state_file.read_text()))

    # -- lifecycle -----------------------------------------------------------

    def is_running(self) -> bool:
        """True when every recorded process still runs and the API server answers."""
        records = self.processes.records()
        if not records or not all(r.alive() for r in records):
            return False
        port = self.state().get("ports", {}).get("apiserver")
        return bool(port) and http_ok(f"https://127.0.0.1:{port}/readyz", self._admin_tls())

    def status(self) -> list[tuple[str, int, bool]]:
        """(name, pid, alive) of every recorded process."""
        return [(r.name, r.pid, r.alive()) for r in self.processes.records()]

    def up(self, options: UpOptions | None = None, progress: Progress = _stderr) -> None:
        """Build what is missing, start every component and wait until all are healthy.

        A control plane that is already running is left alone. State left by a
        run that crashed (processes gone) is cleaned up first.
        """
        options = options or UpOptions()
        if self.is_running():
            progress(f"the control plane in {self.state_dir} is already running")
            return
        if self.state_dir.exists() and any(self.state_dir.iterdir()):
            stopped = self.processes.stop_all()
            note = f" (stopped leftover {', '.join(stopped)})" if stopped else ""
            progress(f"removing stale state from an earlier run in {self.state_dir}{note}")
            shutil.rmtree(self.state_dir)
        self._binaries = ensure_binaries(progress)
        started = time.monotonic()
        try:
            self._start(options, progress)
        except BaseException:
            progress("start-up failed; stopping what was started")
            self.processes.stop_all()
            raise
        progress(f"control plane ready in {time.monotonic() - started:.1f}s")

    def down(self) -> list[str]:
        """Stop every process this control plane started and remove its state."""
        stopped = self.processes.stop_all()
        if self.state_dir.exists():
            shutil.rmtree(self.state_dir, ignore_errors=True)
        return stopped

    # -- start-up ------------------------------------------------------------

    def _start(self, options: UpOptions, progress: Progress) -> None:
        assert self._binaries is not None
        binaries = self._binaries
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ports = Ports.choose(options.api_port)
        certs = self._issue_certificates()
        self._write_state(ports, options)
        self._write_kubeconfigs(ports, certs)
        parent = options.die_with_parent

        progress(f"starting etcd {versions.ETCD_VERSION} on 127.0.0.1:{ports.etcd_client}")
        etcd = self.processes.start(
            "etcd", self._etcd_args(binaries, ports, certs), die_with_parent=parent
        )
        etcd_tls = TLSClient(certs.ca, certs.etcd_client.cert, certs.etcd_client.key)
        wait_until(
            "etcd /health",
            lambda: http_ok(f"https://127.0.0.1:{ports.etcd_client}/health", etcd_tls),
            etcd,
            60,
        )

        progress(
            f"starting kube-apiserver {versions.KUBERNETES_VERSION} on https://127.0.0.1:{ports.apiserver}"
        )
        apiserver = self.processes.start(
            "kube-apiserver",
            [*self._apiserver_args(binaries, ports, certs), *self._audit_args(options)],
            die_with_parent=parent,
        )
        wait_until(
            "kube-apiserver /readyz",
            lambda: http_ok(f"https://127.0.0.1:{ports.apiserver}/readyz", self._admin_tls()),
            apiserver,
            120,
        )
        self._install_base_objects(binaries)

        progress(
            "starting kube-controller-manager, kube-scheduler, kwok and the pod-directory agent"
        )
        kcm = self.processes.start(
            "kube-controller-manager",
            self._controller_manager_args(binaries, ports, certs, options),
            die_with_parent=parent,
        )
        scheduler = self.processes.start(
            "kube-scheduler", self._scheduler_args(binaries, ports), die_with_parent=parent
        )
        kwok_process = self.processes.start(
            "kwok", self._kwok_args(binaries, ports, certs, options), die_with_parent=parent
        )
        agent = self.processes.start(
            "pod-directory-agent",
            [
                sys.executable,
                "-m",
                "kubedirector_core.devcluster.agent",
                "--kubeconfig",
                str(self._component_kubeconfig("agent")),
                "--pods-dir",
                str(self.pods_dir),
            ],
            die_with_parent=parent,
        )
        for record, port in ((kcm, ports.controller_manager), (scheduler, ports.scheduler)):
            wait_until(f"{record.name} /healthz", partial(_healthz_insecure, port), record, 60)
        wait_until("kwok /healthz", lambda: _healthz_insecure(ports.kwok), kwok_process, 60)
        if not agent.alive():
            raise DevClusterError(f"the pod-directory agent exited; see {agent.log}")

        nodes = kwok.default_nodes(options.nodes, options.gpu_nodes, options.gpus_per_node)
        progress(f"creating {len(nodes)} fake node(s)")
        for node in nodes:
            self.add_node(node, wait=False)
        self.wait_nodes_ready([n.name for n in nodes], kwok_process)
        wait_until(
            "the default service account (pods need it)",
            lambda: self.kubectl("get", "serviceaccount", "default", check=False).returncode == 0,
            kcm,
            60,
        )

    def _write_state(self, ports: Ports, options: UpOptions) -> None:
        state = {
            "ports": asdict(ports),
            "options": asdict(options),
            "versions": {
                "kubernetes": versions.KUBERNETES_VERSION,
                "etcd": versions.ETCD_VERSION,
                "kwok": versions.KWOK_VERSION,
            },
        }
        self._state_file.write_text(json.dumps(state, indent=2))

    def _issue_certificates(self) -> _Certificates:
        pki = self.state_dir / "pki"
        ca = CertificateAuthority(pki)
        ca.create()
        certs = _Certificates(
            ca=ca.cert_path,
            apiserver=ca.issue(
                "apiserver", "kube-apiserver", server_hosts=_API_HOSTS, client=False
            ),
            etcd=ca.issue("etcd", "etcd", server_hosts=("127.0.0.1", "localhost")),
            etcd_client=ca.issue("apiserver-etcd-client", "kube-apiserver-etcd-client"),
            kubelet_client=ca.issue(
                "apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",)
            ),
            kwok_serving=ca.issue(
                "kwok-serving", "kwok", server_hosts=("127.0.0.1", "localhost"), client=False
            ),
            service_account=write_service_account_keys(pki),
        )
        for name, (common_name, groups) in _IDENTITIES.items():
            certs.clients[name] = ca.issue(f"client-{name}", common_name, groups)
        return certs

    def _admin_tls(self) -> TLSClient:
        pki = self.state_dir / "pki"
        return TLSClient(pki / "ca.crt", pki / "client-admin.crt", pki / "client-admin.key")

    def _component_kubeconfig(self, name: str) -> Path:
        return self.state_dir / "kubeconfigs" / f"{name}.kubeconfig"

    def _write_kubeconfigs(self, ports: Ports, certs: _Certificates) -> None:
        for name, pair in certs.clients.items():
            write_kubeconfig(
                self._component_kubeconfig(name), ports.apiserver, certs.ca, pair, user=name
            )

    def kubeconfig_for(self, user: str, groups: Sequence[str] = ()) -> Path:
        """Issue a client certificate for ``user`` and write a kubeconfig that uses it.

        The identity has no rights beyond what RBAC grants it; tests use this
        to check what a given account may and may not do.
        """
        pki = self.state_dir / "pki"
        ca = CertificateAuthority(pki)
        safe = _file_safe(user)
        pair = ca.issue(f"user-{safe}", user, tuple(groups))
        path = self.state_dir / "kubeconfigs" / f"user-{safe}.kubeconfig"
        write_kubeconfig(
            path, int(self.state()["ports"]["apiserver"]), ca.cert_path, pair, user=safe
        )
        return path

    @property
    def ca_certificate(self) -> Path:
        """The CA every component of this control plane trusts (PEM)."""
        return self.state_dir / "pki" / "ca.crt"

    def serving_certificate(
        self, name: str, hosts: Sequence[str] = ("127.0.0.1", "localhost")
    ) -> KeyPair:
        """Issue a serving certificate signed by this control plane's CA.

        For servers the API server calls, such as the operator's admission
        webhook on loopback: give the API server :attr:`ca_certificate` as the
        webhook's ``caBundle``.
        """
        ca = CertificateAuthority(self.state_dir / "pki")
        return ca.issue(
            f"serving-{_file_safe(name)}", name, server_hosts=tuple(hosts), client=False
        )

    def _etcd_args(self, b: Binaries, p: Ports, c: _Certificates) -> list[str]:
        client_url = f"https://127.0.0.1:{p.etcd_client}"
        peer_url = f"http://127.0.0.1:{p.etcd_peer}"
        return [
            str(b.etcd),
            "--name=devcluster",
            f"--data-dir={self.state_dir / 'etcd'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=devcluster={peer_url}",
            f"--cert-file={c.etcd.cert}",
            f"--key-file={c.etcd.key}",
            "--client-cert-auth=true",
            f"--trusted-ca-file={c.ca}",
            # A throwaway development store: skipping fsync makes it much faster.
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ]

    def _apiserver_args(self, b: Binaries, p: Ports, c: _Certificates) -> list[str]:
        return [
            str(b.kube_apiserver),
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={p.apiserver}",
            f"--etcd-servers=https://127.0.0.1:{p.etcd_client}",
            f"--etcd-cafile={c.ca}",
            f"--etcd-certfile={c.etcd_client.cert}",
            f"--etcd-keyfile={c.etcd_client.key}",
            f"--tls-cert-file={c.apiserver.cert}",
            f"--tls-private-key-file={c.apiserver.key}",
            f"--client-ca-file={c.ca}",
            f"--kubelet-client-certificate={c.kubelet_client.cert}",
            f"--kubelet-client-key={c.kubelet_client.key}",
            f"--kubelet-certificate-authority={c.ca}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--service-account-key-file={c.service_account.cert}",
            f"--service-account-signing-key-file={c.service_account.key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=RBAC",
            # Pods asking for GPUs tolerate the GPU nodes' taint, as on real clusters.
            "--enable-admission-plugins=ExtendedResourceToleration",
            # Endpoints may not hold loopback addresses; nothing here routes to the API server
            # through the `kubernetes` Service anyway.
            "--endpoint-reconciler-type=none",
            # Webhooks and aggregated APIs behind a Service are called at one of its
            # endpoints, not its cluster IP: nothing here (no kube-proxy) routes cluster IPs.
            "--enable-aggregator-routing=true",
            "--allow-privileged=true",
            "--profiling=false",
        ]

    @property
    def audit_log(self) -> Path:
        """The API server's audit log (JSON lines), written if ``UpOptions.audit_users`` is set."""
        return self.state_dir / "logs" / "audit.log"

    def _audit_args(self, options: UpOptions) -> list[str]:
        """Audit ``options.audit_users``' requests at level Metadata, nobody else's."""
        if not options.audit_users:
            return []
        policy = {
            "apiVersion": "audit.k8s.io/v1",
            "kind": "Policy",
            "omitStages": ["RequestReceived"],
            "rules": [
                {"level": "Metadata", "users": list(options.audit_users)},
                {"level": "None"},
            ],
        }
        policy_file = self.state_dir / "audit-policy.yaml"
        policy_file.write_text(yaml.safe_dump(policy))
        self.audit_log.parent.mkdir(parents=True, exist_ok=True)
        return [
            f"--audit-policy-file={policy_file}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json",
        ]

    def _controller_manager_args(
        self, b: Binaries, p: Ports, c: _Certificates, options: UpOptions
    ) -> list[str]:
        kubeconfig = self._component_kubeconfig("controller-manager")
        return [
            str(b.kube_controller_manager),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={p.controller_manager}",
            f"--cert-dir={self.state_dir / 'pki' / 'controller-manager'}",
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={c.service_account.key}",
            f"--root-ca-file={c.ca}",
            f"--cluster-signing-cert-file={c.ca}",
            f"--cluster-signing-key-file={self.state_dir / 'pki' / 'ca.key'}",
            f"--node-monitor-grace-period={options.node_monitor_grace_seconds}s",
            "--profiling=false",
        ]

    def _scheduler_args(self, b: Binaries, p: Ports) -> list[str]:
        kubeconfig = self._component_kubeconfig("scheduler")
        return [
            str(b.kube_scheduler),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={p.scheduler}",
            f"--cert-dir={self.state_dir / 'pki' / 'scheduler'}",
            "--leader-elect=false",
            "--profiling=false",
        ]

    def _kwok_args(self, b: Binaries, p: Ports, c: _Certificates, options: UpOptions) -> list[str]:
        config = self.state_dir / "kwok.yaml"
        config.write_text(kwok.kwok_configuration(b.kwok_share))
        return [
            str(b.kwok),
            f"--kubeconfig={self._component_kubeconfig('kwok')}",
            f"--config={config}",
            f"--manage-nodes-with-annotation-selector={kwok.KWOK_NODE_ANNOTATION}=fake",
            f"--manage-nodes-with-label-selector={kwok.MANAGED_NODES_LABEL_SELECTOR}",
            # KWOK's server authenticates nobody: loopback only.
            f"--server-address=127.0.0.1:{p.kwok}",
            "--node-ip=127.0.0.1",
            f"--node-port={p.kwok}",
            f"--tls-cert-file={c.kwok_serving.cert}",
            f"--tls-private-key-file={c.kwok_serving.key}",
            "--enable-crds=Exec,ClusterExec",
            # Renewed every quarter of it: with a short grace (tests) a node still has
            # three missed renewals' room before it is taken for down.
            f"--node-lease-duration-seconds={options.node_monitor_grace_seconds}",
        ]

    def _install_base_objects(self, b: Binaries) -> None:
        documents = [(b.kwok_share / "crds" / name).read_text() for name in kwok.EXEC_CRDS]
        documents.append(yaml.safe_dump(kwok.storage_class_manifest()))
        self.kubectl("apply", "--server-side", "-f", "-", input="\n---\n".join(documents))
        self.wait_established("execs.kwok.x-k8s.io")

    # -- using it ------------------------------------------------------------

    @property
    def kubectl_path(self) -> Path:
        """The kubectl binary built for this control plane's release."""
        return (self._binaries or Binaries.under(cache_root())).kubectl

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the built kubectl against this control plane as admin."""
        result = subprocess.run(
            [str(self.kubectl_path), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise DevClusterError(
                f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}"
            )
        return result

    def wait_established(self, *crds: str, timeout: float = 120) -> None:
        """Wait until every CustomResourceDefinition named is Established.

        ``kubectl wait --for=condition=Established`` fails at once, instead of
        waiting, while a just-applied CRD has no ``status.conditions`` yet; it
        is asked again until it succeeds, and raises after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        names = [f"crd/{crd}" for crd in crds]
        while True:
            result = self.kubectl(
                "wait", "--for=condition=Established", "--timeout=10s", *names, check=False
            )
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise DevClusterError(
                    f"CRDs {', '.join(crds)} not established after {timeout:.0f}s: "
                    f"{result.stderr.strip()}"
                )
            time.sleep(0.5)

    def api_client(self) -> Any:
        """A ``kubernetes.client.ApiClient`` authenticated as admin."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))  # type: ignore[no-untyped-call]

    def add_node(self, node: kwok.NodeSpec, *, wait: bool = True) -> None:
        """Create a fake node (and wait until it is Ready unless ``wait`` is False)."""
        self.kubectl("create", "-f", "-", input=yaml.safe_dump(node.manifest()))
        if wait:
            self.wait_nodes_ready([node.name])

    def wait_nodes_ready(
        self, names: Sequence[str], kwok_process: ProcessRecord | None = None
    ) -> None:
        """Wait until every named node reports Ready."""
        if not names:
            return
        record = kwok_process or next(r for r in self.processes.records() if r.name == "kwok")
        wait_until(
            f"nodes {', '.join(names)} Ready",
            lambda: self._ready_nodes() >= set(names),
            record,
            60,
        )

    @property
    def node_monitor_grace_seconds(self) -> int:
        """The node-monitor grace this control plane was started with."""
        options = self.state().get("options") or {}
        return int(options.get("node_monitor_grace_seconds", UpOptions.node_monitor_grace_seconds))

    def stop_heartbeat(self, node: str) -> None:
        """Cut fake node ``node`` off, as a network partition cuts off a kubelet.

        KWOK lets go of the node: its lease is no longer renewed, so after the
        controller-manager's node-monitor grace (``UpOptions.node_monitor_grace_seconds``,
        less up to a quarter of it, KWOK's renewal interval, plus up to the
        controller-manager's 5 s monitor period; 16 s measured for 12 s) the
        node's Ready condition turns ``Unknown``, the
        ``node.kubernetes.io/unreachable`` taints are added and its pods are
        marked NotReady. Otherwise its pods stay as they are: a graceful
        delete of one never completes, a forced one (grace period 0) removes
        it. The Node object stays. Returns at once; undo with
        :meth:`resume_heartbeat`.
        """
        label = f"{kwok.HEARTBEAT_LABEL}={kwok.HEARTBEAT_STOPPED}"
        self.kubectl("label", "node", node, label, "--overwrite")

    def resume_heartbeat(self, node: str, *, wait: bool = True) -> None:
        """Let KWOK manage ``node`` again after :meth:`stop_heartbeat`.

        KWOK renews the node's lease and marks it Ready again; pods deleted
        meanwhile are removed, and those the controller-manager marked
        NotReady become Ready again (``kwok.POD_READY_AGAIN_STAGE``). Waits
        until the node is Ready and the controller-manager took the
        unreachable taints off, unless ``wait`` is False.
        """
        self.kubectl("label", "node", node, f"{kwok.HEARTBEAT_LABEL}-")
        if not wait:
            return
        record = next(r for r in self.processes.records() if r.name == "kwok")
        wait_until(
            f"node {node} Ready without the unreachable taint",
            lambda: self._healthy_node(node),
            record,
            60,
        )

    def _healthy_node(self, name: str) -> bool:
        result = self.kubectl("get", "node", name, "-o", "json", check=False)
        if result.returncode != 0:
            return False
        body = json.loads(result.stdout)
        conditions = body.get("status", {}).get("conditions", [])
        taints = body.get("spec", {}).get("taints") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions) and not any(
            t.get("key") == kwok.UNREACHABLE_TAINT for t in taints
        )

    def _ready_nodes(self) -> set[str]:
        result = self.kubectl("get", "nodes", "-o", "json", check=False)
        if result.returncode != 0:
            return set()
        ready = set()
        for item in json.loads(result.stdout)["items"]:
            conditions = item.get("status", {}).get("conditions", [])
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                ready.add(item["metadata"]["name"])
        return ready


def _file_safe(name: str) -> str:
    """``name`` with every character unsafe in a file name replaced by ``_``."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _healthz_insecure(port: int) -> bool:
    """Health of a component serving a self-signed certificate on loopback."""
    import ssl
    import urllib.request

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(
            f"https://127.0.0.1:{port}/healthz", timeout=2, context=context
        ) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def write_kubeconfig(path: Path, api_port: int, ca: Path, pair: KeyPair, *, user: str) -> None:
    """Write a kubeconfig for ``https://127.0.0.1:<api_port>`` authenticated by ``pair``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "kubedirector-dev",
                "cluster": {
                    "server": f"https://127.0.0.1:{api_port}",
                    "certificate-authority": str(ca),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate": str(pair.cert), "client-key": str(pair.key)},
            }
        ],
        "contexts": [
            {"name": "kubedirector-dev", "context": {"cluster": "kubedirector-dev", "user": user}}
        ],
        "current-context": "kubedirector-dev",
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o600)
