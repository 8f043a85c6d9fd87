"""Building the plugin manager: settings, entry points, load failures."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import importlib_metadata
import pytest

from kubedirector_core import PluginLoadError, PluginSettings
from kubedirector_core.plugins import DEFAULT_HOOK_TIMEOUT, Hooks, make_plugin_manager

GROUP = "kubedirector"

GOOD_PLUGIN = """
from kubedirector_core import hookimpl

@hookimpl
def kd_claims():
    return ["example/*"]

def kd_configmeta():  # undecorated kd_ functions are hooks too
    return {"from": __name__}
"""


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path for throwaway plugin modules, forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("kdtest_"):
            del sys.modules[name]


def _module(folder: Path, name: str, source: str) -> importlib_metadata.EntryPoint:
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    return importlib_metadata.EntryPoint(name=name.removeprefix("kdtest_"), value=name, group=GROUP)


def _names(settings: PluginSettings, entry_points: list[importlib_metadata.EntryPoint]) -> set[str]:
    pm = make_plugin_manager(settings, entry_points=entry_points)
    return {name for name, _ in pm.list_name_plugin()}


def test_settings_from_env() -> None:
    settings = PluginSettings.from_env(
        {
            "KD_PLUGINS": "hadoop, spark",
            "KD_DISABLED_PLUGINS": "spark",
            "KD_PLUGIN_AUTOLOAD": "0",
            "KD_PLUGIN_TRACE": "yes",
            "KD_HOOK_TIMEOUT": "2.5",
        }
    )
    assert settings == PluginSettings(
        autoload=False,
        only=frozenset({"hadoop", "spark"}),
        disabled=frozenset({"spark"}),
        trace=True,
        hook_timeout=2.5,
    )
    assert PluginSettings.from_env({}) == PluginSettings()
    assert PluginSettings.from_env({}).hook_timeout == DEFAULT_HOOK_TIMEOUT
    assert PluginSettings.from_env({"KD_HOOK_TIMEOUT": "0"}).hook_timeout is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [("KD_PLUGIN_AUTOLOAD", "maybe"), ("KD_HOOK_TIMEOUT", "soon"), ("KD_HOOK_TIMEOUT", "-1")],
)
def test_settings_malformed_variable_is_named(variable: str, value: str) -> None:
    with pytest.raises(ValueError, match=variable):
        PluginSettings.from_env({variable: value})


def test_allow_list_block_list_and_autoload(plugin_dir: Path) -> None:
    eps = [_module(plugin_dir, f"kdtest_{n}", GOOD_PLUGIN) for n in ("one", "two", "three")]

    assert _names(PluginSettings(), eps) == {"core", "one", "two", "three"}
    assert _names(PluginSettings(disabled=frozenset({"two"})), eps) == {"core", "one", "three"}
    assert _names(PluginSettings(only=frozenset({"two"})), eps) == {"core", "two"}
    assert _names(PluginSettings(autoload=False), eps) == {"core"}
    only_three = PluginSettings(autoload=False, only=frozenset({"three"}))
    assert _names(only_three, eps) == {"core", "three"}
    both = PluginSettings(only=frozenset({"two"}), disabled=frozenset({"two"}))
    assert _names(both, eps) == {"core"}


def test_allow_list_naming_a_missing_plugin_stops_start_up(plugin_dir: Path) -> None:
    eps = [_module(plugin_dir, "kdtest_one", GOOD_PLUGIN)]
    with pytest.raises(PluginLoadError, match="plugin 'tow': is named in KD_PLUGINS"):
        make_plugin_manager(PluginSettings(only=frozenset({"one", "tow"})), entry_points=eps)


def test_extra_plugin_modules_load_by_name_without_a_distribution(plugin_dir: Path) -> None:
    _module(plugin_dir, "kdtest_extra", GOOD_PLUGIN + 'KD_PLUGIN_NAME = "extra"\n')
    _module(plugin_dir, "kdtest_plain", GOOD_PLUGIN)
    settings = PluginSettings.from_env({"KD_EXTRA_PLUGINS": "kdtest_extra, kdtest_plain"})
    assert settings.extra == ("kdtest_extra", "kdtest_plain")

    pm = make_plugin_manager(settings, entry_points=[])
    [info] = [info for info in Hooks(pm).plugins() if info.name == "extra"]
    assert info.claims == ("example/*",)
    assert {"core", "extra", "kdtest_plain"} == {name for name, _ in pm.list_name_plugin()}
    # the block-list applies; the allow-list and autoload govern entry points only
    blocked = PluginSettings(extra=settings.extra, disabled=frozenset({"extra"}))
    assert _names(blocked, []) == {"core", "kdtest_plain"}
    only = PluginSettings(extra=("kdtest_extra",), autoload=False, only=frozenset({"extra"}))
    assert _names(only, []) == {"core", "extra"}


def test_extra_plugin_module_that_cannot_be_imported_stops_start_up(plugin_dir: Path) -> None:
    with pytest.raises(PluginLoadError, match="cannot import module 'kdtest_absent'"):
        make_plugin_manager(PluginSettings(extra=("kdtest_absent",)), entry_points=[])
    with pytest.raises(ValueError, match="KD_EXTRA_PLUGINS"):
        PluginSettings.from_env({"KD_EXTRA_PLUGINS": "not/a/module"})


def test_entry_point_plugins_are_called_with_their_version_unknown(plugin_dir: Path) -> None:
    pm = make_plugin_manager(
        PluginSettings(), entry_points=[_module(plugin_dir, "kdtest_one", GOOD_PLUGIN)]
    )
    [info] = [info for info in Hooks(pm).plugins() if info.name == "one"]
    assert info.hooks == ("kd_claims", "kd_configmeta")
    assert info.claims == ("example/*",)
    assert info.version is None  # not from an installed distribution


def test_import_failure_names_the_entry_point(plugin_dir: Path) -> None:
    broken = _module(plugin_dir, "kdtest_broken", "import kdtest_no_such_module\n")
    with pytest.raises(PluginLoadError, match="plugin 'broken': cannot import entry point") as err:
        make_plugin_manager(PluginSettings(), entry_points=[broken])
    assert err.value.plugin == "broken"
    assert "KD_DISABLED_PLUGINS=broken" in str(err.value)
    # and disabling it by name lets start-up go on
    make_plugin_manager(PluginSettings(disabled=frozenset({"broken"})), entry_points=[broken])


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def kd_valdiate_app():\n    return []\n", "unknown hook 'kd_valdiate_app'"),
        (
            "from kubedirector_core import hookimpl\n"
            "@hookimpl\ndef kd_validate_app(application):\n    return []\n",
            "application",
        ),
        (
            "from kubedirector_core import hookimpl\n"
            "@hookimpl(wrapper=True)\ndef kd_validate_app(app):\n    return (yield)\n",
            "hook wrapper",
        ),
    ],
)
def test_malformed_hook_stops_start_up_naming_the_plugin(
    plugin_dir: Path, source: str, message: str
) -> None:
    eps = [_module(plugin_dir, "kdtest_typo", GOOD_PLUGIN + source)]
    with pytest.raises(PluginLoadError, match="plugin 'typo'") as err:
        make_plugin_manager(PluginSettings(), entry_points=eps)
    assert message in str(err.value)


def test_entry_point_may_not_take_the_defaults_name(plugin_dir: Path) -> None:
    _module(plugin_dir, "kdtest_x", GOOD_PLUGIN)
    eps = [importlib_metadata.EntryPoint(name="core", value="kdtest_x", group=GROUP)]
    with pytest.raises(PluginLoadError, match="plugin 'core': cannot be registered"):
        make_plugin_manager(PluginSettings(), entry_points=eps)
