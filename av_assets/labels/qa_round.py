"""A human QA round (workflow 10) end to end: status of the label sets, sampling and export of
Label Studio tasks, import of the annotations (all validated before anything is written), consensus,
verified labels per drive, and the drives' label sets re-materialised.

Gold frames: a frame verified by an earlier round has known truth (its verified labels), so an export
marks such frames `gold` and samples up to `SamplingPlan.gold_frames` of them; on import they score
each annotator (`qa.annotator_accuracy`) and their verified labels stay as they are."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from av_assets.labels.qa import KEY
from av_contracts import tables

ADJUDICATION = "adjudication.parquet"  # beside ml/label_reviews: the clusters a person must decide


def partition_files(lake, table) -> list[str]:
    """Every partition file of a per-drive table on the lake."""
    return lake.list(table.root, table.glob[len(table.root) + 1 :])


def read_all(lake, table) -> pl.DataFrame | None:
    """Every drive partition of a per-drive table, concatenated (None when no drive has one)."""
    files = partition_files(lake, table)
    return pl.concat([lake.read_parquet(f) for f in files], how="diagonal_relaxed") if files else None


def _present(df: pl.DataFrame | None, *cols: str) -> bool:
    return df is not None and df.height > 0 and set(cols) <= set(df.columns)


def label_set_status(labels: pl.DataFrame | None, frames: pl.DataFrame | None) -> dict:
    """CONTRACTS `av labels status`: per label set, its frames, labels and labels by status."""
    out: dict[str, dict[str, Any]] = {}

    def entry(ls: str) -> dict[str, Any]:
        return out.setdefault(ls, {"label_set": ls, "frames": 0, "labels": 0, "by_status": {}})

    if _present(frames, "label_set"):
        for (ls,), g in frames.group_by(["label_set"]):
            entry(ls)["frames"] += g.height
    if _present(labels, "label_set", "status"):
        for (ls, st), g in labels.group_by(["label_set", "status"]):
            s = entry(ls)
            s["labels"] += g.height
            s["by_status"][st] = s["by_status"].get(st, 0) + g.height
    for s in out.values():
        s["by_status"] = dict(sorted(s["by_status"].items()))
    return {"label_sets": sorted(out.values(), key=lambda s: s["label_set"])}


# ---------------------------------------------------------------------------------------------- export


def qa_frames(lake, drives: list[str] | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Labelled frames with their keyframe path and size, slices (gold/slices of their clip, when the
    drive has them) and `gold` (verified by an earlier round: known truth), and the labels, of the
    given drives (all when None)."""
    frames, labels = read_all(lake, tables.LABEL_FRAMES), read_all(lake, tables.LABELS)
    kf = read_all(lake, tables.REDACTED_FRAMES)
    if not _present(frames) or labels is None or not _present(kf):
        return pl.DataFrame(), pl.DataFrame()
    if drives:
        frames, labels = (
            frames.filter(pl.col("drive_id").is_in(drives)),
            labels.filter(pl.col("drive_id").is_in(drives)),
        )
    frames = frames.join(kf.select(*KEY, "path", "width", "height"), on=KEY, how="inner")
    frames = frames.with_columns((pl.col("status") == "verified").alias("gold"))
    slices = _frame_slices(lake, frames)
    return frames.join(slices, on=KEY, how="left").with_columns(
        pl.col("slices").fill_null(pl.lit([], pl.List(pl.String)))
    ), labels


def _frame_slices(lake, frames: pl.DataFrame) -> pl.DataFrame:
    """Slice names of each frame's clip (gold/slices), via the frame index's clip ids. A keyframe's
    t_ns is its header stamp, the index's `t_raw_ns` (its `t_ns` is on the corrected clock)."""
    empty = pl.DataFrame(
        schema={"drive_id": pl.String, "sensor_id": pl.String, "t_ns": pl.Int64, "slices": pl.List(pl.String)}
    )
    idx, sl = read_all(lake, tables.FRAMES), read_all(lake, tables.GOLD_SLICES)
    if not _present(idx, "clip_id") or not _present(sl, "clip_id", "slice"):
        return empty
    t = "t_raw_ns" if "t_raw_ns" in idx.columns else "t_ns"
    idx = idx.select("drive_id", "sensor_id", pl.col(t).alias("t_ns"), "clip_id").unique(KEY, keep="first")
    per_clip = sl.group_by("clip_id").agg(pl.col("slice").unique().sort().alias("slices"))
    return (
        frames.select(KEY)
        .join(idx, on=KEY, how="left")
        .join(per_clip, on="clip_id", how="left")
        .select(*KEY, "slices")
    )


def export_round(lake, out: Path, plan, seed: int, drives: list[str] | None) -> dict:
    """Sample frames (`qa.sample_for_qa`) and write them as Label Studio tasks under `out`, images as
    local-files URLs relative to the lake root (a local lake: the CLI refuses S3)."""
    from av_assets.labels.label_studio import export_tasks, local_files_url, write_export
    from av_assets.labels.qa import sample_for_qa

    frames, labels = qa_frames(lake, drives)
    if not frames.height:
        return {"tasks": 0}
    chosen = sample_for_qa(frames, labels, plan, seed)
    root = lake.uri()
    tasks = export_tasks(chosen, labels, lambda f: local_files_url(lake.path(f["path"]), root))
    files = write_export(tasks, out)
    strata = chosen.group_by("stratum").len().sort("stratum")
    return {
        "tasks": len(tasks),
        "gold": int(chosen["gold"].sum()),
        "drives": sorted(chosen["drive_id"].unique().to_list()),
        "annotators_per_task": plan.annotators_per_task,
        "strata": dict(zip(strata["stratum"].to_list(), strata["len"].to_list(), strict=True)),
        "document_root": root,
        "files": {k: str(v) for k, v in files.items()},
    }


# ---------------------------------------------------------------------------------------------- import


@dataclass
class Decided:
    """A validated import and what consensus made of it (nothing written yet)."""

    parsed: Any  # label_studio.ImportResult
    result: Any  # qa.ConsensusResult (every annotated frame, gold ones included)
    gold: set[tuple]  # frame keys with known truth (verified before this round)
    truth: pl.DataFrame  # the gold frames' verified labels

    @property
    def drives(self) -> list[str]:
        return sorted({k[0] for k in self.keys})

    @property
    def keys(self) -> set[tuple]:
        return set(map(tuple, self.parsed.submissions.select(KEY).rows()))


def decide_round(lake, doc: Any, known_tasks: dict | None, k: int) -> Decided:
    """Validate the export in full against the lake (every task a labelled frame of this lake, at
    the keyframe's size), then run consensus. Raises `ImportRefused` on the first problem."""
    from av_assets.labels.label_studio import ImportRefused, parse_import
    from av_assets.labels.qa import consensus

    parsed = parse_import(doc, known_tasks)
    if not parsed.submissions.height:
        raise ImportRefused(
            f"no completed annotation in {parsed.tasks} task(s) ({parsed.cancelled} cancelled): nothing to import"
        )
    frames = read_all(lake, tables.LABEL_FRAMES)
    keys = set(map(tuple, parsed.submissions.select(KEY).rows()))
    known = set(map(tuple, frames.select(KEY).rows())) if _present(frames) else set()
    unknown = sorted(keys - known)
    if unknown:
        raise ImportRefused(
            f"{len(unknown)} task(s) are not labelled frames of this lake, e.g. "
            f"{'/'.join(map(str, unknown[0]))}"
        )
    kf = read_all(lake, tables.REDACTED_FRAMES)
    sizes = parsed.submissions.select(*KEY, "width", "height").unique(KEY)
    if _present(kf):
        real = kf.select(*KEY, pl.col("width").alias("_w"), pl.col("height").alias("_h"))
        off = sizes.join(real, on=KEY, how="inner").filter(
            (pl.col("width") != pl.col("_w")) | (pl.col("height") != pl.col("_h"))
        )
        if off.height:
            r = off.row(0, named=True)
            raise ImportRefused(
                f"{off.height} task(s) give an image size that is not the keyframe's, e.g. "
                f"{r['drive_id']}/{r['sensor_id']}/{r['t_ns']}: {r['width']}x{r['height']}, "
                f"the keyframe is {r['_w']}x{r['_h']}"
            )
    verified = frames.filter(pl.col("status") == "verified").select(KEY)
    claimed = set(map(tuple, parsed.submissions.filter(pl.col("gold")).select(KEY).rows()))
    gold = claimed & set(map(tuple, verified.rows()))
    truth = pl.DataFrame(schema={"drive_id": pl.String, "sensor_id": pl.String, "t_ns": pl.Int64})
    if gold:
        labels = read_all(lake, tables.LABELS)
        truth = labels.filter(pl.col("status") == "verified").join(
            pl.DataFrame(sorted(gold), schema=verified.schema, orient="row"), on=KEY, how="semi"
        )
    result = consensus(parsed.annotations, k=k, submissions=parsed.submissions)
    return Decided(parsed=parsed, result=result, gold=gold, truth=truth)


def import_round(lake, doc: Any, known_tasks: dict | None, k: int) -> dict:
    """Validate, decide, then write: reviews per drive (merged over earlier rounds frame by frame;
    gold frames keep theirs), each reported as a materialisation of ml/label_reviews, and ml/labels
    re-run for those drives. Re-importing the same file writes the same bytes."""
    from av_assets.labels.qa import agreement, annotator_accuracy

    d = decide_round(lake, doc, known_tasks, k)
    parsed, result = d.parsed, d.result
    gold_df = pl.DataFrame(
        sorted(d.gold), schema={"drive_id": pl.String, "sensor_id": pl.String, "t_ns": pl.Int64}, orient="row"
    )
    new_labels = result.labels.join(gold_df, on=KEY, how="anti")
    new_frames = result.frames.join(gold_df, on=KEY, how="anti")
    adjudication = result.adjudication.join(gold_df, on=KEY, how="anti")
    written = {}
    for drive_id in sorted(new_frames["drive_id"].unique().to_list()):
        mine = pl.col("drive_id") == drive_id
        written[drive_id] = write_reviews(
            lake, drive_id, new_labels.filter(mine), new_frames.filter(mine), adjudication.filter(mine)
        )
    runs = _materialise(lake, written)
    summary = {
        "tasks": parsed.tasks,
        "annotations": parsed.submissions.height,
        "cancelled": parsed.cancelled,
        "boxes": parsed.annotations.height,
        "gold_frames": len(d.gold),
        "verified_labels": int((new_labels["status"] == "verified").sum()),
        "decided_labels": new_labels.height,  # verified + those on frames still in adjudication
        "reviewed_frames": new_frames.height,
        "verified_frames": int((new_frames["status"] == "verified").sum()),
        "labels_on_verified_frames": int(new_frames.filter(pl.col("status") == "verified")["labels"].sum()),
        "adjudication": adjudication.height,
        "drives": sorted(written),
        "agreement": agreement(parsed.annotations, submissions=parsed.submissions),
        "runs": runs,
    }
    if d.gold:
        summary["annotator_accuracy"] = annotator_accuracy(
            parsed.annotations, d.truth, submissions=parsed.submissions, gold_frames=d.gold
        )
    return finite(summary)


def finite(value: Any) -> Any:
    """NaN/inf -> None, recursively (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def write_reviews(
    lake, drive_id: str, labels: pl.DataFrame, frames: pl.DataFrame, adjudication: pl.DataFrame | None = None
) -> list[str]:
    """Frames of this round replace the same frames of earlier rounds (their labels, frame rows and
    open adjudications); other frames stay. Rows sorted by key (and label_id), so the same reviews
    give the same bytes. Returns the sha256 of each file written."""
    parts = [
        (tables.LABEL_REVIEWS.rel(drive_id=drive_id), labels, [*KEY, "label_id"]),
        (tables.LABEL_REVIEW_FRAMES.rel(drive_id=drive_id), frames, KEY),
    ]
    if adjudication is not None:
        rel = tables.LABEL_REVIEWS.sidecar(ADJUDICATION, drive_id=drive_id)
        parts.append((rel, adjudication, [*KEY, "label_id"]))
    hashes = []
    for rel, new, order in parts:
        if lake.exists(rel):
            old = lake.read_parquet(rel).join(frames.select(KEY), on=KEY, how="anti")
            new = pl.concat([old, new], how="diagonal_relaxed")
        hashes.append(lake.write_parquet_hashed(rel, new.sort(order))[1])
    return hashes


def _materialise(lake, written: dict[str, list[str]]) -> dict[str, dict]:
    """Per drive: a materialisation of ml/label_reviews (lineage metadata: the drive, the content
    hash) and a run of ml/labels, which merges the reviews. A failed run is reported, not raised:
    the reviews are written, and re-running ml/labels (or the import) finishes the job."""
    import dagster as dg

    from av_assets.labels.assets import REVIEWS, labels, verified_labels_pass_qa
    from av_assets.platform.lineage import combine_hashes, lineage_metadata
    from av_assets.platform.runs import current_instance, quiet_run_config
    from av_resources.env import current_resources

    out: dict[str, dict] = {}
    instance = current_instance()
    for drive_id, hashes in written.items():
        frames = lake.read_parquet(tables.LABEL_REVIEW_FRAMES.rel(drive_id=drive_id))
        md = lineage_metadata(
            drive_ids=[drive_id],
            content_sha256=combine_hashes(hashes),
            uri=lake.uri(tables.LABEL_REVIEWS.rel(drive_id=drive_id)),
            row_count=lake.read_parquet(tables.LABEL_REVIEWS.rel(drive_id=drive_id)).height,
        )
        md["av/reviewed_frames"] = frames.height
        md["av/verified_frames"] = int((frames["status"] == "verified").sum())
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=REVIEWS, partition=drive_id, metadata=md)
        )
        run = dg.materialize(
            [labels, verified_labels_pass_qa],  # the blocking check on the verified labels, too
            resources=current_resources(),
            instance=instance,
            partition_key=drive_id,
            run_config=quiet_run_config(),
            raise_on_error=False,
        )
        checks = [
            e.event_specific_data for e in run.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
        ]
        entry: dict[str, Any] = {
            "run_id": run.run_id,
            "success": run.success,
            "verified_labels_pass_qa": all(c.passed for c in checks) if checks else None,
        }
        if run.success:
            lmd = run.asset_materializations_for_node("ml__labels")[0].metadata
            entry |= {
                "labels": lmd["dagster/row_count"].value,
                "verified_frames": lmd["av/verified_frames"].value,
            }
            if "av/quality_vs_ground_truth" in lmd:
                entry["quality_vs_ground_truth"] = lmd["av/quality_vs_ground_truth"].value
        out[drive_id] = entry
    return out


# ------------------------------------------------------------------------------------- measurement


def panel_accuracy(decided: Decided, truth: pl.DataFrame, iou: float = 0.5) -> dict:
    """Each annotator's precision/recall/F1 against `truth` (true boxes, label columns) on every frame
    of the round, and the consensus labels' on the same frames (a cluster left to adjudication
    counts as not labelled). Evaluation only: synthetic drives have truth, real ones do not."""
    from av_assets.labels.qa import annotator_accuracy

    parsed, result = decided.parsed, decided.result
    keys = decided.keys
    per = annotator_accuracy(
        parsed.annotations, truth, iou=iou, submissions=parsed.submissions, gold_frames=keys
    )
    cons_rows = result.labels.with_columns(pl.lit("consensus").alias("annotator"))
    cons_subs = result.frames.select(KEY).with_columns(pl.lit("consensus").alias("annotator"))
    cons = annotator_accuracy(cons_rows, truth, iou=iou, submissions=cons_subs, gold_frames=keys)
    f1 = sorted(v["f1"] for v in per.values())
    median = (f1[(len(f1) - 1) // 2] + f1[len(f1) // 2]) / 2 if f1 else float("nan")
    return {"annotators": per, "consensus": cons.get("consensus"), "median_annotator_f1": median}
