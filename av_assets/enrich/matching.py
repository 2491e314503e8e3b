"""Map matching of GNSS fixes to the OSM road graph: a hidden Markov model solved with Viterbi
(Newson & Krumm 2009), with heading consistency and a forward-backward posterior as match quality.

- Noise: the GNSS sigma is estimated from the data (median distance of the fixes to the nearest road
  / 0.674, the median of a half-normal), clipped to [2, 25] m, unless given.
- Key fixes: a fix becomes an HMM step once it lies >= max(2 sigma, 8 m) from the previous step
  (closer steps carry no information and make route-vs-straight transitions noisy).
- States: up to 12 road segments within max(25 m, 4 sigma) of a key fix.
- Emission: Gaussian in the perpendicular distance, plus a Gaussian in the angle between the motion
  heading (from 1 s-smoothed positions over +-2 s) and the segment (undirected; against a one-way's
  direction costs extra). Heading is ignored below 4 m of displacement (standing, creeping).
- Transition: exp(-|route distance - straight distance| / beta), route distances by Dijkstra on the
  node graph (bounded), beta = 2 m + sigma / 2.
- Fixes between steps are snapped to the ways chosen at the neighbouring steps.
- Quality per fix: the posterior probability (forward-backward) that the reported road attributes
  (road class and speed limit) are right, i.e. the posterior mass of candidates that share them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from av_assets.enrich.roads import RoadGraph

MAX_CANDIDATES = 12
NO_ROUTE_LOGP = -40.0


@dataclass
class MatchResult:
    matched: np.ndarray  # (n,) bool
    seg: np.ndarray  # (n,) int, -1 where unmatched
    x: np.ndarray  # matched point (metres, graph frame), NaN where unmatched
    y: np.ndarray
    offset_m: np.ndarray  # distance fix -> matched point
    quality: np.ndarray  # (n,) 0..1
    sigma_m: float
    n_steps: int

    def summary(self) -> dict[str, float]:
        m = self.matched
        return {
            "matched_share": float(m.mean()) if len(m) else 0.0,
            "quality_mean": float(self.quality[m].mean()) if m.any() else 0.0,
            "low_quality_share": float((self.quality[m] < 0.5).mean()) if m.any() else 0.0,
            "offset_median_m": float(np.median(self.offset_m[m])) if m.any() else float("nan"),
            "sigma_m": float(self.sigma_m),
            "hmm_steps": int(self.n_steps),
        }


def _smooth(v: np.ndarray, half: int) -> np.ndarray:
    """Moving average ignoring NaN, window 2*half+1."""
    ok = np.isfinite(v)
    k = np.ones(2 * half + 1)
    num = np.convolve(np.where(ok, v, 0.0), k, mode="same")
    den = np.convolve(ok.astype(float), k, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def motion_heading(x: np.ndarray, y: np.ndarray, t_s: np.ndarray, min_disp_m: float = 4.0) -> np.ndarray:
    """Heading (rad, ENU) of the motion at each fix: smoothed positions +-2 s apart; NaN if slow."""
    n = len(x)
    if n < 3:
        return np.full(n, np.nan)
    dt = float(np.median(np.diff(t_s))) if n > 1 else 0.1
    half = max(1, int(round(0.5 / max(dt, 1e-3))))
    sx, sy = _smooth(x, half), _smooth(y, half)
    lag = max(1, int(round(2.0 / max(dt, 1e-3))))
    i0 = np.clip(np.arange(n) - lag, 0, n - 1)
    i1 = np.clip(np.arange(n) + lag, 0, n - 1)
    dx, dy = sx[i1] - sx[i0], sy[i1] - sy[i0]
    h = np.arctan2(dy, dx)
    h[~(np.hypot(dx, dy) >= min_disp_m)] = np.nan
    return h


def estimate_sigma(g: RoadGraph, x: np.ndarray, y: np.ndarray, radius: float = 60.0) -> float:
    ok = np.flatnonzero(np.isfinite(x))
    if not len(ok):
        return 5.0
    pick = ok[:: max(1, len(ok) // 200)]
    dists = []
    for i in pick:
        c = g.candidates(x[i], y[i], radius)
        if len(c):
            dists.append(float(g.project(c, x[i], y[i])[0].min()))
    if not dists:
        return 5.0
    return float(np.clip(np.median(dists) / 0.674, 2.0, 25.0))


def _logsumexp(a: np.ndarray, axis=None):
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = m + np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True))
    return np.squeeze(out, axis=axis) if axis is not None else float(out.squeeze())


def match(
    g: RoadGraph,
    lat: np.ndarray,
    lon: np.ndarray,
    t_ns: np.ndarray,
    *,
    sigma_m: float | None = None,
    heading_sigma_rad: float = 0.5,
) -> MatchResult:
    from scipy.sparse.csgraph import dijkstra

    lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    n = len(lat)
    x, y = g.to_xy(lat, lon)
    x, y = np.asarray(x, dtype=float).reshape(n), np.asarray(y, dtype=float).reshape(n)
    t_s = (np.asarray(t_ns, dtype=np.int64) - (int(t_ns[0]) if n else 0)) / 1e9
    sigma = float(sigma_m) if sigma_m else estimate_sigma(g, x, y)
    radius = max(25.0, 4.0 * sigma)
    beta = 2.0 + sigma / 2.0
    heading = motion_heading(x, y, t_s)

    # ---- key fixes ----------------------------------------------------------------------------
    min_step = max(2.0 * sigma, 8.0)
    sx, sy = _smooth(x, 5), _smooth(y, 5)  # spacing judged on smoothed positions (noise alone moves)
    keys: list[int] = []
    for i in np.flatnonzero(np.isfinite(x)):
        if not keys or math.hypot(sx[i] - sx[keys[-1]], sy[i] - sy[keys[-1]]) >= min_step:
            keys.append(int(i))
    last_ok = np.flatnonzero(np.isfinite(x))
    if len(last_ok) and keys and keys[-1] != last_ok[-1]:
        keys.append(int(last_ok[-1]))

    # ---- states and emissions -----------------------------------------------------------------
    cands: list[np.ndarray] = []
    emis: list[np.ndarray] = []
    proj: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for k in keys:
        c = g.candidates(x[k], y[k], radius)
        if len(c):
            d, f, px, py = g.project(c, x[k], y[k])
            keep = d <= radius
            c, d, f, px, py = c[keep], d[keep], f[keep], px[keep], py[keep]
            if len(c) > MAX_CANDIDATES:
                o = np.argsort(d)[:MAX_CANDIDATES]
                c, d, f, px, py = c[o], d[o], f[o], px[o], py[o]
        else:
            d = f = px = py = np.empty(0)
        e = -0.5 * (d / sigma) ** 2
        if len(c) and np.isfinite(heading[k]):
            diff = np.abs((heading[k] - g.bearing(c) + np.pi) % (2 * np.pi) - np.pi)  # 0..pi
            undirected = np.minimum(diff, np.pi - diff)
            e = e - 0.5 * (undirected / heading_sigma_rad) ** 2
            e = e - np.where(g.seg_oneway[c] & (diff > np.pi / 2), 3.0, 0.0)
        cands.append(c)
        emis.append(e)
        proj.append((d, f, px, py))

    csr = g.csr()
    seg_a, seg_b, seg_len = g.seg_a, g.seg_b, g.seg_len

    def transition(k: int) -> np.ndarray:
        ci, cj = cands[k], cands[k + 1]
        _, fi, pxi, pyi = proj[k]
        _, fj, pxj, pyj = proj[k + 1]
        gc = math.hypot(x[keys[k + 1]] - x[keys[k]], y[keys[k + 1]] - y[keys[k]])
        ends_i = np.unique(np.concatenate([seg_a[ci], seg_b[ci]]))
        dist = dijkstra(csr, directed=False, indices=ends_i, limit=3.0 * gc + 100.0)
        row = {int(e): r for r, e in enumerate(ends_i)}
        # distance from each candidate point to its segment's two ends
        li = seg_len[ci]
        to_a_i, to_b_i = fi * li, (1 - fi) * li
        lj = seg_len[cj]
        from_a_j, from_b_j = fj * lj, (1 - fj) * lj
        route = np.full((len(ci), len(cj)), np.inf)
        for ii in range(len(ci)):
            ra, rb = dist[row[int(seg_a[ci[ii]])]], dist[row[int(seg_b[ci[ii]])]]
            best = np.minimum.reduce(
                [
                    to_a_i[ii] + ra[seg_a[cj]] + from_a_j,
                    to_a_i[ii] + ra[seg_b[cj]] + from_b_j,
                    to_b_i[ii] + rb[seg_a[cj]] + from_a_j,
                    to_b_i[ii] + rb[seg_b[cj]] + from_b_j,
                ]
            )
            same = cj == ci[ii]
            best[same] = np.abs(fj[same] - fi[ii]) * li[ii]
            route[ii] = best
        lp = -np.abs(route - gc) / beta
        lp[~np.isfinite(lp)] = NO_ROUTE_LOGP
        return np.maximum(lp, NO_ROUTE_LOGP)

    # ---- Viterbi + forward-backward per connected chain ------------------------------------------
    K = len(keys)
    choice = np.full(K, -1, dtype=int)
    post_ok = np.zeros(K)
    k = 0
    while k < K:
        if not len(cands[k]):
            k += 1
            continue
        start = k
        trans: list[np.ndarray] = []
        while k + 1 < K and len(cands[k + 1]):
            trans.append(transition(k))
            k += 1
        end = k  # inclusive
        # Viterbi
        delta = [emis[start]]
        back: list[np.ndarray] = []
        for j, T in enumerate(trans):
            s = delta[-1][:, None] + T
            back.append(np.argmax(s, axis=0))
            delta.append(s.max(axis=0) + emis[start + j + 1])
        path = [int(np.argmax(delta[-1]))]
        for b in reversed(back):
            path.append(int(b[path[-1]]))
        path.reverse()
        # forward-backward (log space)
        fwd = [emis[start] - _logsumexp(emis[start])]
        for j, T in enumerate(trans):
            a = _logsumexp(fwd[-1][:, None] + T, axis=0) + emis[start + j + 1]
            fwd.append(a - _logsumexp(a))
        bwd = [np.zeros(len(cands[end]))]
        for j in range(len(trans) - 1, -1, -1):
            b = _logsumexp(trans[j] + (emis[start + j + 1] + bwd[0])[None, :], axis=1)
            bwd.insert(0, b - _logsumexp(b))
        for j in range(end - start + 1):
            kk = start + j
            p = fwd[j] + bwd[j]
            p = np.exp(p - _logsumexp(p))
            c = cands[kk]
            chosen = c[path[j]]
            same = (g.seg_class[c] == g.seg_class[chosen]) & (g.seg_speed_kph[c] == g.seg_speed_kph[chosen])
            choice[kk] = path[j]
            post_ok[kk] = float(p[same].sum())
        k = end + 1

    # ---- every fix: snap to the ways chosen at the neighbouring key fixes ------------------------
    seg = np.full(n, -1, dtype=int)
    mx, my = np.full(n, np.nan), np.full(n, np.nan)
    off = np.full(n, np.nan)
    qual = np.zeros(n)
    key_arr = np.array(keys, dtype=int)
    key_seg = np.array([cands[i][choice[i]] if choice[i] >= 0 else -1 for i in range(K)], dtype=int)
    for i in np.flatnonzero(np.isfinite(x)):
        if not K:
            break
        pos = int(np.searchsorted(key_arr, i))
        neigh = [j for j in (pos - 1, pos) if 0 <= j < K and key_seg[j] >= 0]
        if pos < K and key_arr[pos] == i:
            neigh = [pos] if key_seg[pos] >= 0 else []
        if not neigh:
            continue
        ways = {int(g.seg_way[key_seg[j]]) for j in neigh}
        c = g.candidates(x[i], y[i], radius)
        c = c[np.isin(g.seg_way[c], list(ways))] if len(c) else c
        if pos < K and key_arr[pos] == i:
            c = np.array([key_seg[pos]])
        if not len(c):
            c = np.array([key_seg[j] for j in neigh])
        d, _f, px, py = g.project(c, x[i], y[i])
        score = -0.5 * (d / sigma) ** 2
        if np.isfinite(heading[i]):
            diff = np.abs((heading[i] - g.bearing(c) + np.pi) % (2 * np.pi) - np.pi)
            score = score - 0.5 * (np.minimum(diff, np.pi - diff) / heading_sigma_rad) ** 2
        b = int(np.argmax(score))
        seg[i], mx[i], my[i], off[i] = c[b], px[b], py[b], d[b]
        qual[i] = min(post_ok[j] for j in neigh)
    matched = seg >= 0
    return MatchResult(matched, seg, mx, my, off, np.round(qual, 4), sigma, K)
