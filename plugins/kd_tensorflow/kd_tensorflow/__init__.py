"""kd-tensorflow: the kubedirector-core plugin for distributed TensorFlow apps.

The plugin itself is :mod:`kd_tensorflow.plugin`, loaded through the ``kubedirector``
entry point named ``tensorflow``. Its catalog apps (and example clusters) are in the
folder :func:`catalog_path` returns, found through the ``kubedirector.catalog``
entry point of the same name.
"""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"


def catalog_path() -> Path:
    """The folder of this plugin's KubeDirectorApp files and example clusters."""
    return Path(__file__).resolve().parent / "catalog"
