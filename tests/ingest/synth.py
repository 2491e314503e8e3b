"""Small MCAP (ROS 2 CDR) drives with standard sensor messages, good or deliberately broken."""

import io
import json
from pathlib import Path

import numpy as np


def _store():
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_HUMBLE)


def _jpeg(ok=True) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((32, 48, 3), 128, np.uint8)).save(buf, "JPEG")
    data = buf.getvalue()
    return data if ok else data[: len(data) // 2]


def write_sensor_mcap(
    path: Path, n: int = 20, *, bad: str | None = None, t0: int = 1_772_352_000_000_000_000
) -> None:
    """Imu + NavSatFix + PointCloud2 + CameraInfo + CompressedImage(JPEG); `bad` breaks one thing:
    'nan_imu', 'quat', 'pointcloud', 'jpeg', 'camera_k'."""
    from mcap.writer import Writer

    ts = _store()
    T = ts.types
    Header, Time = T["std_msgs/msg/Header"], T["builtin_interfaces/msg/Time"]
    Q, V3 = T["geometry_msgs/msg/Quaternion"], T["geometry_msgs/msg/Vector3"]
    PF = T["sensor_msgs/msg/PointField"]
    topics = {
        "/imu": "sensor_msgs/msg/Imu",
        "/gnss": "sensor_msgs/msg/NavSatFix",
        "/lidar": "sensor_msgs/msg/PointCloud2",
        "/cam/info": "sensor_msgs/msg/CameraInfo",
        "/cam/jpeg": "sensor_msgs/msg/CompressedImage",
    }
    with open(path, "wb") as fh:
        w = Writer(fh)
        w.start(profile="ros2", library="av-tests")
        chans = {}
        for topic, typ in topics.items():
            sid = w.register_schema(name=typ, encoding="ros2msg", data=ts.generate_msgdef(typ)[0].encode())
            chans[topic] = w.register_channel(topic=topic, message_encoding="cdr", schema_id=sid)
        for i in range(n):
            t = t0 + i * 100_000_000
            h = Header(stamp=Time(sec=t // 10**9, nanosec=t % 10**9), frame_id="base_link")
            last = i == n - 1
            qw = 2.0 if (bad == "quat" and last) else 1.0
            ax = float("nan") if (bad == "nan_imu" and last) else 0.1
            cov = np.zeros(9)
            msgs = {
                "/imu": T["sensor_msgs/msg/Imu"](
                    header=h,
                    orientation=Q(x=0.0, y=0.0, z=0.0, w=qw),
                    orientation_covariance=cov,
                    angular_velocity=V3(x=0.0, y=0.0, z=0.01),
                    angular_velocity_covariance=cov,
                    linear_acceleration=V3(x=ax, y=0.0, z=9.81),
                    linear_acceleration_covariance=cov,
                ),
                "/gnss": T["sensor_msgs/msg/NavSatFix"](
                    header=h,
                    status=T["sensor_msgs/msg/NavSatStatus"](status=0, service=1),
                    latitude=60.17,
                    longitude=24.94,
                    altitude=10.0,
                    position_covariance=cov,
                    position_covariance_type=0,
                ),
                "/lidar": T["sensor_msgs/msg/PointCloud2"](
                    header=h,
                    height=1,
                    width=4,
                    fields=[PF(name=c, offset=4 * k, datatype=7, count=1) for k, c in enumerate("xyz")],
                    is_bigendian=False,
                    point_step=12,
                    row_step=48,
                    data=np.zeros(48 - (4 if (bad == "pointcloud" and last) else 0), np.uint8),
                    is_dense=True,
                ),
                "/cam/info": T["sensor_msgs/msg/CameraInfo"](
                    header=h,
                    height=32,
                    width=48,
                    distortion_model="plumb_bob",
                    d=np.zeros(5),
                    k=np.array(
                        [
                            100.0,
                            0,
                            24,
                            0,
                            100.0,
                            16,
                            0,
                            0,
                            float("inf") if (bad == "camera_k" and last) else 1.0,
                        ]
                    ),
                    r=np.eye(3).ravel(),
                    p=np.zeros(12),
                    binning_x=0,
                    binning_y=0,
                    roi=T["sensor_msgs/msg/RegionOfInterest"](
                        x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
                    ),
                ),
                "/cam/jpeg": T["sensor_msgs/msg/CompressedImage"](
                    header=h, format="jpeg", data=np.frombuffer(_jpeg(not (bad == "jpeg" and last)), np.uint8)
                ),
            }
            for topic, msg in msgs.items():
                w.add_message(
                    channel_id=chans[topic],
                    log_time=t,
                    publish_time=t,
                    sequence=i,
                    data=bytes(ts.serialize_cdr(msg, topics[topic])),
                )
        w.finish()


SENSORS = [
    {"name": "imu", "topic": "/imu", "type": "sensor_msgs/msg/Imu"},
    {"name": "gnss", "topic": "/gnss", "type": "sensor_msgs/msg/NavSatFix"},
    {"name": "lidar", "topic": "/lidar", "type": "sensor_msgs/msg/PointCloud2"},
    {"name": "camera", "topic": "/cam/jpeg", "type": "sensor_msgs/msg/CompressedImage"},
]


def sensor_drive(
    root: Path,
    drive_id: str,
    *,
    bad: str | None = None,
    vehicle="veh-001",
    sensors=None,
    checksums: bool = True,
    n: int = 20,
) -> Path:
    from hashlib import sha256

    folder = root / vehicle / drive_id
    (folder / "bag").mkdir(parents=True)
    write_sensor_mcap(folder / "bag" / f"{drive_id}_0.mcap", n=n, bad=bad)
    (folder / "logs.txt").write_text("logger ok\n")
    doc = {
        "drive_id": drive_id,
        "vehicle_id": vehicle,
        "start_time": "2026-03-01T08:00:00Z",
        "sensors": sensors if sensors is not None else SENSORS,
    }
    if checksums:
        doc["checksums"] = {
            p.relative_to(folder).as_posix(): sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*")
            if p.is_file()
        }
    (folder / "drive.json").write_text(json.dumps(doc))
    return folder
