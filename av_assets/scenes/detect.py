"""Event detectors: vectorised (numpy over the ego grid and the tracks table), thresholds from the
trigger policy only. Each detector returns rows {type, t_start_ns, t_end_ns, severity, ...}.

Severity is dimensionless, >= 1 meaning at or beyond the policy threshold: harsh_brake = peak
deceleration / threshold, speeding = peak speed / limit, cut_in = lane-width fraction crossed per
second x (horizon / gap), stationary_hazard = horizon / closest distance, lane_change = lateral
displacement / lane width, disengagement = manual duration in seconds / 1 s.
"""

from __future__ import annotations

import numpy as np

from av_assets.scenes.policy import DetectorPolicy
from av_assets.shared.ego import EgoState, path_reference

EVENT_COLUMNS = ("type", "t_start_ns", "t_end_ns", "severity", "track_id", "detail")


def runs(mask: np.ndarray, group: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (inclusive) indices of consecutive True runs, broken where `group` changes."""
    m = np.asarray(mask, dtype=bool)
    if not m.size:
        return np.empty(0, int), np.empty(0, int)
    brk = np.zeros(m.size, bool)
    if group is not None:
        brk[1:] = group[1:] != group[:-1]
    prev = np.concatenate([[False], m[:-1]]) & ~brk
    nxt = np.concatenate([m[1:], [False]]) & ~np.concatenate([brk[1:], [True]])
    return np.flatnonzero(m & ~prev), np.flatnonzero(m & ~nxt)


def merge_intervals(a: np.ndarray, b: np.ndarray, gap_ns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge sorted intervals closer than gap_ns; returns starts, ends, and the member -> merged index."""
    if not a.size:
        return a, b, np.empty(0, int)
    order = np.argsort(a, kind="stable")
    a, b = a[order], b[order]
    reach = np.maximum.accumulate(b)
    new = np.concatenate([[True], a[1:] > reach[:-1] + gap_ns])
    gid = np.cumsum(new) - 1
    starts = a[new]
    ends = np.maximum.reduceat(b, np.flatnonzero(new))
    member = np.empty_like(gid)
    member[order] = gid
    return starts, ends, member


def run_reduce(ufunc, values: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """ufunc (np.minimum, np.maximum, np.fmax...) over each run values[s_k : e_k + 1], vectorised
    (reduceat over the interleaved bounds; runs are sorted and do not overlap)."""
    if not s.size:
        return np.empty(0, dtype=values.dtype)
    padded = np.concatenate([values, values[-1:]])
    bounds = np.column_stack([s, e + 1]).ravel()
    return ufunc.reduceat(padded, bounds)[0::2]


def _rows(kind, t_start, t_end, severity, track=None, detail=None):
    return [
        {
            "type": kind,
            "t_start_ns": int(a),
            "t_end_ns": int(b),
            "severity": round(float(s), 4),
            "track_id": None if track is None else track[i],
            "detail": None if detail is None else detail[i],
        }
        for i, (a, b, s) in enumerate(zip(t_start, t_end, severity, strict=True))
    ]


def _min_duration(t, s, e, min_s):
    keep = (t[e] - t[s]) >= min_s * 1e9 - 1
    return s[keep], e[keep]


def harsh_brake(ego: EgoState, p: DetectorPolicy) -> list[dict]:
    """Runs of longitudinal acceleration below the threshold lasting >= harsh_brake_min_s."""
    if not ego.t_ns.size:
        return []
    s, e = runs(ego.accel < p.harsh_brake_mps2)
    s, e = _min_duration(ego.t_ns, s, e, p.harsh_brake_min_s)
    a, b, member = merge_intervals(ego.t_ns[s], ego.t_ns[e], int(p.merge_gap_s * 1e9))
    peak = run_reduce(np.minimum, ego.accel, s, e)
    sev = np.zeros(a.size)
    np.minimum.at(sev, member, peak)
    return _rows("harsh_brake", a, b, sev / p.harsh_brake_mps2)


def disengagement(ego: EgoState, p: DetectorPolicy) -> list[dict]:
    if not ego.t_ns.size or np.all(np.isnan(ego.engaged)):
        return []
    s, e = runs(ego.engaged == 0)
    s, e = _min_duration(ego.t_ns, s, e, p.disengagement_min_s)
    dur = (ego.t_ns[e] - ego.t_ns[s]) / 1e9 + 1 / ego.hz
    return _rows("disengagement", ego.t_ns[s], ego.t_ns[e], dur)


def speeding(ego: EgoState, limit_mps: np.ndarray, p: DetectorPolicy) -> list[dict]:
    """`limit_mps` on the ego grid (NaN = unknown: never speeding)."""
    if not ego.t_ns.size:
        return []
    ratio = ego.speed / limit_mps
    s, e = runs(np.nan_to_num(ratio, nan=0.0) > 1.0 + p.speeding_tolerance)
    s, e = _min_duration(ego.t_ns, s, e, p.speeding_min_s)
    a, b, member = merge_intervals(ego.t_ns[s], ego.t_ns[e], int(p.merge_gap_s * 1e9))
    sev = np.zeros(a.size)
    np.maximum.at(sev, member, run_reduce(np.fmax, ratio, s, e))
    return _rows("speeding", a, b, sev)


def _signalled_lane_changes(ego: EgoState, p: DetectorPolicy, lane_width: float) -> list[tuple]:
    """Turn-signal runs as candidates (see `lane_changes`)."""
    n = ego.t_ns.size
    if np.all(np.isnan(ego.turn)):
        return []
    hz = ego.hz
    s, e = runs(np.nan_to_num(ego.turn) != 0)
    s, e = _min_duration(ego.t_ns, s, e, p.lane_change_min_s)
    out = []
    dt = 1.0 / hz
    for i, j in zip(s, e, strict=True):
        side = np.sign(ego.turn[i])
        lo, hi = max(0, i - int(hz)), min(n - 1, j + int(3 * hz))
        w = np.nan_to_num(ego.yaw_rate[lo : hi + 1])
        v = ego.speed[lo : hi + 1]
        # the heading change while the signal is on: a junction turn happens under the signal (the
        # blinker cancels as the turn completes); a turn after it has ended is not this manoeuvre
        net_turn = np.degrees(abs(np.sum(np.nan_to_num(ego.yaw_rate[i : j + 1])) * dt))
        if net_turn > p.lane_change_junction_turn_deg:
            continue  # a turn at a junction
        # the road's curvature: the mean yaw rate in the second before the signal and the second after
        # it; where they differ (a bend's entry or exit inside the window) or the heading changes like
        # a bend, yaw alone cannot separate the lateral move from the road: the signalled run is it
        one = max(1, int(hz))
        r_pre = float(np.mean(np.nan_to_num(ego.yaw_rate[max(0, i - one) : i + 1])))
        r_post = float(np.mean(np.nan_to_num(ego.yaw_rate[j : min(n, j + one + 1)])))
        if net_turn > p.lane_change_max_heading_deg or abs(r_pre - r_post) > p.lane_change_max_rate_change:
            out.append((i, j, side, lane_width, "signal"))
            continue
        # two hypotheses for the road's (unknown) curvature over the window: constant at the window's
        # mean yaw rate (a bend wholly inside the window), or the rate at its edges (a straight or
        # steady curve); a lane-width move toward the signalled side under either confirms the signal
        best = None
        for road_rate in (float(np.mean(w)), 0.5 * (r_pre + r_post)):
            lat_h = np.cumsum(v * np.sin(np.cumsum((w - road_rate) * dt)) * dt)
            if best is None or side * lat_h[-1] > side * best[-1]:
                best = lat_h
        lat = best
        disp = lat[-1]
        if side * disp < p.lane_change_min_frac * lane_width:
            continue
        frac = lat / disp
        k0 = lo + int(np.argmax(frac >= 0.1))
        k1 = lo + int(np.argmax(frac >= 0.9))
        if (k1 - k0) / hz > p.lane_change_max_s:
            continue
        out.append((k0, k1, side, abs(disp), "signal+lateral"))
    return out


def _unsignalled_lane_changes(ego: EgoState, p: DetectorPolicy, lane_width: float) -> list[tuple]:
    """Lane changes from lateral motion alone. Over every window [i, i + D] (D from
    lane_change_window_min_s to _max_s in 0.5 s steps, i on a 10 Hz lattice) the road's curvature is
    the mean yaw rate in the second before and the second after the window; they must agree (within
    lane_change_max_rate_change: a bend's entry or exit, or a junction turn, changes it). The heading
    relative to that constant-curvature road is integrated into a lateral displacement (small-angle,
    prefix sums: vectorised over all windows); a lane change moves >= lane_change_unsignalled_frac lane
    widths and ends with the heading back on the road's (<= lane_change_max_end_heading_deg). Windows
    are taken greedily by displacement, overlapping ones suppressed; interval 10 %-90 % of the move."""
    n = ego.t_ns.size
    hz = ego.hz
    step = max(1, int(round(hz / 10)))
    if n < 4 * hz or np.all(np.isnan(ego.yaw_rate)):
        return []
    dt = 1.0 / hz
    r = np.nan_to_num(ego.yaw_rate)
    v = ego.speed
    tt = np.arange(n) * dt
    psi = np.concatenate([[0.0], np.cumsum(0.5 * (r[1:] + r[:-1]) * dt)])
    c_r = np.concatenate([[0.0], np.cumsum(r)])
    c_v = np.concatenate([[0.0], np.cumsum(v * dt)])
    c_vpsi = np.concatenate([[0.0], np.cumsum(v * psi * dt)])
    c_vt = np.concatenate([[0.0], np.cumsum(v * tt * dt)])
    one = int(hz)
    best: list[tuple] = []
    for D in np.arange(p.lane_change_window_min_s, p.lane_change_window_max_s + 1e-9, 0.5):
        m = int(round(D * hz))
        i = np.arange(one, n - m - one, step)
        if not i.size:
            continue
        j = i + m
        r_pre = (c_r[i] - c_r[i - one]) / one
        r_post = (c_r[j + one] - c_r[j]) / one
        rb = 0.5 * (r_pre + r_post)
        # lateral displacement of sum v * (psi - psi_i - rb (t - t_i)) dt over [i, j)
        disp = (
            (c_vpsi[j] - c_vpsi[i])
            - psi[i] * (c_v[j] - c_v[i])
            - rb * ((c_vt[j] - c_vt[i]) - tt[i] * (c_v[j] - c_v[i]))
        )
        end_dev = psi[j] - psi[i] - rb * (tt[j] - tt[i])
        ok = np.abs(r_pre - r_post) <= p.lane_change_max_rate_change
        ok &= np.degrees(np.abs(end_dev)) <= p.lane_change_max_end_heading_deg
        ok &= np.abs(disp) >= p.lane_change_unsignalled_frac * lane_width
        for a, b, d_, k in zip(i[ok], j[ok], disp[ok], rb[ok], strict=True):
            best.append((abs(d_), int(a), int(b), float(k)))
    best.sort(key=lambda x: -x[0])
    taken: list[tuple] = []
    for dabs, a, b, rb in best:
        if any(a <= tb and b >= ta for _, ta, tb, _ in taken):
            continue
        taken.append((dabs, a, b, rb))
    out = []
    for _, a, b, rb in sorted(taken, key=lambda x: x[1]):
        dev = psi[a : b + 1] - psi[a] - rb * (tt[a : b + 1] - tt[a])
        lat = np.cumsum(v[a : b + 1] * np.sin(dev) * dt)
        disp = lat[-1]
        if not disp:
            continue
        frac = lat / disp
        k0 = a + int(np.argmax(frac >= 0.1))
        k1 = a + int(np.argmax(frac >= 0.9))
        out.append((k0, k1, np.sign(disp), abs(disp), "lateral"))
    return out


def lane_changes(ego: EgoState, p: DetectorPolicy, lane_width: float) -> tuple[list[dict], np.ndarray]:
    """The ego's lane changes, from two sources:
    - turn-signal runs (`_signalled_lane_changes`): a run of 1-8 s whose heading change under the
      signal stays below lane_change_junction_turn_deg (else a junction turn); where the road's
      curvature differs before and after the signal (yaw rate 1 s either side, beyond
      lane_change_max_rate_change) or the heading changes like a bend (> lane_change_max_heading_deg),
      the signalled run itself; else the heading deviation over [run start - 1 s, run end + 3 s] from
      the road (its yaw rate taken as the window mean or the edges' mean, whichever favours the
      signal) integrated into a lateral move of >= lane_change_min_frac lane widths toward the
      signalled side (interval 10 %-90 % of that move);
    - lateral motion alone (`_unsignalled_lane_changes`), when lane_change_from_lateral_motion.
    Signalled ones win where both overlap. Also returns `lane_shift` on the grid: cumulative
    +-lane width ramps over the detected changes (the lane reference for tracks)."""
    n = ego.t_ns.size
    shift = np.zeros(n)
    if not n or np.all(np.isnan(ego.yaw_rate)):
        return [], shift
    sig = _signalled_lane_changes(ego, p, lane_width)
    unsignalled = _unsignalled_lane_changes(ego, p, lane_width) if p.lane_change_from_lateral_motion else []
    lat = [o for o in unsignalled if not any(o[0] <= s[1] and o[1] >= s[0] for s in sig)]
    out = sorted(sig + lat, key=lambda o: o[0])
    if not out:
        return [], shift
    hz = ego.hz
    out = [o for o in out if (o[1] - o[0]) / hz <= p.lane_change_max_s]
    for k0, k1, side, *_ in out:  # +-one lane width, ramping over the move
        ramp = np.clip((np.arange(n) - k0) / max(1, k1 - k0), 0.0, 1.0)
        shift += side * lane_width * ramp
    if not out:
        return [], shift
    k0s = np.array([o[0] for o in out])
    k1s = np.array([o[1] for o in out])
    detail = [("left" if o[2] > 0 else "right") + f" ({o[4]})" for o in out]
    return (
        _rows("lane_change", ego.t_ns[k0s], ego.t_ns[k1s], [o[3] / lane_width for o in out], detail=detail),
        shift,
    )


def track_lanes(ego: EgoState, tracks, lane_shift: np.ndarray, lane_width: float):
    """Adds `lateral_offset_m` (from the ego's lane centre), `lane` (0 ego, +1 left, -1 right, ...),
    `ego_lane_shift_m` and `lane_ref_turn_deg` (the ego path's heading change between the ego and the
    object's projection on it; null beyond the recorded path) to a tracks frame (t_ns, x, y in
    base_link)."""
    import polars as pl

    if not tracks.height or not ego.t_ns.size:
        return tracks.with_columns(
            pl.lit(None, pl.Float64).alias("lateral_offset_m"),
            pl.lit(None, pl.Int8).alias("lane"),
            pl.lit(None, pl.Float64).alias("ego_lane_shift_m"),
            pl.lit(None, pl.Float64).alias("lane_ref_turn_deg"),
        )
    t = tracks["t_ns"].to_numpy()
    lat, turn = path_reference(ego, t, tracks["x"].to_numpy(), tracks["y"].to_numpy(), lane_shift)
    return tracks.with_columns(
        pl.Series("lateral_offset_m", lat),
        pl.Series("lane", np.round(lat / lane_width).astype(np.int8)),
        pl.Series(
            "ego_lane_shift_m",
            np.interp(t, ego.t_ns, lane_shift) if lane_shift is not None else np.zeros(t.size),
        ),
        pl.Series("lane_ref_turn_deg", turn, nan_to_null=True),
    )


def near_x(tracks) -> str:
    """The column of a track's near-face longitudinal position (`x_near`: where radar/lidar see the
    object's nearest surface) where the tracks carry it, else `x`. Gaps, horizons and headways are
    distances to the object's near face, not to its box centre (`x`)."""
    return "x_near" if "x_near" in tracks.columns else "x"


def sorted_tracks(tracks):
    """Tracks sorted by (track_id, t_ns) with `_grp`, an integer id per track (consecutive rows of
    one track share it); idempotent, so detect_drive sorts once for all track detectors."""
    import polars as pl

    if "_grp" in tracks.columns:
        return tracks
    return tracks.sort("track_id", "t_ns").with_columns(pl.col("track_id").rle_id().alias("_grp"))


def _guarded(
    t0: np.ndarray, t1: np.ndarray, guard_a: np.ndarray, guard_b: np.ndarray, guard_ns: int
) -> np.ndarray:
    """True where [t0, t1] overlaps any guard interval widened by guard_ns."""
    if not guard_a.size or not t0.size:
        return np.zeros(t0.size, bool)
    return ((t0[:, None] <= guard_b[None, :] + guard_ns) & (t1[:, None] >= guard_a[None, :] - guard_ns)).any(
        1
    )


def cut_ins(tracks, p: DetectorPolicy, lane_width: float, ego_lane_changes: list[dict]) -> list[dict]:
    """A confirmed track ahead (0 < x <= cut_in_max_ahead_m) whose lateral offset goes from the adjacent
    lane (|lat| >= cut_in_from_frac lane widths) into ours (|lat| <= cut_in_to_frac) within cut_in_max_s
    and stays >= cut_in_min_in_lane_s; not while the ego changes lane itself (+- cut_in_guard_s), not
    heading against the ego (oncoming or crossing), and only where the lane reference reaches the
    track (within the recorded path: beyond it the reference is an extrapolation of the last heading,
    which sweeps across tracks while the ego turns at the end of a drive).
    Interval: last sample in the adjacent lane -> first sample in our lane."""
    if not tracks.height:
        return []
    tr = sorted_tracks(tracks)
    gid = tr["_grp"].to_numpy()
    names = tr["track_id"]
    t = tr["t_ns"].to_numpy()
    x = tr[near_x(tr)].to_numpy()
    lat = tr["lateral_offset_m"].to_numpy()
    reached = (
        tr["lane_ref_turn_deg"].is_not_null().to_numpy()
        if "lane_ref_turn_deg" in tr.columns
        else np.ones(t.size, bool)
    )
    with_ego = (
        np.abs(tr["heading_rad"].fill_null(0.0).to_numpy()) <= np.radians(p.cut_in_max_heading_deg)
        if "heading_rad" in tr.columns
        else np.ones(t.size, bool)
    )
    ahead = (x > 0) & (x <= p.cut_in_max_ahead_m) & reached & with_ego
    inside = (np.abs(lat) <= p.cut_in_to_frac * lane_width) & ahead
    adjacent = (np.abs(lat) >= p.cut_in_from_frac * lane_width) & (np.abs(lat) <= 1.5 * lane_width) & reached
    # index of the last adjacent-lane sample at or before each row, within the same track
    idx = np.where(adjacent, np.arange(t.size), -1)
    last_adj = np.maximum.accumulate(idx)
    first_of_group = np.concatenate([[0], np.flatnonzero(gid[1:] != gid[:-1]) + 1])
    group_start = np.repeat(first_of_group, np.diff(np.concatenate([first_of_group, [t.size]])))
    s, e = runs(inside, gid)
    s, e = _min_duration(t, s, e, p.cut_in_min_in_lane_s)
    la = last_adj[s]
    ok = (la >= group_start[s]) & (la >= 0)
    ok &= (t[s] - t[np.clip(la, 0, None)]) <= p.cut_in_max_s * 1e9
    s, e, la = s[ok], e[ok], la[ok]
    t0, t1 = t[la], t[s]
    ga = np.array([r["t_start_ns"] for r in ego_lane_changes], dtype=np.int64)
    gb = np.array([r["t_end_ns"] for r in ego_lane_changes], dtype=np.int64)
    keep = ~_guarded(t0, t1, ga, gb, int(p.cut_in_guard_s * 1e9))
    s, la, t0, t1 = s[keep], la[keep], t0[keep], t1[keep]
    # crossing speed over >= cut_in_speed_baseline_s (from an earlier sample of the same track if the
    # crossing itself was quicker): a lagging tracker's catch-up is not the car's lateral speed
    lead = int(p.cut_in_speed_baseline_s * 1e9)
    b0 = np.array(
        [
            min(a, g + max(int(np.searchsorted(t[g:i], t[i] - lead, side="right")) - 1, 0))
            for a, g, i in zip(la, group_start[s], s, strict=True)
        ],
        dtype=np.int64,
    )
    lat_speed = np.abs(lat[b0] - lat[s]) / np.maximum((t1 - t[b0]) / 1e9, 0.05)
    # faster than a car can move sideways: a track jump (association, or a lidar cluster's centre
    # sweeping over a large object while the ego turns), not a cut-in
    fast = (lat_speed >= p.cut_in_min_lateral_mps) & (lat_speed <= p.cut_in_max_lateral_mps)
    s, la, t0, t1, lat_speed = s[fast], la[fast], t0[fast], t1[fast], lat_speed[fast]
    if not s.size:
        return []
    rate = np.abs(lat[la] - lat[s]) / lane_width / np.maximum((t1 - t0) / 1e9, 0.1)
    sev = rate * p.cut_in_max_ahead_m / np.maximum(x[s], 1.0) / 2.0
    # one car re-acquired as a second track is one cut-in
    a, b, member = merge_intervals(t0, t1, int(p.merge_gap_s * 1e9))
    msev = np.zeros(a.size)
    np.maximum.at(msev, member, sev)
    mlat = np.zeros(a.size)
    np.maximum.at(mlat, member, lat_speed)
    tracks_of = [[] for _ in range(a.size)]
    for m, g in zip(member, names.gather(s).to_list(), strict=True):
        tracks_of[m].append(str(g))
    return _rows(
        "cut_in",
        a,
        b,
        msev,
        track=[",".join(sorted(set(v))) for v in tracks_of],
        detail=[f"lateral_mps={v:.2f}" for v in mlat],
    )


def stationary_hazards(tracks, p: DetectorPolicy, lane_width: float) -> list[dict]:
    """Tracks standing still (ground speed <= hazard_max_speed_mps) in our lane (|lat| <= hazard_lane_frac
    lane widths) within hazard_max_ahead_m ahead, for >= hazard_min_s; the interval runs until the
    track is last seen ahead of the ego. Hazards closer than merge_gap_s merge (cones of one zone)."""
    if not tracks.height:
        return []
    tr = sorted_tracks(tracks)
    gid = tr["_grp"].to_numpy()
    names = tr["track_id"]
    t = tr["t_ns"].to_numpy()
    x = tr[near_x(tr)].to_numpy()
    lat = tr["lateral_offset_m"].to_numpy()
    still = tr["ground_speed_mps"].to_numpy() <= p.hazard_max_speed_mps
    # standing objects: replace the look-ahead lateral offset by the one measured where the ego comes
    # closest (x small), carried back through the ego's own lane changes (ego_lane_shift_m)
    shift = tr["ego_lane_shift_m"].to_numpy() if "ego_lane_shift_m" in tr.columns else np.zeros(t.size)
    # the lane reference reaches the object: within the recorded path (turn known) and not around a
    # corner (the ego's path turning more than hazard_max_path_turn_deg before the object: the next road)
    turn = (
        tr["lane_ref_turn_deg"].fill_null(np.nan).to_numpy()
        if "lane_ref_turn_deg" in tr.columns
        else np.zeros(t.size)
    )
    known = ~np.isnan(turn)
    first = np.concatenate([[0], np.flatnonzero(gid[1:] != gid[:-1]) + 1])
    key = np.where((x > 0) & still & known, x, np.inf)
    gmin = np.minimum.reduceat(key, first)
    sizes = np.diff(np.concatenate([first, [t.size]]))
    at_min = np.full(first.size, -1)
    hit = np.flatnonzero(key == np.repeat(gmin, sizes))
    grp_of_hit = np.searchsorted(first, hit, side="right") - 1
    at_min[grp_of_hit[::-1]] = hit[::-1]
    near = (gmin <= p.hazard_pass_m) & (at_min >= 0)
    row_near = np.repeat(near, sizes) & still
    row_at = np.repeat(np.clip(at_min, 0, None), sizes)
    lat = np.where(row_near, lat[row_at] + shift[row_at] - shift, lat)
    # where the object was passed near, its carried-back offset holds; else the look-ahead's needs the
    # reference to reach it
    reliable = row_near | (known & (np.nan_to_num(turn, nan=np.inf) <= p.hazard_max_path_turn_deg))
    cond = (
        still
        & reliable
        & (x > 0)
        & (x <= p.hazard_max_ahead_m)
        & (np.abs(lat) <= p.hazard_lane_frac * lane_width)
    )
    s, e = runs(cond, gid)
    s, e = _min_duration(t, s, e, p.hazard_min_s)
    if not s.size:
        return []
    # end: the last time the same track is seen ahead of the ego (x > 0)
    last_ahead = np.where((x > 0), np.arange(t.size), -1)
    group_end = np.concatenate([np.flatnonzero(gid[1:] != gid[:-1]), [t.size - 1]])
    # per group maximum of last_ahead
    gstart = np.concatenate([[0], group_end[:-1] + 1])
    gmax = np.maximum.reduceat(last_ahead, gstart)
    gidx = np.searchsorted(gstart, s, side="right") - 1
    end_idx = np.maximum(gmax[gidx], e)
    a, b, member = merge_intervals(t[s], t[end_idx], int(p.merge_gap_s * 1e9))
    closest = np.full(a.size, np.inf)
    np.minimum.at(closest, member, run_reduce(np.minimum, x, s, e))
    tracks_of = [[] for _ in range(a.size)]
    for m, g in zip(member, names.gather(s).to_list(), strict=True):
        tracks_of[m].append(str(g))
    return _rows(
        "stationary_hazard",
        a,
        b,
        p.hazard_max_ahead_m / np.maximum(closest, 1.0),
        track=[",".join(sorted(set(v))) for v in tracks_of],
    )


def lead_vehicles(
    tracks, ego: EgoState, p: DetectorPolicy, lane_width: float, gate_m: float = 4.0
) -> list[dict]:
    """The lead vehicle: at each track timestamp the nearest moving track (ground speed above
    hazard_max_speed_mps) ahead in our lane (|lateral offset| <= half a lane width). One row per run
    of the same lead lasting >= hazard_min_s (gaps up to merge_gap_s bridged): min gap (m), min time
    headway (gap / ego speed, s) in `detail`; severity = lead_headway_s / min headway (>= 1: closer
    than the headway rule). Not an event type of the table: a report over radar tracks."""
    import polars as pl

    if not tracks.height or not ego.t_ns.size:
        return []
    xc = near_x(tracks)
    cand = tracks.filter(
        (pl.col(xc) > 0)
        & (pl.col("lateral_offset_m").abs() <= lane_width / 2)
        & (pl.col("ground_speed_mps") > p.hazard_max_speed_mps)
    )
    if not cand.height:
        return []
    lead = cand.sort("t_ns", xc).group_by("t_ns", maintain_order=True).first()
    t = lead["t_ns"].to_numpy()
    x = lead[xc].to_numpy()
    tid = lead["track_id"].to_numpy()
    headway = x / np.maximum(np.interp(t, ego.t_ns, ego.speed), 0.1)
    gap_ns = int(p.merge_gap_s * 1e9)
    brk = np.zeros(t.size, bool)
    # a new lead: a gap in time, or a jump in range beyond the tracker's hard association gate (the
    # same car re-identified under another track id, e.g. two radar returns of it, is one lead)
    brk[1:] = (np.diff(t) > gap_ns) | ((tid[1:] != tid[:-1]) & (np.abs(np.diff(x)) > gate_m))
    s = np.flatnonzero(np.concatenate([[True], brk[1:]]))
    e = np.concatenate([s[1:] - 1, [t.size - 1]])
    keep = (t[e] - t[s]) >= p.hazard_min_s * 1e9
    s, e = s[keep], e[keep]
    min_gap = run_reduce(np.minimum, x, s, e)
    min_hw = run_reduce(np.minimum, headway, s, e)
    return _rows(
        "lead_vehicle",
        t[s],
        t[e],
        p.lead_headway_s / np.maximum(min_hw, 1e-3),
        track=[",".join(sorted(set(tid[a : b + 1].tolist()))) for a, b in zip(s, e, strict=True)],
        detail=[f"min_gap_m={g:.1f} min_headway_s={h:.2f}" for g, h in zip(min_gap, min_hw, strict=True)],
    )


def track_lane_changes(tracks, p: DetectorPolicy, lane_width: float) -> list[dict]:
    """Lane changes of tracked objects (lanes counted from the ego lane: lateral_offset_m), found two
    ways and merged per track:
    - centred -> centred (`_centred_lane_changes`): the offset goes from near one lane's centre to
      near the adjacent lane's centre, staying there;
    - a lane-line crossing (`_crossing_lane_changes`): the track's reference point crosses the line
      between two lanes (the highD / NGSIM definition of the lane-change instant) while moving
      sideways at >= cut_in_min_lateral_mps over the cut_in_min_in_lane_s around it, without crossing
      back within cut_in_max_s. Finds lane changes of tracks seen only briefly around the crossing.
    A crossing within cut_in_max_s of a centred lane change of the same track is that lane change."""
    centred = _centred_lane_changes(tracks, p, lane_width)
    crossing = _crossing_lane_changes(tracks, p, lane_width)
    tol = int(p.cut_in_max_s * 1e9)
    extra = [
        c
        for c in crossing
        if not any(
            r["track_id"] == c["track_id"]
            and c["t_start_ns"] <= r["t_end_ns"] + tol
            and c["t_end_ns"] >= r["t_start_ns"] - tol
            for r in centred
        )
    ]
    return sorted(centred + extra, key=lambda r: (r["t_start_ns"], r["track_id"]))


def _crossing_lane_changes(tracks, p: DetectorPolicy, lane_width: float) -> list[dict]:
    """See `track_lane_changes`. Interval: the two samples straddling the lane line."""
    if not tracks.height:
        return []
    tr = sorted_tracks(tracks)
    gid = tr["_grp"].to_numpy()
    names = tr["track_id"]
    t = tr["t_ns"].to_numpy()
    lat = tr["lateral_offset_m"].to_numpy()
    k = np.round(lat / lane_width)
    same = np.concatenate([[False], gid[1:] == gid[:-1]])
    cross = same & np.concatenate([[False], np.abs(np.diff(k)) == 1])
    ci = np.flatnonzero(cross)
    if not ci.size:
        return []
    direction = np.sign(k[ci] - k[ci - 1])
    # no crossing back within cut_in_max_s: the next crossing of the same track, opposite way
    nxt = np.concatenate([ci[1:], [-1]])
    back = (
        (nxt >= 0)
        & (gid[np.clip(nxt, 0, None)] == gid[ci])
        & (np.concatenate([direction[1:], [0]]) == -direction)
        & (t[np.clip(nxt, 0, None)] - t[ci] <= p.cut_in_max_s * 1e9)
    )
    prv_back = np.concatenate([[False], back[:-1]])  # the return crossing of a weave
    # sideways motion around the crossing: samples of the track within +-cut_in_min_in_lane_s
    span_ns = int(t.max() - t.min()) + 1
    key = gid.astype(np.int64) * span_ns + (t - t.min())
    half = int(p.cut_in_min_in_lane_s * 1e9)
    lo = np.searchsorted(key, key[ci] - half)
    hi = np.searchsorted(key, key[ci] + half, side="right") - 1
    dur = (t[hi] - t[lo]) / 1e9
    speed = direction * (lat[hi] - lat[lo]) / np.maximum(dur, 1e-3)
    ok = ~back & ~prv_back & (dur >= p.cut_in_min_in_lane_s) & (speed >= p.cut_in_min_lateral_mps)
    ci, direction, speed = ci[ok], direction[ok], speed[ok]
    if not ci.size:
        return []
    return _rows(
        "track_lane_change",
        t[ci - 1],
        t[ci],
        speed / lane_width,
        track=[str(g) for g in names.gather(ci).to_list()],
        detail=["left" if d > 0 else "right" for d in direction],
    )


def _centred_lane_changes(tracks, p: DetectorPolicy, lane_width: float) -> list[dict]:
    """Centred-to-centred lane changes: a track's lateral offset goes from near the centre of one lane
    (within cut_in_to_frac lane widths of k W) to near the centre of an adjacent lane ((k +- 1) W)
    within cut_in_max_s, at >= cut_in_min_lateral_mps, staying there >= cut_in_min_in_lane_s. Lanes are
    counted from the ego lane (lateral_offset_m); the cut-in is the case where the new lane is ours.
    Interval: last sample centred in the old lane -> first centred in the new one; detail "left"/"right"."""
    if not tracks.height:
        return []
    tr = sorted_tracks(tracks)
    gid = tr["_grp"].to_numpy()
    names = tr["track_id"]
    t = tr["t_ns"].to_numpy()
    lat = tr["lateral_offset_m"].to_numpy()
    k = np.round(lat / lane_width)
    centred = np.abs(lat - k * lane_width) <= p.cut_in_to_frac * lane_width
    lane = np.where(centred, k, np.nan)
    # previous centred sample (index) and its lane, within the same track
    idx = np.where(centred, np.arange(t.size), -1)
    prev_idx = np.concatenate([[-1], np.maximum.accumulate(idx)[:-1]])
    first_of_group = np.concatenate([[0], np.flatnonzero(gid[1:] != gid[:-1]) + 1])
    group_start = np.repeat(first_of_group, np.diff(np.concatenate([first_of_group, [t.size]])))
    valid_prev = (prev_idx >= group_start) & (prev_idx >= 0)
    prev_lane = np.where(valid_prev, lane[np.clip(prev_idx, 0, None)], np.nan)
    change = centred & valid_prev & (np.abs(lane - prev_lane) == 1)
    s = np.flatnonzero(change)
    if not s.size:
        return []
    la = prev_idx[s]
    dur = (t[s] - t[la]) / 1e9
    ok = dur <= p.cut_in_max_s
    ok &= np.abs(lat[s] - lat[la]) / np.maximum(dur, 0.05) >= p.cut_in_min_lateral_mps
    # stays in the new lane: the run of centred samples in that lane lasts >= cut_in_min_in_lane_s
    rs, re = runs(centred & ~np.isnan(lane), gid)
    # extend: lane constant within a run of centred samples
    run_end = np.full(t.size, -1)
    for a, b in zip(rs, re, strict=True):
        # split runs where the lane changes (rare): walk the constant-lane pieces
        cut = np.flatnonzero(lane[a + 1 : b + 1] != lane[a:b]) + a + 1
        starts = np.concatenate([[a], cut])
        ends = np.concatenate([cut - 1, [b]])
        for x0, x1 in zip(starts, ends, strict=True):
            run_end[x0 : x1 + 1] = x1
    ok &= (t[run_end[s]] - t[s]) >= p.cut_in_min_in_lane_s * 1e9
    s, la = s[ok], la[ok]
    if not s.size:
        return []
    side = np.where(lane[s] > lane[la], "left", "right")
    rate = np.abs(lat[s] - lat[la]) / lane_width / np.maximum((t[s] - t[la]) / 1e9, 0.1)
    return _rows(
        "track_lane_change",
        t[la],
        t[s],
        rate,
        track=[str(g) for g in names.gather(s).to_list()],
        detail=list(side),
    )
