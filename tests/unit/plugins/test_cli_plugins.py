"""``kubedirector plugins`` lists what is loaded, honouring the environment and its flags."""

from __future__ import annotations

import json

from click.testing import CliRunner

from kubedirector_core.cli import main


def test_lists_plugins_with_versions_hooks_and_claims() -> None:
    result = CliRunner().invoke(main, ["plugins", "--no-autoload"], env={"KD_PLUGINS": ""})
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "core 0.1.0",
        "  claims: *",
        "  hooks:  kd_autoscale_policy, kd_on_node_down",
    ]


def test_json_output_and_disable_flag() -> None:
    result = CliRunner().invoke(
        main, ["plugins", "--json", "--disable", "spark"], env={"KD_PLUGINS": ""}
    )
    assert result.exit_code == 0, result.output
    names = [info["name"] for info in json.loads(result.output)]
    assert "core" in names
    assert "spark" not in names


def test_unknown_allowed_plugin_is_an_error_naming_it() -> None:
    result = CliRunner().invoke(main, ["plugins", "--only", "nosuch"])
    assert result.exit_code == 1
    assert "plugin 'nosuch': is named in KD_PLUGINS" in result.output
