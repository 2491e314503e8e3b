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
    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.half_fov = math.radians(P.RADAR_HFOV_DEG) / 2

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
        n_clutter = int(self.rng.poisson(0.6))
        for _ in range(n_clutter):
            r_ = float(self.rng.uniform(5, 80))
            az = float(self.rng.uniform(-self.half_fov, self.half_fov))
            rows.append((0, r_, az, -ego_v * math.cos(az)))
        out = np.zeros(len(rows), dtype=_DT)
        for i, (tid, r_, az, vr) in enumerate(rows):
            r_n = r_ + self.rng.normal(0, P.RADAR_RANGE_NOISE)
            az_n = az + self.rng.normal(0, P.RADAR_AZIMUTH_NOISE)
            out[i] = (
                r_n * math.cos(az_n),
                r_n * math.sin(az_n),
                r_n,
                az_n,
                vr + self.rng.normal(0, P.RADAR_VEL_NOISE),
                tid,
            )
        return out.tobytes(), len(rows)
