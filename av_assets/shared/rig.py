"""The vehicle rig as the lake stores it: sensor extrinsics from the calibration sidecar, and the Zarr
clip shards that hold sweeps and scans. Read by the scenes (tracking) and labels (projection) domains."""

from __future__ import annotations

import numpy as np


def quat_to_rot(qx, qy, qz, qw) -> np.ndarray:
    return np.array(
        [
            [1 - 2 * (qy * qy + qz * qz), 2 * (qx * qy - qz * qw), 2 * (qx * qz + qy * qw)],
            [2 * (qx * qy + qz * qw), 1 - 2 * (qx * qx + qz * qz), 2 * (qy * qz - qx * qw)],
            [2 * (qx * qz - qy * qw), 2 * (qy * qz + qx * qw), 1 - 2 * (qx * qx + qy * qy)],
        ]
    )


def open_shard(lake, rel: str):
    import zarr

    if lake.is_s3:
        store = zarr.storage.FsspecStore(fs=_async_fs(lake), path=lake.path(rel), read_only=True)
        return zarr.open_group(store=store, mode="r")
    return zarr.open_group(lake.path(rel), mode="r")


def _async_fs(lake):
    import s3fs

    return s3fs.S3FileSystem(
        key=lake.s3_access_key,
        secret=lake.s3_secret_key,
        client_kwargs={"endpoint_url": lake.s3_endpoint_url, "region_name": lake.s3_region},
        asynchronous=True,
    )


def extrinsics(calibration: dict, sensor: str) -> tuple[np.ndarray, np.ndarray] | None:
    ext = ((calibration.get("sensors") or {}).get(sensor) or {}).get("extrinsics")
    if not ext:
        return None
    t = ext.get("translation") or [ext.get("tx", 0.0), ext.get("ty", 0.0), ext.get("tz", 0.0)]
    q = (
        ext.get("rotation_xyzw")
        or ext.get("rotation")
        or [ext.get("qx", 0.0), ext.get("qy", 0.0), ext.get("qz", 0.0), ext.get("qw", 1.0)]
    )
    if isinstance(t, dict):
        t = [t["x"], t["y"], t["z"]]
    if isinstance(q, dict):
        q = [q["x"], q["y"], q["z"], q["w"]]
    return quat_to_rot(*q), np.asarray(t, float)
