"""Every stream of a drive's bronze bags, deserialised once into columnar numpy arrays.

Camera images are *not* read here (raw frames never leave bronze): only their stamps, for the clock
and the clip counts; the pixels come from `silver/redacted_frames`. Point clouds are kept as raw
bytes only when asked (`points=True`, for the Zarr frames).
"""

from __future__ import annotations

import re
import struct
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

BAG_FORMATS = ("mcap", "ros2-sqlite3", "ros1-bag")


def sensor_name(topic: str, sensors: list[dict] | None) -> str:
    for s in sensors or []:  # the declared topic wins over a type-based match
        if topic == s.get("topic"):
            return str(s["name"])
    for s in sensors or []:
        if topic in (s.get("matched_topics") or []):
            return str(s["name"])
    return re.sub(r"[^a-z0-9_-]+", "_", topic.strip("/").lower()) or "unknown"


_U32 = struct.Struct("<I")
_STAMP = struct.Struct("<iI")
_HEADER_ONLY = ("CompressedImage", "Image", "PointCloud2")


def _cdr_header(data: bytes) -> tuple[int, str, int] | None:
    """(stamp ns, frame_id, body offset after the header) read straight from little-endian CDR bytes
    (the std_msgs/Header every sensor message starts with), or None for anything else. Lets images
    and point clouds skip full deserialisation: their payload is most of a bag's bytes."""
    if len(data) < 16 or data[0] != 0 or data[1] != 1:  # encapsulation CDR_LE
        return None
    sec, nsec = _STAMP.unpack_from(data, 4)
    (n,) = _U32.unpack_from(data, 12)
    end = 16 + n
    if n == 0 or end > len(data):
        return None
    frame_id = data[16 : end - 1].decode("utf-8", "replace")
    return sec * 1_000_000_000 + nsec, frame_id, end


def _stamp(msg, log_time: int) -> int:
    h = getattr(msg, "header", None)
    if h is None:
        return log_time
    t = int(h.stamp.sec) * 1_000_000_000 + int(h.stamp.nanosec)
    return t if t > 0 else log_time


@dataclass
class Stream:
    """One sensor's messages: stamps (header, else log time) and log times, in arrival order."""

    sensor: str
    topic: str
    type: str
    frame_id: str = ""
    t_stamp: list[int] = field(default_factory=list)
    t_log: list[int] = field(default_factory=list)
    cols: dict[str, list] = field(default_factory=lambda: defaultdict(list))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.t_stamp, dtype=np.int64), np.asarray(self.t_log, dtype=np.int64)


@dataclass
class DriveStreams:
    drive_id: str
    streams: dict[str, Stream]  # by sensor name
    camera_info: dict[str, dict[str, Any]]
    tf_static: list[dict[str, Any]]
    messages: int
    messages_decoded: int
    read_s: float
    undecodable: dict[str, int]

    def of_type(self, short: str) -> list[Stream]:
        return [s for s in self.streams.values() if s.type.endswith("/" + short)]


_TYPESTORES: dict[str, Any] = {}  # "stores": one Typestores per process; "schemas": what it registered


def _shared_typestores():
    """One `Typestores` per process: rosbags compiles a deserialiser per message type on first use
    (~60 ms for a drive's handful of types), so drives read by the same process share them."""
    from av_assets.ingest.containers import Typestores

    if "stores" not in _TYPESTORES:
        _TYPESTORES["stores"], _TYPESTORES["schemas"] = Typestores(), {}
    return _TYPESTORES["stores"]


def _schema_agrees(stores, raw) -> bool:
    """False when the shared stores registered `raw.type` from a different definition than this
    bag carries (then the drive gets its own stores); records the definition otherwise."""
    if stores is not _TYPESTORES.get("stores"):
        return True
    store = stores.store(raw.encoding)
    schemas = _TYPESTORES["schemas"]
    key = (raw.encoding, raw.type)
    if key in schemas:
        return schemas[key] == raw.schema_text
    if store is not None and raw.type in store.fielddefs:
        return True  # built into the typestore: the built-in definition wins, as before
    schemas[key] = raw.schema_text
    return True


def read_drive(lake, drive_id: str, *, points: bool = False, manifest: dict | None = None) -> DriveStreams:
    """Deserialise every message of the drive's bronze bags (images: stamps only)."""
    from av_assets.ingest.containers import Typestores, iter_messages
    from av_assets.ingest.core import manifest_path

    manifest = manifest or lake.read_json(manifest_path(drive_id))
    sensors = manifest.get("sensors") or []
    stores = _shared_typestores()
    checked: set[tuple[str, str]] = set()
    streams: dict[str, Stream] = {}
    camera_info: dict[str, dict[str, Any]] = {}
    tf: list[dict[str, Any]] = []
    undecodable: dict[str, int] = defaultdict(int)
    n = n_dec = 0
    t0 = time.perf_counter()
    for entry in manifest.get("files", []):
        if entry.get("format") not in BAG_FORMATS:
            continue
        rel = f"bronze/drives/{drive_id}/{entry['path']}"
        with lake.local_copy(rel) as local:
            msgs = (
                _iter_bronze_mcap(local)
                if entry["format"] == "mcap"
                else iter_messages(local, entry["format"])
            )
            for raw in msgs:
                n += 1
                short = raw.type.rsplit("/", 1)[-1]
                key = (raw.encoding, raw.type)
                if key not in checked:
                    checked.add(key)
                    if not _schema_agrees(stores, raw):  # another drive defined this type differently
                        stores = Typestores()
                if not stores.ensure(raw):
                    undecodable[raw.type or raw.topic] += 1
                    continue
                if (
                    short in _HEADER_ONLY
                    and raw.encoding == "cdr"
                    and not (points and short == "PointCloud2")
                ):
                    head = _cdr_header(raw.data)
                    if head is not None:  # stamps (and sweep sizes) only: no payload copy
                        stamp_ns, fid, end = head
                        n_dec += 1
                        name = sensor_name(raw.topic, sensors)
                        st = streams.get(name)
                        if st is None:
                            st = streams[name] = Stream(name, raw.topic, raw.type, fid)
                        st.t_stamp.append(stamp_ns if stamp_ns > 0 else raw.log_time)
                        st.t_log.append(raw.log_time)
                        if short == "PointCloud2":  # height, width: the next two aligned uint32
                            off = 4 + ((end - 4 + 3) & ~3)
                            h, w = _U32.unpack_from(raw.data, off)[0], _U32.unpack_from(raw.data, off + 4)[0]
                            st.cols["count"].append(int(h) * int(w))
                        continue
                try:
                    msg = stores.deserialise(raw)
                except Exception:  # noqa: BLE001 - counted, ingestion already validated
                    undecodable[raw.type] += 1
                    continue
                n_dec += 1
                name = sensor_name(raw.topic, sensors)
                if short == "TFMessage":
                    for tr in msg.transforms:
                        tt, rr = tr.transform.translation, tr.transform.rotation
                        tf.append(
                            {
                                "parent": tr.header.frame_id,
                                "child": tr.child_frame_id,
                                "translation": [float(tt.x), float(tt.y), float(tt.z)],
                                "rotation_xyzw": [float(rr.x), float(rr.y), float(rr.z), float(rr.w)],
                            }
                        )
                    continue
                st = streams.get(name)
                if st is None:
                    fid = getattr(getattr(msg, "header", None), "frame_id", "") or ""
                    st = streams[name] = Stream(name, raw.topic, raw.type, fid)
                st.t_stamp.append(_stamp(msg, raw.log_time))
                st.t_log.append(raw.log_time)
                c = st.cols
                if short == "Frame":  # can_msgs/msg/Frame
                    c["id"].append(int(msg.id))
                    c["dlc"].append(int(msg.dlc))
                    c["data"].append(
                        bytes(np.asarray(msg.data, dtype=np.uint8).tobytes()[:8]).ljust(8, b"\0")
                    )
                elif short == "Imu":
                    a, w, q = msg.linear_acceleration, msg.angular_velocity, msg.orientation
                    c["linear_acceleration.x"].append(a.x)
                    c["linear_acceleration.y"].append(a.y)
                    c["linear_acceleration.z"].append(a.z)
                    c["angular_velocity.x"].append(w.x)
                    c["angular_velocity.y"].append(w.y)
                    c["angular_velocity.z"].append(w.z)
                    if msg.orientation_covariance[0] != -1:
                        for k in "xyzw":
                            c[f"orientation.{k}"].append(getattr(q, k))
                elif short == "NavSatFix":
                    c["latitude"].append(msg.latitude)
                    c["longitude"].append(msg.longitude)
                    c["altitude"].append(msg.altitude)
                    c["status"].append(float(msg.status.status))
                elif short == "TwistWithCovarianceStamped" or short == "TwistStamped":
                    tw = msg.twist.twist if short == "TwistWithCovarianceStamped" else msg.twist
                    c["twist.linear.x"].append(tw.linear.x)
                    c["twist.linear.y"].append(tw.linear.y)
                    c["twist.linear.z"].append(tw.linear.z)
                elif short == "CameraInfo":
                    if name not in camera_info:
                        k = getattr(msg, "k", None)
                        camera_info[name] = {
                            "frame_id": msg.header.frame_id,
                            "width": int(msg.width),
                            "height": int(msg.height),
                            "distortion_model": str(msg.distortion_model),
                            "K": [float(v) for v in (k if k is not None else msg.K)],
                            "D": [
                                float(v)
                                for v in (
                                    getattr(msg, "d", None) if getattr(msg, "d", None) is not None else msg.D
                                )
                            ],
                        }
                elif short == "PointCloud2":
                    c["count"].append(int(msg.width) * int(msg.height))
                    if points:
                        c["point_step"].append(int(msg.point_step))
                        c["fields"].append(
                            tuple((f.name, int(f.offset), int(f.datatype)) for f in msg.fields)
                        )
                        c["data"].append(bytes(np.asarray(msg.data, dtype=np.uint8).tobytes()))
                        c["shape"].append((int(msg.height), int(msg.width)))
    return DriveStreams(
        drive_id, streams, camera_info, tf, n, n_dec, time.perf_counter() - t0, dict(undecodable)
    )


def _iter_bronze_mcap(path):
    """Bronze MCAPs without re-checking chunk CRCs: they were sha256-verified against drive.json and
    validated at ingest, so the CRCs would only re-check bytes already proven intact."""
    from av_assets.ingest.containers import iter_mcap

    return iter_mcap(path, verify_crcs=False)
