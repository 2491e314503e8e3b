"""The sensor rig: frames, extrinsics (published on /tf_static) and camera intrinsics (CameraInfo).

base_link is the ego's rear-axle centre on the ground plane (REP-103: x forward, y left, z up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from av_fleet import params as P


@dataclass(frozen=True)
class Extrinsic:
    parent: str
    child: str
    xyz: tuple[float, float, float]
    quat_xyzw: tuple[float, float, float, float]


IDENTITY = (0.0, 0.0, 0.0, 1.0)
# camera_front (REP-103 body axes) -> camera_front_optical (z forward, x right, y down)
OPTICAL_QUAT = (-0.5, 0.5, -0.5, 0.5)

CAMERA_MOUNT = (1.60, 0.0, 1.45)
LIDAR_MOUNT = (1.10, 0.0, 1.95)
RADAR_MOUNT = (3.65, 0.0, 0.50)
IMU_MOUNT = (0.0, 0.0, 0.0)  # the IMU sits at base_link (no lever arm to correct for)
GNSS_MOUNT = (0.50, 0.0, 1.80)

EXTRINSICS: tuple[Extrinsic, ...] = (
    Extrinsic("base_link", "camera_front", CAMERA_MOUNT, IDENTITY),
    Extrinsic("camera_front", "camera_front_optical", (0.0, 0.0, 0.0), OPTICAL_QUAT),
    Extrinsic("base_link", "lidar_top", LIDAR_MOUNT, IDENTITY),
    Extrinsic("base_link", "radar_front", RADAR_MOUNT, IDENTITY),
    Extrinsic("base_link", "imu_link", IMU_MOUNT, IDENTITY),
    Extrinsic("base_link", "gnss_link", GNSS_MOUNT, IDENTITY),
)


@dataclass(frozen=True)
class Intrinsics:
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @property
    def K(self) -> list[float]:
        return [self.fx, 0.0, self.cx, 0.0, self.fy, self.cy, 0.0, 0.0, 1.0]

    @property
    def P(self) -> list[float]:
        return [self.fx, 0.0, self.cx, 0.0, 0.0, self.fy, self.cy, 0.0, 0.0, 0.0, 1.0, 0.0]


def camera_intrinsics(width: int = P.CAMERA_WIDTH, height: int = P.CAMERA_HEIGHT) -> Intrinsics:
    f = round((width / 2) / math.tan(math.radians(P.CAMERA_HFOV_DEG) / 2), 3)
    return Intrinsics(width, height, f, f, width / 2, height / 2)


def base_to_optical(p_base: np.ndarray) -> np.ndarray:
    """Points (..., 3) in base_link -> camera_front_optical (x right, y down, z forward)."""
    c = p_base - np.asarray(CAMERA_MOUNT)
    return np.stack([-c[..., 1], -c[..., 2], c[..., 0]], axis=-1)


def map_to_base(x, y, ego_x, ego_y, ego_yaw):
    dx, dy = np.asarray(x) - ego_x, np.asarray(y) - ego_y
    c, s = math.cos(ego_yaw), math.sin(ego_yaw)
    return c * dx + s * dy, -s * dx + c * dy


def cuboid_corners(center_xyz: np.ndarray, size_lwh, yaw: float) -> np.ndarray:
    """8 corners (8, 3) of a cuboid whose centre is `center_xyz` (z at half height)."""
    ln, w, h = size_lwh
    xs = np.array([1, 1, -1, -1, 1, 1, -1, -1]) * ln / 2
    ys = np.array([1, -1, -1, 1, 1, -1, -1, 1]) * w / 2
    zs = np.array([-1, -1, -1, -1, 1, 1, 1, 1]) * h / 2
    c, s = math.cos(yaw), math.sin(yaw)
    return np.stack(
        [center_xyz[0] + c * xs - s * ys, center_xyz[1] + s * xs + c * ys, center_xyz[2] + zs], axis=1
    )
