"""The facade's promises: failures name the plugin, hung hooks time out, calls can be traced."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from kubedirector_core import (
    Hooks,
    KubeDirectorApp,
    KubeDirectorCluster,
    PluginError,
    PluginFailure,
    PluginSettings,
    hookspecs,
)
from kubedirector_core.plugins import make_plugin_manager
from kubedirector_core.testing.plugin_fixtures import PluginRegistrar
from kubedirector_core.validation import PluginRules

EXAMPLE = ("example/*",)


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Lets a deliberately hung hook finish when the test ends."""
    event = threading.Event()
    yield event
    event.set()


def _hooks(settings: PluginSettings) -> Hooks:
    return Hooks(make_plugin_manager(settings, entry_points=()), settings)


def test_facade_satisfies_the_validators_plugin_rules(kd_hooks: Hooks) -> None:
    rules: PluginRules = kd_hooks  # checked by mypy
    assert callable(rules.validate_app)
    assert callable(rules.validate_cluster)


def test_error_names_plugin_and_hook_and_keeps_the_cause(
    kd_hooks: Hooks,
    kd_register_plugin: PluginRegistrar,
    app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
) -> None:
    def kd_configmeta() -> dict[str, str]:
        raise ZeroDivisionError("boom")

    kd_register_plugin(kd_configmeta, name="flaky", claims=EXAMPLE)

    with pytest.raises(PluginError) as caught:
        kd_hooks.configmeta(app, cluster)
    assert (caught.value.plugin, caught.value.hook) == ("flaky", "kd_configmeta")
    assert str(caught.value) == (
        "plugin 'flaky' in hook kd_configmeta: raised ZeroDivisionError: boom"
    )
    assert isinstance(caught.value.__cause__, ZeroDivisionError)


def test_failure_of_one_app_does_not_touch_another(
    kd_hooks: Hooks,
    kd_register_plugin: PluginRegistrar,
    app: KubeDirectorApp,
    other_app: KubeDirectorApp,
    cluster: KubeDirectorCluster,
) -> None:
    def kd_configmeta() -> dict[str, str]:
        raise RuntimeError("broken for its own apps")

    kd_register_plugin(kd_configmeta, name="flaky", claims=EXAMPLE)

    with pytest.raises(PluginError):
        kd_hooks.configmeta(app, cluster)
    assert kd_hooks.configmeta(other_app, cluster) == {}


def test_plugin_failure_gives_a_condition_and_an_event_naming_the_plugin() -> None:
    failure = PluginFailure.from_error(
        PluginError("hadoop", "raised KeyError: 'x'", "kd_on_resize")
    )
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

    assert failure.condition(now=now, observed_generation=3) == {
        "type": "PluginFailed",
        "status": "True",
        "reason": "HookFailed",
        "message": "plugin 'hadoop' in hook kd_on_resize: raised KeyError: 'x'",
        "lastTransitionTime": "2024-05-01T12:00:00Z",
        "observedGeneration": 3,
    }
    assert PluginFailure.EVENT_REASON == "PluginFailed"
    assert (failure.plugin, failure.hook) == ("hadoop", "kd_on_resize")


def test_hung_hook_times_out_naming_the_plugin(
    release: threading.Event, app: KubeDirectorApp, cluster: KubeDirectorCluster
) -> None:
    hooks = _hooks(PluginSettings(autoload=False, hook_timeout=0.05))

    def kd_gang_policy() -> None:
        release.wait(10)

    PluginRegistrar(hooks.plugin_manager)(kd_gang_policy, name="stuck", claims=EXAMPLE)

    with pytest.raises(PluginError, match="plugin 'stuck' in hook kd_gang_policy: did not return"):
        hooks.gang_policy(app, cluster)


def test_time_limit_returns_results_and_exceptions_of_quick_hooks(
    app: KubeDirectorApp, cluster: KubeDirectorCluster
) -> None:
    hooks = _hooks(PluginSettings(autoload=False, hook_timeout=5))
    registrar = PluginRegistrar(hooks.plugin_manager)

    def kd_configmeta() -> dict[str, int]:
        return {"answer": 42}

    registrar(kd_configmeta, name="quick", claims=EXAMPLE)
    assert hooks.configmeta(app, cluster) == {"quick": {"answer": 42}}

    def kd_gang_policy() -> None:
        raise LookupError("no gang")

    registrar(kd_gang_policy, name="raises", claims=EXAMPLE)
    with pytest.raises(PluginError, match="raised LookupError: no gang"):
        hooks.gang_policy(app, cluster)


def test_trace_mode_logs_each_call_without_object_contents(
    caplog: pytest.LogCaptureFixture, app: KubeDirectorApp, cluster: KubeDirectorCluster
) -> None:
    hooks = _hooks(PluginSettings(autoload=False, trace=True))

    def kd_configmeta(cluster: KubeDirectorCluster) -> dict[str, str]:
        return {"secret-looking": "s3cr3t"}

    PluginRegistrar(hooks.plugin_manager)(kd_configmeta, name="traced", claims=EXAMPLE)
    with caplog.at_level(logging.INFO, logger="kubedirector_core.plugins.trace"):
        hooks.configmeta(app, cluster)

    [record] = caplog.records
    assert record.getMessage().startswith(
        "kd_configmeta[traced](cluster=KubeDirectorCluster c1) returned dict in "
    )
    assert "s3cr3t" not in caplog.text


def test_every_hook_has_a_facade_method() -> None:
    specs = [name for name in dir(hookspecs) if name.startswith("kd_")]
    missing = [name for name in specs if not hasattr(Hooks, name.removeprefix("kd_"))]
    assert missing == []
