"""Measurement against ground truth (synthetic drives only; never used to decide anything).

Event match rule: a detection and a ground-truth event of the same type match when their intervals
overlap after widening each by `tolerance_s` (0.5 s: clock offsets and smoothing). Precision = share
of detections matching some ground-truth event; recall = share of ground-truth events matched by some
detection (many-to-one either way: one harsh brake split in two runs is still one recalled event).
The mean temporal IoU of each detection with its best match is reported beside them.

Tracking: at each ground-truth cuboid time, ground-truth objects within `eval_range_m` are matched
(Hungarian) to the tracks' nearest-in-time states (<= 60 ms) by the distance from the track point to
the object's footprint rectangle (0 inside), gate `match_m`. MOTA = 1 - (FN + FP + IDSW) / GT, where an
ID switch is a ground-truth object whose matched track changes; RMSE of that footprint distance and of
the centre distance.
"""

from __future__ import annotations

import numpy as np


def match_events(detections: list[dict], truth: list[dict], types, tolerance_s: float = 0.5) -> dict:
    tol = int(tolerance_s * 1e9)
    out = {}
    for kind in types:
        d = [(r["t_start_ns"], r["t_end_ns"]) for r in detections if r["type"] == kind]
        g = [(r["t_start_ns"], r["t_end_ns"]) for r in truth if r["type"] == kind]
        da = np.array(d, dtype=np.int64).reshape(-1, 2)
        ga = np.array(g, dtype=np.int64).reshape(-1, 2)
        ov = (da[:, None, 0] - tol <= ga[None, :, 1]) & (da[:, None, 1] + tol >= ga[None, :, 0])
        inter = np.clip(
            np.minimum(da[:, None, 1], ga[None, :, 1]) - np.maximum(da[:, None, 0], ga[None, :, 0]), 0, None
        )
        union = np.maximum(da[:, None, 1], ga[None, :, 1]) - np.minimum(da[:, None, 0], ga[None, :, 0])
        iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
        tp_d = int(ov.any(1).sum()) if len(d) else 0
        tp_g = int(ov.any(0).sum()) if len(g) else 0
        out[kind] = {
            "detections": len(d),
            "truth": len(g),
            "matched_detections": tp_d,
            "matched_truth": tp_g,
            "precision": round(tp_d / len(d), 4) if d else None,
            "recall": round(tp_g / len(g), 4) if g else None,
            "mean_iou": round(float(iou.max(1)[ov.any(1)].mean()), 4) if tp_d else None,
        }
    return out


def pool(per_drive: list[dict]) -> dict:
    """Sum match counts over drives -> precision/recall per type."""
    tot: dict[str, dict] = {}
    for m in per_drive:
        for k, v in m.items():
            t = tot.setdefault(k, {"detections": 0, "truth": 0, "matched_detections": 0, "matched_truth": 0})
            for c in t:
                t[c] += v[c]
    for t in tot.values():
        t["precision"] = round(t["matched_detections"] / t["detections"], 4) if t["detections"] else None
        t["recall"] = round(t["matched_truth"] / t["truth"], 4) if t["truth"] else None
    return tot


def tracking_metrics(
    tracks, cuboids, eval_range_m: float = 40.0, match_m: float = 1.5, max_dt_ms: float = 60.0
) -> dict:
    """`tracks`: object_tracks rows; `cuboids`: ground truth (t_ns, track_uuid, x/y/yaw_base, length, width)."""
    import polars as pl
    from scipy.optimize import linear_sum_assignment

    gt = cuboids.filter((pl.col("x_base") ** 2 + pl.col("y_base") ** 2) <= eval_range_m**2).sort("t_ns")
    if not gt.height:
        return {"gt": 0}
    tr = tracks.sort("t_ns")
    times = np.unique(gt["t_ns"].to_numpy())
    # each track's state nearest to each ground-truth time
    tt = tr["t_ns"].to_numpy()
    gt_groups = gt.partition_by("t_ns", as_dict=True, maintain_order=True)
    fn = fp = idsw = n_gt = 0
    last_match: dict[str, str] = {}
    d_foot, d_centre = [], []
    tid_all = tr["track_id"].to_numpy()
    x_all, y_all = tr["x"].to_numpy(), tr["y"].to_numpy()
    for t in times:
        g = gt_groups[(int(t),)]
        lo, hi = (
            np.searchsorted(tt, t - max_dt_ms * 1e6),
            np.searchsorted(tt, t + max_dt_ms * 1e6, side="right"),
        )
        sel_t, sel_x, sel_y = tid_all[lo:hi], x_all[lo:hi], y_all[lo:hi]
        # one state per track: the closest in time
        if sel_t.size:
            order = np.argsort(np.abs(tt[lo:hi] - t), kind="stable")
            _, first = np.unique(sel_t[order], return_index=True)
            keep = order[first]
            sel_t, sel_x, sel_y = sel_t[keep], sel_x[keep], sel_y[keep]
        in_range = (sel_x**2 + sel_y**2) <= eval_range_m**2
        gx, gy, gyaw = g["x_base"].to_numpy(), g["y_base"].to_numpy(), g["yaw_base"].to_numpy()
        gl, gw = g["length"].to_numpy(), g["width"].to_numpy()
        n_gt += g.height
        if not sel_t.size:
            fn += g.height
            continue
        dx = sel_x[None, :] - gx[:, None]
        dy = sel_y[None, :] - gy[:, None]
        c, s = np.cos(gyaw)[:, None], np.sin(gyaw)[:, None]
        u, v = c * dx + s * dy, -s * dx + c * dy
        foot = np.hypot(
            np.clip(np.abs(u) - gl[:, None] / 2, 0, None), np.clip(np.abs(v) - gw[:, None] / 2, 0, None)
        )
        cost = np.where(foot <= match_m, foot, 1e6)
        ri, ci = linear_sum_assignment(cost)
        ok = cost[ri, ci] < 1e6
        ri, ci = ri[ok], ci[ok]
        fn += g.height - ri.size
        matched_tracks = np.zeros(sel_t.size, bool)
        matched_tracks[ci] = True
        fp += int((in_range & ~matched_tracks).sum())
        uu = g["track_uuid"].to_list()
        for a, b in zip(ri, ci, strict=True):
            prev = last_match.get(uu[a])
            if prev is not None and prev != sel_t[b]:
                idsw += 1
            last_match[uu[a]] = sel_t[b]
            d_foot.append(foot[a, b])
            d_centre.append(np.hypot(dx[a, b], dy[a, b]))
    return {
        "gt": n_gt,
        "fn": fn,
        "fp": fp,
        "id_switches": idsw,
        "mota": round(1 - (fn + fp + idsw) / n_gt, 4) if n_gt else None,
        "recall": round(1 - fn / n_gt, 4) if n_gt else None,
        "rmse_footprint_m": round(float(np.sqrt(np.mean(np.square(d_foot)))), 3) if d_foot else None,
        "rmse_centre_m": round(float(np.sqrt(np.mean(np.square(d_centre)))), 3) if d_centre else None,
        "eval_range_m": eval_range_m,
        "match_m": match_m,
    }


def event_matches(
    detections: list[dict],
    truth: list[dict],
    near_misses: list[dict] | None = None,
    tolerance_s: float = 0.5,
    t0_ns: int | None = None,
) -> list[dict]:
    """The debug table behind `match_events`: one row per detection (matched truth index or, when
    unmatched, the near miss it overlaps) and one per unmatched ground-truth event. Times in seconds
    from `t0_ns` (the drive start) for reading."""
    tol = int(tolerance_s * 1e9)
    t0 = t0_ns if t0_ns is not None else min([r["t_start_ns"] for r in list(detections) + list(truth)] or [0])

    def ov(a, b):
        return a["t_start_ns"] - tol <= b["t_end_ns"] and a["t_end_ns"] + tol >= b["t_start_ns"]

    rows, hit = [], set()
    for d in detections:
        m = [i for i, g in enumerate(truth) if g["type"] == d["type"] and ov(d, g)]
        hit.update(m)
        nm = [n for n in near_misses or [] if n.get("resembles") == d["type"] and ov(d, n)]
        rows.append(
            {
                "kind": "detection",
                "type": d["type"],
                "matched": bool(m),
                "t_start_s": round((d["t_start_ns"] - t0) / 1e9, 2),
                "t_end_s": round((d["t_end_ns"] - t0) / 1e9, 2),
                "severity": d.get("severity"),
                "track_id": d.get("track_id"),
                "detail": d.get("detail"),
                "near_miss": ",".join(n["type"] for n in nm) or None,
            }
        )
    for i, g in enumerate(truth):
        if i not in hit:
            rows.append(
                {
                    "kind": "missed_truth",
                    "type": g["type"],
                    "matched": False,
                    "t_start_s": round((g["t_start_ns"] - t0) / 1e9, 2),
                    "t_end_s": round((g["t_end_ns"] - t0) / 1e9, 2),
                    "severity": None,
                    "track_id": ",".join(g.get("actors") or []) or None,
                    "detail": None,
                    "near_miss": None,
                }
            )
    return rows


MATCH_RULE = "interval overlap, each widened by 0.5 s; many-to-one (docs/scenes.md)"


def drive_evaluation(detections: list[dict], gt: dict, skipped) -> dict:
    """One drive's detections against its ground truth, over the event types that were not skipped:
    `per_type` (match_events), `matches` (event_matches: the per-event debug table, times from the
    drive start) and the sorted types of the drive's near misses."""
    from av_assets.scenes.policy import EVENT_TYPES

    types = [t for t in EVENT_TYPES if t not in skipped]
    near = gt.get("near_misses") or []
    gt_events = [e for e in (gt.get("events") or []) if e["type"] in types]
    return {
        "per_type": match_events(detections, gt.get("events") or [], types),
        "matches": event_matches(detections, gt_events, near, t0_ns=gt.get("t_start_ns")),
        "near_miss_types": sorted({n["type"] for n in near}),
    }
