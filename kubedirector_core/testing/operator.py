"""pytest fixture: the operator as a subprocess against the local control plane.

* ``operator`` (function): starts ``python -m kubedirector_core run`` watching
  the test's ``namespace``, with its own identity
  (``system:serviceaccount:kubedirector:operator``, bound to cluster-admin) so
  that what it writes can be told apart from what the test writes. Its log
  goes to a file that is printed when the test fails. ``kill()`` sends
  SIGKILL (as a crash would), ``restart()`` starts it again, and the process
  is always stopped at the end.
* ``operator_env`` (function): extra environment variables for the operator
  process, ``{}`` by default; override the fixture in a test module (e.g. to
  set ``KD_EXTRA_PLUGINS`` and ``PYTHONPATH``). ``OperatorProcess.env`` can be
  changed too; it applies from the next ``start()``/``restart()``.

Mark such tests with ``@pytest.mark.controlplane``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import pytest
import yaml

from kubedirector_core.devcluster.cluster import ControlPlane
from kubedirector_core.setuppackage import build_setup_package

__all__ = [
    "OPERATOR_USER",
    "RECORDING_STARTSCRIPT",
    "TIMELINE_LOG",
    "GuestFiles",
    "JsonEndpoint",
    "OperatorProcess",
    "PersistedVolumes",
    "apply",
    "cluster_ready",
    "condition",
    "count_operator_writes",
    "event_messages",
    "events_about",
    "fqdns_in",
    "get_cluster",
    "grant_operator",
    "kubedirector_crds",
    "make_setup_package",
    "member_dirs",
    "members",
    "named",
    "operator",
    "operator_env",
    "operator_writes",
    "pytest_runtest_makereport",
    "recorded_calls",
    "recorder_app",
    "recorder_cluster",
    "timeline",
    "wait_ready",
    "wait_until",
    "warning_events",
]

#: The identity the fixture's operator uses (a service account's user name).
OPERATOR_USER = "system:serviceaccount:kubedirector:operator"
_BINDING = "kubedirector-operator-test"


class OperatorProcess:
    """One operator subprocess at a time, with its log file."""

    def __init__(
        self,
        kubeconfig: Path,
        namespaces: Sequence[str],
        log_path: Path,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.namespaces = list(namespaces)
        self.log_path = log_path
        self.extra_args = list(extra_args)
        #: Variables added to (or overriding) this process's environment.
        self.env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def command(self) -> list[str]:
        """The command line that starts the operator."""
        command = [sys.executable, "-m", "kubedirector_core", "run"]
        command += ["--kubeconfig", str(self.kubeconfig)]
        for namespace in self.namespaces:
            command += ["--namespace", namespace]
        return command + self.extra_args

    def start(self) -> None:
        """Start the operator (it must not be running); its output is appended to the log."""
        assert not self.running, "the operator is already running"
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start {self.starts}: {' '.join(self.command())}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            )

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the operator, as a crash or an evicted pod would, and reap it."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
            self.process = None

    def stop(self) -> None:
        """Stop the operator politely (SIGTERM), then forcefully if it lingers."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self.process = None

    def restart(self) -> None:
        """Kill the operator (if running) and start it again."""
        self.kill()
        self.start()

    def log(self) -> str:
        """Everything the operator printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def grant_operator(control_plane: ControlPlane) -> Path:
    """Bind the fixture operator's identity to cluster-admin; return its kubeconfig."""
    control_plane.kubectl(
        "create",
        "clusterrolebinding",
        _BINDING,
        "--clusterrole=cluster-admin",
        f"--user={OPERATOR_USER}",
        check=False,
    )
    return control_plane.kubeconfig_for(OPERATOR_USER)


@pytest.fixture(scope="session")
def kubedirector_crds(control_plane: ControlPlane) -> None:
    """The KubeDirector CRDs installed (from ``deploy/crds/``) and established."""
    control_plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(_crds_dir()))
    control_plane.wait_established(
        "kubedirectorclusters.kubedirector.hpe.com", "kubedirectorapps.kubedirector.hpe.com"
    )


@pytest.fixture
def operator_env() -> dict[str, str]:
    """Extra environment for the ``operator`` fixture's process; override it to add some."""
    return {}


@pytest.fixture
def operator(
    control_plane: ControlPlane,
    kubedirector_crds: None,
    namespace: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    operator_env: dict[str, str],
) -> Iterator[OperatorProcess]:
    """The operator running against the test's namespace; always stopped afterwards."""
    process = OperatorProcess(
        grant_operator(control_plane),
        [namespace],
        tmp_path / "operator.log",
        extra_args=getattr(request, "param", ()),
        env=operator_env,
    )
    process.start()
    try:
        yield process
    finally:
        _remove_clusters(control_plane, namespace, process)
        process.stop()
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            sys.stderr.write(f"\n----- operator log ({process.log_path}) -----\n")
            sys.stderr.write(process.log()[-20000:])


def _remove_clusters(control_plane: ControlPlane, namespace: str, process: OperatorProcess) -> None:
    """Delete the test's clusters while an operator still runs to remove their finalizers."""
    control_plane.kubectl(
        "delete", "kubedirectorclusters", "--all", "-n", namespace, "--wait=false", check=False
    )
    if not process.running:
        process.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        left = control_plane.kubectl(
            "get", "kubedirectorclusters", "-n", namespace, "-o", "name", check=False
        )
        if left.returncode or not left.stdout.strip():
            return
        time.sleep(0.25)
    # The operator did not finish in time: let the namespace go anyway.
    for name in left.stdout.split():
        control_plane.kubectl(
            "patch",
            name,
            "-n",
            namespace,
            "--type=merge",
            "-p",
            '{"metadata":{"finalizers":null}}',
            check=False,
        )


#: The FlowSchema that sorts the fixture operator's write requests apart (see
#: :func:`operator_writes`).
WRITES_FLOW_SCHEMA = "kubedirector-operator-writes"


def count_operator_writes(control_plane: ControlPlane) -> None:
    """Have the API server count the fixture operator's writes on a FlowSchema of their own."""

    flow_schema = {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "FlowSchema",
        "metadata": {"name": WRITES_FLOW_SCHEMA},
        "spec": {
            "matchingPrecedence": 100,
            "priorityLevelConfiguration": {"name": "workload-low"},
            "distinguisherMethod": {"type": "ByUser"},
            "rules": [
                {
                    "subjects": [{"kind": "User", "user": {"name": OPERATOR_USER}}],
                    "resourceRules": [
                        {
                            "verbs": ["create", "update", "patch", "delete", "deletecollection"],
                            "apiGroups": ["*"],
                            "resources": ["*"],
                            "namespaces": ["*"],
                            "clusterScope": True,
                        }
                    ],
                }
            ],
        },
    }
    control_plane.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(flow_schema))


def operator_writes(control_plane: ControlPlane) -> int:
    """Write requests (execs included) the fixture operator made so far.

    Read from ``apiserver_flowcontrol_dispatched_requests_total`` of the
    FlowSchema :func:`count_operator_writes` installs; 0 before its first write.
    """
    metrics = control_plane.kubectl("get", "--raw", "/metrics").stdout
    prefix = f'apiserver_flowcontrol_dispatched_requests_total{{flow_schema="{WRITES_FLOW_SCHEMA}"'
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in metrics.splitlines()
        if line.startswith(prefix)
    )


def _crds_dir() -> Path:
    """``deploy/crds/`` of this checkout, or ``$KD_CRDS_DIR`` to test other CRDs."""
    override = os.environ.get("KD_CRDS_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "deploy" / "crds"


def wait_until(
    what: str, condition: object, timeout: float = 60.0, interval: float = 0.25
) -> object:
    """Poll ``condition()`` until it is truthy and return it; fail the test naming ``what``."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------------------
# Helpers for tests that drive clusters through the operator
# ---------------------------------------------------------------------------

#: A startscript that appends each call's arguments to ``$KD_GUEST_ROOT/kd-calls.log``
#: and keeps the configmeta it was configured with.
RECORDING_STARTSCRIPT = """#!/bin/sh
root="${KD_GUEST_ROOT:-}"
printf '%s\\n' "$*" >> "$root/kd-calls.log"
if [ "$1" = "--configure" ]; then
    cp "$root/etc/guestconfig/configmeta.json" "$root/kd-configured-with.json"
fi
exit 0
"""


def make_setup_package(path: Path, startscript: str = RECORDING_STARTSCRIPT) -> str:
    """Write a setup package (``appconfig/startscript`` in a .tgz) and return its file:// URL."""
    path.write_bytes(build_setup_package({"appconfig/startscript": (startscript.encode(), 0o755)}))
    return path.resolve().as_uri()


def recorded_calls(pod_dir: Path, log_name: str = "kd-calls.log") -> list[str]:
    """The calls a member recorded, one a line (see :data:`RECORDING_STARTSCRIPT`).

    ``log_name`` names another log in the member's directory (a fake tool's).
    """
    log = pod_dir / log_name
    return log.read_text().splitlines() if log.exists() else []


class _Poller:
    """A daemon thread calling :meth:`tick` every ``interval`` seconds while in a ``with``."""

    interval = 0.02

    def __init__(self, name: str) -> None:
        import threading

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.interval)

    def tick(self) -> None:
        """One round of work."""
        raise NotImplementedError


class GuestFiles(_Poller):
    """Put files into every member's guest root as soon as its directory appears.

    Stands in for what a container image ships (``/opt/configscripts/...``):
    under KWOK a pod's root starts empty, so files the app's image would hold
    are copied in by this watcher (polling every 20 ms, well before a pod is
    Ready and its setup runs). Paths named in ``executable`` get mode 0755
    (tools the image puts on the PATH), the others 0644.
    """

    def __init__(
        self, pods_dir: Path, files: dict[str, bytes], executable: Sequence[str] = ()
    ) -> None:
        super().__init__("guest-files")
        self.pods_dir = pods_dir
        self.files = files
        self.executable = frozenset(executable)

    def tick(self) -> None:
        """Copy the files into every pod directory that lacks them."""
        for pod_dir in self.pods_dir.glob("[!.]*"):
            for relative, content in self.files.items():
                target = pod_dir / relative.lstrip("/")
                if target.exists():
                    continue
                partial = target.with_name(target.name + ".partial")
                try:
                    # Never re-create the pod's own directory: a deleted pod's is moved away.
                    for parent in reversed(target.relative_to(pod_dir).parents[:-1]):
                        (pod_dir / parent).mkdir(exist_ok=True)
                    partial.write_bytes(content)
                    partial.chmod(0o755 if relative in self.executable else 0o644)
                    partial.rename(target)
                except FileNotFoundError:
                    break


class PersistedVolumes(_Poller):
    """Emulate members' volumes under KWOK: a recreated pod gets back its persisted dirs.

    KWOK's volumes hold no data, and a recreated pod starts with a fresh
    directory (the old one is archived under ``<namespace>/.gone/``). For the
    pods named in ``persisted`` (pod -> absolute directories on its volume),
    this copies those directories from the archive into the new pod's
    directory as soon as it appears, as a real volume would bring them back.
    """

    def __init__(self, namespace_dir: Path, persisted: dict[str, list[str]]) -> None:
        super().__init__("volumes")
        self.namespace_dir = namespace_dir
        self.persisted = persisted
        self._restored: set[Path] = set()

    def tick(self) -> None:
        """Restore the persisted directories of every pod recreated since the last round."""
        import shutil

        for pod, directories in self.persisted.items():
            archives = sorted(
                (self.namespace_dir / ".gone").glob(f"{pod}.*"),
                key=lambda path: path.stat().st_mtime,
            )
            current = self.namespace_dir / pod
            if not archives or archives[-1] in self._restored or not current.is_dir():
                continue
            for directory in directories:
                source = archives[-1] / directory.lstrip("/")
                if source.is_dir():
                    shutil.copytree(source, current / directory.lstrip("/"), dirs_exist_ok=True)
            self._restored.add(archives[-1])


def get_cluster(control_plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    """The KubeDirectorCluster as stored."""
    result = control_plane.kubectl(
        "get", "kubedirectorcluster", name, "-n", namespace, "-o", "json"
    )
    cluster: dict[str, Any] = json.loads(result.stdout)
    return cluster


def cluster_ready(cluster: dict[str, Any]) -> bool:
    """True when the cluster is configured, every member is, and ``Ready`` is True for its spec."""
    status = cluster.get("status")
    metadata = cluster.get("metadata")
    if not isinstance(status, dict) or not isinstance(metadata, dict):
        return False
    ready = condition(cluster, "Ready")
    members = [m for role in status.get("roles") or [] for m in role.get("members") or []]
    return (
        status.get("state") == "configured"
        and ready.get("status") == "True"
        and ready.get("observedGeneration") == metadata.get("generation")
        and all(m.get("state") == "configured" for m in members)
    )


def recorder_app(package_url: str, *, persist: bool = True) -> dict[str, Any]:
    """A small app whose startscript records every call."""
    return {
        "apiVersion": "kubedirector.hpe.com/v1beta1",
        "kind": "KubeDirectorApp",
        "metadata": {"name": "recorder"},
        "spec": {
            "label": {"name": "Recorder"},
            "distroID": "test/recorder",
            "version": "1.0",
            "configSchemaVersion": 7,
            "defaultImageRepoTag": "example.invalid/recorder:1",
            "defaultConfigPackage": {"packageURL": package_url, "useNewSetupLayout": True},
            "defaultEventList": ["configure", "addnodes", "delnodes"],
            **({"defaultPersistDirs": ["/data"]} if persist else {}),
            "services": [{"id": "web", "label": {"name": "web"}, "endpoint": {"port": 8080}}],
            "roles": [{"id": "worker", "cardinality": "1+"}],
            "config": {
                "selectedRoles": ["worker"],
                "roleServices": [{"roleID": "worker", "serviceIDs": ["web"]}],
            },
        },
    }


def recorder_cluster(members: int, *, storage: bool = False) -> dict[str, Any]:
    """A cluster ``rec`` of the recorder app with ``members`` workers."""
    role: dict[str, Any] = {
        "id": "worker",
        "members": members,
        "resources": {
            "requests": {"cpu": "100m", "memory": "64Mi"},
            "limits": {"cpu": "100m", "memory": "64Mi"},
        },
    }
    if storage:
        role["storage"] = {"size": "1Gi"}
    return {
        "apiVersion": "kubedirector.hpe.com/v1beta1",
        "kind": "KubeDirectorCluster",
        "metadata": {"name": "rec"},
        "spec": {"app": "recorder", "roles": [role]},
    }


def apply(control_plane: ControlPlane, namespace: str, document: dict[str, Any]) -> None:
    """Server-side apply ``document`` in ``namespace`` as the test's own user."""
    control_plane.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "-n",
        namespace,
        "-f",
        "-",
        input=yaml.safe_dump(document),
    )


def members(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    """Every member in the cluster's status, role by role."""
    return [m for role in cluster["status"].get("roles") or [] for m in role.get("members") or []]


def wait_ready(
    control_plane: ControlPlane, namespace: str, name: str = "rec", timeout: float = 120
) -> dict[str, Any]:
    """Wait until the cluster is Ready (see :func:`cluster_ready`) and return it."""

    def ready() -> dict[str, Any] | None:
        cluster = get_cluster(control_plane, namespace, name)
        return cluster if cluster_ready(cluster) else None

    result = wait_until(f"cluster {name} Ready", ready, timeout=timeout)
    assert isinstance(result, dict)
    return result


def fqdns_in(call: str) -> list[str]:
    """The fqdns a recorded ``--addnodes``/``--delnodes`` call names, in order."""
    match = re.search(r"--fqdns (\S+)", call)
    return match.group(1).split(",") if match else []


def named(document: dict[str, Any], name: str, **spec: Any) -> dict[str, Any]:
    """A deep copy of ``document`` renamed to ``name``, with ``spec`` fields replaced."""
    document = json.loads(json.dumps(document))
    document["metadata"]["name"] = name
    document["spec"].update(spec)
    return document


def condition(cluster: dict[str, Any], kind: str) -> dict[str, Any]:
    """The cluster's status condition of type ``kind``, or ``{}``."""
    for found in (cluster.get("status") or {}).get("conditions") or []:
        if found["type"] == kind:
            return dict(found)
    return {}


def warning_events(control_plane: ControlPlane, namespace: str, name: str) -> list[dict[str, Any]]:
    """Reason and message of every Warning Event about the object ``name``."""
    return events_about(control_plane, namespace, name, "Warning")


def events_about(
    control_plane: ControlPlane, namespace: str, name: str, event_type: str
) -> list[dict[str, Any]]:
    """Reason and message of every Event of ``event_type`` (Normal, Warning) about ``name``."""
    events = _events(control_plane, namespace, f"involvedObject.name={name},type={event_type}")
    return [{"reason": e["reason"], "message": e["message"]} for e in events]


def event_messages(
    control_plane: ControlPlane, namespace: str, name: str, reason: str
) -> list[str]:
    """The messages of every Event with ``reason`` (``Autoscaled``...) about ``name``."""
    events = _events(control_plane, namespace, f"involvedObject.name={name},reason={reason}")
    return [str(e["message"]) for e in events]


def _events(control_plane: ControlPlane, namespace: str, selector: str) -> list[dict[str, Any]]:
    found = control_plane.kubectl(
        "get", "events", "-n", namespace, "-o", "json", "--field-selector", selector
    )
    items: list[dict[str, Any]] = json.loads(found.stdout)["items"]
    return items


def member_dirs(control_plane: ControlPlane, namespace: str, pod: str) -> list[Path]:
    """Every directory pod ``pod`` had: those of deleted pods of that name, then the live one."""
    live = control_plane.pod_dir(namespace, pod)
    gone = sorted(
        (control_plane.pods_dir / namespace / ".gone").glob(f"{pod}.*"),
        key=lambda path: path.stat().st_mtime,
    )
    return [*gone, *([live] if live.is_dir() else [])]


#: Where fake in-container tools append ``<unix time>\t<call>`` lines (see :func:`timeline`).
TIMELINE_LOG = "timeline.log"


def timeline(guest_root: Path) -> list[tuple[float, str]]:
    """(time, call) of each line a fake tool appended to ``<guest_root>/timeline.log``.

    Fake tools stamp their calls with ``date +%s.%N``, the clock of the test
    machine, so calls in different members' directories fall into one order.
    """
    log = guest_root / TIMELINE_LOG
    if not log.exists():
        return []
    return [
        (float(when), what)
        for when, _, what in (line.partition("\t") for line in log.read_text().splitlines())
    ]


class JsonEndpoint:
    """An HTTP server on 127.0.0.1 answering ``GET <path>`` with the JSON in :attr:`document`.

    Stands in for an app's status endpoint (a Spark master's ``/json/``, a YARN
    ResourceManager's metrics), which KWOK pods cannot serve; the test changes
    :attr:`document` to change the answer. Use it in a ``with``; :attr:`url`
    is the full URL, :attr:`requests` the paths asked for, other paths get 404.
    """

    def __init__(self, path: str) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.document: Any = {}
        self.requests: list[str] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                endpoint.requests.append(self.path)
                body = json.dumps(endpoint.document).encode()
                self.send_response(200 if self.path == path else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the test's output quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self) -> Self:
        import threading

        threading.Thread(target=self.server.serve_forever, name="json", daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
