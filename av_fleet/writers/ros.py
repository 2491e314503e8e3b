"""Bag writers with `rosbags`: ROS 2 (MCAP or sqlite3 storage) and ROS 1 `.bag`.

Sensors hand over plain data; this module builds standard messages in the typestore of the target
format (ROS 2 Humble or ROS 1 Noetic definitions, plus can_msgs/msg/Frame registered from its .msg
definition) and serialises them (CDR for ROS 2, ROS 1 serialisation for .bag).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

FORMATS = ("mcap", "ros2-sqlite", "ros1")

CAN_FRAME_MSG = """std_msgs/Header header
uint32 id
bool is_rtr
bool is_extended
bool is_error
uint8 dlc
uint8[8] data
"""


TF_MESSAGE_MSG = "geometry_msgs/TransformStamped[] transforms\n"


@cache
def typestore(ros1: bool):
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    ts = get_typestore(Stores.ROS1_NOETIC if ros1 else Stores.ROS2_HUMBLE)
    ts.register(get_types_from_msg(CAN_FRAME_MSG, "can_msgs/msg/Frame"))
    if "tf2_msgs/msg/TFMessage" not in ts.types:  # the Noetic store lacks it
        ts.register(get_types_from_msg(TF_MESSAGE_MSG, "tf2_msgs/msg/TFMessage"))
    return ts


def bag_files(fmt: str, drive_id: str) -> str:
    """Where the bag lives inside the drive folder."""
    return f"{drive_id}.bag" if fmt == "ros1" else "bag"


class BagWriter:
    def __init__(self, fmt: str, drive_dir: Path, drive_id: str):
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
        self.fmt = fmt
        self.ros1 = fmt == "ros1"
        self.ts = typestore(self.ros1)
        self.T = self.ts.types
        path = drive_dir / bag_files(fmt, drive_id)
        if self.ros1:
            from rosbags.rosbag1 import Writer as W1

            self.w = W1(path)
        else:
            from rosbags.rosbag2 import StoragePlugin, Writer

            plugin = StoragePlugin.MCAP if fmt == "mcap" else StoragePlugin.SQLITE3
            self.w = Writer(path, version=9, storage_plugin=plugin)
        self.w.open()
        self.conns: dict[str, object] = {}
        self.types: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self.seq: dict[str, int] = {}
        self._ser = self.ts.serialize_ros1 if self.ros1 else self.ts.serialize_cdr

    def add_topic(self, topic: str, msgtype: str, latched: bool = False) -> None:
        if self.ros1:
            conn = self.w.add_connection(
                topic, msgtype, typestore=self.ts, callerid="/av_logger", latching=1 if latched else None
            )
        else:
            conn = self.w.add_connection(topic, msgtype, typestore=self.ts)
        self.conns[topic] = conn
        self.types[topic] = msgtype
        self.counts[topic] = 0
        self.seq[topic] = 0

    def write(self, topic: str, t_ns: int, msg) -> None:
        self.w.write(self.conns[topic], t_ns, self._ser(msg, self.types[topic]))
        self.counts[topic] += 1
        self.seq[topic] += 1

    def close(self) -> None:
        self.w.close()

    # ---- message builders ---------------------------------------------------------------------------
    def header(self, topic: str, t_ns: int, frame_id: str):
        T = self.T
        stamp = T["builtin_interfaces/msg/Time"](sec=t_ns // 1_000_000_000, nanosec=t_ns % 1_000_000_000)
        if self.ros1:
            return T["std_msgs/msg/Header"](seq=self.seq[topic], stamp=stamp, frame_id=frame_id)
        return T["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)

    def compressed_image(self, topic, t_ns, frame_id, jpeg: bytes):
        return self.T["sensor_msgs/msg/CompressedImage"](
            header=self.header(topic, t_ns, frame_id), format="jpeg", data=np.frombuffer(jpeg, dtype=np.uint8)
        )

    def camera_info(self, topic, t_ns, frame_id, intr):
        T = self.T
        roi = T["sensor_msgs/msg/RegionOfInterest"](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
        )
        kw = dict(
            header=self.header(topic, t_ns, frame_id),
            height=intr.height,
            width=intr.width,
            distortion_model="plumb_bob",
            binning_x=0,
            binning_y=0,
            roi=roi,
        )
        d = np.zeros(5)
        r = np.eye(3).reshape(-1)
        if self.ros1:
            return T["sensor_msgs/msg/CameraInfo"](D=d, K=np.array(intr.K), R=r, P=np.array(intr.P), **kw)
        return T["sensor_msgs/msg/CameraInfo"](d=d, k=np.array(intr.K), r=r, p=np.array(intr.P), **kw)

    def pointcloud(self, topic, t_ns, frame_id, fields, point_step, height, width, data: bytes, dense: bool):
        T = self.T
        pf = [T["sensor_msgs/msg/PointField"](name=n, offset=o, datatype=dt, count=1) for n, o, dt in fields]
        return T["sensor_msgs/msg/PointCloud2"](
            header=self.header(topic, t_ns, frame_id),
            height=height,
            width=width,
            fields=pf,
            is_bigendian=False,
            point_step=point_step,
            row_step=point_step * width,
            data=np.frombuffer(data, dtype=np.uint8),
            is_dense=dense,
        )

    def imu(self, topic, t_ns, frame_id, q, w, a, cov_q, cov_w, cov_a):
        T = self.T
        V, Q = T["geometry_msgs/msg/Vector3"], T["geometry_msgs/msg/Quaternion"]
        return T["sensor_msgs/msg/Imu"](
            header=self.header(topic, t_ns, frame_id),
            orientation=Q(x=q[0], y=q[1], z=q[2], w=q[3]),
            orientation_covariance=np.diag([cov_q] * 3).reshape(-1),
            angular_velocity=V(x=w[0], y=w[1], z=w[2]),
            angular_velocity_covariance=np.diag([cov_w] * 3).reshape(-1),
            linear_acceleration=V(x=a[0], y=a[1], z=a[2]),
            linear_acceleration_covariance=np.diag([cov_a] * 3).reshape(-1),
        )

    def navsatfix(self, topic, t_ns, frame_id, lat, lon, alt, sigma):
        T = self.T
        st = T["sensor_msgs/msg/NavSatStatus"](status=0, service=1)
        return T["sensor_msgs/msg/NavSatFix"](
            header=self.header(topic, t_ns, frame_id),
            status=st,
            latitude=lat,
            longitude=lon,
            altitude=alt,
            position_covariance=np.diag([sigma**2, sigma**2, (2 * sigma) ** 2]).reshape(-1),
            position_covariance_type=2,
        )

    def can_frame(self, topic, t_ns, frame_id, can_id: int, data8: bytes, dlc: int):
        return self.T["can_msgs/msg/Frame"](
            header=self.header(topic, t_ns, frame_id),
            id=can_id,
            is_rtr=False,
            is_extended=False,
            is_error=False,
            dlc=dlc,
            data=np.frombuffer(data8, dtype=np.uint8),
        )

    def tf_static(self, topic, t_ns, extrinsics):
        T = self.T
        tfs = []
        for e in extrinsics:
            tr = T["geometry_msgs/msg/Transform"](
                translation=T["geometry_msgs/msg/Vector3"](x=e.xyz[0], y=e.xyz[1], z=e.xyz[2]),
                rotation=T["geometry_msgs/msg/Quaternion"](
                    x=e.quat_xyzw[0], y=e.quat_xyzw[1], z=e.quat_xyzw[2], w=e.quat_xyzw[3]
                ),
            )
            tfs.append(
                T["geometry_msgs/msg/TransformStamped"](
                    header=self.header(topic, t_ns, e.parent), child_frame_id=e.child, transform=tr
                )
            )
        return T["tf2_msgs/msg/TFMessage"](transforms=tfs)
