"""Will these pods fit on these nodes? A small, pure first-fit bin packing.

Enough of the scheduler's filters to admit a gang honestly: the node is
Ready and schedulable; its ``NoSchedule``/``NoExecute`` taints are tolerated;
the pod's ``nodeSelector`` and required node affinity (``In``, ``NotIn``,
``Exists``, ``DoesNotExist``, ``Gt``, ``Lt`` on labels) match its labels; and
every requested resource (cpu, memory, ``nvidia.com/gpu``, any other) fits in
what is allocatable minus what is used. Pods are placed largest first (GPUs,
then cpu, then memory), each on the first node by name that takes it.
Preferences, pod (anti-)affinity and topology spread are not modelled: the
scheduler, not this packing, picks each pod's node, so a *required* spread or
anti-affinity could still leave an admitted member unschedulable; gang roles
should state them as preferences (``whenUnsatisfiable: ScheduleAnyway``,
``preferredDuringScheduling...``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from kubedirector_core.api import parse_quantity
from kubedirector_core.plan.model import ObservedNode, Taint

GPU: Final = "nvidia.com/gpu"
#: The order resources are named in messages and sorted by for packing.
RESOURCE_ORDER: Final = (GPU, "cpu", "memory")
_BLOCKING_EFFECTS: Final = frozenset({"NoSchedule", "NoExecute"})


@dataclass(frozen=True)
class PodNeeds:
    """What one pod asks of a node."""

    pod: str
    role: str
    requests: Mapping[str, float]
    tolerations: tuple[Mapping[str, Any], ...] = ()
    node_selector: Mapping[str, str] = field(default_factory=dict)
    #: Required node affinity: a node must match one of these terms (none: any node).
    terms: tuple[tuple[Mapping[str, Any], ...], ...] = ()

    def constraint_text(self) -> str:
        """The node labels asked for, as a person reads them (``k=v, k2 in (a, b)``)."""
        parts = [f"{k}={v}" for k, v in sorted(self.node_selector.items())]
        if len(self.terms) == 1:
            parts += [_expression_text(e) for e in self.terms[0]]
        return ", ".join(parts)


def pod_needs(pod: str, role: str, template_spec: Mapping[str, Any]) -> PodNeeds:
    """A pod's needs read from its pod template's ``spec``."""
    affinity = (template_spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = tuple(
        tuple(term.get("matchExpressions") or ())
        for term in required.get("nodeSelectorTerms") or ()
    )
    return PodNeeds(
        pod=pod,
        role=role,
        requests=template_requests(template_spec),
        tolerations=tuple(template_spec.get("tolerations") or ()),
        node_selector=dict(template_spec.get("nodeSelector") or {}),
        terms=terms,
    )


def template_requests(spec: Mapping[str, Any]) -> dict[str, float]:
    """The effective requests of a pod spec, as the scheduler counts them.

    Containers' requests add up (a request missing where a limit is set
    defaults to the limit); an init container's larger request wins.
    """
    total: dict[str, float] = {}
    for container in spec.get("containers") or ():
        for name, amount in _container_requests(container).items():
            total[name] = total.get(name, 0.0) + amount
    for container in spec.get("initContainers") or ():
        for name, amount in _container_requests(container).items():
            total[name] = max(total.get(name, 0.0), amount)
    return total


def _container_requests(container: Mapping[str, Any]) -> dict[str, float]:
    resources = container.get("resources") or {}
    merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return {name: float(parse_quantity(value)) for name, value in merged.items()}


def tolerates(tolerations: Iterable[Mapping[str, Any]], taint: Taint) -> bool:
    """True when one of ``tolerations`` tolerates ``taint`` (Kubernetes' matching rules)."""
    for toleration in tolerations:
        effect = toleration.get("effect") or ""
        if effect and effect != taint.effect:
            continue
        key = toleration.get("key") or ""
        if toleration.get("operator") == "Exists":
            if not key or key == taint.key:
                return True
        elif key == taint.key and (toleration.get("value") or "") == taint.value:
            return True
    return False


def _matches(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key = str(expression.get("key") or "")
    operator = expression.get("operator")
    values = [str(v) for v in expression.get("values") or ()]
    present = key in labels
    if operator == "In":
        return present and labels[key] in values
    if operator == "NotIn":
        return not present or labels[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and values:
        try:
            have, bound = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > bound if operator == "Gt" else have < bound
    return False


def eligible(needs: PodNeeds, node: ObservedNode) -> bool:
    """True when ``node`` may take the pod, resources aside."""
    if not node.ready or node.unschedulable or node.unreachable:
        return False
    for taint in node.taints:
        if taint.effect in _BLOCKING_EFFECTS and not tolerates(needs.tolerations, taint):
            return False
    if any(node.labels.get(k) != v for k, v in needs.node_selector.items()):
        return False
    return not needs.terms or any(
        all(_matches(e, node.labels) for e in term) for term in needs.terms
    )


def free_capacity(node: ObservedNode) -> dict[str, float]:
    """What is allocatable on ``node`` and not used."""
    return {name: amount - node.used.get(name, 0.0) for name, amount in node.allocatable.items()}


def _fits(requests: Mapping[str, float], free: Mapping[str, float]) -> bool:
    return all(amount <= 0 or free.get(name, 0.0) >= amount for name, amount in requests.items())


def _size(needs: PodNeeds) -> tuple[float, ...]:
    return tuple(-needs.requests.get(name, 0.0) for name in RESOURCE_ORDER)


@dataclass(frozen=True)
class Packing:
    """Where first fit put the pods, and the first pod it could not place."""

    placed: Mapping[str, str]
    unplaced: tuple[PodNeeds, ...]
    free: Mapping[str, Mapping[str, float]]


def first_fit(
    pods: Sequence[PodNeeds],
    nodes: Mapping[str, ObservedNode],
    free: Mapping[str, Mapping[str, float]] | None = None,
) -> Packing:
    """Place ``pods`` largest first, each on the first node by name that takes it.

    ``free`` is the capacity left per node (default: :func:`free_capacity`);
    the returned ``free`` is what is left after placing.
    """
    left = {
        name: dict(free[name] if free is not None and name in free else free_capacity(node))
        for name, node in sorted(nodes.items())
    }
    placed: dict[str, str] = {}
    unplaced: list[PodNeeds] = []
    for needs in sorted(pods, key=lambda n: (_size(n), n.role, n.pod)):
        target = next(
            (
                name
                for name, node in sorted(nodes.items())
                if eligible(needs, node) and _fits(needs.requests, left[name])
            ),
            None,
        )
        if target is None:
            unplaced.append(needs)
            continue
        placed[needs.pod] = target
        for resource, amount in needs.requests.items():
            left[target][resource] = left[target].get(resource, 0.0) - amount
    return Packing(placed=placed, unplaced=tuple(unplaced), free=left)


def shortfall(failed: PodNeeds, pods: Sequence[PodNeeds], nodes: Mapping[str, ObservedNode]) -> str:
    """Why the pods like ``failed`` do not fit, for a person.

    For example ``needs 5 x nvidia.com/gpu (1 each) on nodes with
    nvidia.com/gpu.product=A100; 3 free``, or, when no eligible node could
    ever hold one such pod, ``needs 16 nvidia.com/gpu per pod on nodes with
    ..., more than any such node has (the most: 8); ask for less per pod``.
    """
    alike = [p for p in pods if _same_shape(p, failed)]
    where = failed.constraint_text()
    on = f" on nodes with {where}" if where else ""
    usable = [node for node in nodes.values() if eligible(failed, node)]
    if not usable:
        return f"needs {len(alike)} pod(s){on}; no ready node matches"
    for resource in _ordered(failed.requests):
        each = failed.requests[resource]
        if each <= 0:
            continue
        largest = max(node.allocatable.get(resource, 0.0) for node in usable)
        if each > largest:
            # No amount of waiting helps: say so rather than count what is free.
            return (
                f"needs {_amount(resource, each)} {resource} per pod{on}, more than any "
                f"such node has (the most: {_amount(resource, largest)}); ask for less per pod"
            )
        free = [max(0.0, free_capacity(node).get(resource, 0.0)) for node in usable]
        if sum(int(amount // each) for amount in free) < len(alike):
            return (
                f"needs {len(alike)} x {resource} ({_amount(resource, each)} each){on}; "
                f"{_amount(resource, sum(free))} free"
            )
    return f"needs {len(alike)} pod(s){on}; they do not fit together on the nodes"


def _same_shape(a: PodNeeds, b: PodNeeds) -> bool:
    return (a.requests, a.node_selector, a.terms, a.tolerations) == (
        b.requests,
        b.node_selector,
        b.terms,
        b.tolerations,
    )


def _ordered(requests: Mapping[str, float]) -> list[str]:
    known = [name for name in RESOURCE_ORDER if name in requests]
    return known + sorted(name for name in requests if name not in RESOURCE_ORDER)


def _amount(resource: str, value: float) -> str:
    if resource == "memory":
        return f"{value / 2**30:g}Gi"
    if resource == "cpu":
        return f"{value:g}"
    return f"{value:g}"


def _expression_text(expression: Mapping[str, Any]) -> str:
    key = expression.get("key")
    operator = expression.get("operator")
    values = [str(v) for v in expression.get("values") or ()]
    if operator == "In" and len(values) == 1:
        return f"{key}={values[0]}"
    if operator in ("In", "NotIn"):
        word = "in" if operator == "In" else "not in"
        return f"{key} {word} ({', '.join(values)})"
    if operator == "Exists":
        return str(key)
    if operator == "DoesNotExist":
        return f"no {key}"
    return f"{key} {'>' if operator == 'Gt' else '<'} {values[0] if values else '?'}"
