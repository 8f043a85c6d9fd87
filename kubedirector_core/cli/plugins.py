"""``kubedirector plugins``: which plugins are loaded, and what they do."""

from __future__ import annotations

import dataclasses
import json

import click

from kubedirector_core.errors import PluginError
from kubedirector_core.plugins import PluginInfo, PluginSettings, load_hooks


def _settings(autoload: bool, only: tuple[str, ...], disable: tuple[str, ...]) -> PluginSettings:
    """The environment's settings, overridden by the command-line flags given."""
    try:
        settings = PluginSettings.from_env()
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    return dataclasses.replace(
        settings,
        autoload=settings.autoload and autoload,
        only=frozenset(only) if only else settings.only,
        disabled=settings.disabled | frozenset(disable),
    )


def _describe(info: PluginInfo) -> str:
    hooks = ", ".join(hook for hook in info.hooks if hook != "kd_claims") or "(none)"
    claims = ", ".join(info.claims) or "(nothing: never called)"
    return (
        f"{info.name} {info.version or '(not from a distribution)'}\n"
        f"  claims: {claims}\n"
        f"  hooks:  {hooks}"
    )


@click.command()
@click.option(
    "--no-autoload",
    "autoload",
    flag_value=False,
    default=True,
    help="Load no entry point except those named with --only (as KD_PLUGIN_AUTOLOAD=0).",
)
@click.option("--only", multiple=True, metavar="NAME", help="Load only these plugins (KD_PLUGINS).")
@click.option(
    "--disable", multiple=True, metavar="NAME", help="Do not load these (KD_DISABLED_PLUGINS)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def plugins(autoload: bool, only: tuple[str, ...], disable: tuple[str, ...], as_json: bool) -> None:
    """List loaded plugins with their versions, implemented hooks and claimed app types."""
    try:
        listing = load_hooks(_settings(autoload, only, disable)).plugins()
    except PluginError as error:
        raise click.ClickException(str(error)) from error
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(info) for info in listing], indent=2))
        return
    click.echo("\n".join(_describe(info) for info in listing))
