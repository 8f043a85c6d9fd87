"""The start-up resync drops only objects its LIST should have returned."""

from __future__ import annotations

from kubedirector_core.runtime.cache import Caches


def _seen(caches: Caches, namespace: str, name: str, version: str) -> None:
    body = {"metadata": {"namespace": namespace, "name": name, "resourceVersion": version}}
    caches.track("Pod", "ADDED", body)


def test_a_namespaced_list_judges_only_its_own_namespace() -> None:
    caches = Caches()
    _seen(caches, "team-a", "a-0", "10")
    _seen(caches, "team-a", "gone-0", "11")
    _seen(caches, "team-b", "b-0", "12")

    stale = caches.absent("Pod", {("team-a", "a-0")}, "20", "team-a")

    assert stale == [("team-a", "gone-0")]


def test_a_cluster_wide_list_judges_every_namespace_but_not_newer_objects() -> None:
    caches = Caches()
    _seen(caches, "team-a", "a-0", "10")
    _seen(caches, "team-b", "b-0", "12")
    _seen(caches, "team-b", "new-0", "25")

    stale = caches.absent("Pod", {("team-a", "a-0")}, "20")

    assert stale == [("team-b", "b-0")]
