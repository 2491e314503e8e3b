"""Front radar: one detection per object in its field of view, as a PointCloud2 (frame radar_front).

Layout (documented in docs/fleet.md; point_step 24, height 1, little endian, is_dense true):
  x float32 @0, y float32 @4            position in radar_front (m)
  range float32 @8, azimuth float32 @12  polar position (m, rad, counter-clockwise from +x)
  radial_velocity float32 @16           d(range)/dt relative to the moving radar (m/s, <0 approaching)
  track_id uint32 @20                   the radar's own track id, stable within a drive; 0 = clutter
The detection lies on the object's footprint at the point nearest the radar.
"""

from __future__ import annotations

import math

import numpy as np

from av_fleet import params as P
from av_fleet.sensors.rig import RADAR_MOUNT

POINT_STEP = 24
FIELDS = (
    ("x", 0, 7),
    ("y", 4, 7),
    ("range", 8, 7),
    ("azimuth", 12, 7),
    ("radial_velocity", 16, 7),
    ("track_id", 20, 6),
)  # 7 FLOAT32, 6 UINT32
_DT = np.dtype(
    {
        "names": ["x", "y", "range", "azimuth", "radial_velocity", "track_id"],
        "formats": ["<f4", "<f4", "<f4", "<f4", "<f4", "<u4"],
        "offsets": [0, 4, 8, 12, 16, 20],
        "itemsize": POINT_STEP,
    }
)


class Radar:
    """Per-drive noise (1 sigma) drawn from RADAR_*_NOISE_RANGE, missed detections with probability
    miss + RADAR_MISS_FAR x range / max range, Poisson clutter (rate drawn per drive) that looks static
    (radial velocity -v_ego cos(azimuth) plus noise) with track_id 0."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.half_fov = math.radians(P.RADAR_HFOV_DEG) / 2
        self.range_noise = float(rng.uniform(*P.RADAR_RANGE_NOISE_RANGE))
        self.az_noise = float(rng.uniform(*P.RADAR_AZIMUTH_NOISE_RANGE))
        self.vel_noise = float(rng.uniform(*P.RADAR_VEL_NOISE_RANGE))
        self.miss = float(rng.uniform(*P.RADAR_MISS_PROB))
        self.clutter = float(rng.uniform(*P.RADAR_CLUTTER_RATE))

    def noise_params(self) -> dict:
        return {
            "range_noise_m": self.range_noise,
            "azimuth_noise_rad": self.az_noise,
            "radial_velocity_noise_mps": self.vel_noise,
            "miss_prob_near": self.miss,
            "miss_prob_far_extra": P.RADAR_MISS_FAR,
            "clutter_per_scan": self.clutter,
        }

    def scan(self, objects: list[dict], ego_v: float, ego_yaw_rate: float) -> tuple[bytes, int]:
        rows = []
        for ob in objects:
            px, py = ob["xb"] - RADAR_MOUNT[0], ob["yb"] - RADAR_MOUNT[1]
            ln, w, _ = ob["size"]
            c, s = math.cos(ob["yawb"]), math.sin(ob["yawb"])
            # nearest footprint point to the radar (radar at the origin)
            lx, ly = -(c * px + s * py), -(-s * px + c * py)
            qx, qy = min(max(lx, -ln / 2), ln / 2), min(max(ly, -w / 2), w / 2)
            x, y = px + c * qx - s * qy, py + s * qx + c * qy
            rng_ = math.hypot(x, y)
            az = math.atan2(y, x)
            if rng_ < 0.5 or rng_ > P.RADAR_MAX_RANGE or abs(az) > self.half_fov:
                continue
            # velocity of the point relative to the radar, in base_link axes
            # (the rotation of the frame adds nothing along the line of sight)
            vx = ob["vxb"] - ego_v
            vy = ob["vyb"] - ego_yaw_rate * RADAR_MOUNT[0]
            vr = (vx * x + vy * y) / rng_
            rows.append((ob["radar_id"], rng_, az, vr))
        if rows:
            p_miss = self.miss + P.RADAR_MISS_FAR * np.array([r[1] for r in rows]) / P.RADAR_MAX_RANGE
            keep = self.rng.random(len(rows)) >= p_miss
            rows = [r for r, k in zip(rows, keep, strict=True) if k]
        n_clutter = int(self.rng.poisson(self.clutter))
        for _ in range(n_clutter):
            r_ = float(self.rng.uniform(5, 80))
            az = float(self.rng.uniform(-self.half_fov, self.half_fov))
            rows.append((0, r_, az, -ego_v * math.cos(az)))
        n = len(rows)
        out = np.zeros(n, dtype=_DT)
        if n:
            a = np.array(rows, dtype=np.float64)
            r_n = a[:, 1] + self.rng.normal(0, self.range_noise, n)
            az_n = a[:, 2] + self.rng.normal(0, self.az_noise, n)
            out["x"] = r_n * np.cos(az_n)
            out["y"] = r_n * np.sin(az_n)
            out["range"] = r_n
            out["azimuth"] = az_n
            out["radial_velocity"] = a[:, 3] + self.rng.normal(0, self.vel_noise, n)
            out["track_id"] = a[:, 0].astype(np.uint32)
        return out.tobytes(), n
