"""kd-tensorflow as a user gets it: a wheel pip-installs into a fresh venv with only the core.

No network: third-party dependencies come from this interpreter's site-packages
through a filtered view that leaves out kubedirector-core and every plugin.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kubedirector_core.testing.packaging import install_alone, run_probe

PLUGIN = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

PROBE = """
import json
import kd_tensorflow
import kubedirector_core as kd
from kubedirector_core.catalog import load_catalog

catalog = load_catalog([])
hooks = kd.load_hooks()
app = catalog.apps()["tensorflow-training-gpu"]
print(json.dumps({
    "plugin": kd_tensorflow.__file__,
    "plugins": sorted(p.name for p in hooks.plugins()),
    "apps": catalog.names(),
    "claimed_by": hooks.claimed_by(app),
}))
"""


def test_the_wheel_installs_alone_with_its_plugin_and_catalog(tmp_path: Path) -> None:
    pytest.importorskip("setuptools", minversion="77", reason="building needs setuptools>=77")
    python = install_alone(PLUGIN, tmp_path)

    result = run_probe(python, PROBE)

    assert result["plugin"].startswith(str(python.parents[1]))  # the venv, not this checkout
    assert result["plugins"] == ["core", "tensorflow"]
    assert result["apps"] == ["tensorflow-training", "tensorflow-training-gpu"]
    assert result["claimed_by"] == ["core", "tensorflow"]
