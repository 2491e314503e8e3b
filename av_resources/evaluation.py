"""Ground truth for evaluation: points outside the lake, absent for real drives.

Pipelines never read ground truth to decide anything; assets only use it to *measure* themselves
(precision/recall in metadata) where it exists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from av_contracts.ids import validate_drive_id


class GroundTruthResource(dg.ConfigurableResource):
    root: str | None = Field(default=None, description="<fleet>/_ground_truth, or None for real drives")

    @property
    def available(self) -> bool:
        return bool(self.root) and Path(self.root).is_dir()

    def for_drive(self, drive_id: str) -> dict[str, Any] | None:
        if not self.available:
            return None
        path = Path(self.root, f"{validate_drive_id(drive_id)}.json")
        return json.loads(path.read_text()) if path.is_file() else None

    def companion_path(self, name: str) -> Path | None:
        """A bulky part referenced from a ground-truth JSON (Parquet beside it)."""
        if not self.available:
            return None
        p = Path(self.root, name)
        return p if p.is_file() else None
