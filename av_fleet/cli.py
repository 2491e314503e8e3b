"""`av fleet`: the synthetic fleet generator's command line."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer

from av_assets.contracts.cli import ExitCode, emit_json, fail, stderr_console

app = typer.Typer(
    name="fleet",
    help=(
        "Synthetic fleet: drive offloads in the formats a car writes (ROS 2 MCAP / sqlite3 bags, ROS 1 "
        ".bag; camera, lidar, radar, IMU, GNSS, raw CAN through a real DBC) on real OSM roads, with "
        "ground truth beside them in <out>/_ground_truth/. Same seed, same bytes."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main() -> None:
    """Synthetic fleet commands."""


@app.command()
def simulate(
    out: Path = typer.Option(..., "--out", help="fleet folder: <out>/<vehicle_id>/<drive_id>/ per drive"),
    drives: int = typer.Option(3, "--drives", help="number of drives"),
    seed: int = typer.Option(0, "--seed", help="fleet seed (same seed => byte-identical output)"),
    duration: float = typer.Option(60.0, "--duration", help="seconds per drive"),
    fmt: str = typer.Option("mcap", "--format", help="mcap | ros2-sqlite | ros1 | mixed"),
    workers: int = typer.Option(0, "--workers", help="parallel processes (0 = min(drives, CPUs))"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON summary on stdout"),
) -> None:
    """Generate a fleet of drives with ground truth."""
    from av_fleet.simulate import FORMAT_CHOICES

    if fmt not in FORMAT_CHOICES:
        fail(f"--format must be one of {', '.join(FORMAT_CHOICES)}, got {fmt!r}")
    if drives < 1:
        fail(f"--drives must be at least 1, got {drives}")
    if not (1.0 <= duration <= 3600.0):
        fail(f"--duration must be between 1 and 3600 seconds, got {duration}")
    if seed < 0 or seed >= 2**63:
        fail(f"--seed must be a non-negative 63-bit integer, got {seed}")
    if out.exists() and not out.is_dir():
        fail(f"--out {out} exists and is not a folder")
    if workers < 0:
        fail(f"--workers must be >= 0, got {workers}")
    if workers == 0:
        workers = max(
            1,
            min(
                drives,
                len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
            ),
        )

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from av_fleet.simulate import simulate_fleet

    t0 = time.perf_counter()
    with Progress(
        TextColumn("[bold]fleet[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("drives"),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=stderr_console,
        transient=False,
    ) as progress:
        task = progress.add_task("", total=drives)

        def done(summary: dict) -> None:
            progress.update(task, advance=1, description=summary["drive_id"])

        try:
            summary = simulate_fleet(out, drives, seed, duration, fmt, workers=workers, on_drive_done=done)
        except OSError as exc:
            fail(f"cannot write the fleet to {out}: {exc}")
    wall = time.perf_counter() - t0
    summary["out"] = str(out)
    summary["workers"] = workers
    summary["wall_s"] = round(wall, 3)
    summary["drive_seconds_per_wall_second"] = round(drives * duration / wall, 3) if wall > 0 else None
    if as_json:
        emit_json(summary)
    else:
        stderr_console.print(
            f"[green]wrote[/] {drives} drives, {summary['files']} files, {summary['bytes'] / 1e6:.1f} MB, "
            f"{summary['messages']} messages to {out} in {wall:.1f} s; events: "
            + ", ".join(f"{k}={v}" for k, v in summary["events"].items())
        )
    raise typer.Exit(int(ExitCode.OK))


if __name__ == "__main__":
    app()
