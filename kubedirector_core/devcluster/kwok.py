"""KWOK's configuration and the fake nodes it manages.

KWOK fakes kubelets: it moves nodes and pods through *stages*. Without stages
it exits with "no stages found", so the configuration assembled here always
holds the stages shipped in KWOK's own module (copied next to the binary at
build time): nodes initialise and keep a heartbeat lease; pods become Running
and Ready with an IP, complete, and disappear when deleted; PVCs of the
``kwok-volume`` storage class get a PersistentVolume and become Bound.

KWOK manages the nodes annotated :data:`KWOK_NODE_ANNOTATION` ``=fake`` that
do not carry :data:`HEARTBEAT_LABEL` ``=``:data:`HEARTBEAT_STOPPED`; setting that
label stops a node's heartbeat (``ControlPlane.stop_heartbeat``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Annotation that marks a node as KWOK's to manage.
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
#: A node labelled ``HEARTBEAT_LABEL=HEARTBEAT_STOPPED`` is let go by KWOK: its
#: lease is no longer renewed and its pods no longer move, as if its kubelet
#: were cut off (see :meth:`ControlPlane.stop_heartbeat`). KWOK's annotation
#: selector is applied on KWOK's side only and never lets go of a node, while a
#: label selector is the API server's, whose watch reports a node that stops
#: matching as deleted, which KWOK does act on.
HEARTBEAT_LABEL = "devcluster.kubedirector.hpe.com/heartbeat"
HEARTBEAT_STOPPED = "stopped"
#: The label selector KWOK manages nodes with (next to the annotation).
MANAGED_NODES_LABEL_SELECTOR = f"{HEARTBEAT_LABEL}!={HEARTBEAT_STOPPED}"
#: The taint the controller-manager puts on a node that stopped heartbeating.
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
#: The storage class KWOK's volume stages provision for; made the default class.
STORAGE_CLASS = "kwok-volume"
#: The label every fake node carries, for selecting them.
FAKE_NODE_LABEL = "type"
FAKE_NODE_VALUE = "kwok"
GPU_RESOURCE = "nvidia.com/gpu"

_STAGE_FILES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
    "volume/fast/pvc-provision.yaml",
    "volume/fast/pv-bind.yaml",
    "volume/fast/pv-delete.yaml",
    "volume/fast/pvc-delete.yaml",
)

#: A stage of our own: a Running pod whose Ready condition is not True becomes
#: Ready again, as a real kubelet reports once its node is back. KWOK's stages
#: only make Pending pods Ready, so a pod the controller-manager marked NotReady
#: while its node was Unknown (a stopped heartbeat) would otherwise stay so.
#: KWOK plays no stage for pods of a node it does not manage, so while the
#: heartbeat is stopped the pod stays NotReady.
POD_READY_AGAIN_STAGE = """\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: kd-pod-ready-again
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values:
      - 'True'
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: ContainersReady
"""

#: CRDs KWOK watches with ``--enable-crds`` but does not install itself.
EXEC_CRDS = ("kwok.x-k8s.io_execs.yaml", "kwok.x-k8s.io_clusterexecs.yaml")


def kwok_configuration(share: Path) -> str:
    """Return KWOK's ``--config`` file: every stage the control plane relies on.

    KWOK's own stages, and :data:`POD_READY_AGAIN_STAGE`.
    """
    documents = [(share / "stages" / relative).read_text().strip() for relative in _STAGE_FILES]
    documents.append(POD_READY_AGAIN_STAGE.strip())
    return "\n---\n".join(documents) + "\n"


def storage_class_manifest() -> dict[str, Any]:
    """The default StorageClass whose claims KWOK's volume stages bind."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": STORAGE_CLASS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "kwok.x-k8s.io/volume",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


@dataclass(frozen=True)
class NodeSpec:
    """A fake node: its name, capacity and, for GPU nodes, the GPU model."""

    name: str
    cpu: str = "8"
    memory: str = "32Gi"
    pods: int = 110
    gpus: int = 0
    gpu_product: str = "NVIDIA-A100-SXM4-40GB"
    gpu_memory_mib: int = 40960
    labels: dict[str, str] = field(default_factory=dict)

    def manifest(self) -> dict[str, Any]:
        """The Node object, with status capacity that KWOK's stages keep."""
        capacity = {"cpu": self.cpu, "memory": self.memory, "pods": str(self.pods)}
        labels = {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "node-role.kubernetes.io/agent": "",
            FAKE_NODE_LABEL: FAKE_NODE_VALUE,
        }
        taints: list[dict[str, str]] = []
        if self.gpus:
            capacity[GPU_RESOURCE] = str(self.gpus)
            # The labels NVIDIA's GPU feature discovery puts on real GPU nodes.
            labels.update(
                {
                    "nvidia.com/gpu.present": "true",
                    "nvidia.com/gpu.count": str(self.gpus),
                    "nvidia.com/gpu.product": self.gpu_product,
                    "nvidia.com/gpu.memory": str(self.gpu_memory_mib),
                }
            )
            taints.append({"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"})
        labels.update(self.labels)
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "annotations": {KWOK_NODE_ANNOTATION: "fake"},
                "labels": labels,
            },
            "spec": {"taints": taints} if taints else {},
            "status": {"capacity": capacity, "allocatable": dict(capacity)},
        }


def default_nodes(count: int, gpu_count: int, gpus_per_node: int) -> list[NodeSpec]:
    """``count`` CPU nodes ``kwok-node-N`` and ``gpu_count`` GPU nodes ``kwok-gpu-N``."""
    nodes = [NodeSpec(name=f"kwok-node-{i}") for i in range(count)]
    nodes += [NodeSpec(name=f"kwok-gpu-{i}", gpus=gpus_per_node) for i in range(gpu_count)]
    return nodes
