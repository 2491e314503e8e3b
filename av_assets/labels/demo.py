"""`make demo` step of labels (run by `av demo`): one human QA round on the demo drives.

Export a QA round (`av labels export`), let the fleet's simulated annotator panel answer it
(`av fleet annotate`, run as a command: the pipeline never imports the fleet generator), import the
annotations (`av labels import`: consensus, verified labels, ml/labels re-run), and report what the
round produced and how it measures against the fleet's ground truth (evaluation only)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl

from av_assets.labels.qa import KEY

PANEL = 3  # annotators per task: two careful, one careless (av_fleet.annotators.default_panel)
# what the panel is asked to box (av_fleet.annotators: MIN_VISIBLE, MIN_BOX_PX), so the truth the
# round is scored on is the truth the annotators saw
MIN_VISIBLE = 0.25
MIN_BOX_PX = 4.0


def panel_truth(gt_root: Path, frames: pl.DataFrame) -> pl.DataFrame | None:
    """True object boxes of the round's frames (drive_id, sensor_id, t_ns, width, height): visible
    enough and big enough to box, clipped to the image. None without ground truth."""
    from av_assets.labels.evaluate import truth_for_frames

    parts = []
    for (drive_id,), f in frames.group_by(["drive_id"]):
        path = Path(gt_root, f"{drive_id}.boxes_2d.parquet")
        if not path.is_file():
            return None
        t = truth_for_frames(f, pl.read_parquet(path)).join(
            f.select("sensor_id", "t_ns", "width", "height"), on=["sensor_id", "t_ns"]
        )
        parts.append(t.with_columns(pl.lit(drive_id).alias("drive_id")))
    if not parts:
        return None
    t = pl.concat(parts, how="diagonal_relaxed")
    t = t.filter(pl.col("visible_fraction").is_null() | (pl.col("visible_fraction") >= MIN_VISIBLE))
    t = t.with_columns(
        pl.col("x_min").clip(0.0),
        pl.col("y_min").clip(0.0),
        pl.min_horizontal("x_max", "width").alias("x_max"),
        pl.min_horizontal("y_max", "height").alias("y_max"),
    )
    side = pl.min_horizontal(pl.col("x_max") - pl.col("x_min"), pl.col("y_max") - pl.col("y_min"))
    return t.filter(side >= MIN_BOX_PX).select(*KEY, "class", "x_min", "y_min", "x_max", "y_max")


def _weighted(runs: dict[str, dict], value: str, weight: str) -> float | None:
    num = den = 0.0
    for r in runs.values():
        q = r.get("quality_vs_ground_truth") or {}
        if q.get(value) is not None and q.get(weight):
            num, den = num + q[value] * q[weight], den + q[weight]
    return num / den if den else None


def qa_round_step(ctx) -> list[tuple[str, str]]:
    """Export, simulated panel, import; rows for the demo summary."""
    from av_assets.labels.qa import SamplingPlan
    from av_assets.labels.qa_round import (
        decide_round,
        export_round,
        import_round,
        label_set_status,
        panel_accuracy,
        read_all,
    )
    from av_contracts import tables
    from av_resources.env import local_lake

    lake = local_lake()
    drives = [r["drive_id"] for r in ctx.results.get("ingest", []) if r.get("status") != "quarantined"]
    out = Path(ctx.out) / ".qa_round"  # hidden: `av process` of the fleet folder never walks it
    gt_root = Path(os.environ.get("AV_GROUND_TRUTH_ROOT") or Path(ctx.out) / "_ground_truth")
    exported = export_round(lake, out, SamplingPlan(annotators_per_task=PANEL), ctx.seed, drives or None)
    if not exported["tasks"]:
        return [("QA round", "no labelled frames to review")]
    rows = [
        (
            "QA round: tasks exported",
            f"{exported['tasks']} frames of {len(exported['drives'])} drives -> {exported['files']['tasks']}",
        )
    ]
    tasks_path, ann_path = Path(exported["files"]["tasks"]), out / "annotations.json"
    cmd = [sys.executable, "-m", "av_cli", "fleet", "annotate", "--tasks", str(tasks_path)]
    cmd += ["--ground-truth", str(gt_root), "--out", str(ann_path), "--annotators", str(PANEL)]
    cmd += ["--seed", str(ctx.seed), "--json"]
    panel = subprocess.run(cmd, capture_output=True, text=True)
    if panel.returncode != 0:
        return [*rows, ("QA round: panel", f"FAILED: {panel.stderr.strip().splitlines()[-1:]}")]
    doc, known = json.loads(ann_path.read_bytes()), {t["id"]: t for t in json.loads(tasks_path.read_bytes())}
    summary = import_round(lake, doc, known, PANEL)
    ctx.results["labels"] = summary
    agree = summary["agreement"]
    rows += [
        (
            "QA round: simulated panel",
            f"{summary['annotations']} annotations, {summary['boxes']} boxes ({PANEL} annotators, one careless)",
        ),
        (
            "QA round: verified labels",
            f"{summary['verified_frames']} frames verified ({summary['labels_on_verified_frames']} labels); "
            f"{summary['adjudication']} boxes to adjudicate on the other {summary['reviewed_frames'] - summary['verified_frames']}",
        ),
        (
            "QA round: annotator agreement",
            f"Krippendorff alpha (class) {_num(agree.get('alpha_class'))}, mean IoU {_num(agree.get('mean_iou'))}",
        ),
    ]
    failed = [d for d, r in summary["runs"].items() if not r["success"]]
    if failed:
        rows.append(("ml/labels re-run", f"FAILED for {', '.join(failed)} (see the run in `make ui`)"))
    frames = pl.DataFrame(
        [{k: t["data"][k] for k in (*KEY, "width", "height")} for t in known.values()],
        schema={
            "drive_id": pl.String,
            "sensor_id": pl.String,
            "t_ns": pl.Int64,
            "width": pl.Int64,
            "height": pl.Int64,
        },
    )
    truth = panel_truth(gt_root, frames)
    if truth is not None:
        acc = panel_accuracy(decide_round(lake, doc, known, PANEL), truth)
        c = acc["consensus"]
        each = ", ".join(f"{a.split('@')[0]} {v['f1']:.2f}" for a, v in acc["annotators"].items())
        rows.append(
            (
                "QA round vs ground truth",
                f"consensus P {c['precision']:.2f} R {c['recall']:.2f} F1 {c['f1']:.2f}; "
                f"median annotator F1 {acc['median_annotator_f1']:.2f} ({each})",
            )
        )
        ctx.results["labels_vs_truth"] = acc
    precision = _weighted(summary["runs"], "precision_accepted", "accepted")
    recall = _weighted(summary["runs"], "recall_visible", "recall_truth")
    if precision is not None or recall is not None:
        rows.append(
            (
                "labels vs ground truth (after QA)",
                f"precision of accepted+verified {_num(precision)}, recall of visible objects {_num(recall)}",
            )
        )
    status = label_set_status(read_all(lake, tables.LABELS), read_all(lake, tables.LABEL_FRAMES))
    for s in status["label_sets"]:
        by = ", ".join(f"{k} {v}" for k, v in s["by_status"].items())
        rows.append((f"label set {s['label_set']}", f"{s['frames']} frames, {s['labels']} labels ({by})"))
    return rows


def _num(v: Any) -> str:
    return "n/a" if v is None else f"{v:.2f}"
