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
