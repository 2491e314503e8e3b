"""Ego state from silver/signals on a uniform grid, and the ego's driven path (odometry) used as the
lane reference for object tracks. Plain numpy/polars: no Dagster, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Signal names as silver/signals spells them (CAN `<MESSAGE>.<SIGNAL>` in DBC units, IMU in SI).
SPEED_SIGNALS = ("SPEED.SPEED",)  # km/h
WHEEL_SIGNALS = tuple(f"WHEEL_SPEEDS.WHEEL_SPEED_{w}" for w in ("FL", "FR", "RL", "RR"))  # km/h
ENGAGED_SIGNAL = "PCM_CRUISE.CRUISE_ACTIVE"
TURN_SIGNAL = "BLINKERS_STATE.TURN_SIGNALS"  # Toyota DBC: 1 left, 2 right, 3 none
YAW_SIGNALS = ("angular_velocity.z",)  # rad/s, IMU (REP-103: counter-clockwise positive)
CAN_YAW_SIGNAL = "KINEMATICS.YAW_RATE"  # deg/s
UNIT_TO_SI = {"km/h": 1 / 3.6, "kph": 1 / 3.6, "m/s": 1.0, "mph": 0.44704, "deg/s": np.pi / 180, "rad/s": 1.0}


@dataclass
class EgoState:
    """Uniform grid (`hz`) of the ego's state; NaN where a signal is absent."""

    t_ns: np.ndarray
    speed: np.ndarray  # m/s
    accel: np.ndarray  # m/s^2, derivative of the speed, smoothed
    yaw_rate: np.ndarray  # rad/s
    engaged: np.ndarray  # 1 engaged, 0 manual, NaN unknown
    turn: np.ndarray  # +1 left, -1 right, 0 none, NaN unknown
    hz: float
    sources: dict

    @property
    def t_s(self) -> np.ndarray:
        return (self.t_ns - self.t_ns[0]) / 1e9 if self.t_ns.size else np.empty(0)


def _split_signals(sig, wanted) -> dict[str, tuple[np.ndarray, np.ndarray, str | None]]:
    """One pass over the (long) signals table: the wanted signals' (t_ns sorted, value, unit).
    `sig` may be a polars DataFrame or LazyFrame (then only the wanted rows and columns are read).
    Signal names become small integer codes (an Enum) and are split with numpy masks: much cheaper
    than partitioning on the string column."""
    import polars as pl

    wanted = list(dict.fromkeys(wanted))
    lf = sig.lazy() if isinstance(sig, pl.DataFrame) else sig
    df = (
        lf.select("t_ns", "signal", "value")
        .filter(pl.col("signal").is_in(wanted))
        .with_columns(pl.col("signal").cast(pl.Enum(wanted)).to_physical())
        .collect()
    )
    out = {}
    if not df.height:
        return out
    code = df["signal"].to_numpy()
    t_all = df["t_ns"].to_numpy()
    v_all = np.asarray(df["value"].to_numpy(), dtype=float)
    present = [int(k) for k in np.unique(code)]
    # units: one row per present signal (reading the unit column of every row would triple the scan)
    units = pl.collect_all([lf.filter(pl.col("signal") == wanted[k]).select("unit").head(1) for k in present])
    for k, u in zip(present, units, strict=True):
        m = code == k
        t, v = t_all[m], v_all[m]
        if t.size > 1 and not bool(np.all(t[1:] >= t[:-1])):
            order = np.argsort(t, kind="stable")
            t, v = t[order], v[order]
        out[wanted[k]] = (t, v, u["unit"][0] if u.height else None)
    return out


def _series(parts: dict, names) -> tuple[np.ndarray, np.ndarray, str | None, str | None]:
    for name in names:
        if name in parts and parts[name][0].size:
            t, v, unit = parts[name]
            return t, v, name, unit
    return np.empty(0, np.int64), np.empty(0), None, None


def smooth(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving average over n samples (edges shrink the window), NaN-free input."""
    if n <= 1 or x.size == 0:
        return x.astype(float)
    c = np.concatenate([[0.0], np.cumsum(x, dtype=float)])
    size = x.size
    h = n // 2
    out = np.empty(size)
    # interior (full window): slices, no index arrays
    i0, i1 = h, max(h, size - n + h + 1)  # i in [i0, i1): lo = i - h >= 0 and hi = i - h + n <= size
    if i1 > i0:
        out[i0:i1] = (c[n : n + i1 - i0] - c[: i1 - i0]) / n
    # edges: the window shrinks
    edge = np.concatenate([np.arange(0, min(i0, size)), np.arange(max(i1, i0), size)])
    if edge.size:
        lo = np.clip(edge - h, 0, size)
        hi = np.clip(edge - h + n, 0, size)
        out[edge] = (c[hi] - c[lo]) / np.maximum(hi - lo, 1)
    return out


def ego_state(sig, hz: float = 50.0, accel_smooth_s: float = 0.2) -> EgoState:
    """`sig`: silver/signals rows of one drive (t_ns, signal, value, unit), a polars DataFrame or
    LazyFrame. Speed: CAN SPEED (else the wheel-speed mean); acceleration: its derivative smoothed
    over `accel_smooth_s`."""
    wanted = (*SPEED_SIGNALS, *WHEEL_SIGNALS, ENGAGED_SIGNAL, TURN_SIGNAL, *YAW_SIGNALS, CAN_YAW_SIGNAL)
    parts = _split_signals(sig, wanted)
    sources: dict = {}
    t, v, name, unit = _series(parts, SPEED_SIGNALS)
    if name is None and any(w in parts for w in WHEEL_SIGNALS):
        import polars as pl

        w = (
            pl.concat(
                [
                    pl.DataFrame({"t_ns": parts[k][0], "value": parts[k][1], "unit": parts[k][2]})
                    for k in WHEEL_SIGNALS
                    if k in parts
                ]
            )
            .group_by("t_ns")
            .agg(pl.col("value").mean(), pl.col("unit").first())
            .sort("t_ns")
        )
        t, v, name, unit = w["t_ns"].to_numpy(), w["value"].to_numpy(), "mean(WHEEL_SPEEDS)", w["unit"][0]
    if name is None:
        return EgoState(*(np.empty(0) for _ in range(6)), hz=hz, sources={"speed": None})
    sources["speed"] = name
    v = v * UNIT_TO_SI.get(unit, 1.0)
    step = int(round(1e9 / hz))
    grid = np.arange(int(t[0]), int(t[-1]) + 1, step, dtype=np.int64)
    # interpolate on times relative to the grid start: exact in float64 (absolute ns stamps ~1.7e18
    # are not) and much cheaper than np.interp's int64 -> float conversion of every stamp
    grid_rel = (grid - grid[0]).astype(float)
    speed = np.interp(grid_rel, (t - grid[0]).astype(float), v)
    accel = np.gradient(speed, 1.0 / hz) if grid.size > 1 else np.zeros_like(speed)
    accel = smooth(accel, max(1, int(round(accel_smooth_s * hz))))

    def on_grid(names_, hold=False, scale_unit=True):
        tt, vv, nm, un = _series(parts, names_)
        if nm is None:
            return np.full(grid.size, np.nan), None
        if scale_unit:
            vv = vv * UNIT_TO_SI.get(un, 1.0)
        if hold:  # step-hold (flags): the last sample at or before each grid time
            idx = np.searchsorted(tt, grid, side="right") - 1
            out = vv[np.clip(idx, 0, None)].astype(float)
            out[idx < 0] = vv[0]
            return out, nm
        return np.interp(grid_rel, (tt - grid[0]).astype(float), vv), nm

    yaw, sources["yaw_rate"] = on_grid(YAW_SIGNALS)
    if sources["yaw_rate"] is None:
        yaw, sources["yaw_rate"] = on_grid((CAN_YAW_SIGNAL,))
    engaged, sources["engaged"] = on_grid((ENGAGED_SIGNAL,), hold=True, scale_unit=False)
    raw_turn, sources["turn"] = on_grid((TURN_SIGNAL,), hold=True, scale_unit=False)
    turn = np.where(raw_turn == 1, 1.0, np.where(raw_turn == 2, -1.0, 0.0))
    turn[np.isnan(raw_turn)] = np.nan
    return EgoState(grid, speed, accel, yaw, engaged, turn, hz, sources)


def odometry(ego: EgoState) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Dead-reckoned planar path: (s, x, y, heading) per grid sample (start = origin)."""
    dt = 1.0 / ego.hz
    yaw = np.nan_to_num(ego.yaw_rate)
    psi = np.concatenate([[0.0], np.cumsum(0.5 * (yaw[1:] + yaw[:-1]) * dt)])
    ds = np.concatenate([[0.0], 0.5 * (ego.speed[1:] + ego.speed[:-1]) * dt])
    mid = psi - np.concatenate([[0.0], 0.5 * np.diff(psi)])
    x = np.cumsum(ds * np.cos(mid))
    y = np.cumsum(ds * np.sin(mid))
    return np.cumsum(ds), x, y, psi


def path_offset(ego: EgoState, t_ns: np.ndarray, x: np.ndarray, y: np.ndarray, lane_shift=None) -> np.ndarray:
    """`path_reference`'s lateral offset alone."""
    return path_reference(ego, t_ns, x, y, lane_shift)[0]


def path_reference(
    ego: EgoState, t_ns: np.ndarray, x: np.ndarray, y: np.ndarray, lane_shift=None
) -> tuple[np.ndarray, np.ndarray]:
    """Lateral offset of points (x, y in base_link at t_ns) from the ego's lane centre at t_ns.

    The lane centre is where the ego drove (or will drive): its own path, known offline from
    odometry. Each point is projected onto that path (Frenet frame: a few Newton steps along the
    path's tangent, starting at the arclength the ego is at plus x), and its signed perpendicular
    distance from the path (left positive) is corrected by the lateral shift of the ego's lane
    changes between the two instants (`lane_shift`(t): cumulative +-lane width ramps of the ego's
    detected lane changes). Works on curves and in turns, where measuring along base_link y at the
    path point x metres ahead misplaces objects by metres.

    Also returns the reference's turn: the absolute heading change (deg) of the ego's path between
    the ego at t_ns and the projected point; NaN where that point lies beyond the recorded path (the
    path is continued straight there, so the lateral offset is a guess)."""
    if not t_ns.size:
        return np.empty(0), np.empty(0)
    s, px, py, psi = odometry(ego)
    tg = ego.t_ns.astype(float)
    # the path by arclength (where the ego stands still several t share one s)
    s_u, first = np.unique(s, return_index=True)
    pxu, pyu, psu = px[first], py[first], psi[first]
    s_t = np.interp(t_ns, tg, s)
    ox, oy, opsi = np.interp(t_ns, tg, px), np.interp(t_ns, tg, py), np.interp(t_ns, tg, psi)
    c, sn = np.cos(opsi), np.sin(opsi)
    wx, wy = ox + c * x - sn * y, oy + sn * x + c * y  # the point in the odometry frame

    def at(sq):
        """Path point and heading at arclength sq (straight on beyond the recorded path)."""
        qx, qy, qh = np.interp(sq, s_u, pxu), np.interp(sq, s_u, pyu), np.interp(sq, s_u, psu)
        over = np.clip(sq - s_u[-1], 0, None) - np.clip(s_u[0] - sq, 0, None)
        return qx + over * np.cos(qh), qy + over * np.sin(qh), qh

    sq = s_t + x
    for _ in range(4):
        qx, qy, qh = at(sq)
        sq = sq + (wx - qx) * np.cos(qh) + (wy - qy) * np.sin(qh)
    qx, qy, qh = at(sq)
    lat = -(wx - qx) * np.sin(qh) + (wy - qy) * np.cos(qh)
    if lane_shift is not None:
        k = np.interp(sq, s_u, first.astype(float))  # fractional grid index of the path point
        t_target = np.interp(k, np.arange(s.size, dtype=float), tg)
        lat = lat + (np.interp(t_target, tg, lane_shift) - np.interp(t_ns, tg, lane_shift))
    turn = np.degrees(np.abs(qh - opsi))
    turn[(sq > s_u[-1]) | (sq < s_u[0])] = np.nan
    return lat, turn
