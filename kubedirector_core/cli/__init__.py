"""The ``kubedirector`` command.

Each sub-command lives in a module of its own in this package and is attached
to :data:`main` by :func:`_register`; importing this package has no side effects
beyond building the command tree.
"""

from __future__ import annotations

import click

from kubedirector_core import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kubedirector")
def main() -> None:
    """Run complex stateful applications on Kubernetes from KubeDirector app definitions."""


def _register() -> None:
    from kubedirector_core.cli import dev, plugins

    main.add_command(dev.dev)
    main.add_command(plugins.plugins)

    from kubedirector_core.cli import catalog, validate

    main.add_command(validate.validate)
    main.add_command(catalog.catalog)

    from kubedirector_core.cli import render

    main.add_command(render.render)

    from kubedirector_core.cli import run

    main.add_command(run.run)

    from kubedirector_core.cli import status

    main.add_command(status.status)

    from kubedirector_core.cli.bench import bench

    main.add_command(bench)

    from kubedirector_core.cli import install

    main.add_command(install.install)
    main.add_command(install.uninstall)


_register()
