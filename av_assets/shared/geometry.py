"""Object-box geometry shared by the online tracker (scenes) and the offline labeller (labels)."""

from __future__ import annotations

import numpy as np


def box_centre(x, y, heading, length, width, source, obs_x, obs_y):
    """Box centre from a near-surface position (base_link): the visible faces are toward the sensor,
    so the centre lies further along the line of sight u by the box's half extent along u,
    (L/2)|h.u| + (W/2)|n.u| (h heading, n its normal). A lidar cluster's bounding-box centre already
    sits half its observed depth along u (obs_x|u_x| + obs_y|u_y|) past the near face: only the rest.
    Unknown sizes (NaN) leave the position as it is. Returns (x, y)."""
    r = np.hypot(x, y)
    ux, uy = (
        np.divide(x, r, out=np.ones_like(x), where=r > 0),
        np.divide(y, r, out=np.zeros_like(y), where=r > 0),
    )
    hx, hy = np.cos(heading), np.sin(heading)
    half = 0.5 * (length * np.abs(hx * ux + hy * uy) + width * np.abs(-hy * ux + hx * uy))
    seen = 0.5 * (np.nan_to_num(obs_x) * np.abs(ux) + np.nan_to_num(obs_y) * np.abs(uy))
    shift = np.where(source == "lidar", np.clip(half - seen, 0.0, None), half)
    shift = np.nan_to_num(shift)
    return x + ux * shift, y + uy * shift


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in `a` (n, 4) with every box in `b` (m, 4), boxes as x_min, y_min, x_max, y_max."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
