"""Camera frames (sensor_msgs/msg/CompressedImage) from a drive's bronze bags, thinned to keyframes.

Bag records come from ingestion's container readers (`av_assets.shared.bag_containers.iter_messages`:
MCAP, ROS 2 sqlite3, ROS 1); messages are deserialised with `rosbags`' typestore.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from av_contracts import tables

COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
BAG_FORMATS = ("mcap", "ros2-sqlite3", "ros1-bag")


@dataclass
class CameraFrame:
    sensor_id: str
    topic: str
    t_ns: int  # header stamp (log time when the stamp is 0)
    log_time_ns: int
    data: bytes  # the compressed image bytes (JPEG/PNG)
    format: str


def sensor_id_for(topic: str, sensors: list[dict] | None = None) -> str:
    for s in sensors or []:
        if topic == s.get("topic") or topic in (s.get("matched_topics") or []):
            return str(s["name"])
    return re.sub(r"[^a-z0-9_-]+", "_", topic.strip("/").lower()) or "camera"


def _deserialise(stores, raw) -> tuple[int, bytes, str] | None:
    if not stores.ensure(raw):
        return None
    msg = stores.deserialise(raw)
    stamp = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
    return stamp, bytes(msg.data), str(msg.format)


def iter_camera_frames(
    lake, drive_id: str, *, keyframe_hz: float | None = 2.0, topics: list[str] | None = None
) -> Iterator[CameraFrame]:
    """Every (or, with `keyframe_hz`, the first frame in each 1/hz time bin of each camera)
    CompressedImage frame in the drive's bronze bags, in file order."""
    from av_assets.shared.bag_containers import Typestores, iter_messages, normalise_type

    manifest = lake.read_json(tables.BRONZE_MANIFEST.rel(drive_id=drive_id))
    sensors = manifest.get("sensors") or []
    stores = Typestores()
    period = int(1e9 / keyframe_hz) if keyframe_hz else 0
    seen_bins: set[tuple[str, int]] = set()
    for entry in manifest.get("files", []):
        if entry.get("format") not in BAG_FORMATS:
            continue
        rel = tables.BRONZE_MANIFEST.sidecar(entry["path"], drive_id=drive_id)
        with lake.local_copy(rel) as local:
            for raw in iter_messages(local, entry["format"]):
                if normalise_type(raw.type or "") != COMPRESSED_IMAGE:
                    continue
                if topics and raw.topic not in topics:
                    continue
                decoded = _deserialise(stores, raw)
                if decoded is None:
                    continue
                stamp, data, fmt = decoded
                t_ns = stamp or int(raw.log_time)
                sid = sensor_id_for(raw.topic, sensors)
                if period:
                    key = (sid, t_ns // period)
                    if key in seen_bins:
                        continue
                    seen_bins.add(key)
                yield CameraFrame(sid, raw.topic, t_ns, int(raw.log_time), data, fmt)


def decode_image(data: bytes) -> np.ndarray:
    """JPEG/PNG bytes -> RGB uint8."""
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if arr is None:
        raise ValueError("not a decodable image")
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    import cv2

    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    )
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
