"""Pack the real comma2k19 Example_1 minute into a ROS 2 MCAP drive (test fixture, not product code).

- /can/raw       can_msgs/msg/Frame  bus 0 (the powertrain bus the Toyota DBC describes), payloads
                 padded back to 8 bytes (the |S8 arrays lost trailing NULs), dlc from the DBC length
- /imu/data      sensor_msgs/msg/Imu accelerometer + gyro (orientation unknown: covariance[0] = -1)
- /gnss/fix      sensor_msgs/msg/NavSatFix from live_gnss_ublox (lat, lon, altitude)
- /gnss/vel      geometry_msgs/msg/TwistWithCovarianceStamped: the receiver's speed along its bearing
Header stamps are UTC: boot seconds + the boot->UTC offset measured on the camera frames (boot and
GPS week/seconds, `av_assets.sync.timebase`); GNSS messages carry the fix's own UTC time (epoch ms)
as their stamp and their arrival as the MCAP log time.
"""

from __future__ import annotations

import json
import math
from hashlib import sha256
from pathlib import Path

import numpy as np

from av_assets.sync.timebase import boot_to_utc_ns, boot_to_utc_offset_ns, gps_to_utc_ns

CAN_FRAME_MSG = """std_msgs/Header header
uint32 id
bool is_rtr
bool is_extended
bool is_error
uint8 dlc
uint8[8] data
"""
DRIVE_ID = "comma2k19-example-1"
VEHICLE = "comma-rav4"


def load(base: Path, rel: str) -> np.ndarray:
    return np.load(base / rel, allow_pickle=False)


def time_bases(base: Path) -> dict:
    """The three time bases and how they reconcile (numbers for the test and the docs).

    boot -> UTC: from the camera frames, which carry boot seconds *and* GPS (week, seconds)
    (`frame_gps_times`, leap seconds removed). The ublox fixes carry their measurement time as UTC
    epoch ms and arrive (boot `t`) a receiver latency later: that latency is measured, not folded
    into the offset."""
    ft = load(base, "global_pose/frame_times")
    fg = load(base, "global_pose/frame_gps_times")
    gps_utc = gps_to_utc_ns(fg[:, 0], fg[:, 1])
    d = gps_utc - boot_to_utc_ns(ft, 0)
    off = int(np.median(d))
    ublox_t = load(base, "processed_log/GNSS/live_gnss_ublox/t")
    ublox = load(base, "processed_log/GNSS/live_gnss_ublox/value")
    arrival = boot_to_utc_ns(ublox_t, off)
    fix_utc = np.round(ublox[:, 3]).astype(np.int64) * 1_000_000
    latency_ms = (arrival - fix_utc) / 1e6
    gnss_only_off, gnss_spread = boot_to_utc_offset_ns(ublox_t, ublox[:, 3])
    return {
        "boot_to_utc_offset_ns": off,
        "frames_offset_max_dev_ms": float(np.max(np.abs(d - off)) / 1e6),
        "gnss_latency_ms_median": float(np.median(latency_ms)),
        "gnss_latency_ms_mad": float(np.median(np.abs(latency_ms - np.median(latency_ms)))),
        "gnss_only_offset_minus_frames_offset_ms": (gnss_only_off - off) / 1e6,
        "gnss_only_offset_mad_ms": gnss_spread,
        "fix_utc_ns": fix_utc,
    }


def pack(base: Path, out: Path) -> dict:
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    from av_assets.sync.dbc import load_dbc_string, opendbc_text

    ts = get_typestore(Stores.ROS2_HUMBLE)
    ts.register(get_types_from_msg(CAN_FRAME_MSG, "can_msgs/msg/Frame"))
    T = ts.types
    tb = time_bases(base)
    off = tb["boot_to_utc_offset_ns"]
    db = load_dbc_string(opendbc_text("toyota_nodsu_pt_generated"))
    lengths = {m.frame_id: m.length for m in db.messages}

    folder = out / VEHICLE / DRIVE_ID
    (folder).mkdir(parents=True)
    addr = load(base, "processed_log/CAN/raw_can/address")
    data = load(base, "processed_log/CAN/raw_can/data")
    src = load(base, "processed_log/CAN/raw_can/src")
    can_t = load(base, "processed_log/CAN/raw_can/t")
    sel = np.nonzero(src == 0)[0]
    acc_t = load(base, "processed_log/IMU/accelerometer/t")
    acc = load(base, "processed_log/IMU/accelerometer/value")
    gyr_t = load(base, "processed_log/IMU/gyro/t")
    gyr = load(base, "processed_log/IMU/gyro/value")
    ub_t = load(base, "processed_log/GNSS/live_gnss_ublox/t")
    ub = load(base, "processed_log/GNSS/live_gnss_ublox/value")

    def header(t_ns, frame_id):
        return T["std_msgs/msg/Header"](
            stamp=T["builtin_interfaces/msg/Time"](
                sec=int(t_ns // 1_000_000_000), nanosec=int(t_ns % 1_000_000_000)
            ),
            frame_id=frame_id,
        )

    events: list[tuple[int, str, object]] = []
    can_ns = boot_to_utc_ns(can_t[sel], off)
    for i, t in zip(sel, can_ns, strict=True):
        a = int(addr[i])
        raw = bytes(data[i])
        n = max(len(raw), lengths.get(a, len(raw)))
        payload = np.frombuffer(raw.ljust(8, b"\0"), dtype=np.uint8)
        events.append(
            (
                int(t),
                "/can/raw",
                T["can_msgs/msg/Frame"](
                    header=header(t, "can0"),
                    id=a,
                    is_rtr=False,
                    is_extended=a > 0x7FF,
                    is_error=False,
                    dlc=n,
                    data=payload.copy(),
                ),
            )
        )
    V3, Q = T["geometry_msgs/msg/Vector3"], T["geometry_msgs/msg/Quaternion"]
    gyr_i = np.clip(np.searchsorted(gyr_t, acc_t), 0, len(gyr_t) - 1)
    cov = np.zeros(9)
    ocov = np.zeros(9)
    ocov[0] = -1.0
    for k, t in enumerate(boot_to_utc_ns(acc_t, off)):
        g = gyr[gyr_i[k]]
        events.append(
            (
                int(t),
                "/imu/data",
                T["sensor_msgs/msg/Imu"](
                    header=header(t, "imu_link"),
                    orientation=Q(x=0.0, y=0.0, z=0.0, w=1.0),
                    orientation_covariance=ocov,
                    angular_velocity=V3(x=float(g[0]), y=float(g[1]), z=float(g[2])),
                    angular_velocity_covariance=cov,
                    linear_acceleration=V3(x=float(acc[k, 0]), y=float(acc[k, 1]), z=float(acc[k, 2])),
                    linear_acceleration_covariance=cov,
                ),
            )
        )
    status = T["sensor_msgs/msg/NavSatStatus"](status=0, service=1)
    fix_utc = tb.pop("fix_utc_ns")
    # the fixes are stamped with their measurement time (UTC from the receiver), logged on arrival
    for k, (t, t_arr) in enumerate(zip(fix_utc, boot_to_utc_ns(ub_t, off), strict=True)):
        lat, lon, speed, _utc_ms, alt, bearing = (float(v) for v in ub[k])
        events.append(
            (
                int(t_arr),
                "/gnss/fix",
                T["sensor_msgs/msg/NavSatFix"](
                    header=header(t, "gnss_link"),
                    status=status,
                    latitude=lat,
                    longitude=lon,
                    altitude=alt,
                    position_covariance=np.zeros(9),
                    position_covariance_type=0,
                ),
            )
        )
        b = math.radians(bearing)
        tw = T["geometry_msgs/msg/Twist"](
            linear=V3(x=speed * math.sin(b), y=speed * math.cos(b), z=0.0), angular=V3(x=0.0, y=0.0, z=0.0)
        )
        events.append(
            (
                int(t_arr),
                "/gnss/vel",
                T["geometry_msgs/msg/TwistWithCovarianceStamped"](
                    header=header(t, "gnss_link"),
                    twist=T["geometry_msgs/msg/TwistWithCovariance"](twist=tw, covariance=np.zeros(36)),
                ),
            )
        )
    events.sort(key=lambda e: e[0])
    topics = {
        "/can/raw": "can_msgs/msg/Frame",
        "/imu/data": "sensor_msgs/msg/Imu",
        "/gnss/fix": "sensor_msgs/msg/NavSatFix",
        "/gnss/vel": "geometry_msgs/msg/TwistWithCovarianceStamped",
    }
    with Writer(folder / "bag", version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conns = {tp: w.add_connection(tp, ty, typestore=ts) for tp, ty in topics.items()}
        for t, tp, msg in events:
            w.write(conns[tp], t, ts.serialize_cdr(msg, topics[tp]))
    start = np.datetime64(int(can_ns.min()), "ns").astype("datetime64[ms]").astype(str) + "Z"
    doc = {
        "drive_id": DRIVE_ID,
        "vehicle_id": VEHICLE,
        "start_time": start,
        "sensors": [
            {"name": "can0", "topic": "/can/raw", "type": "can_msgs/msg/Frame"},
            {"name": "imu", "topic": "/imu/data", "type": "sensor_msgs/msg/Imu"},
            {"name": "gnss", "topic": "/gnss/fix", "type": "sensor_msgs/msg/NavSatFix"},
            {
                "name": "gnss_vel",
                "topic": "/gnss/vel",
                "type": "geometry_msgs/msg/TwistWithCovarianceStamped",
            },
        ],
        "platform": "toyota-rav4-2017",
        "can_dbc": "toyota_nodsu_pt_generated",
        "software_version": "comma2k19",
    }
    doc["checksums"] = {
        p.relative_to(folder).as_posix(): sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }
    (folder / "drive.json").write_text(json.dumps(doc, indent=2))
    return {"folder": folder, "time_bases": tb, "can_frames": int(sel.size), "boot_to_utc_offset_ns": off}
