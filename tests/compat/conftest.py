"""Fixtures for the compatibility corpus of real KubeDirector files."""

from __future__ import annotations

from pathlib import Path

import pytest

#: The corpus lives next to the project, never inside it.
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "compat" / "kubedirector"


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"the KubeDirector compatibility corpus is not at {CORPUS}")
    return CORPUS
