"""IMU (100 Hz, imu_link = base_link axes) and GNSS (10 Hz, antenna on the roof) from the true state."""

from __future__ import annotations

import math

import numpy as np

from av_fleet import params as P
from av_fleet.roads import RoadGraph
from av_fleet.sensors.rig import GNSS_MOUNT

G = 9.80665
GNSS_ALTITUDE = 21.5  # m above the ellipsoid, flat world


def imu_series(
    ego: dict[str, np.ndarray], yaw_rate: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    n = len(ego["v"])
    bias = rng.normal(0, 0.002, 3)
    return {
        "qz": np.sin(ego["yaw"] / 2),
        "qw": np.cos(ego["yaw"] / 2),
        "wx": rng.normal(0, P.IMU_GYRO_NOISE, n) + bias[0],
        "wy": rng.normal(0, P.IMU_GYRO_NOISE, n) + bias[1],
        "wz": yaw_rate + rng.normal(0, P.IMU_GYRO_NOISE, n) + bias[2],
        "ax": ego["a"] + rng.normal(0, P.IMU_ACCEL_NOISE, n),
        "ay": ego["v"] * yaw_rate + rng.normal(0, P.IMU_ACCEL_NOISE, n),
        "az": G + rng.normal(0, P.IMU_ACCEL_NOISE, n),
    }


def gnss_fix(
    graph: RoadGraph, x: float, y: float, yaw: float, rng: np.random.Generator
) -> tuple[float, float, float]:
    ax = x + math.cos(yaw) * GNSS_MOUNT[0] - math.sin(yaw) * GNSS_MOUNT[1]
    ay = y + math.sin(yaw) * GNSS_MOUNT[0] + math.cos(yaw) * GNSS_MOUNT[1]
    nx, ny = rng.normal(0, P.GNSS_POS_NOISE, 2)
    lat, lon = graph.to_latlon(ax + nx, ay + ny)
    return float(lat), float(lon), GNSS_ALTITUDE + GNSS_MOUNT[2] + float(rng.normal(0, 2 * P.GNSS_POS_NOISE))
