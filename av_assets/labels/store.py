"""Writing a drive's label set: auto-labels, human reviews merged over them (a verified frame's
labels are the reviewers', its auto-labels are dropped), frames and masks. Each table is written
whole and atomically, so a re-run replaces, never half-writes, and the same inputs give the same
bytes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from av_assets.labels.label_drive import FRAME_SCHEMA, LABEL_SCHEMA, label_drive
from av_assets.labels.schema import polars_schema
from av_contracts import tables
from av_contracts.taxonomy import SEG_CLASSES


@dataclass
class Written:
    drive_id: str
    labels: int
    hashes: list[str]
    metadata: dict[str, Any]
    frames: pl.DataFrame
    label_rows: pl.DataFrame
    keyframes: pl.DataFrame  # silver/redacted_frames rows (sizes for evaluation)
    masks: dict = field(default_factory=dict)

    def quality(self, ground_truth) -> dict | None:
        """Against the generator's truth when the drive has it (synthetic fleets): evaluation only."""
        from av_assets.labels.evaluate import label_quality
        from av_assets.labels.masks import mask_iou

        gt = ground_truth.for_drive(self.drive_id)
        if gt is None:
            return None
        frames = gt.get("camera_frames") or [{}]
        boxes_ref, masks_ref = frames[0].get("boxes") or {}, frames[0].get("masks") or {}
        boxes_path = ground_truth.companion_path(boxes_ref["path"]) if boxes_ref.get("path") else None
        if boxes_path is None:
            return None
        cub_ref = gt.get("tracks_table") or {}
        cub_path = ground_truth.companion_path(cub_ref["path"]) if cub_ref.get("path") else None
        out = label_quality(
            self.label_rows,
            self.keyframes,
            pl.read_parquet(boxes_path),
            pl.read_parquet(cub_path) if cub_path else None,
        )
        mpath = ground_truth.companion_path(masks_ref["path"]) if masks_ref.get("path") else None
        if mpath is not None and self.masks:
            out["mask_iou"] = masks_vs_truth(self.masks, pl.read_parquet(mpath), mask_iou)
        return out


def masks_vs_truth(masks: dict, truth: pl.DataFrame, iou) -> dict:
    """Mean IoU per segmentation class over keyframes whose true mask has the stamp of the frame."""
    import cv2

    by_stamp = {(r["sensor"], r["stamp_ns"]): r["png"] for r in truth.iter_rows(named=True)}
    per: dict[str, list[float]] = {c: [] for c in SEG_CLASSES[1:]}
    for key, pred in masks.items():
        png = by_stamp.get(key)
        if png is None:
            continue
        true = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
        for k, c in enumerate(SEG_CLASSES[1:], start=1):
            v = iou(pred, true, k)
            if v is not None:
                per[c].append(v)
    return {c: round(float(np.mean(v)), 4) if v else None for c, v in per.items()}


def merge_reviews(
    auto: pl.DataFrame, frames: pl.DataFrame, reviews: pl.DataFrame | None, review_frames: pl.DataFrame | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Verified frames (every box decided by consensus, none left to adjudicate) take the reviewers'
    labels and their auto-labels leave the set; the frame's status becomes verified. Frames still in
    adjudication keep their auto-labels."""
    if review_frames is None or not review_frames.height:
        return auto, frames
    done = review_frames.filter(pl.col("status") == "verified").select("sensor_id", "t_ns", "label_set")
    kept = auto.join(done, on=["sensor_id", "t_ns"], how="anti")
    human = (reviews if reviews is not None else pl.DataFrame(schema=LABEL_SCHEMA)).join(
        done.select("sensor_id", "t_ns"), on=["sensor_id", "t_ns"], how="semi"
    )
    human = (
        human.with_columns(
            pl.lit(None, pl.String).alias("votes"),
            pl.lit("human-qa").alias("labeller"),
            pl.lit(None, pl.String).alias("policy_version"),
            pl.lit(None, pl.String).alias("model_version"),
            pl.lit(None, pl.List(pl.Float64)).alias("cuboid"),
        )
        .select(list(LABEL_SCHEMA))
        .cast(LABEL_SCHEMA)
    )
    frames = (
        frames.join(done.rename({"label_set": "review_set"}), on=["sensor_id", "t_ns"], how="left")
        .with_columns(
            pl.when(pl.col("review_set").is_not_null())
            .then(pl.lit("verified"))
            .otherwise(pl.col("status"))
            .alias("status"),
            pl.coalesce("review_set", "label_set").alias("label_set"),
        )
        .drop("review_set")
    )
    return pl.concat([kept, human]).sort("t_ns", "label_id"), frames


def read_reviews(lake, drive_id: str) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    out = []
    for table in (tables.LABEL_REVIEWS, tables.LABEL_REVIEW_FRAMES):
        rel = table.rel(drive_id=drive_id)
        out.append(lake.read_parquet(rel) if lake.exists(rel) else None)
    return out[0], out[1]


def label_and_write(lake, drive_id: str, routing, log=None) -> Written:
    from av_assets.labels.inputs import read_drive
    from av_assets.labels.masks import drive_masks
    from av_assets.labels.policy import LabellerPolicy

    policy = LabellerPolicy()
    t0 = time.perf_counter()
    inputs = read_drive(lake, drive_id, policy.lidar_sweep_tolerance_s)
    t1 = time.perf_counter()
    out = label_drive(lake, inputs, policy, routing)
    t2 = time.perf_counter()
    masks = drive_masks(lake, drive_id, inputs.keyframes)
    t3 = time.perf_counter()
    label_rows, frames = merge_reviews(
        out.labels, out.frames.cast(FRAME_SCHEMA), *read_reviews(lake, drive_id)
    )
    mask_rows = write_masks(lake, drive_id, masks, frames)
    hashes = []
    for table, frame in (
        (tables.LABELS, label_rows),
        (tables.LABEL_FRAMES, frames),
        (tables.LABEL_MASKS, mask_rows),
    ):
        rel = table.rel(drive_id=drive_id)
        _, sha = lake.write_parquet_hashed(rel, frame)
        hashes.append(sha)
    counts = label_rows.group_by("status").len()
    by_status = dict(zip(counts["status"].to_list(), counts["len"].to_list(), strict=True))
    cls = label_rows.group_by("class").len()
    md = {
        "av/frames": frames.height,
        "av/labels": label_rows.height,
        "av/by_status": dg_json(by_status),
        "av/by_class": dg_json(dict(zip(cls["class"].to_list(), cls["len"].to_list(), strict=True))),
        "av/qa_share": round(by_status.get("needs_review", 0) / max(label_rows.height, 1), 4),
        "av/verified_frames": int((frames["status"] == "verified").sum()) if frames.height else 0,
        "av/masks": len(mask_rows),
        "av/label_model": dg_json(out.info),
        "av/routing_version": routing.version,
        "av/timings_s": dg_json(
            {"read": round(t1 - t0, 3), "label": round(t2 - t1, 3), "masks": round(t3 - t2, 3)}
        ),
    }
    if log is not None:
        log.info(f"{drive_id}: {label_rows.height} labels on {frames.height} keyframes {by_status}")
    return Written(drive_id, label_rows.height, hashes, md, frames, label_rows, inputs.keyframes, masks)


def dg_json(value):
    import dagster as dg

    return dg.MetadataValue.json(value)


def write_masks(lake, drive_id: str, masks: dict, frames: pl.DataFrame) -> pl.DataFrame:
    """One PNG of class indices per keyframe beside the table; rows of `label_masks`."""
    # the auto label set of the frame (a verified frame's boxes come from QA, its mask does not)
    import cv2

    folder = tables.LABEL_MASKS.folder(drive_id=drive_id)
    label_set = dict(
        zip(zip(frames["sensor_id"], frames["t_ns"], strict=True), frames["label_set"], strict=True)
    )
    rows = []
    for (sensor_id, t_ns), mask in sorted(masks.items()):
        ok, png = cv2.imencode(".png", mask)
        if not ok:
            continue
        rel = f"{folder}/masks/{sensor_id}/{t_ns}.png"
        lake.write_bytes(rel, png.tobytes())
        rows.append(
            {
                "drive_id": drive_id,
                "sensor_id": sensor_id,
                "t_ns": int(t_ns),
                "uri": rel,
                "classes": list(SEG_CLASSES),
                "source": "auto",
                "status": "accepted",  # masks are not reviewed by the QA round (boxes are)
                "label_set": label_set.get((sensor_id, t_ns)),
            }
        )
    return pl.DataFrame(rows, schema=polars_schema(tables.LABEL_MASKS))


def verified_labels_status(lake) -> tuple[bool, dict]:
    """`qa.verified_labels_check` on every drive's reviews, plus: each verified label of the label
    set is one of those reviews. Returns (all passed, {drive: {verified, reasons}})."""
    from av_assets.labels.qa import verified_labels_check
    from av_assets.labels.qa_round import partition_files

    out: dict[str, dict] = {}
    for rel in partition_files(lake, tables.LABELS):
        labels = lake.read_parquet(rel)
        verified = labels.filter(pl.col("status") == "verified")
        if not verified.height:
            continue
        drive_id = verified["drive_id"][0]
        reviews, _ = read_reviews(lake, drive_id)
        reasons: list[str] = []
        if reviews is None:
            reasons.append("verified labels without any review on record")
        else:
            _, reasons = verified_labels_check(reviews)
            unknown = verified.join(reviews.select("label_id"), on="label_id", how="anti")
            if unknown.height:
                reasons.append(f"{unknown.height} verified label(s) not in ml/label_reviews")
        out[drive_id] = {"verified": verified.height, "reasons": reasons}
    return all(not v["reasons"] for v in out.values()), out
