"""Offline track smoothing: the labeller sees the whole drive, so each object track is filtered
forwards and smoothed backwards (Rauch-Tung-Striebel) with a constant-velocity model in the ego's
odometry frame. Query times (keyframes) are inserted as prediction-only steps, so a short gap between
measurements is filled by the smoother, not by a straight line."""

from __future__ import annotations

import numpy as np


def rts_smooth(
    t_s: np.ndarray,
    z: np.ndarray,
    sigma: np.ndarray,
    query_s: np.ndarray,
    accel_sigma: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed state at each query time.

    t_s: measurement times (s, sorted), z: (n, 2) positions, sigma: (n,) position noise (m) per
    measurement, query_s: times wanted. Returns (states (q, 4) = x, y, vx, vy; position std (q,))."""
    grid = np.concatenate([t_s, query_s])
    is_meas = np.concatenate([np.ones(t_s.size, bool), np.zeros(query_s.size, bool)])
    order = np.argsort(grid, kind="stable")
    grid, is_meas = grid[order], is_meas[order]
    meas_idx = np.cumsum(is_meas) - 1  # index into z for measurement steps
    n = grid.size
    x_f = np.zeros((n, 4))
    p_f = np.zeros((n, 4, 4))
    x_p = np.zeros((n, 4))
    p_p = np.zeros((n, 4, 4))
    q = accel_sigma**2
    h = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])
    x = np.array([z[0, 0], z[0, 1], 0.0, 0.0])
    p = np.diag([sigma[0] ** 2, sigma[0] ** 2, 25.0, 25.0])
    t_prev = grid[0]
    fs = np.zeros((n, 4, 4))
    for k in range(n):
        dt = grid[k] - t_prev
        f = np.eye(4)
        f[0, 2] = f[1, 3] = dt
        qm = np.zeros((4, 4))
        qm[0, 0] = qm[1, 1] = dt**4 / 4 * q
        qm[2, 2] = qm[3, 3] = dt**2 * q
        qm[0, 2] = qm[2, 0] = qm[1, 3] = qm[3, 1] = dt**3 / 2 * q
        if k:
            x = f @ x
            p = f @ p @ f.T + qm
        fs[k] = f
        x_p[k], p_p[k] = x, p
        if is_meas[k]:
            j = meas_idx[k]
            s = p[:2, :2] + np.eye(2) * sigma[j] ** 2
            gain = p[:, :2] @ np.linalg.inv(s)
            x = x + gain @ (z[j] - x[:2])
            p = (np.eye(4) - gain @ h) @ p
        x_f[k], p_f[k] = x, p
        t_prev = grid[k]
    x_s, p_s = x_f.copy(), p_f.copy()
    for k in range(n - 2, -1, -1):
        c = p_f[k] @ fs[k + 1].T @ np.linalg.pinv(p_p[k + 1])
        x_s[k] = x_f[k] + c @ (x_s[k + 1] - x_p[k + 1])
        p_s[k] = p_f[k] + c @ (p_s[k + 1] - p_p[k + 1]) @ c.T
    back = np.empty(n, int)
    back[order] = np.arange(n)
    sel = back[t_s.size :]
    return x_s[sel], np.sqrt(np.maximum(p_s[sel, 0, 0] + p_s[sel, 1, 1], 0.0))
