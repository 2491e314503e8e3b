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
