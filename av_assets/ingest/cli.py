"""`av ingest`, `av process`, `av quarantine list|release` and the demo step."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from av_cli.output import ExitCode, emit_json, fail, stderr_console

SKIP_DIRS = {"_ground_truth", "_staging"}


def find_drive_folders(path: Path) -> list[Path]:
    """PATH itself when it holds drive.json; else every folder below (depth <= 3) that holds one, in
    recording order; else PATH as a (bad) drive of its own, quarantined with a clear reason."""
    if (path / "drive.json").is_file():
        return [path]
    found: list[Path] = []

    def walk(d: Path, depth: int) -> None:
        for child in sorted(
            p for p in d.iterdir() if p.is_dir() and p.name not in SKIP_DIRS and not p.name.startswith(".")
        ):
            if (child / "drive.json").is_file():
                found.append(child)
            elif depth < 3:
                walk(child, depth + 1)

    walk(path, 1)
    return sorted(found, key=lambda d: (_start_time(d), d.as_posix())) or [path]


def _start_time(folder: Path) -> str:
    """Recording order first (ISO 8601 UTC sorts as text): when two offloads claim one drive id, the
    earlier recording is ingested first and the later one is the conflict. Unreadable: first."""
    import json

    try:
        value = json.loads((folder / "drive.json").read_text()).get("start_time")
    except (OSError, ValueError, AttributeError):
        return ""
    return value if isinstance(value, str) else ""


def ingest_path(path: Path, *, lake=None, validate: bool = True) -> list[Any]:
    from av_assets.ingest.core import LocalSource, ingest_drive
    from av_assets.ingest.notify import event_for
    from av_resources.env import local_lake
    from av_resources.notify import Notifier

    lake = lake or local_lake()
    lake.ensure_root()
    notifier = Notifier()
    results = []
    folders = find_drive_folders(path)
    for i, folder in enumerate(folders, 1):
        stderr_console.print(f"[dim][{i}/{len(folders)}][/] {folder}")
        res = ingest_drive(
            LocalSource(folder),
            lake,
            validate=validate,
            progress=lambda m: stderr_console.print(f"  {m}", highlight=False),
        )
        res.source = str(folder)
        if res.status != "skipped":
            notifier.notify(event_for(res))
        results.append(res)
    return results


def _check_path(path: Path) -> Path:
    if not path.exists():
        fail(f"path not found: {path}", ExitCode.USAGE)
    if not path.is_dir():
        fail(f"not a folder: {path} (give a drive folder or a folder of drive folders)", ExitCode.USAGE)
    return path.resolve()


WARNING_MEANINGS = {  # docs/ingest.md, "WARN" rows
    "time_gap": "a gap > 5x a topic's median period and > 1 s",
    "clock_backwards": "log_time goes backwards on a topic",
    "rate_off_nominal": "a sensor's measured rate is > 20 % off its declared rate_hz",
    "start_time_disagrees": "the first message is > 1 h from drive.json's start_time",
    "vehicle_folder_differs": "the vehicle folder name is not drive.json's vehicle_id (informational)",
    "folder_name_differs": "the drive folder name is not the drive id (informational)",
    "sensor_topic_differs": "a sensor was found on another topic than declared (informational)",
    "unknown_platform": "drive.json's platform has no profile yet (platform profiles arrive with "
    "workflow 36); nothing more is required of the drive",
    "undecodable_types": "messages of a type with no definition: counted, not checked",
}


def _run_cell(r: dict[str, Any]) -> str:
    """What `av process` did with a drive after ingest (its status is only ingest's)."""
    run = r.get("run")
    if run is None:
        return "quarantined" if r.get("status") == "quarantined" else "already processed"
    n = len(run.get("materialized") or [])
    return f"processed ({n} assets)" if run.get("success") else f"FAILED (run {run.get('run_id')})"


def _print(rows: list[dict[str, Any]], processed: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table()
    cols = ("drive_id", "status", "reason", "files", "message_count", "warnings")
    for c in (*cols, "pipeline") if processed else cols:
        table.add_column(c)
    for r in rows:
        cells = {c: "" if r.get(c) is None else str(r[c]) for c in cols}
        if r.get("warning_flags"):  # name them: a bare count sends people to manifest.json
            cells["warnings"] = ", ".join(r["warning_flags"])
        if processed:
            cells["pipeline"] = r.get("pipeline") or _run_cell(r)
        table.add_row(*cells.values())
    Console().print(table)
    flags = sorted({f for r in rows for f in r.get("warning_flags") or []})
    if flags:  # warnings do not stop a drive; say what each one means (docs/ingest.md has them all)
        from av_cli.output import stderr_console

        for f in flags:
            stderr_console.print(f"[dim]{f}: {WARNING_MEANINGS.get(f, 'see docs/ingest.md')}[/]")


def ingest(
    path: Path = typer.Argument(..., help="a drive folder (with drive.json) or a folder of drive folders"),
    as_json: bool = typer.Option(False, "--json", help='print {"drives": [...]} on stdout'),
    no_validate: bool = typer.Option(False, "--no-validate", help="skip message validation (counts only)"),
) -> None:
    """Copy drives into bronze ($AV_LAKE_ROOT) with sha256, manifest and integrity checks, without Dagster.

    Same bytes again: skipped. A bad drive is quarantined with its reason (exit 0: a result, not a failure).
    """
    path = _check_path(path)
    rows = [r.as_dict() for r in ingest_path(path, validate=not no_validate)]
    emit_json({"drives": rows}) if as_json else _print(rows)


def materialise_drives(drive_ids: list[str], instance=None) -> dict[str, dict[str, Any]]:
    """Run the per-drive job (every registered `process_assets` asset) for each drive, in-process."""
    from av_assets.definitions import defs
    from av_assets.ingest.sensors import JOB_NAME
    from av_assets.platform.partitions import DRIVES
    from av_assets.platform.runs import current_instance, quiet_run_config

    if not drive_ids:
        return {}
    instance = instance or current_instance()
    instance.add_dynamic_partitions(
        DRIVES.name, [d for d in drive_ids if not instance.has_dynamic_partition(DRIVES.name, d)]
    )
    job = defs().resolve_job_def(JOB_NAME)
    out = {}
    for drive_id in drive_ids:
        stderr_console.print(f"  materialising {drive_id} ({JOB_NAME})")
        res = job.execute_in_process(
            instance=instance,
            partition_key=drive_id,
            raise_on_error=False,
            run_config=quiet_run_config(),
            tags={"av/drive_id": drive_id, "av/launched_by": "av process"},
        )
        mats = sorted({e.asset_key.to_user_string() for e in res.get_asset_materialization_events()})
        checks = {
            f"{c.asset_key.to_user_string()}:{c.check_name}": c.passed
            for c in res.get_asset_check_evaluations()
        }
        out[drive_id] = {"run_id": res.run_id, "success": res.success, "materialized": mats, "checks": checks}
        for ev in res.get_asset_materialization_events():  # measured where ground truth exists
            truth = ev.step_materialization_data.materialization.metadata.get("av/eval_vs_ground_truth")
            if truth is not None:
                out[drive_id]["events_vs_truth"] = truth.data
    return out


def ground_truth_beside(path: Path) -> Path | None:
    """A simulated fleet's `_ground_truth/` (`av fleet simulate --out PATH`), for PATH or a drive in it."""
    for root in (path, *path.parents[:2]):
        if (root / "_ground_truth").is_dir():
            return root / "_ground_truth"
    return None


def _print_events_vs_truth(rows: list[dict[str, Any]], truth_root: str) -> None:
    """Event detection measured against the fleet's ground truth, pooled over the drives that ran."""
    tot: dict[str, list[int]] = {}
    for r in rows:
        for kind, m in ((r.get("run") or {}).get("events_vs_truth") or {}).items():
            t = tot.setdefault(kind, [0, 0, 0, 0])
            for i, c in enumerate(("matched_truth", "truth", "matched_detections", "detections")):
                t[i] += m[c]
    if not tot:
        stderr_console.print(
            f"[dim]ground truth in {truth_root}: no drive ran now, nothing measured (earlier runs' numbers "
            "are in silver/event_detections' metadata, Dagster UI)[/]"
        )
        return
    parts = [f"{k} {mt}/{t} found, {d - md} false" for k, (mt, t, md, d) in sorted(tot.items()) if t or d]
    stderr_console.print("events vs ground truth: " + "; ".join(parts))
    stderr_console.print(
        f"[dim](truth: {truth_root}; a detection finds a true event of its type when their intervals "
        "overlap, each widened by 0.5 s: docs/scenes.md)[/]"
    )


def process(
    path: Path = typer.Argument(..., help="a drive folder (with drive.json) or a folder of drive folders"),
    as_json: bool = typer.Option(False, "--json", help='print {"drives": [...]} on stdout'),
) -> None:
    """Ingest, then materialise every per-drive asset on the Dagster instance ($DAGSTER_HOME),
    in-process, for each drive in bronze that this instance has not processed yet: new drives, and
    drives ingested before ("skipped" by ingest: same bytes) by `av ingest` alone, released from
    quarantine, or left by a failed run. `pipeline` (a column; a field in JSON, beside `run`) says
    what ran; quarantined drives stop at ingest. Drives of a simulated fleet (a `_ground_truth/` beside them,
    or AV_GROUND_TRUTH_ROOT) get their detected events measured against it (stderr and `run` in JSON)."""
    path = _check_path(path)
    truth = ground_truth_beside(path)
    if truth is not None and not os.environ.get("AV_GROUND_TRUTH_ROOT"):
        os.environ["AV_GROUND_TRUTH_ROOT"] = str(truth)  # the evaluation resource measures events on it
    rows = process_path(path)
    for r in rows:
        r["pipeline"] = _run_cell(r)
    emit_json({"drives": rows}) if as_json else _print(rows, processed=True)
    if os.environ.get("AV_GROUND_TRUTH_ROOT"):
        _print_events_vs_truth(rows, os.environ["AV_GROUND_TRUTH_ROOT"])


def _unprocessed(instance, drive_id: str) -> bool:
    """A drive in bronze whose per-drive assets have not all been materialised on this instance
    (ingested with `av ingest` only, released from quarantine, or an earlier run failed midway)."""
    import dagster as dg

    from av_assets.platform.registry import all_process_assets

    for key in all_process_assets():
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(key.split("/")), asset_partitions=[drive_id]), limit=1
        ).records
        if not records:
            return True
    return False


def process_path(path: Path, lake=None, instance=None) -> list[dict[str, Any]]:
    """`av process`: ingest, then run the per-drive job for every drive that is in bronze, passed
    integrity (or was released) and is not processed yet on this instance."""
    from av_assets.platform.runs import current_instance

    results = ingest_path(path, lake=lake)
    instance = instance or current_instance()
    todo = [
        r.drive_id
        for r in results
        if r.status == "ingested"
        or (
            r.status == "skipped"
            and (r.manifest or {}).get("status") == "ingested"
            and _unprocessed(instance, r.drive_id)
        )
    ]
    runs = materialise_drives(todo, instance=instance)
    rows = []
    for r in results:
        row = r.as_dict()
        if r.drive_id in runs and r.status != "quarantined":
            row["run"] = runs[r.drive_id]
        rows.append(row)
    return rows


quarantine_app = typer.Typer(
    help="Drives refused by ingestion/integrity: list them, release one.", no_args_is_help=True
)


@quarantine_app.command("list")
def quarantine_list(
    as_json: bool = typer.Option(False, "--json", help="print a JSON list on stdout"),
) -> None:
    """Every quarantine record (drive, reason, detail, released, note)."""
    from av_assets.ingest.core import list_quarantine
    from av_resources.env import local_lake

    rows = list_quarantine(local_lake())
    if as_json:
        emit_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for c in ("drive_id", "reason", "released", "detail"):
        table.add_column(c)
    for r in rows:
        table.add_row(r["drive_id"], r["reason"], str(r["released"]), (r["detail"] or "")[:120])
    Console().print(table)


@quarantine_app.command("release")
def quarantine_release(
    drive: str = typer.Argument(..., help="drive_id"),
    note: str = typer.Option(..., "--note", help="why it is accepted (kept in the record)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Accept a quarantined drive: the record is kept (released + note); its bronze status becomes ingested."""
    from av_assets.ingest.core import release_quarantine
    from av_contracts.ids import InvalidIdentifier
    from av_resources.env import local_lake

    try:
        rec = release_quarantine(local_lake(), drive, note)
    except (FileNotFoundError, InvalidIdentifier) as exc:
        fail(str(exc), ExitCode.USAGE)
    if as_json:
        emit_json({k: rec[k] for k in ("drive_id", "reason", "released", "note")})
    else:
        stderr_console.print(f"released {drive} ({rec['reason']}): {note}")


def demo_step(ctx) -> list[tuple[str, str]]:
    """`make demo` step 20: `av process` over the fleet the fleet step generated (ctx.out)."""
    out = Path(ctx.out)
    if not out.exists():
        return [("drives", "no fleet at " + str(out))]
    rows = process_path(out)
    ctx.results["ingest"] = rows
    by = {s: sum(1 for r in rows if r["status"] == s) for s in ("ingested", "skipped", "quarantined")}
    reasons = sorted({r["reason"] for r in rows if r["reason"]})
    return [
        ("drives ingested", str(by["ingested"])),
        ("drives skipped (already in bronze)", str(by["skipped"])),
        ("drives quarantined", str(by["quarantined"]) + (f" ({', '.join(reasons)})" if reasons else "")),
        ("messages counted", f"{sum(r['message_count'] for r in rows):,}"),
        (
            "per-drive runs succeeded",
            f"{sum(1 for r in rows if r.get('run', {}).get('success'))}/{sum(1 for r in rows if 'run' in r)}",
        ),
    ]
