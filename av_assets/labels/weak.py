"""Weak supervision: labelling functions vote on whether each auto-label candidate is right (1),
wrong (0) or abstain (-1); Snorkel's LabelModel (decision 34) learns the functions' accuracies and
correlations from their agreements alone, without ground truth, and turns the votes into one
calibrated confidence per label."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

ABSTAIN, WRONG, RIGHT = -1, 0, 1


@dataclass(frozen=True)
class LF:
    name: str
    vote: Callable[[pl.DataFrame], np.ndarray]
    why: str


def _vote(right: np.ndarray, wrong: np.ndarray) -> np.ndarray:
    return np.where(right, RIGHT, np.where(wrong, WRONG, ABSTAIN))


def _col(c: pl.DataFrame, name: str) -> np.ndarray:
    return c[name].fill_null(np.nan).to_numpy().astype(float)


LABELLING_FUNCTIONS: tuple[LF, ...] = (
    LF(
        "smoother_certainty",
        lambda c: _vote(_col(c, "pos_std_m") <= 0.2, _col(c, "pos_std_m") > 0.3),
        "the RTS smoother's own position uncertainty at the keyframe: lidar-measured nearby in time",
    ),
    LF(
        "size_prior",
        lambda c: _vote(c["size_ok"].to_numpy() == 1, c["size_ok"].to_numpy() != 1),
        "the lidar's measured height fits the class's size prior; contradicts it, or never measured",
    ),
    LF(
        "geometry_range",
        lambda c: _vote(_col(c, "range_m") <= 30.0, _col(c, "range_m") > 45.0),
        "projection geometry: position errors grow with range, a far box is small and easily off",
    ),
    LF(
        "geometry_visible",
        lambda c: _vote(_col(c, "visible") >= 0.9, _col(c, "visible") < 0.5),
        "depth order: a partly hidden object's box is a guess of its visible part",
    ),
    LF(
        "lidar_support",
        lambda c: _vote(_col(c, "lidar_points") >= 3, _col(c, "lidar_points") <= 1),
        "lidar returns at the object in the keyframe's sweep; none means a stale or ghost track",
    ),
    LF(
        "track_quality",
        lambda c: _vote(
            (_col(c, "track_updates") >= 200) & (_col(c, "gap_s") <= 0.11),
            (_col(c, "track_updates") <= 50) | (_col(c, "gap_s") > 0.11),
        ),
        "a long track measured close to the keyframe vs. a short one or a filled gap",
    ),
    LF(
        "radar_lidar_agree",
        lambda c: _vote(np.zeros(c.height, bool), ~(c["radar_seen"].to_numpy() & c["lidar_seen"].to_numpy())),
        "an object only one sensor ever tracked is suspect (two sensors agreeing is the norm)",
    ),
    LF(
        "camera_edges",
        lambda c: _vote(np.zeros(c.height, bool), _col(c, "edge_ratio") < 0.6),
        "camera evidence: a box with fewer image gradients than the frame's average holds only road or sky",
    ),
    LF(
        "orientation_known",
        lambda c: _vote(
            np.zeros(c.height, bool), (c["class"] == "barrier").to_numpy() & (_col(c, "speed_mps") < 1.0)
        ),
        "a standing barrier's orientation is not measured (road works set them at any angle): its box is a guess",
    ),
    LF(
        "model",
        lambda c: (
            _vote(_col(c, "model_iou") >= 0.5, _col(c, "model_iou") < 0.1)
            if "model_iou" in c.columns
            else np.full(c.height, ABSTAIN)
        ),
        "the production model's prediction agrees (abstains until the registry has one)",
    ),
)


def vote_matrix(cands: pl.DataFrame, lfs: tuple[LF, ...] = LABELLING_FUNCTIONS) -> np.ndarray:
    """(n candidates, n functions) votes."""
    if not cands.height:
        return np.zeros((0, len(lfs)), int)
    return np.column_stack([np.asarray(lf.vote(cands), int) for lf in lfs])


def edge_ratio(image: np.ndarray, boxes: np.ndarray, scale: float) -> np.ndarray:
    """Mean gradient magnitude inside each box (native px; `scale` = stored px per native px) over
    the whole frame's mean: camera evidence that something with edges is there."""
    import cv2

    grey = (
        cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
        if image.ndim == 3
        else image.astype(np.float32)
    )
    mag = cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    base = float(mag.mean()) or 1.0
    integral = cv2.integral(mag)
    h, w = mag.shape
    b = np.round(np.asarray(boxes, float) * scale).astype(int)
    x0, x1 = np.clip(b[:, 0], 0, w), np.clip(b[:, 2], 0, w)
    y0, y1 = np.clip(b[:, 1], 0, h), np.clip(b[:, 3], 0, h)
    area = np.maximum((x1 - x0) * (y1 - y0), 1)
    s = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
    return np.where((x1 > x0) & (y1 > y0), s / area / base, np.nan)


def label_model_scores(votes: np.ndarray, seed: int = 0) -> tuple[np.ndarray, dict]:
    """P(right) per candidate from Snorkel's LabelModel, plus the learned accuracy of each function.
    Too few candidates to fit (or no votes at all): the share of non-abstaining votes that say right."""
    n, m = votes.shape
    cast = votes != ABSTAIN
    majority = np.where(cast.any(1), (votes == RIGHT).sum(1) / np.maximum(cast.sum(1), 1), 0.5)
    if n < 30 or not cast.any():
        return majority, {"model": "majority", "candidates": n}
    from snorkel.labeling.model import LabelModel

    lm = LabelModel(cardinality=2, verbose=False, device="cpu")
    # l2 pulls each function's accuracy toward prec_init: with a few hundred candidates per drive
    # an unregularised fit can settle on the mirrored solution (every function worse than chance)
    lm.fit(votes, n_epochs=500, lr=0.01, l2=0.5, prec_init=0.8, seed=seed, log_freq=1000, progress_bar=False)
    proba = lm.predict_proba(votes)[:, RIGHT]
    proba = np.where(cast.any(1), proba, 0.5)
    with np.errstate(divide="ignore", invalid="ignore"):  # a function that never votes (no model yet)
        weights = np.nan_to_num(lm.get_weights())
    return proba, {
        "model": "snorkel.LabelModel",
        "candidates": n,
        "lf_accuracy": [round(float(w), 3) for w in weights],
    }
