"""In-process runs started by the CLI (`av process`, `make demo`): recorded in the current instance,
quiet on the console (the CLI shows its own progress; the full log is in the Dagster UI)."""

from __future__ import annotations

from typing import Any


def quiet_run_config(log_level: str = "WARNING") -> dict[str, Any]:
    return {"loggers": {"console": {"config": {"log_level": log_level}}}}


def current_instance():
    """The Dagster instance of the CLI: $DAGSTER_HOME, defaulting to ./.av_home (created on first use)
    with the repo's dagster.yaml, exactly where `make demo` and `make ui` put it."""
    import os
    import shutil
    from pathlib import Path

    import dagster as dg

    home = os.environ.get("DAGSTER_HOME")
    if not home:
        home = str(Path(".av_home").resolve())
        os.environ["DAGSTER_HOME"] = home
    Path(home).mkdir(parents=True, exist_ok=True)
    config = Path(home, "dagster.yaml")
    repo_config = Path(__file__).resolve().parents[2] / "dagster.yaml"
    if not config.exists() and repo_config.exists():
        shutil.copy(repo_config, config)
    return dg.DagsterInstance.get()
