"""One clock per drive: backwards jumps repaired, per-sensor offsets estimated by cross-correlation.

Conventions: a sensor's raw stamp is `t_raw = t_true + offset`; the corrected stamp is
`t_ns = t_raw - offset`. The reference clock is GNSS (disciplined to GPS time, hence UTC) when the
drive has a GNSS fix stream, else CAN. Offsets:
- CAN vs GNSS: CAN speed (mean wheel speed) against the speed derived from consecutive GNSS fixes;
- IMU vs CAN: IMU longitudinal acceleration against the time derivative of CAN wheel speed;
  the IMU's total offset is the sum of both.
Sensors the signals cannot tie (camera, lidar, radar) keep offset 0 and are listed as not estimated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NS = 1_000_000_000


@dataclass
class Lag:
    lag_s: float
    score: float  # normalised cross-correlation at the peak (-1..1)
    overlap_s: float

    @property
    def ok(self) -> bool:
        return self.score >= 0.5 and self.overlap_s >= 5.0


def _smooth(x: np.ndarray, n: int) -> np.ndarray:
    if n <= 1:
        return x
    k = np.ones(n) / n
    return np.convolve(x, k, mode="same")


def estimate_lag(
    t_ref: np.ndarray,
    v_ref: np.ndarray,
    t_x: np.ndarray,
    v_x: np.ndarray,
    *,
    max_lag_s: float = 1.0,
    hz: float = 100.0,
    fine_step_s: float = 0.0005,
) -> Lag:
    """The lag L (s) maximising corr(ref(t - L), x(t)): x's clock runs L ahead of the reference.

    Times in seconds (float64, any origin, both on the same nominal clock). A coarse search on the
    grid step, then a fine search around the peak (interpolated), both on mean-removed signals."""
    t_ref, v_ref, t_x, v_x = (np.asarray(a, dtype=np.float64) for a in (t_ref, v_ref, t_x, v_x))
    ok_r, ok_x = np.isfinite(v_ref), np.isfinite(v_x)
    t_ref, v_ref, t_x, v_x = t_ref[ok_r], v_ref[ok_r], t_x[ok_x], v_x[ok_x]
    if t_ref.size < 10 or t_x.size < 10:
        return Lag(0.0, 0.0, 0.0)
    rate_ref = t_ref.size / max(t_ref[-1] - t_ref[0], 1e-9)
    rate_x = t_x.size / max(t_x[-1] - t_x[0], 1e-9)
    if rate_ref < rate_x:  # x(t) = ref(t - L)  <=>  ref(t) = x(t + L): swap and negate
        lag = estimate_lag(t_x, v_x, t_ref, v_ref, max_lag_s=max_lag_s, hz=hz, fine_step_s=fine_step_s)
        return Lag(-lag.lag_s, lag.score, lag.overlap_s)
    lo = max(t_ref[0], t_x[0]) + max_lag_s
    hi = min(t_ref[-1], t_x[-1]) - max_lag_s
    if hi - lo < 1.0:
        return Lag(0.0, 0.0, max(0.0, hi - lo))
    grid = np.arange(lo, hi, 1.0 / hz)
    x = np.interp(grid, t_x, v_x)
    x = x - x.mean()
    nx = np.linalg.norm(x)

    def corr(lag: float) -> float:
        r = np.interp(grid - lag, t_ref, v_ref)
        r = r - r.mean()
        den = nx * np.linalg.norm(r)
        return float(x @ r / den) if den > 0 else 0.0

    step = 1.0 / hz
    coarse = np.arange(-max_lag_s, max_lag_s + step / 2, step)
    scores = np.array([corr(lag) for lag in coarse])
    best = float(coarse[int(np.argmax(scores))])
    fine = np.arange(best - step, best + step + fine_step_s / 2, fine_step_s)
    fscores = np.array([corr(lag) for lag in fine])
    i = int(np.argmax(fscores))
    return Lag(float(fine[i]), float(fscores[i]), float(hi - lo))


def derivative(t: np.ndarray, v: np.ndarray, smooth_s: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Time derivative on a uniform 100 Hz grid after a moving-average of `smooth_s` (noise of
    quantised wheel speeds); returns (grid, dv/dt)."""
    t = np.asarray(t, dtype=np.float64)
    if t.size < 3:
        return t, np.zeros_like(t)
    grid = np.arange(t[0], t[-1], 0.01)
    vg = _smooth(np.interp(grid, t, v), max(1, int(round(smooth_s / 0.01))))
    return grid, np.gradient(vg, 0.01)


def gnss_speed(
    t: np.ndarray, lat: np.ndarray, lon: np.ndarray, baseline_s: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Ground speed (m/s) from fixes `baseline_s` apart (local equirectangular metres), centred: a
    longer baseline averages the per-fix position noise out of the speed."""
    t = np.asarray(t, dtype=np.float64)
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    if t.size < 3:
        return t[:0], t[:0]
    r = 6_378_137.0
    y = np.radians(lat) * r
    x = np.radians(lon) * r * np.cos(np.radians(np.nanmean(lat)))
    period = float(np.median(np.diff(t))) if t.size > 1 else 0.0
    k = max(1, int(round(baseline_s / period))) if period > 0 else 1
    if t.size <= k:
        return t[:0], t[:0]
    dt = t[k:] - t[:-k]
    good = dt > 0
    v = np.hypot(x[k:] - x[:-k], y[k:] - y[:-k])[good] / dt[good]
    tm = ((t[k:] + t[:-k]) / 2)[good]
    return tm, v


@dataclass
class JumpReport:
    index: int
    t_raw_ns: int
    jump_ns: int  # negative: backwards
    action: str


def repair_backwards_jumps(
    t_raw: np.ndarray, *, tolerance_ns: int = 1_000_000
) -> tuple[np.ndarray, list[JumpReport]]:
    """Stamps in arrival order with backwards steps (beyond `tolerance_ns`) undone: every stamp after
    a jump is shifted forward by the jump minus one nominal period (the median positive step), so the
    stream continues at its rate. Returns (repaired stamps, reports)."""
    t = np.asarray(t_raw, dtype=np.int64).copy()
    if t.size < 3:
        return t, []
    d = np.diff(t)
    pos = d[d > 0]
    period = int(np.median(pos)) if pos.size else 0
    bad = np.nonzero(d < -tolerance_ns)[0]
    reports = []
    if bad.size == 0:
        return t, []
    shift = np.zeros(t.size, dtype=np.int64)
    for i in bad:
        fix = -int(d[i]) + period
        shift[i + 1 :] += fix
        reports.append(JumpReport(int(i + 1), int(t_raw[i + 1]), int(d[i]), "corrected"))
    return t + shift, reports


def can_speed_ms(signal: np.ndarray, value: np.ndarray, unit: np.ndarray, t: np.ndarray):
    """(t, speed m/s) from decoded CAN: the mean of `WHEEL_SPEEDS.WHEEL_SPEED_*`, else a `*.SPEED`
    signal; km/h and mph converted. None when the DBC carries neither."""
    signal = np.asarray(signal, dtype=object)
    wheels = np.array([isinstance(s, str) and ".WHEEL_SPEED_" in s for s in signal])
    if not wheels.any():
        wheels = np.array([isinstance(s, str) and s.endswith(".SPEED") for s in signal])
    if not wheels.any():
        return None
    tt, vv, uu = t[wheels], value[wheels], unit[wheels]
    scale = np.ones(vv.size)
    low = np.char.lower(uu.astype(str))
    scale[np.isin(low, ["km/h", "kph", "kmh"])] = 1 / 3.6
    scale[low == "mph"] = 0.44704
    ut, inv = np.unique(tt, return_inverse=True)
    sums = np.bincount(inv, weights=vv * scale)
    counts = np.bincount(inv)
    return ut, sums / counts
