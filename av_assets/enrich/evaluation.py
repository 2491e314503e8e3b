"""Map-matching accuracy where ground truth exists (synthetic fleet): what `silver/road_context` says
per sample against what the map says at the TRUE position (the ego trajectory lies on known roads)."""

from __future__ import annotations

from typing import Any

import numpy as np

from av_assets.enrich.roads import RoadGraph


def map_at_true_position(graph: RoadGraph, lat, lon, yaw_map) -> tuple[np.ndarray, np.ndarray]:
    """(road class, speed limit km/h) of the segment nearest each true position whose direction
    agrees with the true heading (distance + 20 m per radian of heading disagreement)."""
    x, y = graph.to_xy(lat, lon)
    cls, spd = [], []
    for i in range(len(x)):
        c = graph.candidates(float(x[i]), float(y[i]), 30.0)
        if not len(c):
            cls.append(None), spd.append(np.nan)
            continue
        d, *_ = graph.project(c, float(x[i]), float(y[i]))
        diff = np.abs((yaw_map[i] - graph.bearing(c) + np.pi) % (2 * np.pi) - np.pi)
        b = int(np.argmin(d + 20.0 * np.minimum(diff, np.pi - diff)))
        cls.append(graph.seg_class[c[b]]), spd.append(graph.seg_speed_kph[c[b]])
    return np.array(cls, dtype=object), np.array(spd, dtype=float)


def accuracy_vs_trajectory(frame: Any, ego: Any, graph: RoadGraph) -> dict[str, Any]:
    """`frame`: road_context rows; `ego`: the fleet's ego_trajectory (t_ns, lat, lon, yaw_map,
    speed_limit m/s). Samples are paired by nearest time (within 50 ms)."""
    t = frame["t_ns"].to_numpy()
    et = ego["t_ns"].to_numpy()
    j = np.clip(np.searchsorted(et, t), 1, len(et) - 1)
    j = np.where(np.abs(et[j - 1] - t) < np.abs(et[j] - t), j - 1, j)
    near = np.abs(et[j] - t) <= 50_000_000
    j = j[near]
    cls_true, spd_true = map_at_true_position(
        graph, ego["lat"].to_numpy()[j], ego["lon"].to_numpy()[j], ego["yaw_map"].to_numpy()[j]
    )
    cls = frame["road_class"].to_numpy()[near]
    spd = frame["speed_limit_kph"].to_numpy()[near].astype(float)
    gt_limit = ego["speed_limit"].to_numpy()[j] * 3.6 if "speed_limit" in ego.columns else None
    out = {
        "samples": int(near.sum()),
        "road_class_accuracy": round(float(np.mean(cls == cls_true)), 4) if near.any() else None,
        "speed_limit_accuracy_vs_map": round(float(np.mean(np.abs(spd - spd_true) < 0.5)), 4)
        if near.any()
        else None,
    }
    if gt_limit is not None and near.any():
        out["speed_limit_accuracy_vs_simulator"] = round(float(np.mean(np.abs(spd - gt_limit) < 0.5)), 4)
    return out
