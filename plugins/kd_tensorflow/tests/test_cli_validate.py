"""`kubedirector validate` runs this plugin's validate hook, offline."""

from __future__ import annotations

from pathlib import Path

import kd_tensorflow
import yaml
from click.testing import CliRunner

from kubedirector_core.cli import main

CATALOG = Path(kd_tensorflow.__file__).parent / "catalog"


def test_validate_reports_fractional_gpus_from_the_plugin(tmp_path: Path) -> None:
    cluster = yaml.safe_load((CATALOG / "tensorflow-training-gpu-cluster.yaml").read_text())
    worker = next(r for r in cluster["spec"]["roles"] if r["id"] == "worker")
    worker["resources"].setdefault("requests", {})["nvidia.com/gpu"] = "0.5"
    worker["resources"]["limits"]["nvidia.com/gpu"] = "0.5"
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(cluster))

    result = CliRunner().invoke(
        main, ["validate", str(path), "--app", str(CATALOG / "tensorflow-training-gpu.yaml")]
    )
    assert result.exit_code == 1
    assert "fractional GPUs" in result.output
    assert f"{path}: spec.roles[" in result.output

    clean = CliRunner().invoke(
        main,
        [
            "validate",
            str(CATALOG / "tensorflow-training-gpu-cluster.yaml"),
            "--app",
            str(CATALOG / "tensorflow-training-gpu.yaml"),
        ],
    )
    assert clean.exit_code == 0, clean.output
