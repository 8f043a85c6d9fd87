"""Every hook is documented, tested, typed and reachable through the facade.

Adding a hook to kubedirector_core/hookspecs.py without its docs section in
docs/hooks.md, a ``test_hook_<name>`` test in tests/unit/plugins, full
annotations or a version note fails here.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from kubedirector_core import hookspecs
from kubedirector_core.plugins import Hooks

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted(
    name
    for name, value in vars(hookspecs).items()
    if name.startswith("kd_") and inspect.isfunction(value)
)


def _doc_sections() -> dict[str, str]:
    text = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
    parts = re.split(r"^## (\S+)\n", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _test_names() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "tests" / "unit" / "plugins").rglob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names |= {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    return names


def test_there_are_hooks() -> None:
    assert len(HOOKS) >= 10


def test_docs_have_exactly_one_section_per_hook() -> None:
    assert sorted(_doc_sections()) == HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook: str) -> None:
    section = _doc_sections()[hook]
    for part in ("**Signature:**", "**When:**", "**Arguments:**", "**Returns:**", "**Example:**"):
        assert part in section, f"docs/hooks.md: {hook} has no {part} part"
    assert f"`{hook}(" in section, f"docs/hooks.md: {hook}'s signature is missing"
    assert "```python" in section, f"docs/hooks.md: {hook} has no code example"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_tested(hook: str) -> None:
    prefix = "test_hook_" + hook.removeprefix("kd_")
    assert any(name.startswith(prefix) for name in _test_names()), (
        f"no test named {prefix}... in tests/unit/plugins"
    )


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_typed_and_says_what_it_promises(hook: str) -> None:
    spec = getattr(hookspecs, hook)
    signature = inspect.signature(spec)
    untyped = [n for n, p in signature.parameters.items() if p.annotation is p.empty]
    assert untyped == [], f"{hook}: untyped arguments {untyped}"
    assert signature.return_annotation is not signature.empty, f"{hook}: no return type"
    doc = inspect.getdoc(spec) or ""
    for promise in (":returns:", ":raises:", "Added in "):
        assert promise in doc, f"{hook}: the docstring does not say {promise!r}"
    for name in signature.parameters:
        if name not in ("app", "cluster"):  # described once, in the module docstring
            assert name in doc, f"{hook}: argument {name!r} is not described"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_facade_method(hook: str) -> None:
    assert callable(getattr(Hooks, hook.removeprefix("kd_"), None)), (
        f"Hooks has no method {hook.removeprefix('kd_')}: core code must not call pm.hook"
    )
