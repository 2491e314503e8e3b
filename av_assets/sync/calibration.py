"""Per-drive calibration from `/tf_static` (extrinsics, chained into base_link) and `CameraInfo`
(intrinsics K, D, size)."""

from __future__ import annotations

from typing import Any

import numpy as np

BASE = "base_link"


def _q_mul(a, b):
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ]
    )


def _q_rot(q, v):
    x, y, z, w = q
    qv = np.array([x, y, z])
    t = 2 * np.cross(qv, v)
    return v + w * t + np.cross(qv, t)


def extrinsics_in_base(transforms: list[dict[str, Any]], base: str = BASE) -> dict[str, dict[str, Any]]:
    """{child frame: {translation, rotation_xyzw, chain}} of every frame reachable from `base`."""
    children: dict[str, list[dict]] = {}
    for tr in transforms:
        children.setdefault(tr["parent"].lstrip("/"), []).append(tr)
    out: dict[str, dict[str, Any]] = {}
    stack = [(base, np.zeros(3), np.array([0.0, 0.0, 0.0, 1.0]), [base])]
    while stack:
        frame, t, q, chain = stack.pop()
        for tr in children.get(frame, []):
            child = tr["child"].lstrip("/")
            if child in out or child == base:
                continue
            tq = np.asarray(tr["rotation_xyzw"], dtype=float)
            tq = tq / np.linalg.norm(tq)
            t2 = t + _q_rot(q, np.asarray(tr["translation"], dtype=float))
            q2 = _q_mul(q, tq)
            out[child] = {
                "parent": base,
                "translation": [round(float(v), 9) for v in t2],
                "rotation_xyzw": [round(float(v), 9) for v in q2],
                "chain": chain + [child],
            }
            stack.append((child, t2, q2, chain + [child]))
    return dict(sorted(out.items()))


def calibration_record(
    drive_id: str,
    transforms: list[dict[str, Any]],
    camera_info: dict[str, dict[str, Any]],
    sensors: list[dict[str, Any]],
) -> dict[str, Any]:
    ext = extrinsics_in_base(transforms)
    frame_of = {s["name"]: s.get("frame_id") for s in sensors}
    sensors_out: dict[str, dict[str, Any]] = {}
    for s in sensors:
        name, fid = s["name"], frame_of.get(s["name"])
        if not fid:
            continue
        sensors_out[name] = {"frame_id": fid, "extrinsics": ext.get(fid)}
    for info_name, info in camera_info.items():
        fid = info.get("frame_id")
        target = next(
            (n for n, v in sensors_out.items() if v["frame_id"] == fid and n != info_name), info_name
        )
        entry = sensors_out.setdefault(target, {"frame_id": fid, "extrinsics": ext.get(fid)})
        entry["intrinsics"] = {
            "width": info["width"],
            "height": info["height"],
            "K": info["K"],
            "D": info["D"],
            "distortion_model": info["distortion_model"],
            "camera_info_sensor": info_name,
        }
    return {"drive_id": drive_id, "base_frame": BASE, "frames": ext, "sensors": sensors_out, "version": 1}


def calibration_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, s in sorted(record["sensors"].items()):
        e = s.get("extrinsics") or {}
        k = (s.get("intrinsics") or {}).get("K") or [None] * 9
        intr = s.get("intrinsics") or {}
        t = e.get("translation") or [None] * 3
        q = e.get("rotation_xyzw") or [None] * 4
        rows.append(
            {
                "drive_id": record["drive_id"],
                "sensor_id": name,
                "frame_id": s["frame_id"],
                "parent_frame": record["base_frame"] if e else None,
                "tx": t[0],
                "ty": t[1],
                "tz": t[2],
                "qx": q[0],
                "qy": q[1],
                "qz": q[2],
                "qw": q[3],
                "fx": k[0],
                "fy": k[4],
                "cx": k[2],
                "cy": k[5],
                "width": intr.get("width"),
                "height": intr.get("height"),
                "distortion_model": intr.get("distortion_model"),
                "d": intr.get("D"),
            }
        )
    return rows
