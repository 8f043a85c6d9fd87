"""The layers hold: the core never imports a plugin, plugins use only the public API
and not each other, and the pure planner imports no Kubernetes machinery.

The same contracts are in /.importlinter for ``lint-imports``; this test needs
no installed plugin because it reads the sources.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "kubedirector_core"


def _plugin_packages() -> dict[str, Path]:
    """Top-level package name -> folder, for every plugin and example distribution."""
    packages: dict[str, Path] = {}
    for distribution in [*ROOT.glob("plugins/*"), *ROOT.glob("examples/*")]:
        for init in distribution.glob("*/__init__.py"):
            if init.parent.name != "tests":
                packages[init.parent.name] = init.parent
    return packages


PLUGINS = _plugin_packages()


def _imports(folder: Path) -> Iterator[tuple[Path, int, str, list[str]]]:
    """(file, line, module, imported names) for each absolute import under ``folder``."""
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, node.lineno, alias.name, []
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield path, node.lineno, node.module, [alias.name for alias in node.names]


def test_the_plugins_are_found() -> None:
    assert {"kd_hadoop", "kd_spark", "kd_tensorflow", "kd_example_plugin"} <= set(PLUGINS)


def test_the_core_never_imports_a_plugin() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path, line, module, _ in _imports(CORE)
        if module.split(".")[0] in PLUGINS
    ]
    assert found == []


@pytest.mark.parametrize("package", sorted(PLUGINS))
def test_plugins_use_only_the_public_api_and_not_each_other(package: str) -> None:
    import kubedirector_core

    public = set(kubedirector_core.__all__)
    found = []
    for path, line, module, names in _imports(PLUGINS[package]):
        top = module.split(".")[0]
        where = f"{path.relative_to(ROOT)}:{line}"
        if top == "kubedirector_core" and (module != top or not set(names) <= public):
            found.append(f"{where}: {module} {names} is not the public API (kubedirector_core)")
        elif top in PLUGINS and top != package:
            found.append(f"{where}: imports plugin {top}")
    assert found == []


def test_the_planner_imports_no_runtime_kopf_or_kubernetes() -> None:
    graph = grimp.build_graph("kubedirector_core", "kopf", "kubernetes")
    for forbidden in ("kubedirector_core.runtime", "kopf", "kubernetes"):
        chains = graph.find_shortest_chains(importer="kubedirector_core.plan", imported=forbidden)
        assert not chains, f"kubedirector_core.plan reaches {forbidden}: {sorted(chains)}"
