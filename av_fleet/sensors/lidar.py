"""Roof lidar: 16 beams x 512 columns per sweep, ray cast against a flat ground plane and the object
cuboids (slab test). An organized cloud (height = beams, width = columns); rays without a return
carry NaN coordinates (is_dense = false). Part 2 adds richer geometry and motion distortion.

Point layout (point_step 20): x, y, z, intensity float32 at 0/4/8/12, ring uint16 at 16, 2 bytes pad.
Frame: lidar_top. Column 0 looks along +x, columns advance counter-clockwise.
"""

from __future__ import annotations

import math

import numpy as np

from av_fleet import params as P
from av_fleet.sensors.rig import LIDAR_MOUNT

POINT_STEP = 20
FIELDS = (("x", 0, 7), ("y", 4, 7), ("z", 8, 7), ("intensity", 12, 7), ("ring", 16, 4))  # 7 FLOAT32, 4 UINT16
CLASS_INTENSITY = {
    "car": 0.55,
    "truck": 0.5,
    "bus": 0.5,
    "pedestrian": 0.3,
    "cyclist": 0.35,
    "motorcyclist": 0.4,
    "traffic_cone": 0.9,
    "barrier": 0.85,
}

_DT = np.dtype(
    {
        "names": ["x", "y", "z", "intensity", "ring"],
        "formats": ["<f4", "<f4", "<f4", "<f4", "<u2"],
        "offsets": [0, 4, 8, 12, 16],
        "itemsize": POINT_STEP,
    }
)


class Lidar:
    def __init__(self, rng: np.random.Generator, beams: int = P.LIDAR_BEAMS, columns: int = P.LIDAR_COLUMNS):
        self.beams, self.columns = beams, columns
        self.rng = rng
        el = np.radians(np.linspace(P.LIDAR_VFOV_DEG[0], P.LIDAR_VFOV_DEG[1], beams))
        az = 2 * math.pi * np.arange(columns) / columns
        E, A = np.meshgrid(el, az, indexing="ij")
        self.dirs = np.stack([np.cos(E) * np.cos(A), np.cos(E) * np.sin(A), np.sin(E)], axis=-1).reshape(
            -1, 3
        )
        self.ring = np.repeat(np.arange(beams, dtype=np.uint16), columns)
        self.height = LIDAR_MOUNT[2]

    def scan(self, objects: list[dict]) -> bytes:
        d = self.dirs
        t = np.full(len(d), np.inf)
        inten = np.zeros(len(d))
        down = d[:, 2] < -1e-6
        t[down] = self.height / -d[down, 2]
        inten[down] = 0.08
        for ob in objects:
            # box centre relative to the lidar, in lidar axes (= base_link axes)
            cx, cy = ob["xb"] - LIDAR_MOUNT[0], ob["yb"] - LIDAR_MOUNT[1]
            if cx * cx + cy * cy > (P.LIDAR_MAX_RANGE + 10) ** 2:
                continue
            ln, w, h = ob["size"]
            c, s = math.cos(ob["yawb"]), math.sin(ob["yawb"])
            # ray origin and directions in the box frame
            ox, oy, oz = -(c * cx + s * cy), -(-s * cx + c * cy), -(h / 2 - self.height)
            dx = c * d[:, 0] + s * d[:, 1]
            dy = -s * d[:, 0] + c * d[:, 1]
            dz = d[:, 2]
            with np.errstate(divide="ignore", invalid="ignore"):
                t1x, t2x = (-ln / 2 - ox) / dx, (ln / 2 - ox) / dx
                t1y, t2y = (-w / 2 - oy) / dy, (w / 2 - oy) / dy
                t1z, t2z = (-h / 2 - oz) / dz, (h / 2 - oz) / dz
            tmin = np.maximum.reduce([np.fmin(t1x, t2x), np.fmin(t1y, t2y), np.fmin(t1z, t2z)])
            tmax = np.minimum.reduce([np.fmax(t1x, t2x), np.fmax(t1y, t2y), np.fmax(t1z, t2z)])
            hit = (tmax >= tmin) & (tmax > 0) & (tmin > 0.3) & (tmin < t)
            t[hit] = tmin[hit]
            inten[hit] = CLASS_INTENSITY.get(ob["cls"], 0.5)
        valid = t < P.LIDAR_MAX_RANGE
        r = np.where(valid, t + self.rng.normal(0.0, P.LIDAR_RANGE_NOISE, len(t)), np.nan)
        out = np.zeros(len(d), dtype=_DT)
        out["x"] = d[:, 0] * r
        out["y"] = d[:, 1] * r
        out["z"] = d[:, 2] * r
        out["intensity"] = np.where(valid, inten, np.nan)
        out["ring"] = self.ring
        return out.tobytes()
