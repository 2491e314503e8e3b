"""Labels against the generator's ground truth (synthetic drives only; the pipeline never reads it to
label): precision of accepted labels, recall of well-visible near objects, AP50 per class with
pycocotools, the share sent to QA."""

from __future__ import annotations

import numpy as np
import polars as pl

from av_assets.shared.geometry import iou_matrix
from av_contracts.taxonomy import OBJECT_CLASSES

# A keyframe's t_ns is its camera header stamp (the camera is a clock reference, not corrected); the
# ground truth keeps both the stamp and the true time the image shows, so frames match on the stamp.
MATCH_TOLERANCE_NS = 20_000_000


def truth_for_frames(frames: pl.DataFrame, gt_boxes: pl.DataFrame) -> pl.DataFrame:
    """The true object boxes of each labelled frame: the true camera frame nearest its time (within
    MATCH_TOLERANCE_NS), keyed by the frame's (sensor_id, t_ns). gt_boxes: a boxes_2d table."""
    obj = gt_boxes.filter(pl.col("kind") == "object").rename({"sensor": "sensor_id", "t_ns": "t_scene"})
    obj = obj.rename({"stamp_ns": "t_true"})
    true_t = obj.select("sensor_id", "t_true").unique().sort("t_true")
    f = frames.select("sensor_id", "t_ns").unique().sort("t_ns")
    near = f.join_asof(
        true_t,
        left_on="t_ns",
        right_on="t_true",
        by="sensor_id",
        strategy="nearest",
        tolerance=MATCH_TOLERANCE_NS,
        check_sortedness=False,
    ).drop_nulls("t_true")
    return near.join(obj, on=["sensor_id", "t_true"]).drop("t_true")


def match(
    pred: pl.DataFrame, truth: pl.DataFrame, iou_min: float = 0.5, by_class: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy one-to-one matching per frame by IoU (highest first). Returns (pred matched, truth
    matched) boolean arrays in the rows' order."""
    pm, tm = np.zeros(pred.height, bool), np.zeros(truth.height, bool)
    cols = ["x_min", "y_min", "x_max", "y_max"]
    pred = pred.with_row_index("_i")
    truth = truth.with_row_index("_j")
    tgroups = {k: g for k, g in truth.group_by(["sensor_id", "t_ns"])}
    for key, pg in pred.group_by(["sensor_id", "t_ns"]):
        tg = tgroups.get(key)
        if tg is None:
            continue
        iou = iou_matrix(pg.select(cols).to_numpy(), tg.select(cols).to_numpy())
        if by_class:
            iou = iou * (pg["class"].to_numpy()[:, None] == tg["class"].to_numpy()[None, :])
        pi, ti = pg["_i"].to_numpy(), tg["_j"].to_numpy()
        for flat in np.argsort(-iou, axis=None):
            a, b = np.unravel_index(flat, iou.shape)
            if iou[a, b] < iou_min:
                break
            if not pm[pi[a]] and not tm[ti[b]]:
                pm[pi[a]] = tm[ti[b]] = True
    return pm, tm


def ap50(pred: pl.DataFrame, truth: pl.DataFrame, frames: pl.DataFrame) -> dict[str, float | None]:
    """COCO AP at IoU 0.5 per class and overall (pycocotools), scores = label confidences."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    keys = (
        frames.select("sensor_id", "t_ns", "width", "height")
        .unique()
        .sort("sensor_id", "t_ns")
        .with_row_index("image_id", 1)
    )
    cats = [{"id": i + 1, "name": c} for i, c in enumerate(OBJECT_CLASSES)]
    cat_id = {c: i + 1 for i, c in enumerate(OBJECT_CLASSES)}
    t = truth.join(keys, on=["sensor_id", "t_ns"])
    anns = [
        {
            "id": n + 1,
            "image_id": r["image_id"],
            "category_id": cat_id[r["class"]],
            "bbox": [r["x_min"], r["y_min"], r["x_max"] - r["x_min"], r["y_max"] - r["y_min"]],
            "area": (r["x_max"] - r["x_min"]) * (r["y_max"] - r["y_min"]),
            "iscrowd": 0,
        }
        for n, r in enumerate(t.iter_rows(named=True))
    ]
    images = [
        {"id": r["image_id"], "width": r["width"], "height": r["height"]} for r in keys.iter_rows(named=True)
    ]
    p = pred.join(keys, on=["sensor_id", "t_ns"])
    dets = [
        {
            "image_id": r["image_id"],
            "category_id": cat_id[r["class"]],
            "bbox": [r["x_min"], r["y_min"], r["x_max"] - r["x_min"], r["y_max"] - r["y_min"]],
            "score": float(r["score"]),
        }
        for r in p.iter_rows(named=True)
    ]
    if not anns or not dets:
        return {"all": None}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns, "categories": cats}
        gt.createIndex()
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "bbox")
        ev.params.iouThrs = np.array([0.5])
        ev.params.areaRng = [[0, 1e10]]
        ev.params.areaRngLbl = ["all"]
        ev.params.maxDets = [100]
        ev.evaluate()
        ev.accumulate()
    prec = ev.eval["precision"][0, :, :, 0, 0]  # (recall thresholds, classes)
    out: dict[str, float | None] = {}
    present = set(t["class"].to_list())
    for k, c in enumerate(OBJECT_CLASSES):
        col = prec[:, k]
        out[c] = round(float(col[col > -1].mean()), 4) if c in present and (col > -1).any() else None
    vals = [v for v in out.values() if v is not None]
    out["all"] = round(float(np.mean(vals)), 4) if vals else None
    return out


RECALL_CLASSES = ("car", "truck", "bus", "pedestrian", "cyclist")


def label_quality(
    labels: pl.DataFrame,
    frames: pl.DataFrame,
    gt_boxes: pl.DataFrame,
    gt_cuboids: pl.DataFrame | None = None,
    max_range_m: float = 60.0,
    min_visible: float = 0.5,
) -> dict:
    """The issue's measures on one drive's labels (rows of the `labels` contract) and labelled
    frames (sensor_id, t_ns, width, height): precision of accepted labels, recall of accepted labels
    on car/truck/bus/pedestrian/cyclist >= `min_visible` visible within `max_range_m` (range from the
    true cuboids when given), AP50 per class over accepted + needs_review labels, shares by status."""
    truth = truth_for_frames(frames, gt_boxes)
    if gt_cuboids is not None and truth.height:
        cub = gt_cuboids.select(
            pl.col("track_uuid"),
            pl.col("t_ns").alias("t_true"),
            (pl.col("x_base") ** 2 + pl.col("y_base") ** 2).sqrt().alias("range_m"),
        )
        truth = truth.join(_nearest_range(truth, cub), on=["sensor_id", "t_ns", "track_uuid"], how="left")
    else:
        truth = truth.with_columns(pl.lit(None, pl.Float64).alias("range_m"))
    accepted = labels.filter(pl.col("status").is_in(["accepted", "verified"]))
    pm, _ = match(accepted, truth)
    wanted = truth.filter(
        pl.col("class").is_in(RECALL_CLASSES)
        & (pl.col("visible_fraction") >= min_visible)
        & (pl.col("range_m").is_null() | (pl.col("range_m") <= max_range_m))
    )
    _, tm = match(accepted, wanted)
    _, tm_all = match(labels.filter(pl.col("status") != "rejected"), wanted)
    counts = labels.group_by("status").len()
    by_status = dict(zip(counts["status"].to_list(), counts["len"].to_list(), strict=True))
    scored = labels.filter(pl.col("status") != "rejected")
    return {
        "frames": frames.height,
        "labels": labels.height,
        "by_status": by_status,
        "qa_share": round(by_status.get("needs_review", 0) / max(labels.height, 1), 4),
        "accepted": accepted.height,
        "precision_accepted": round(float(pm.mean()), 4) if pm.size else None,
        "recall_visible": round(float(tm.mean()), 4) if tm.size else None,
        "recall_visible_with_qa": round(float(tm_all.mean()), 4) if tm_all.size else None,
        "recall_truth": wanted.height,
        "ap50": ap50(scored, truth, frames),
    }


def _nearest_range(truth: pl.DataFrame, cub: pl.DataFrame) -> pl.DataFrame:
    """Each true box's object range (m) from the true cuboid at the nearest true time."""
    keys = truth.select("sensor_id", "t_ns", "t_scene", "track_uuid").unique().sort("t_scene")
    return keys.join_asof(
        cub.sort("t_true"),
        left_on="t_scene",
        right_on="t_true",
        by="track_uuid",
        strategy="nearest",
        tolerance=MATCH_TOLERANCE_NS,
        check_sortedness=False,
    ).select("sensor_id", "t_ns", "track_uuid", "range_m")
