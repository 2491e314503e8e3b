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
    sigma_s: float = float("inf")  # 1-sigma of lag_s (split-window spread; inf when unknown)

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

    add, n_grid = np.add.reduce, grid.size

    def corr(lag: float) -> float:
        # r - r.mean() and |r| spelled as numpy computes them (pairwise sum / n; sqrt(r . r)),
        # without their per-call dispatch: bit-identical, called ~40 times per search
        r = np.interp(grid - lag, t_ref, v_ref)
        r -= add(r) / n_grid
        den = nx * np.sqrt(r.dot(r))
        return float(x @ r / den) if den > 0 else 0.0

    step = 1.0 / hz
    coarse = np.arange(-max_lag_s, max_lag_s + step / 2, step)
    scores = _coarse_scores(x, nx, lo + max_lag_s, step, coarse.size, t_ref, v_ref)
    best = float(coarse[int(np.argmax(scores))])
    fine = np.arange(best - step, best + step + fine_step_s / 2, fine_step_s)
    fscores = np.array([corr(lag) for lag in fine])
    i = int(np.argmax(fscores))
    return Lag(float(fine[i]), float(fscores[i]), float(hi - lo))


def _coarse_scores(
    x: np.ndarray, nx: float, top: float, step: float, k: int, t_ref: np.ndarray, v_ref: np.ndarray
) -> np.ndarray:
    """`corr(lag)` for the k coarse lags `-max_lag + j * step` at once: every lagged window of the
    reference is a slice of one longer resampling (from `top - (k-1) * step`, where `top = lo + max_lag`),
    so the numerators are one FFT cross-correlation and each window's mean and norm come from running
    sums. Same scores as the direct search to rounding (~1e-12)."""
    n = x.size
    ext = top - (k - 1) * step + np.arange(n + k - 1) * step
    r = np.interp(ext, t_ref, v_ref)
    r = r - r.mean()  # scores are invariant to a constant; keeps the running sums well conditioned
    size = 1 << (r.size - 1).bit_length()  # >= r.size: the circular correlation does not wrap
    num = np.fft.irfft(np.fft.rfft(r, size) * np.conj(np.fft.rfft(x, size)), size)[:k]
    # num[m] = sum_i r[m + i] * x[i]
    c1 = np.concatenate(([0.0], np.cumsum(r)))
    c2 = np.concatenate(([0.0], np.cumsum(r * r)))
    s1 = c1[n:] - c1[:-n]
    s2 = c2[n:] - c2[:-n]
    var = np.maximum(s2 - s1 * s1 / n, 0.0)
    den = nx * np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(den > 0, num / den, 0.0)
    return scores[::-1]  # window m = k - 1 - j belongs to lag j


def lag_sigma(
    t_ref: np.ndarray,
    v_ref: np.ndarray,
    t_x: np.ndarray,
    v_x: np.ndarray,
    *,
    segments: int = 4,
    max_lag_s: float = 1.0,
    hz: float = 100.0,
) -> float:
    """1-sigma uncertainty of `estimate_lag` on these signals: the lag estimated on `segments` disjoint
    windows of the overlap, their standard deviation divided by sqrt(segments). inf when fewer than two
    windows give a usable peak. Conservative on purpose: it is the gate that decides whether a
    logger-clock estimate agrees with the signals."""
    t_ref, t_x = np.asarray(t_ref, dtype=np.float64), np.asarray(t_x, dtype=np.float64)
    a = max(t_ref[0], t_x[0]) if t_ref.size and t_x.size else 0.0
    b = min(t_ref[-1], t_x[-1]) if t_ref.size and t_x.size else 0.0
    if b - a < segments * (2 * max_lag_s + 3.0):
        segments = int((b - a) // (2 * max_lag_s + 3.0))
    if segments < 2:
        return float("inf")
    edges = np.linspace(a, b, segments + 1)
    lags = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        mr = (t_ref >= lo) & (t_ref <= hi)
        mx = (t_x >= lo) & (t_x <= hi)
        lag = estimate_lag(t_ref[mr], v_ref[mr], t_x[mx], v_x[mx], max_lag_s=max_lag_s, hz=hz)
        if lag.score >= 0.5:
            lags.append(lag.lag_s)
    if len(lags) < 2:
        return float("inf")
    return float(np.std(lags, ddof=1) / np.sqrt(len(lags)))


@dataclass
class LoggerOffset:
    """A sensor's stamps against the logger's receive clock: `t_raw - t_log`, median and spread."""

    median_ns: int
    mad_ns: int
    n: int


def logger_offset(t_raw: np.ndarray, t_log: np.ndarray) -> LoggerOffset | None:
    """Median and MAD of `t_raw - t_log` (ns): the sensor clock's offset from the logger's clock minus
    the median transport latency. None where the stream has no separate log time (stamp == log time
    everywhere, e.g. stamps filled from the log time) or fewer than 10 messages."""
    t_raw, t_log = np.asarray(t_raw, dtype=np.int64), np.asarray(t_log, dtype=np.int64)
    if t_raw.size < 10 or t_raw.size != t_log.size:
        return None
    d = t_raw - t_log
    if not d.any():
        return None
    med = int(np.median(d))
    return LoggerOffset(med, int(np.median(np.abs(d - med))), int(d.size))


def fuse_offset(
    xcorr: Lag,
    logger_rel_s: float | None,
    *,
    tolerance_s: float = 0.010,
    k_sigma: float = 3.0,
    max_gate_s: float = 0.150,
) -> tuple[float, str]:
    """The relative offset to apply and how it was chosen.

    The signal cross-correlation is the arbiter (it measures what the sensors saw), but on a noisy
    reference its 1-sigma can be tens of ms. The logger-clock difference (both sensors' `t_raw - t_log`
    medians) is exact where transport latencies are equal, and wrong by the latency difference where
    they are not (comma2k19's GNSS arrives ~204 ms late). So the logger value is used only when it lies
    within `k_sigma` sigma of the signals' estimate (the gate clipped to [`tolerance_s`, `max_gate_s`]);
    else the signals win."""
    if logger_rel_s is not None and xcorr.ok:
        gate = k_sigma * xcorr.sigma_s if np.isfinite(xcorr.sigma_s) else tolerance_s
        gate = min(max(gate, tolerance_s), max_gate_s)
        if abs(logger_rel_s - xcorr.lag_s) <= gate:
            return logger_rel_s, "logger clock, confirmed by xcorr"
    return xcorr.lag_s, "xcorr"


def despike(v: np.ndarray, window: int = 25, threshold: float = 1.0) -> np.ndarray:
    """Samples further than `threshold` from the running median of `window` samples replaced by that
    median (symmetric, so it moves no peak in time). Wheel speeds carry short bursts of nonsense
    (one side 0, the other 75 km/h for 0.15 s in a low-speed turn on a synthetic drive) that would
    otherwise dominate d(speed)/dt and pull the IMU estimate onto the lateral axis."""
    v = np.asarray(v, dtype=np.float64)
    if v.size < window:
        return v
    h = window // 2
    padded = np.concatenate([np.full(h, v[0]), v, np.full(window - 1 - h, v[-1])])
    med = np.median(np.lib.stride_tricks.sliding_window_view(padded, window), axis=1)
    return np.where(np.abs(v - med) > threshold, med, v)


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
