"""Fleet generation throughput: drive-seconds generated per wall-second, for one 30 s drive.

`run` generates a full drive (world simulation, rendering with faces and plates, ray casting, CAN
encoding, bag writing, checksums, ground truth); the second case forces night + rain in the held-out
style (per-pixel lighting, haze and streaks). `reference` is the floor beside it: writing the same number of messages of
the same types and sizes with rosbags alone (pre-built payloads, no simulation, no rendering), so the
ratio run/reference says how far the generator is from the cost of merely writing the bag.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

DURATION_S = 30.0
SEED = 1234


def _fleet_run(**opts) -> float:
    from av_fleet.roads import road_graph
    from av_fleet.simulate import generate_drive, plan_fleet

    road_graph()  # parsed once per process, like a long-running generator
    plan = plan_fleet(SEED, 1, DURATION_S, "mcap", **opts)[0]
    tmp = Path(tempfile.mkdtemp(prefix="bench_fleet_"))
    try:
        t0 = time.perf_counter()
        generate_drive(tmp, plan)
        wall = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return DURATION_S / wall


def _rosbags_floor() -> float:
    import numpy as np

    from av_fleet.sensors import lidar as L
    from av_fleet.sensors import radar as R
    from av_fleet.sensors.rig import EXTRINSICS, camera_intrinsics
    from av_fleet.simulate import SENSORS
    from av_fleet.writers.ros import BagWriter

    n = int(DURATION_S * 100)
    intr = camera_intrinsics()
    jpeg = bytes(np.random.default_rng(0).integers(0, 256, 25_000, dtype=np.uint8))  # ~ a frame's size
    cloud = bytes(16 * 512 * L.POINT_STEP)
    radar = bytes(8 * R.POINT_STEP)
    can8 = bytes(8)
    tmp = Path(tempfile.mkdtemp(prefix="bench_floor_"))
    try:
        t0 = time.perf_counter()
        w = BagWriter("mcap", tmp, "floor")
        for _name, topic, mtype, _f in SENSORS:
            w.add_topic(topic, mtype)
        base = 1_770_000_000_000_000_000
        w.write("/tf_static", base, w.tf_static("/tf_static", base, EXTRINSICS))
        for k in range(n):
            t = base + k * 10_000_000
            if k % 10 == 0:
                w.write(
                    "/camera/front/image_raw/compressed",
                    t,
                    w.compressed_image("/camera/front/image_raw/compressed", t, "cam", jpeg),
                )
                w.write(
                    "/camera/front/camera_info", t, w.camera_info("/camera/front/camera_info", t, "cam", intr)
                )
                w.write(
                    "/lidar/top/points",
                    t,
                    w.pointcloud(
                        "/lidar/top/points", t, "lidar", L.FIELDS, L.POINT_STEP, 16, 512, cloud, False
                    ),
                )
                w.write("/gnss/fix", t, w.navsatfix("/gnss/fix", t, "gnss", 60.17, 24.94, 20.0, 0.3))
            if k % 5 == 0:
                w.write(
                    "/radar/front/objects",
                    t,
                    w.pointcloud(
                        "/radar/front/objects", t, "radar", R.FIELDS, R.POINT_STEP, 1, 8, radar, True
                    ),
                )
            w.write(
                "/imu/data", t, w.imu("/imu/data", t, "imu", (0, 0, 0, 1), (0, 0, 0), (0, 0, 9.8), 0, 0, 0)
            )
            for _ in range(3 if k % 2 == 0 else 2):  # ~285 CAN frames per second, like the generator
                w.write("/can/raw", t, w.can_frame("/can/raw", t, "can0", 0xB4, can8, 8))
        w.close()
        wall = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return DURATION_S / wall


def _fleet_run_night_rain() -> float:
    """The costliest camera path: dusk/night lighting, rain haze and streaks, held-out style."""
    return _fleet_run(style="heldout", weather="rain", light="night")


CASES = [
    {
        "name": "fleet_generate_30s_drive",
        "unit": "drive-seconds per wall-second",
        "run": _fleet_run,
        "reference": _rosbags_floor,
    },
    {
        "name": "fleet_generate_30s_drive_night_rain_heldout",
        "unit": "drive-seconds per wall-second",
        "run": _fleet_run_night_rain,
        "reference": _rosbags_floor,
    },
]


if __name__ == "__main__":
    from bench.run import module_cli

    module_cli(__doc__)
    for case in CASES:
        r, f = case["run"](), case["reference"]()
        print(f"{case['name']}: run {r:.2f} {case['unit']}, reference {f:.2f}, ratio {r / f:.3f}")
