"""``kubedirector run``'s operating flags: bad values are refused before anything starts."""

from __future__ import annotations

from click.testing import CliRunner

from kubedirector_core.cli import main


def test_a_bind_address_without_a_port_is_refused_naming_the_flag() -> None:
    result = CliRunner().invoke(main, ["run", "--metrics-bind-address", "8080"])
    assert result.exit_code == 2
    assert "--metrics-bind-address" in result.output
    assert "write host:port, :port (every interface) or 0 (off)" in result.output


def test_an_unknown_log_format_is_refused_with_the_choices() -> None:
    result = CliRunner().invoke(main, ["run", "--log-format", "xml"])
    assert result.exit_code == 2
    assert "'xml' is not one of 'text', 'json'" in result.output


def test_the_help_lists_the_operating_flags() -> None:
    result = CliRunner().invoke(main, ["run", "--help"])
    assert result.exit_code == 0
    for flag in (
        "--leader-elect / --no-leader-elect",
        "--leader-election-namespace",
        "--leader-election-id",
        "--metrics-bind-address",
        "--health-probe-bind-address",
        "--log-format",
    ):
        assert flag in result.output
