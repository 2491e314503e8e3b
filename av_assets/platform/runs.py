"""In-process runs started by the CLI (`av process`, `make demo`): recorded in the current instance,
quiet on the console (the CLI shows its own progress; the full log is in the Dagster UI)."""

from __future__ import annotations

from typing import Any


def quiet_run_config(log_level: str = "WARNING") -> dict[str, Any]:
    return {"loggers": {"console": {"config": {"log_level": log_level}}}}


def current_instance():
    """The Dagster instance of the CLI: $DAGSTER_HOME, defaulting to `.av_home` in the checkout (beside
    the default lake `.av_lake`, whatever the working directory; created on first use) with the repo's
    dagster.yaml, exactly where `make demo` and `make ui` put it."""
    import os
    import shutil
    from pathlib import Path

    import dagster as dg

    repo = Path(__file__).resolve().parents[2]
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        home = str(repo / ".av_home")
        os.environ["DAGSTER_HOME"] = home
    Path(home).mkdir(parents=True, exist_ok=True)
    config = Path(home, "dagster.yaml")
    repo_config = repo / "dagster.yaml"
    if not config.exists() and repo_config.exists():
        shutil.copy(repo_config, config)
    return dg.DagsterInstance.get()
