"""Zarr (v3) clip shards: redacted camera keyframes and lidar/radar sweeps, one store per clip.

Layout of `silver/frames/drive_id=<id>/<t_start_ns>.zarr`:
  camera/<sensor>/image    (N, H, W, 3) uint8, one chunk per frame
  camera/<sensor>/t_ns     (N,) int64 corrected;  t_raw_ns  (N,) int64
  lidar/<sensor>/points    (N, P, F) float32 (F = the float fields, e.g. x y z intensity), NaN-padded
  lidar/<sensor>/n_points  (N,) int32;  t_ns, t_raw_ns
  radar/<sensor>/...       same as lidar
Group attributes carry drive_id, clip_id, the clip window, the policy version and field names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

_PF_DTYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 8: "f8"}


def decode_pointcloud(data: bytes, fields: tuple, point_step: int, n: int) -> tuple[list[str], np.ndarray]:
    """(field names, n x F float32) of every numeric field of a PointCloud2 (little endian)."""
    names, formats, offsets = [], [], []
    for name, off, dt in fields:
        if dt in _PF_DTYPES:
            names.append(name)
            formats.append("<" + _PF_DTYPES[dt])
            offsets.append(off)
    dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": point_step})
    rec = np.frombuffer(data, dtype=dtype, count=n)
    return names, np.stack([rec[k].astype(np.float32) for k in names], axis=1) if names else np.zeros(
        (n, 0), np.float32
    )


def write_shard(
    store_path: str,
    attrs: dict[str, Any],
    cameras: dict[str, dict[str, Any]],
    clouds: dict[str, dict[str, Any]],
) -> dict[str, int]:
    """Write one clip store; `cameras[sensor] = {t_ns, t_raw_ns, images: [HxWx3]}`,
    `clouds[sensor] = {kind: lidar|radar, t_ns, t_raw_ns, fields, points: [n_i x F]}`."""
    import zarr

    root = zarr.open_group(store=store_path, mode="w", zarr_format=3)
    root.attrs.update(attrs)
    counts = {"keyframes": 0, "sweeps": 0}
    for sensor, cam in cameras.items():
        if not cam["images"]:
            continue
        g = root.require_group(f"camera/{sensor}")
        imgs = np.stack(cam["images"])
        arr = g.create_array("image", shape=imgs.shape, dtype="uint8", chunks=(1, *imgs.shape[1:]))
        arr[:] = imgs
        g.create_array("t_ns", data=np.asarray(cam["t_ns"], dtype=np.int64))
        g.create_array("t_raw_ns", data=np.asarray(cam["t_raw_ns"], dtype=np.int64))
        counts["keyframes"] += imgs.shape[0]
    for sensor, cl in clouds.items():
        pts = cl["points"]
        if not pts:
            continue
        g = root.require_group(f"{cl['kind']}/{sensor}")
        g.attrs["fields"] = list(cl["fields"])
        p = max(1, max(x.shape[0] for x in pts))
        f = len(cl["fields"])
        block = np.full((len(pts), p, f), np.nan, dtype=np.float32)
        for i, x in enumerate(pts):
            block[i, : x.shape[0]] = x
        arr = g.create_array("points", shape=block.shape, dtype="float32", chunks=(1, p, f))
        arr[:] = block
        g.create_array("n_points", data=np.array([x.shape[0] for x in pts], dtype=np.int32))
        g.create_array("t_ns", data=np.asarray(cl["t_ns"], dtype=np.int64))
        g.create_array("t_raw_ns", data=np.asarray(cl["t_raw_ns"], dtype=np.int64))
        counts["sweeps"] += len(pts)
    return counts


FRAME_INDEX_SCHEMA = {
    "drive_id": "String",
    "clip_id": "String",
    "sensor_id": "String",
    "kind": "String",
    "t_ns": "Int64",
    "t_raw_ns": "Int64",
    "shard": "String",
    "index": "Int64",
    "n_points": "Int64",
}


def decode_clouds(streams, offsets_ns: dict[str, int]) -> list[tuple]:
    """Every PointCloud2 sweep of the drive as `(sensor, kind, t_raw, t_ns, fields, points)`, on the
    corrected clock (the same backwards-jump repair silver/signals applied, minus the sensor offset);
    lidar points with a non-finite x/y/z are dropped."""
    from av_assets.sync.clock import repair_backwards_jumps

    clouds = []
    for st in streams.of_type("PointCloud2"):
        kind = "radar" if "radar" in st.sensor else "lidar"
        t_raw, _ = st.arrays()
        t_fix, _jumps = repair_backwards_jumps(t_raw)
        for i in range(len(t_raw)):
            h, w = st.cols["shape"][i]
            names, pts = decode_pointcloud(
                st.cols["data"][i], st.cols["fields"][i], st.cols["point_step"][i], h * w
            )
            if kind == "lidar" and pts.shape[1] >= 3:
                pts = pts[np.isfinite(pts[:, :3]).all(axis=1)]
            clouds.append(
                (
                    st.sensor,
                    kind,
                    int(t_raw[i]),
                    int(t_fix[i]) - int(offsets_ns.get(st.sensor, 0)),
                    names,
                    pts,
                )
            )
    return clouds


def clip_members(
    drive_id: str,
    clip: dict[str, Any],
    keyframes: list[dict[str, Any]],
    clouds: list[tuple],
    offsets_ns: dict[str, int],
    read_image,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """(cameras, clouds, index rows) of one clip for `write_shard`: the keyframes (rows of the redacted
    index; `read_image(path) -> HxWx3`) and sweeps whose corrected stamp lies in [t_start, t_end)."""
    a, b = clip["t_start_ns"], clip["t_end_ns"]
    rows: list[dict[str, Any]] = []

    def row(sensor, kind, t, t_raw, index, n_points):
        return {
            "drive_id": drive_id,
            "clip_id": clip["clip_id"],
            "sensor_id": sensor,
            "kind": kind,
            "t_ns": t,
            "t_raw_ns": t_raw,
            "shard": clip["frames_shard"],
            "index": index,
            "n_points": n_points,
        }

    cams: dict[str, dict[str, Any]] = {}
    for r in keyframes:
        t = int(r["t_ns"]) - int(offsets_ns.get(r["sensor_id"], 0))
        if a <= t < b:
            c = cams.setdefault(r["sensor_id"], {"t_ns": [], "t_raw_ns": [], "images": []})
            c["t_ns"].append(t)
            c["t_raw_ns"].append(int(r["t_ns"]))
            c["images"].append(read_image(r["path"]))
            rows.append(row(r["sensor_id"], "camera", t, int(r["t_ns"]), len(c["images"]) - 1, 0))
    cl: dict[str, dict[str, Any]] = {}
    for sensor, kind, t_raw, t, names, pts in clouds:
        if a <= t < b:
            c = cl.setdefault(
                sensor, {"kind": kind, "t_ns": [], "t_raw_ns": [], "fields": names, "points": []}
            )
            c["t_ns"].append(t)
            c["t_raw_ns"].append(t_raw)
            c["points"].append(pts)
            rows.append(row(sensor, kind, t, t_raw, len(c["points"]) - 1, int(pts.shape[0])))
    return cams, cl, rows


@dataclass
class FrameShards:
    """What `write_frame_shards` wrote: the index (polars.DataFrame), `rel:sha256` per object, totals."""

    index: Any
    hashes: list[str] = field(default_factory=list)
    keyframes: int = 0
    sweeps: int = 0


def write_frame_shards(
    lake,
    drive_id: str,
    clip_rows: list[dict[str, Any]],
    keyframes: list[dict[str, Any]],
    clouds: list[tuple],
    offsets_ns: dict[str, int],
) -> FrameShards:
    """One Zarr store per clip (built in a temporary folder, then copied object by object into the
    lake under the clip's `frames_shard`), and the frame index of every clip."""
    import hashlib
    import io
    import tempfile
    from pathlib import Path

    import polars as pl
    from PIL import Image

    def read_image(path: str) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(lake.read_bytes(path))).convert("RGB"))

    out = FrameShards(index=None)
    rows: list[dict[str, Any]] = []
    for clip in clip_rows:
        cams, cl, clip_index = clip_members(drive_id, clip, keyframes, clouds, offsets_ns, read_image)
        rows.extend(clip_index)
        attrs = {
            "drive_id": drive_id,
            "clip_id": clip["clip_id"],
            "t_start_ns": clip["t_start_ns"],
            "t_end_ns": clip["t_end_ns"],
            "policy_version": clip["policy_version"],
            "layout": "av-frames-v1",
        }
        with tempfile.TemporaryDirectory(prefix="av-zarr-") as tmp:
            store = Path(tmp) / "clip.zarr"
            counts = write_shard(str(store), attrs, cams, cl)
            for f in sorted(p for p in store.rglob("*") if p.is_file()):
                rel = f"{clip['frames_shard']}/{f.relative_to(store).as_posix()}"
                data = f.read_bytes()
                out.hashes.append(rel + ":" + hashlib.sha256(data).hexdigest())
                lake.write_bytes(rel, data)
        out.keyframes += counts["keyframes"]
        out.sweeps += counts["sweeps"]
    schema = {k: getattr(pl, v) for k, v in FRAME_INDEX_SCHEMA.items()}
    out.index = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
    return out
