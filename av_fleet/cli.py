"""`av fleet`: the synthetic fleet generator's command line."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer

from av_cli.output import ExitCode, emit_json, fail, stderr_console
from av_fleet.params import FAULTS

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
    render_style: str = typer.Option("default", "--render-style", help="default | heldout (camera look)"),
    camera: str = typer.Option("640x360", "--camera", help="camera resolution WxH"),
    lidar_beams: int = typer.Option(16, "--lidar-beams", help="lidar beams: 16 | 32 | 64 | 128"),
    faults: str = typer.Option(
        "",
        "--faults",
        help="comma-separated faults, or 'all' (one extra drive per fault): " + ", ".join(FAULTS),
    ),
    weather: str = typer.Option("", "--weather", help="force clear | overcast | rain | fog (default: drawn)"),
    light: str = typer.Option("", "--light", help="force day | dusk | night (default: drawn)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON summary on stdout"),
) -> None:
    """Generate a fleet of drives with ground truth."""
    import re

    from av_fleet import params as P
    from av_fleet.faults import parse_faults
    from av_fleet.simulate import FORMAT_CHOICES, LIGHTS, WEATHERS

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
    if render_style not in P.RENDER_STYLES:
        fail(f"--render-style must be one of {', '.join(P.RENDER_STYLES)}, got {render_style!r}")
    m = re.fullmatch(r"(\d+)x(\d+)", camera.strip())
    if not m or not all(16 <= int(v) <= P.CAMERA_MAX_SIDE for v in m.groups()):
        fail(f"--camera must be WxH with sides 16..{P.CAMERA_MAX_SIDE}, got {camera!r}")
    cam = (int(m.group(1)), int(m.group(2)))
    if lidar_beams not in P.LIDAR_BEAMS_CHOICES:
        fail(f"--lidar-beams must be one of {P.LIDAR_BEAMS_CHOICES}, got {lidar_beams}")
    try:
        fault_list = parse_faults(faults)
    except ValueError as exc:
        fail(f"--faults: {exc}")
    if weather and weather not in WEATHERS:
        fail(f"--weather must be one of {', '.join(WEATHERS)}, got {weather!r}")
    if light and light not in LIGHTS:
        fail(f"--light must be one of {', '.join(LIGHTS)}, got {light!r}")
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
        task = progress.add_task("", total=drives + len(fault_list))

        def done(summary: dict) -> None:
            progress.update(task, advance=1, description=summary["drive_id"])

        try:
            summary = simulate_fleet(
                out,
                drives,
                seed,
                duration,
                fmt,
                workers=workers,
                on_drive_done=done,
                render_style=render_style,
                camera=cam,
                lidar_beams=lidar_beams,
                faults=fault_list,
                weather=weather or None,
                light=light or None,
            )
        except OSError as exc:
            fail(f"cannot write the fleet to {out}: {exc}")
    wall = time.perf_counter() - t0
    summary["out"] = str(out)
    summary["workers"] = workers
    summary["wall_s"] = round(wall, 3)
    summary["drive_seconds_per_wall_second"] = (
        round(summary["drives"] * duration / wall, 3) if wall > 0 else None
    )
    if as_json:
        emit_json(summary)
    else:
        stderr_console.print(
            f"[green]wrote[/] {summary['drives']} drives ({len(fault_list)} with faults), {summary['files']} files, {summary['bytes'] / 1e6:.1f} MB, "
            f"{summary['messages']} messages to {out} in {wall:.1f} s; events: "
            + ", ".join(f"{k}={v}" for k, v in summary["events"].items())
        )
    raise typer.Exit(int(ExitCode.OK))


@app.command()
def annotate(
    tasks_path: Path = typer.Option(
        ..., "--tasks", help="Label Studio tasks JSON (a list) exported by the pipeline"
    ),
    ground_truth: Path = typer.Option(..., "--ground-truth", help="the fleet's _ground_truth/ folder"),
    out: Path = typer.Option(..., "--out", help="where the annotated tasks (Label Studio JSON) are written"),
    annotators: int = typer.Option(3, "--annotators", help="panel size (2..12), exactly one careless"),
    seed: int = typer.Option(0, "--seed", help="panel seed (same seed => byte-identical output)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON summary on stdout"),
) -> None:
    """Answer QA tasks with a simulated annotator panel (from ground truth, never the predictions)."""
    import json

    from av_fleet.annotators import answer_tasks, default_panel

    if seed < 0 or seed >= 2**63:
        fail(f"--seed must be a non-negative 63-bit integer, got {seed}")
    try:
        panel = default_panel(annotators)
    except ValueError as exc:
        fail(f"--annotators: {exc}")
    if not ground_truth.is_dir():
        fail(f"--ground-truth {ground_truth} is not a folder")
    if out.is_dir():
        fail(f"--out {out} is a folder")
    try:
        tasks = json.loads(tasks_path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        fail(f"cannot read --tasks {tasks_path}: {exc}")
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        fail(f"--tasks {tasks_path} must hold a JSON list of Label Studio tasks")
    try:
        annotated = answer_tasks(tasks, ground_truth, panel, seed)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(annotated, indent=2, ensure_ascii=False) + "\n")
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        fail(f"cannot write {out}: {exc}")
    summary = {
        "tasks": len(annotated),
        "annotations": sum(len(t["annotations"]) for t in annotated),
        "boxes": sum(len(a["result"]) for t in annotated for a in t["annotations"]),
    }
    if as_json:
        emit_json(summary)
    else:
        stderr_console.print(
            f"[green]wrote[/] {summary['tasks']} tasks, {summary['annotations']} annotations by "
            f"{', '.join(a.name for a in panel)}, {summary['boxes']} boxes to {out}"
        )
    raise typer.Exit(int(ExitCode.OK))


if __name__ == "__main__":
    app()
