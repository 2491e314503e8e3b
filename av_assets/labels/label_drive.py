"""One drive through the labeller: candidates from the tracks, camera evidence from the redacted
keyframes, votes, the label model's confidence, routing, and the contract's rows (`labels`,
`label_frames`). Plain data in, plain data out; the asset writes them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from av_assets.labels import schema
from av_assets.labels.autolabel import candidates
from av_assets.labels.inputs import DriveInputs
from av_assets.labels.policy import LABELLER_VERSION, LabellerPolicy, RoutingPolicy
from av_assets.labels.weak import LABELLING_FUNCTIONS, edge_ratio, label_model_scores, vote_matrix

LABEL_SCHEMA = schema.LABELS
FRAME_SCHEMA = schema.LABEL_FRAMES


@dataclass
class DriveLabels:
    labels: pl.DataFrame
    frames: pl.DataFrame
    info: dict = field(default_factory=dict)


def label_set_id(routing: RoutingPolicy) -> str:
    """The version a label row says wrote it: the labeller's code version and the routing policy's."""
    return f"auto:{LABELLER_VERSION}+routing-{routing.version}"


def frame_status(labels: pl.DataFrame, frames: pl.DataFrame) -> pl.DataFrame:
    """A frame is as sure as its least sure label: needs_review if any label does, else accepted
    (rejected labels do not hold a frame back: they are not labels of it). A frame without labels
    is accepted as empty: the labeller saw nothing there."""
    worst = (
        labels.filter(pl.col("status") != "rejected")
        .group_by("sensor_id", "t_ns")
        .agg((pl.col("status") == "needs_review").any().alias("review"))
    )
    return (
        frames.select("drive_id", "sensor_id", "t_ns")
        .join(worst, on=["sensor_id", "t_ns"], how="left")
        .with_columns(
            pl.when(pl.col("review"))
            .then(pl.lit("needs_review"))
            .otherwise(pl.lit("accepted"))
            .alias("status")
        )
        .drop("review")
    )


def read_keyframe(lake, path: str) -> np.ndarray | None:
    import cv2

    return cv2.imdecode(np.frombuffer(lake.read_bytes(path), np.uint8), cv2.IMREAD_GRAYSCALE)


def camera_evidence(lake, cands: pl.DataFrame, keyframes: pl.DataFrame) -> np.ndarray:
    """`edge_ratio` of every candidate, each redacted keyframe decoded once."""
    out = np.full(cands.height, np.nan)
    paths = {(r["sensor_id"], r["t_ns"]): (r["path"], r["width"]) for r in keyframes.iter_rows(named=True)}
    for (sensor_id, t_ns), g in cands.with_row_index("_i").group_by(["sensor_id", "t_ns"]):
        path, width = paths.get((sensor_id, t_ns), (None, None))
        img = read_keyframe(lake, path) if path else None
        if img is None:
            continue
        scale = img.shape[1] / float(width or img.shape[1])
        out[g["_i"].to_numpy()] = edge_ratio(
            img, g.select("x_min", "y_min", "x_max", "y_max").to_numpy(), scale
        )
    return out


def model_agreement(cands: pl.DataFrame, model_boxes: pl.DataFrame) -> np.ndarray:
    """Per candidate: the best IoU with a model prediction of the same class on the same keyframe
    (`model_boxes`: sensor_id, t_ns, class, x_min..y_max, model_version)."""
    from av_assets.shared.geometry import iou_matrix

    cols = ["x_min", "y_min", "x_max", "y_max"]
    out = np.zeros(cands.height)
    preds = {k: g for k, g in model_boxes.group_by(["sensor_id", "t_ns", "class"])}
    for key, g in cands.with_row_index("_i").group_by(["sensor_id", "t_ns", "class"]):
        m = preds.get(key)
        if m is not None:
            out[g["_i"].to_numpy()] = iou_matrix(g.select(cols).to_numpy(), m.select(cols).to_numpy()).max(1)
    return out


def label_drive(
    lake,
    inputs: DriveInputs,
    policy: LabellerPolicy,
    routing: RoutingPolicy,
    model_boxes: pl.DataFrame | None = None,
) -> DriveLabels:
    """Auto-labels of one drive. `model_boxes` (when the registry has a production model): its
    predictions on the same keyframes, a further voter."""
    cands = candidates(
        inputs.drive_id,
        inputs.tracks,
        inputs.ego,
        inputs.keyframes,
        inputs.cameras,
        inputs.sweeps,
        policy,
        inputs.sensor_xy,
    )
    label_set = label_set_id(routing)
    frames = (
        frame_status(pl.DataFrame(schema=LABEL_SCHEMA), inputs.keyframes)
        if inputs.keyframes.height
        else pl.DataFrame(schema=FRAME_SCHEMA)
    )
    if not cands.height:
        return DriveLabels(
            pl.DataFrame(schema=LABEL_SCHEMA),
            frames.with_columns(pl.lit(label_set).alias("label_set")),
            {"candidates": 0},
        )
    cands = cands.with_columns(pl.Series("edge_ratio", camera_evidence(lake, cands, inputs.keyframes)))
    model_version = None
    if model_boxes is not None and model_boxes.height:
        cands = cands.with_columns(pl.Series("model_iou", model_agreement(cands, model_boxes)))
        model_version = str(model_boxes["model_version"][0])
    votes = vote_matrix(cands)
    score, lm_info = label_model_scores(votes)
    status = routing.route(score, (votes == 0).any(axis=1))
    names = [lf.name for lf in LABELLING_FUNCTIONS]
    vote_text = [
        ",".join(f"{n}={int(v)}" for n, v in zip(names, row, strict=True) if v != -1) for row in votes
    ]
    labels = cands.select(
        "label_id",
        pl.lit(inputs.drive_id).alias("drive_id"),
        "sensor_id",
        pl.col("t_ns").cast(pl.Int64),
        "class",
        "x_min",
        "y_min",
        "x_max",
        "y_max",
        "track_id",
        pl.Series("score", np.round(score, 4)),
        pl.lit("auto").alias("source"),
        pl.Series("status", status.astype(str)),
        pl.lit(label_set).alias("label_set"),
        pl.Series("votes", vote_text),
        pl.lit(LABELLER_VERSION).alias("labeller"),
        pl.lit(routing.version).alias("policy_version"),
        pl.lit(model_version, pl.String).alias("model_version"),
        pl.col("cuboid").cast(pl.List(pl.Float64)),
    ).cast(LABEL_SCHEMA)
    frames = frame_status(labels, inputs.keyframes).with_columns(pl.lit(label_set).alias("label_set"))
    lf_rates = {n: round(float((votes[:, i] != -1).mean()), 3) for i, n in enumerate(names)}
    info = {"candidates": cands.height, "label_model": lm_info, "lf_coverage": lf_rates}
    return DriveLabels(labels.sort("t_ns", "label_id"), frames.sort("sensor_id", "t_ns"), info)
