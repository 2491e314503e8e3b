"""`av labels`: where the label sets stand, a QA round out to Label Studio and back in."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from av_cli.output import ExitCode, emit_json, fail, stderr_console

app = typer.Typer(
    help="Labels: status of the label sets, QA export to Label Studio, import of its annotations."
)


def _lake():
    from av_resources.env import local_lake

    return local_lake()


def _read_all(lake, table):
    import polars as pl

    files = lake.list(table.root, "**/" + table.rel(drive_id="x").rsplit("/", 1)[-1])
    return pl.concat([lake.read_parquet(f) for f in files], how="diagonal_relaxed") if files else None


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="print one JSON document")) -> None:
    """Frames and labels per label set, by status (accepted, needs_review, rejected, verified)."""
    from av_assets.labels.qa_round import label_set_status

    lake = _lake()
    doc = label_set_status(_read_all(lake, _tables().LABELS), _read_all(lake, _tables().LABEL_FRAMES))
    if as_json:
        emit_json(doc)
        return
    from rich.console import Console
    from rich.table import Table

    t = Table("label set", "frames", "labels", "by status")
    for s in doc["label_sets"]:
        t.add_row(
            s["label_set"],
            str(s["frames"]),
            str(s["labels"]),
            ", ".join(f"{k} {v}" for k, v in s["by_status"].items()),
        )
    Console().print(t)
    if not doc["label_sets"]:
        stderr_console.print("no labels yet: `av process` a drive first")


def _tables():
    from av_contracts import tables

    return tables


@app.command()
def export(
    out: Path = typer.Option(..., "--out", help="folder for tasks.json and label_config.xml"),
    fmt: str = typer.Option("label-studio", "--format", help="label-studio (the only format)"),
    drive: list[str] = typer.Option(None, "--drive", help="only these drive ids (repeatable)"),
    annotators: int = typer.Option(3, "--annotators", help="annotators per task (k)"),
    accepted_share: float = typer.Option(
        0.1, "--accepted-share", help="share of accepted frames sampled per stratum"
    ),
    seed: int = typer.Option(0, "--seed", help="sampling seed"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON summary"),
) -> None:
    """Sample frames for human QA (every needs_review frame, a stratified share of the rest) and write
    them as Label Studio tasks with the auto-labels as predictions and the redacted keyframe as the
    image (a local-files URL under the lake root: serve it with Label Studio's local file storage)."""
    from av_assets.labels.qa import SamplingPlan
    from av_assets.labels.qa_round import export_round
    from av_contracts.ids import InvalidIdentifier, validate_drive_id

    if fmt != "label-studio":
        fail(f"unknown format {fmt!r}: only label-studio", ExitCode.USAGE)
    try:
        drives = [validate_drive_id(d) for d in drive or []]
        plan = SamplingPlan(annotators_per_task=annotators, accepted_share=accepted_share)
    except (InvalidIdentifier, ValueError) as exc:
        fail(str(exc), ExitCode.USAGE)
    lake = _lake()
    if lake.is_s3:
        fail(
            "export needs a local lake (Label Studio serves the keyframes from its document root)",
            ExitCode.USAGE,
        )
    summary = export_round(lake, out, plan, seed, drives or None)
    if not summary["tasks"]:
        fail("no labelled frames to export: `av process` a drive first", ExitCode.FAILED)
    if as_json:
        emit_json(summary)
    else:
        stderr_console.print(f"{summary['tasks']} tasks -> {summary['files']['tasks']}")


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="Label Studio JSON export of the annotated tasks"),
    tasks: Path = typer.Option(
        None, "--tasks", help="the tasks.json the round was exported as (checks every task is ours)"
    ),
    annotators: int = typer.Option(3, "--annotators", help="annotators per task (k) the majority is of"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON summary"),
) -> None:
    """Import completed annotations: validated in full first (a malformed or foreign file is refused
    with the reason and nothing is written), then consensus per frame (boxes matched by IoU, class by
    majority, disagreements to adjudication), verified labels per drive, and the drives' label sets
    re-materialised."""
    from av_assets.labels.label_studio import ImportRefused
    from av_assets.labels.qa_round import import_round

    try:
        doc = json.loads(file.read_bytes())
        known = {t["id"]: t for t in json.loads(tasks.read_bytes())} if tasks else None
    except FileNotFoundError as exc:
        fail(f"{exc.filename}: no such file", ExitCode.FAILED)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, KeyError) as exc:
        fail(f"{file if not tasks else tasks}: not a Label Studio JSON export ({exc})", ExitCode.USAGE)
    try:
        summary = import_round(_lake(), doc, known, annotators)
    except ImportRefused as exc:
        fail(f"import refused, nothing written: {exc.reason}", ExitCode.USAGE)
    if as_json:
        emit_json(summary)
    else:
        stderr_console.print(
            f"{summary['verified_labels']} verified labels on {summary['verified_frames']} frames; "
            f"{summary['adjudication']} to adjudicate; drives {', '.join(summary['drives'])}"
        )
