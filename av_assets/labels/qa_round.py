"""A human QA round (workflow 10) end to end: status of the label sets, sampling and export of
Label Studio tasks, import of the annotations (all validated before anything is written), consensus,
verified labels per drive, and the drives' label sets re-materialised."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from av_contracts import tables

KEY = ["drive_id", "sensor_id", "t_ns"]


def _read_all(lake, table) -> pl.DataFrame | None:
    name = table.rel(drive_id="x").rsplit("/", 1)[-1]
    files = [f for f in lake.list(table.root, "**/" + name)]
    return pl.concat([lake.read_parquet(f) for f in files], how="diagonal_relaxed") if files else None


def label_set_status(labels: pl.DataFrame | None, frames: pl.DataFrame | None) -> dict:
    """CONTRACTS `av labels status`: per label set, its frames, labels and labels by status."""
    out: dict[str, dict[str, Any]] = {}
    if frames is not None:
        for (ls,), g in frames.group_by(["label_set"]):
            out.setdefault(ls, {"label_set": ls, "frames": 0, "labels": 0, "by_status": {}})["frames"] = (
                g.height
            )
    if labels is not None:
        for (ls, st), g in labels.group_by(["label_set", "status"]):
            s = out.setdefault(ls, {"label_set": ls, "frames": 0, "labels": 0, "by_status": {}})
            s["labels"] += g.height
            s["by_status"][st] = g.height
    for s in out.values():
        s["by_status"] = dict(sorted(s["by_status"].items()))
    return {"label_sets": sorted(out.values(), key=lambda s: s["label_set"])}


def qa_frames(lake, drives: list[str] | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Labelled frames with their keyframe path, size and slices (gold/slices of their clip, when
    the drive has them), and the labels, of the given drives (all when None)."""
    frames, labels = _read_all(lake, tables.LABEL_FRAMES), _read_all(lake, tables.LABELS)
    if frames is None or labels is None:
        return pl.DataFrame(), pl.DataFrame()
    if drives:
        frames, labels = (
            frames.filter(pl.col("drive_id").is_in(drives)),
            labels.filter(pl.col("drive_id").is_in(drives)),
        )
    kf = _read_all(lake, tables.REDACTED_FRAMES)
    frames = frames.join(kf.select(*KEY, "path", "width", "height"), on=KEY, how="inner")
    slices = _frame_slices(lake, frames)
    return frames.join(slices, on=KEY, how="left").with_columns(
        pl.col("slices").fill_null(pl.lit([], pl.List(pl.String)))
    ), labels


def _frame_slices(lake, frames: pl.DataFrame) -> pl.DataFrame:
    """Slice names of each frame's clip (gold/slices), via the frame index's clip ids."""
    idx, sl = _read_all(lake, tables.FRAMES), _read_all(lake, tables.GOLD_SLICES)
    empty = pl.DataFrame(
        schema={"drive_id": pl.String, "sensor_id": pl.String, "t_ns": pl.Int64, "slices": pl.List(pl.String)}
    )
    if idx is None or sl is None or "clip_id" not in sl.columns:
        return empty
    name = "slice" if "slice" in sl.columns else "slice_name" if "slice_name" in sl.columns else None
    if name is None:
        return empty
    per_clip = sl.group_by("clip_id").agg(pl.col(name).unique().sort().alias("slices"))
    return (
        frames.select(KEY)
        .join(idx.select(*KEY, "clip_id"), on=KEY, how="left")
        .join(per_clip, on="clip_id", how="left")
        .select(*KEY, "slices")
    )


def export_round(lake, out: Path, plan, seed: int, drives: list[str] | None) -> dict:
    from av_assets.labels.label_studio import export_tasks, local_files_url, write_export
    from av_assets.labels.qa import sample_for_qa

    frames, labels = qa_frames(lake, drives)
    if not frames.height:
        return {"tasks": 0}
    chosen = sample_for_qa(frames, labels, plan, seed)
    root = lake.path("")
    tasks = export_tasks(chosen, labels, lambda f: local_files_url(lake.path(f["path"]), root))
    files = write_export(tasks, out)
    strata = chosen.group_by("stratum").len().sort("stratum")
    return {
        "tasks": len(tasks),
        "annotators_per_task": plan.annotators_per_task,
        "strata": dict(zip(strata["stratum"].to_list(), strata["len"].to_list(), strict=True)),
        "document_root": root,
        "files": {k: str(v) for k, v in files.items()},
    }


def import_round(lake, doc: Any, known_tasks: dict | None, k: int) -> dict:
    """Validate, decide, then write: reviews per drive (merged over earlier rounds frame by frame),
    each reported as a materialisation of ml/label_reviews, and ml/labels re-run for those drives."""
    from av_assets.labels.label_studio import ImportRefused, parse_import
    from av_assets.labels.qa import agreement, consensus

    parsed = parse_import(doc, known_tasks)
    frames = _read_all(lake, tables.LABEL_FRAMES)
    keys = set(map(tuple, parsed.submissions.select(KEY).rows())) | set(
        map(tuple, parsed.annotations.select(KEY).rows())
    )
    known = set(map(tuple, frames.select(KEY).rows())) if frames is not None else set()
    unknown = sorted(keys - known)
    if unknown:
        raise ImportRefused(f"{len(unknown)} task(s) are not labelled frames of this lake, e.g. {unknown[0]}")
    result = consensus(parsed.annotations, k=k, submissions=parsed.submissions)
    drives = sorted({d for d, _, _ in keys})
    for drive_id in drives:
        _write_reviews(
            lake,
            drive_id,
            result.labels.filter(pl.col("drive_id") == drive_id),
            result.frames.filter(pl.col("drive_id") == drive_id),
        )
    _materialise(lake, drives)
    agree = agreement(parsed.annotations, submissions=parsed.submissions)
    return {
        "tasks": parsed.tasks,
        "annotations": parsed.submissions.height,
        "cancelled": parsed.cancelled,
        "boxes": parsed.annotations.height,
        "verified_labels": result.labels.height,
        "verified_frames": int((result.frames["status"] == "verified").sum()),
        "adjudication": result.adjudication.height,
        "drives": drives,
        "agreement": agree,
    }


def _write_reviews(lake, drive_id: str, labels: pl.DataFrame, frames: pl.DataFrame) -> None:
    """Frames of this round replace the same frames of earlier rounds; other frames stay."""
    for table, new in ((tables.LABEL_REVIEWS, labels), (tables.LABEL_REVIEW_FRAMES, frames)):
        rel = table.rel(drive_id=drive_id)
        if lake.exists(rel):
            old = lake.read_parquet(rel)
            new = pl.concat([old.join(frames.select(KEY), on=KEY, how="anti"), new], how="diagonal_relaxed")
        lake.write_parquet(rel, new.sort(KEY))


def _materialise(lake, drives: list[str]) -> None:
    import dagster as dg

    from av_assets.labels.assets import REVIEWS, labels
    from av_assets.platform.runs import current_instance, quiet_run_config
    from av_resources.env import current_resources

    with current_instance() as instance:
        for drive_id in drives:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset_key=REVIEWS,
                    partition=drive_id,
                    metadata={"dagster/uri": lake.uri(tables.LABEL_REVIEWS.rel(drive_id=drive_id))},
                )
            )
            dg.materialize(
                [labels],
                resources=current_resources(),
                instance=instance,
                partition_key=drive_id,
                run_config=quiet_run_config(),
            )
