"""The files the plugin ships: its setup package and its catalog.

The setup package is a deterministic ``.tgz`` of ``kd_hadoop/setup/`` (the
``startscript`` in KubeDirector's new layout and the ``kd-hadoop`` helper).
Build it into an image with ``python -m kd_hadoop.package OUT.tgz``.
"""

from __future__ import annotations

import sys
from importlib.resources import files
from pathlib import Path

from kubedirector_core import build_setup_package

#: The files of the setup package, with their modes.
SETUP_FILES = {"startscript": 0o755, "kd-hadoop": 0o755}


def setup_file(name: str) -> str:
    """The text of one file of the setup package."""
    return files("kd_hadoop").joinpath("setup", name).read_text(encoding="utf-8")


def setup_package() -> bytes:
    """The setup package as gzip'd tar bytes, identical for identical sources."""
    return build_setup_package(
        {name: (setup_file(name).encode("utf-8"), mode) for name, mode in SETUP_FILES.items()}
    )


def catalog_path() -> Path:
    """The folder of the plugin's catalog: the ``hadoop3`` app and an example cluster."""
    return Path(str(files("kd_hadoop").joinpath("catalog")))


def main(argv: list[str] | None = None) -> int:
    """Write the setup package to the path given."""
    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 1:
        print("usage: python -m kd_hadoop.package OUT.tgz", file=sys.stderr)
        return 2
    Path(arguments[0]).write_bytes(setup_package())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
