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


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="print one JSON document")) -> None:
    """Frames and labels per label set, by status (accepted, needs_review, rejected, verified)."""
    from av_assets.labels.qa_round import label_set_status, read_all
    from av_contracts import tables

    lake = _lake()
    doc = label_set_status(read_all(lake, tables.LABELS), read_all(lake, tables.LABEL_FRAMES))
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
    """Write a QA round as Label Studio tasks.

    Samples frames for human QA (every needs_review frame, a stratified share of the rest) and writes
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
    if out.exists() and not out.is_dir():
        fail(f"--out {out} is a file, not a folder", ExitCode.USAGE)
    lake = _lake()
    if lake.is_s3:
        fail(
            "export needs a local lake (Label Studio serves the keyframes from its document root)",
            ExitCode.USAGE,
        )
    summary = export_round(lake, out, plan, seed, drives or None)
    if not summary["tasks"]:
        if drives:
            fail(
                f"no labelled frames of {', '.join(drives)}: not a processed drive of this lake",
                ExitCode.FAILED,
            )
        fail("no labelled frames to export: `av process` a drive first", ExitCode.FAILED)
    if as_json:
        emit_json(summary)
    else:
        stderr_console.print(
            f"{summary['tasks']} tasks -> {summary['files']['tasks']} (label config: "
            f"{summary['files']['label_config']})\nimages are local-files URLs under "
            f"{summary['document_root']}: docs/labels.md, 'Serving a round in Label Studio'"
        )


def _print_import(summary: dict) -> None:
    agree = summary.get("agreement") or {}
    alpha, iou = agree.get("alpha_class"), agree.get("mean_iou")
    lines = [
        f"{summary['verified_labels']} verified labels on {summary['verified_frames']} verified frames; "
        f"{summary['reviewed_frames'] - summary['verified_frames']} frames wait on "
        f"{summary['adjudication']} adjudications; drives {', '.join(summary['drives'])}",
        "agreement: Krippendorff alpha (class) "
        + (f"{alpha:.2f}" if alpha is not None else "n/a")
        + ", mean IoU "
        + (f"{iou:.2f}" if iou is not None else "n/a"),
    ]
    for name, acc in sorted((summary.get("annotator_accuracy") or {}).items()):
        lines.append(f"gold frames, {name}: precision {acc['precision']:.2f} recall {acc['recall']:.2f}")
    stderr_console.print("\n".join(lines))


def _read_json(path: Path, what: str):
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        fail(f"{what} {path}: no such file", ExitCode.USAGE)
    except OSError as exc:
        fail(f"{what} {path}: cannot read ({exc.strerror or exc})", ExitCode.USAGE)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        fail(f"import refused, nothing written: {what} {path} is not JSON ({exc})", ExitCode.USAGE)


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="Label Studio JSON export of the annotated tasks"),
    tasks: Path = typer.Option(
        None,
        "--tasks",
        help="the tasks.json the round was exported as: every imported task must be one of its frames (matched by frame, as Label Studio renumbers tasks) with the same image and size",
    ),
    annotators: int = typer.Option(
        3, "--annotators", min=2, help="annotators per task (k) the majority is of"
    ),
    as_json: bool = typer.Option(False, "--json", help="print one JSON summary"),
) -> None:
    """Import a Label Studio export of the annotated tasks.

    Completed annotations are validated in full first (a malformed or foreign file is refused
    with the reason and nothing is written), then consensus per frame (boxes matched by IoU, class by
    majority, disagreements to adjudication), verified labels per drive, and the drives' label sets
    re-materialised. Exit 1 when a drive's ml/labels run fails (its reviews are written: re-run the
    import or materialise ml/labels for the drive)."""
    from av_assets.labels.label_studio import ImportRefused
    from av_assets.labels.qa_round import import_round

    doc = _read_json(file, "annotations")
    known = None
    if tasks is not None:
        exported = _read_json(tasks, "--tasks")
        if not isinstance(exported, list) or not all(
            isinstance(t, dict) and isinstance(t.get("id"), int) for t in exported
        ):
            fail(
                f"--tasks {tasks}: not the tasks.json of an export (a list of tasks with ids)", ExitCode.USAGE
            )
        known = {t["id"]: t for t in exported}
    try:
        summary = import_round(_lake(), doc, known, annotators)
    except ImportRefused as exc:
        fail(f"import refused, nothing written: {exc.reason}", ExitCode.USAGE)
    failed = sorted(d for d, r in summary["runs"].items() if not r["success"])
    if as_json:
        emit_json(summary)
    else:
        _print_import(summary)
    if failed:
        stderr_console.print(
            f"[bold red]error:[/] ml/labels failed for {', '.join(failed)} (reviews written): "
            "re-run the import, or materialise ml/labels for the drive"
        )
        raise typer.Exit(int(ExitCode.FAILED))
