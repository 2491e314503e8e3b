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


def _series(sig, names) -> tuple[np.ndarray, np.ndarray, str | None, str | None]:
    import polars as pl

    for name in names:
        s = sig.filter(pl.col("signal") == name)
        if s.height:
            s = s.sort("t_ns")
            unit = s["unit"][0]
            return s["t_ns"].to_numpy(), s["value"].to_numpy().astype(float), name, unit
    return np.empty(0, np.int64), np.empty(0), None, None


def smooth(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving average over n samples (edges shrink the window), NaN-free input."""
    if n <= 1 or x.size == 0:
        return x.astype(float)
    c = np.concatenate([[0.0], np.cumsum(x, dtype=float)])
    i = np.arange(x.size)
    lo = np.clip(i - n // 2, 0, x.size)
    hi = np.clip(i - n // 2 + n, 0, x.size)
    return (c[hi] - c[lo]) / np.maximum(hi - lo, 1)


def ego_state(sig, hz: float = 50.0, accel_smooth_s: float = 0.2) -> EgoState:
    """`sig`: silver/signals rows of one drive (t_ns, signal, value, unit). Speed: CAN SPEED (else
    the wheel-speed mean); acceleration: its derivative smoothed over `accel_smooth_s`."""
    import polars as pl

    wanted = (*SPEED_SIGNALS, *WHEEL_SIGNALS, ENGAGED_SIGNAL, TURN_SIGNAL, *YAW_SIGNALS, CAN_YAW_SIGNAL)
    if sig.height:  # one pass over the (long) signals table, then per-signal frames
        sig = sig.select("t_ns", "signal", "value", "unit").filter(pl.col("signal").is_in(wanted))
    names = set(sig["signal"].unique().to_list()) if sig.height else set()
    sources: dict = {}
    t, v, name, unit = _series(sig, SPEED_SIGNALS)
    if name is None and any(w in names for w in WHEEL_SIGNALS):
        w = (
            sig.filter(pl.col("signal").is_in(WHEEL_SIGNALS))
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
    speed = np.interp(grid, t, v)
    accel = np.gradient(speed, 1.0 / hz) if grid.size > 1 else np.zeros_like(speed)
    accel = smooth(accel, max(1, int(round(accel_smooth_s * hz))))

    def on_grid(names_, hold=False, scale_unit=True):
        tt, vv, nm, un = _series(sig, names_)
        if nm is None:
            return np.full(grid.size, np.nan), None
        if scale_unit:
            vv = vv * UNIT_TO_SI.get(un, 1.0)
        if hold:  # step-hold (flags): the last sample at or before each grid time
            idx = np.searchsorted(tt, grid, side="right") - 1
            out = vv[np.clip(idx, 0, None)].astype(float)
            out[idx < 0] = vv[0]
            return out, nm
        return np.interp(grid, tt, vv), nm

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
    """Lateral offset of points (x, y in base_link at t_ns) from the ego's lane centre at t_ns.

    The lane centre at a distance x along the road is where the ego drove (or will drive) after
    travelling x: the ego's own path (known offline from odometry), expressed in base_link at t_ns,
    minus the lateral shift of the ego's lane changes between the two instants (`lane_shift`(t):
    cumulative +-lane width ramps of the ego's detected lane changes). Works on curves, where a
    straight-ahead lane model puts an in-lane car 9 m sideways at 30 m."""
    if not t_ns.size:
        return np.empty(0)
    s, px, py, psi = odometry(ego)
    tg = ego.t_ns.astype(float)
    s_t = np.interp(t_ns, tg, s)
    # odometer distance travelled is monotonic; where the ego stands still several t share one s
    s_u, first = np.unique(s, return_index=True)
    target = s_t + x
    k = np.interp(target, s_u, first.astype(float))  # fractional grid index of the path point
    i0 = np.clip(np.floor(k).astype(int), 0, s.size - 1)
    i1 = np.clip(i0 + 1, 0, s.size - 1)
    f = k - np.floor(k)
    qx = px[i0] * (1 - f) + px[i1] * f
    qy = py[i0] * (1 - f) + py[i1] * f
    # beyond the recorded path: continue straight along the last/first heading
    over = target - s_u[-1]
    under = s_u[0] - target
    qx = np.where(over > 0, qx + over * np.cos(psi[-1]), qx)
    qy = np.where(over > 0, qy + over * np.sin(psi[-1]), qy)
    qx = np.where(under > 0, qx - under * np.cos(psi[0]), qx)
    qy = np.where(under > 0, qy - under * np.sin(psi[0]), qy)
    ox, oy, opsi = np.interp(t_ns, tg, px), np.interp(t_ns, tg, py), np.interp(t_ns, tg, psi)
    c, sn = np.cos(opsi), np.sin(opsi)
    lane_y = -sn * (qx - ox) + c * (qy - oy)  # path point in base_link(t): lateral component
    if lane_shift is not None:
        t_target = np.interp(k, np.arange(s.size, dtype=float), tg)
        lane_y = lane_y - (np.interp(t_target, tg, lane_shift) - np.interp(t_ns, tg, lane_shift))
    return y - lane_y
