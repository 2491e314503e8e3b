"""Roof lidar: an organized point cloud (height = beams, width = columns); rays without a return
carry NaN coordinates (is_dense = false).

Ray cast against the same scene the camera sees: the flat ground plane and every object's cuboid
(vehicles, pedestrians, cyclists, cones, barriers), all rays against all boxes at once (slab test,
vectorised over rays x boxes). Realism: per-drive range noise (1 sigma drawn from
LIDAR_RANGE_NOISE_RANGE), random dropouts (LIDAR_DROPOUT) and range-dependent dropouts of dark
targets (LIDAR_FAR_DROPOUT x range / max range x (1 - intensity)), intensity noise.

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
GROUND_INTENSITY = 0.08

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
        self.range_noise = float(rng.uniform(*P.LIDAR_RANGE_NOISE_RANGE))
        self.dropout = float(rng.uniform(*P.LIDAR_DROPOUT))
        d = self.dirs
        self.t_ground = np.where(
            d[:, 2] < -1e-6, self.height / np.where(d[:, 2] < -1e-6, -d[:, 2], 1.0), np.inf
        )

    def noise_params(self) -> dict:
        return {
            "range_noise_m": self.range_noise,
            "dropout": self.dropout,
            "far_dropout": P.LIDAR_FAR_DROPOUT,
        }

    def cast(self, objects: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        """Noise-free range (inf = no return) and intensity per ray."""
        d = self.dirs
        t = self.t_ground.copy()
        inten = np.where(np.isfinite(t), GROUND_INTENSITY, 0.0)
        obs = [
            o
            for o in objects
            if (o["xb"] - LIDAR_MOUNT[0]) ** 2 + (o["yb"] - LIDAR_MOUNT[1]) ** 2
            < (P.LIDAR_MAX_RANGE + 10) ** 2
        ]
        if obs:
            cx = np.array([o["xb"] - LIDAR_MOUNT[0] for o in obs])[:, None]
            cy = np.array([o["yb"] - LIDAR_MOUNT[1] for o in obs])[:, None]
            sz = np.array([o["size"] for o in obs])
            ln, w, h = sz[:, 0:1], sz[:, 1:2], sz[:, 2:3]
            yaw = np.array([o["yawb"] for o in obs])[:, None]
            c, s = np.cos(yaw), np.sin(yaw)
            # ray origin and directions in each box frame (boxes x rays)
            ox, oy, oz = -(c * cx + s * cy), -(-s * cx + c * cy), -(h / 2 - self.height)
            dx = c * d[None, :, 0] + s * d[None, :, 1]
            dy = -s * d[None, :, 0] + c * d[None, :, 1]
            dz = np.broadcast_to(d[None, :, 2], dx.shape)
            with np.errstate(divide="ignore", invalid="ignore"):
                t1x, t2x = (-ln / 2 - ox) / dx, (ln / 2 - ox) / dx
                t1y, t2y = (-w / 2 - oy) / dy, (w / 2 - oy) / dy
                t1z, t2z = (-h / 2 - oz) / dz, (h / 2 - oz) / dz
                tmin = np.maximum(np.maximum(np.fmin(t1x, t2x), np.fmin(t1y, t2y)), np.fmin(t1z, t2z))
                tmax = np.minimum(np.minimum(np.fmax(t1x, t2x), np.fmax(t1y, t2y)), np.fmax(t1z, t2z))
            hit = (tmax >= tmin) & (tmin > 0.3)
            tb = np.where(hit, tmin, np.inf)
            j = np.argmin(tb, axis=0)
            best = tb[j, np.arange(tb.shape[1])]
            closer = best < t
            t[closer] = best[closer]
            ci = np.array([CLASS_INTENSITY.get(o["cls"], 0.5) for o in obs])
            inten[closer] = ci[j[closer]]
        return t, inten

    def scan(self, objects: list[dict]) -> bytes:
        d = self.dirs
        t, inten = self.cast(objects)
        n = len(t)
        u = self.rng.random(n)
        p_drop = self.dropout + P.LIDAR_FAR_DROPOUT * np.minimum(t, P.LIDAR_MAX_RANGE) / P.LIDAR_MAX_RANGE * (
            1.0 - inten
        )
        valid = (t < P.LIDAR_MAX_RANGE) & (u >= p_drop)
        r = np.where(valid, t + self.rng.normal(0.0, self.range_noise, n), np.nan)
        out = np.zeros(n, dtype=_DT)
        out["x"] = d[:, 0] * r
        out["y"] = d[:, 1] * r
        out["z"] = d[:, 2] * r
        out["intensity"] = np.where(valid, np.clip(inten + self.rng.normal(0.0, 0.02, n), 0.0, 1.0), np.nan)
        out["ring"] = self.ring
        return out.tobytes()
