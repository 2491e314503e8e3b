"""In-process runs started by the CLI (`av process`, `make demo`): recorded in the current instance,
quiet on the console (the CLI shows its own progress; the full log is in the Dagster UI)."""

from __future__ import annotations

from typing import Any


def quiet_run_config(log_level: str = "WARNING") -> dict[str, Any]:
    return {"loggers": {"console": {"config": {"log_level": log_level}}}}
