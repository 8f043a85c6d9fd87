"""Build cache bookkeeping, fake node manifests and exec exit statuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubedirector_core.devcluster import build, kwok
from kubedirector_core.errors import DevClusterError
from kubedirector_core.runtime.podexec import ExecError, exit_code_from_status


def _complete_cache(root: Path) -> build.Binaries:
    binaries = build.Binaries.under(root)
    for path in (
        binaries.etcd,
        binaries.kube_apiserver,
        binaries.kube_controller_manager,
        binaries.kube_scheduler,
        binaries.kubectl,
        binaries.kwok,
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
    (binaries.kwok_share / "stages").mkdir(parents=True)
    return binaries


def test_a_complete_cache_needs_no_build(tmp_path: Path) -> None:
    binaries = _complete_cache(tmp_path)
    assert binaries.missing() == []
    assert build.ensure_binaries(progress=lambda _: None, root=tmp_path) == binaries


def test_only_missing_components_are_reported(tmp_path: Path) -> None:
    binaries = _complete_cache(tmp_path)
    binaries.kubectl.unlink()
    assert binaries.missing() == ["kubernetes"]


def test_an_interrupted_build_leaves_nothing_that_looks_finished(tmp_path: Path) -> None:
    partial = tmp_path / ".kubernetes-v1.36.3.partial-4242"
    (partial / "bin").mkdir(parents=True)
    (partial / "bin" / "kube-apiserver").write_text("half-written")
    assert "kubernetes" in build.Binaries.under(tmp_path).missing()
    build._clear_stale_partials(tmp_path)
    assert not partial.exists()


def test_missing_go_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(DevClusterError, match=r"Install Go 1\.26"):
        build.go_binary()


def test_gpu_nodes_carry_capacity_labels_and_taint() -> None:
    node = kwok.NodeSpec(name="g0", gpus=2, gpu_product="NVIDIA-H100").manifest()
    assert node["status"]["capacity"]["nvidia.com/gpu"] == "2"
    assert node["status"]["allocatable"]["nvidia.com/gpu"] == "2"
    labels = node["metadata"]["labels"]
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-H100"
    assert labels["nvidia.com/gpu.count"] == "2"
    assert labels["nvidia.com/gpu.present"] == "true"
    assert node["spec"]["taints"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
    ]
    assert node["metadata"]["annotations"][kwok.KWOK_NODE_ANNOTATION] == "fake"


def test_cpu_nodes_have_no_gpu_and_no_taint() -> None:
    node = kwok.NodeSpec(name="c0").manifest()
    assert "nvidia.com/gpu" not in node["status"]["capacity"]
    assert node["spec"] == {}


def test_default_nodes_names_and_counts() -> None:
    nodes = kwok.default_nodes(2, 1, 4)
    assert [n.name for n in nodes] == ["kwok-node-0", "kwok-node-1", "kwok-gpu-0"]
    assert nodes[2].gpus == 4


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (None, 0),
        ({"status": "Success"}, 0),
        (
            {
                "status": "Failure",
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": "3"}]},
            },
            3,
        ),
        (
            {
                "status": "Failure",
                "message": "Internal error occurred: error executing command: exit status 7",
            },
            7,
        ),
    ],
)
def test_exit_status_from_kubelets_and_from_kwok(
    status: dict[str, object] | None, code: int
) -> None:
    assert exit_code_from_status(status) == code  # type: ignore[arg-type]


def test_an_exec_that_could_not_run_is_an_error_not_an_exit_status() -> None:
    with pytest.raises(ExecError, match="no exec found"):
        exit_code_from_status({"status": "Failure", "message": 'no exec found for container "c"'})
