"""Helpers shared by tests (not fixtures)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir(*parts: str) -> Path:
    """../shared/data (or $AV_SHARED_DATA); skips the test cleanly where the folder is absent."""
    base = Path(os.environ.get("AV_SHARED_DATA") or REPO_ROOT.parent / "shared" / "data")
    path = base.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared test data not found at {path} (set AV_SHARED_DATA)")
    return path
