"""Every stream of a drive's bronze bags, read in one pass into columnar numpy arrays.

Camera images are *not* read here (raw frames never leave bronze): only their stamps, for the clock
and the clip counts; the pixels come from `silver/redacted_frames`. Point clouds are kept as raw
bytes only when asked (`points=True`, for the Zarr frames).

One pass over each bag groups the messages by channel; nothing is deserialised per message for the
high-rate streams. Fixed-layout messages (CAN frames, IMU, NavSatFix, GNSS velocity: every field but
the header's `frame_id` has a fixed size) are decoded per channel at once: their payloads are stacked
into one n x L byte matrix and each needed field is a strided `numpy` view at the offset its CDR (or
ROS 1) layout gives, the layout computed from the typestore's own definition of the type. The first
and last message of every such channel are also deserialised with rosbags and must agree field for
field, else the channel is deserialised per message as before. Images and point clouds are read for
their header only; everything else (tf, the first CameraInfo per sensor, unknown types) goes through
rosbags per message.
"""

from __future__ import annotations

import re
import struct
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from av_contracts import tables

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
_FIXED = ("Frame", "Imu", "NavSatFix", "TwistWithCovarianceStamped", "TwistStamped")
_IMU_COLS = [
    ("linear_acceleration.x", "linear_acceleration.x"),
    ("linear_acceleration.y", "linear_acceleration.y"),
    ("linear_acceleration.z", "linear_acceleration.z"),
    ("angular_velocity.x", "angular_velocity.x"),
    ("angular_velocity.y", "angular_velocity.y"),
    ("angular_velocity.z", "angular_velocity.z"),
]
_IMU_ORIENTATION = [(f"orientation.{k}", f"orientation.{k}") for k in "xyzw"]
_GNSS_COLS = [("latitude", "latitude"), ("longitude", "longitude"), ("altitude", "altitude")]
_POINT_LIST_COLS = ("point_step", "fields", "data", "shape")  # kept as lists (one item per sweep)


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
    """One sensor's messages: stamps (header, else log time) and log times, in arrival order.

    `t_stamp`/`t_log` are int64 arrays and `cols` numpy arrays (CAN `data`: n x 8 uint8), except the
    per-sweep point-cloud columns of `read_drive(points=True)` (`data`, `fields`, `shape`,
    `point_step`), which are lists."""

    sensor: str
    topic: str
    type: str
    frame_id: str = ""
    t_stamp: Any = field(default_factory=list)
    t_log: Any = field(default_factory=list)
    cols: dict[str, Any] = field(default_factory=lambda: defaultdict(list))

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
    from av_assets.shared.bag_containers import Typestores

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


# ---------------------------------------------------------------- fixed layouts

_PRIMITIVES = {
    "bool": ("u1", 1),
    "byte": ("u1", 1),
    "char": ("u1", 1),
    "int8": ("i1", 1),
    "uint8": ("u1", 1),
    "int16": ("<i2", 2),
    "uint16": ("<u2", 2),
    "int32": ("<i4", 4),
    "uint32": ("<u4", 4),
    "int64": ("<i8", 8),
    "uint64": ("<u8", 8),
    "float32": ("<f4", 4),
    "float64": ("<f8", 8),
}


class _NotFixed(Exception):
    pass


def fixed_layout(store, type_: str, cdr: bool, frame_id_len: int) -> tuple[dict[str, tuple], int] | None:
    """{field path: (byte offset in the serialised message, numpy dtype, element count)} and the
    serialised size of `type_` when every field but a top-level `header.frame_id` has a fixed size
    (`frame_id_len` = that string's length prefix), else None. CDR: little-endian, primitives aligned
    to their size from the end of the 4-byte encapsulation header; ROS 1: packed. Strings: a uint32
    length then that many bytes. Nodetypes follow rosbags (1 base, 2 name, 3 array, 4 sequence)."""
    out: dict[str, tuple] = {}
    base = 4 if cdr else 0

    def align(pos: int, size: int) -> int:
        return (pos + size - 1) & -size if cdr else pos

    def walk(name: str, pos: int, prefix: str) -> int:
        defs = store.fielddefs.get(name)
        if defs is None or not defs[1]:
            raise _NotFixed(name)
        for fname, (nodetype, arg) in defs[1]:
            path = prefix + fname
            if nodetype == 1:
                t = arg[0]
                if t == "string":
                    if path != "header.frame_id":
                        raise _NotFixed(path)
                    pos = align(pos, 4)
                    out[path] = (base + pos, "<u4", 1)
                    pos += 4 + frame_id_len
                    continue
                if t not in _PRIMITIVES:
                    raise _NotFixed(path)
                dt, size = _PRIMITIVES[t]
                pos = align(pos, size)
                out[path] = (base + pos, dt, 1)
                pos += size
            elif nodetype == 2:
                if prefix == "" and fname == "header" and arg != "std_msgs/msg/Header":
                    raise _NotFixed(path)
                pos = walk(arg, pos, path + ".")
            elif nodetype == 3:
                (sub_type, sub_arg), count = arg
                if sub_type == 1 and sub_arg[0] in _PRIMITIVES:
                    dt, size = _PRIMITIVES[sub_arg[0]]
                    pos = align(pos, size)
                    out[path] = (base + pos, dt, int(count))
                    pos += size * int(count)
                elif sub_type == 2:
                    for i in range(int(count)):
                        pos = walk(sub_arg, pos, f"{path}[{i}].")
                else:
                    raise _NotFixed(path)
            else:
                raise _NotFixed(path)
        return pos

    try:
        size = walk(type_, 0, "")
    except (_NotFixed, KeyError, TypeError, ValueError):
        return None
    return out, base + size


def _fixed_columns(short: str) -> list[tuple[str, str]] | None:
    """(column, field path) pairs a fixed-layout stream contributes, in the order they are added."""
    if short == "Imu":
        return _IMU_COLS
    if short == "NavSatFix":
        return [*_GNSS_COLS, ("status", "status.status")]
    if short == "TwistWithCovarianceStamped":
        return [(f"twist.linear.{k}", f"twist.twist.linear.{k}") for k in "xyz"]
    if short == "TwistStamped":
        return [(f"twist.linear.{k}", f"twist.linear.{k}") for k in "xyz"]
    return None


# ---------------------------------------------------------------- per channel


@dataclass
class _Channel:
    """One (file, channel)'s messages as they were read: `idx` = position in the drive's message
    order (to merge channels that share a sensor name), the records per decoded message."""

    topic: str
    type: str
    short: str
    encoding: str
    sensor: str
    kind: str  # "fixed" | "header" | "slow" | "skip"
    stores: Any
    frame_id: str | None = None
    idx: list[int] = field(default_factory=list)
    t_stamp: list[int] = field(default_factory=list)
    t_log: list[int] = field(default_factory=list)
    cols: dict[str, tuple[list, list]] = field(default_factory=dict)  # name -> (idx, values)
    data: list[bytes] = field(default_factory=list)  # fixed: payloads, decoded at the end
    fixed: dict[str, Any] | None = None  # fixed: the decoded arrays
    ok: bool = False  # the typestore can decode the type

    def add(self, col: str, i: int, value) -> None:
        c = self.cols.get(col)
        if c is None:
            c = self.cols[col] = ([], [])
        c[0].append(i)
        c[1].append(value)


def _kind(raw, short: str, points: bool) -> str:
    if raw.encoding == "cdr" and (short in _HEADER_ONLY or short == "CameraInfo"):
        if not (points and short == "PointCloud2"):
            return "header"
    if short in _FIXED and raw.encoding in ("cdr", "ros1"):
        return "fixed"
    return "slow"


def _slow_one(ch: _Channel, msg, i: int, log_time: int, points: bool, camera_info, tf) -> None:
    """One deserialised message into its channel's records (tf and CameraInfo into the drive's)."""
    short, name = ch.short, ch.sensor
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
        return
    if ch.frame_id is None:
        ch.frame_id = getattr(getattr(msg, "header", None), "frame_id", "") or ""
    ch.idx.append(i)
    ch.t_stamp.append(_stamp(msg, log_time))
    ch.t_log.append(log_time)
    if short == "Frame":  # can_msgs/msg/Frame
        ch.add("id", i, int(msg.id))
        ch.add("dlc", i, int(msg.dlc))
        ch.add("data", i, bytes(np.asarray(msg.data, dtype=np.uint8).tobytes()[:8]).ljust(8, b"\0"))
    elif short == "Imu":
        a, w, q = msg.linear_acceleration, msg.angular_velocity, msg.orientation
        for col, v in zip([c for c, _ in _IMU_COLS], (a.x, a.y, a.z, w.x, w.y, w.z), strict=True):
            ch.add(col, i, v)
        if msg.orientation_covariance[0] != -1:
            for k in "xyzw":
                ch.add(f"orientation.{k}", i, getattr(q, k))
    elif short == "NavSatFix":
        ch.add("latitude", i, msg.latitude)
        ch.add("longitude", i, msg.longitude)
        ch.add("altitude", i, msg.altitude)
        ch.add("status", i, float(msg.status.status))
    elif short == "TwistWithCovarianceStamped" or short == "TwistStamped":
        tw = msg.twist.twist if short == "TwistWithCovarianceStamped" else msg.twist
        ch.add("twist.linear.x", i, tw.linear.x)
        ch.add("twist.linear.y", i, tw.linear.y)
        ch.add("twist.linear.z", i, tw.linear.z)
    elif short == "CameraInfo":
        if name not in camera_info:
            k = getattr(msg, "k", None)
            d = getattr(msg, "d", None)
            camera_info[name] = {
                "frame_id": msg.header.frame_id,
                "width": int(msg.width),
                "height": int(msg.height),
                "distortion_model": str(msg.distortion_model),
                "K": [float(v) for v in (k if k is not None else msg.K)],
                "D": [float(v) for v in (d if d is not None else msg.D)],
            }
    elif short == "PointCloud2":
        ch.add("count", i, int(msg.width) * int(msg.height))
        if points:
            ch.add("point_step", i, int(msg.point_step))
            ch.add("fields", i, tuple((f.name, int(f.offset), int(f.datatype)) for f in msg.fields))
            ch.add("data", i, bytes(np.asarray(msg.data, dtype=np.uint8).tobytes()))
            ch.add("shape", i, (int(msg.height), int(msg.width)))


def _decode_fixed(ch: _Channel) -> bool:
    """Decode a fixed-layout channel's payloads at once (see the module doc); False when its messages
    do not share one fixed layout or a check against rosbags disagrees (then: per message)."""
    datas = ch.data
    n = len(datas)
    length = len(datas[0])
    cdr = ch.encoding == "cdr"
    store = ch.stores.store(ch.encoding)
    if store is None or any(len(d) != length for d in datas):
        return False
    buf = b"".join(datas)
    if cdr:
        mat = np.frombuffer(buf, dtype=np.uint8).reshape(n, length)
        if length < 4 or (mat[:, 0] != 0).any() or (mat[:, 1] != 1).any():  # CDR_LE everywhere
            return False
    layout = fixed_layout(store, ch.type, cdr, 0)
    if layout is None:
        return False
    fid_at = layout[0].get("header.frame_id", (None,))[0]
    if fid_at is not None:  # the frame_id length must be the same in every message
        if fid_at + 4 > length:
            return False
        lens = np.ndarray((n,), dtype="<u4", buffer=buf, offset=fid_at, strides=(length,))
        if (lens != lens[0]).any():
            return False
        layout = fixed_layout(store, ch.type, cdr, int(lens[0]))
        if layout is None:
            return False
    offsets, size = layout
    if not (0 <= length - size < (8 if cdr else 1)):  # CDR may pad the end to its alignment
        return False

    def col(path: str, k: int = 0) -> np.ndarray:
        off, dt, count = offsets[path]
        itemsize = np.dtype(dt).itemsize
        return np.ndarray((n,), dtype=dt, buffer=buf, offset=off + k * itemsize, strides=(length,))

    t_log = np.asarray(ch.t_log, dtype=np.int64)
    if "header.stamp.sec" in offsets and "header.stamp.nanosec" in offsets:
        t = col("header.stamp.sec").astype(np.int64) * 1_000_000_000 + col("header.stamp.nanosec")
        t_stamp = np.where(t > 0, t, t_log)
    else:
        t_stamp = t_log
    idx = np.asarray(ch.idx, dtype=np.int64)
    cols: dict[str, tuple[np.ndarray, Any]] = {}
    try:
        if ch.short == "Frame":
            off, dt, count = offsets["data"]
            if dt != "u1":
                return False
            payload = np.zeros((n, 8), dtype=np.uint8)
            k = min(8, count)
            mat = np.frombuffer(buf, dtype=np.uint8).reshape(n, length)
            payload[:, :k] = mat[:, off : off + k]
            cols["id"] = (idx, col("id").astype(np.int64))
            cols["dlc"] = (idx, col("dlc").astype(np.int64))
            cols["data"] = (idx, payload)
        else:
            pairs = _fixed_columns(ch.short) or []
            for name, path in pairs:
                cols[name] = (idx, col(path).astype(np.float64))
            if ch.short == "Imu":
                known = col("orientation_covariance") != -1
                for name, path in _IMU_ORIENTATION:
                    cols[name] = (idx[known], col(path)[known].astype(np.float64))
    except KeyError:
        return False
    # the first and last message, deserialised with rosbags, must agree field for field
    for r in sorted({0, n - 1}):
        ref = _Channel(ch.topic, ch.type, ch.short, ch.encoding, ch.sensor, "slow", ch.stores)
        try:
            msg = _deserialise(ch.stores, ch.encoding, datas[r], ch.type)
        except Exception:  # noqa: BLE001 - a message rosbags refuses: decode per message instead
            return False
        _slow_one(ref, msg, int(idx[r]), int(t_log[r]), False, {}, [])
        mine = {c for c, (ci, _v) in cols.items() if (ci == idx[r]).any()}
        if ref.t_stamp != [int(t_stamp[r])] or set(ref.cols) != mine:
            return False
        for name, (_i, vals) in ref.cols.items():
            ci, cv = cols[name]
            got = np.asarray(cv[int(np.searchsorted(ci, idx[r]))])
            want = vals[0] if name == "data" else np.asarray(vals[0], dtype=got.dtype).tobytes()
            if got.tobytes() != want:
                return False
        if r == 0:
            ch.frame_id = ref.frame_id
    ch.fixed = {"idx": idx, "t_stamp": t_stamp.astype(np.int64), "t_log": t_log, "cols": cols}
    ch.data = []
    return True


def _deserialise(stores, encoding: str, data: bytes, type_: str):
    store = stores.store(encoding)
    if encoding == "cdr":
        return store.deserialize_cdr(data, type_)
    return store.deserialize_ros1(data, type_)


def _channel_arrays(ch: _Channel) -> dict[str, Any]:
    """A channel's records as arrays: idx, t_stamp, t_log and cols {name: (idx, values)}."""
    if ch.fixed is not None:
        return ch.fixed
    cols: dict[str, tuple[np.ndarray, Any]] = {}
    for name, (ci, vals) in ch.cols.items():
        if ch.short == "PointCloud2" and name in _POINT_LIST_COLS:
            v: Any = vals
        elif ch.short == "Frame" and name == "data":
            v = np.frombuffer(b"".join(vals), dtype=np.uint8).reshape(-1, 8)
        else:
            v = np.asarray(vals)
        cols[name] = (np.asarray(ci, dtype=np.int64), v)
    return {
        "idx": np.asarray(ch.idx, dtype=np.int64),
        "t_stamp": np.asarray(ch.t_stamp, dtype=np.int64),
        "t_log": np.asarray(ch.t_log, dtype=np.int64),
        "cols": cols,
    }


def _take(values, order: np.ndarray):
    if isinstance(values, list):
        return [values[i] for i in order.tolist()]
    return values[order]


def _concat(parts: list) -> Any:
    if any(isinstance(p, list) for p in parts):
        return [x for p in parts for x in p]
    return np.concatenate(parts)


def _streams(channels: list[_Channel]) -> dict[str, Stream]:
    """Channels -> one Stream per sensor name, in the order the sensors' first messages arrived;
    channels sharing a sensor are merged in message order."""
    by_sensor: dict[str, list[tuple[_Channel, dict[str, Any]]]] = {}
    for ch in channels:
        a = _channel_arrays(ch)
        if a["idx"].size:
            by_sensor.setdefault(ch.sensor, []).append((ch, a))
    firsts = sorted((int(min(a["idx"][0] for _c, a in v)), k) for k, v in by_sensor.items())
    out: dict[str, Stream] = {}
    for _first, name in firsts:
        parts = sorted(by_sensor[name], key=lambda p: int(p[1]["idx"][0]))
        head = parts[0][0]
        st = Stream(name, head.topic, head.type, head.frame_id or "")
        if len(parts) == 1:
            a = parts[0][1]
            st.t_stamp, st.t_log = a["t_stamp"], a["t_log"]
            st.cols = {k: v for k, (ci, v) in a["cols"].items() if ci.size}
        else:
            idx = np.concatenate([a["idx"] for _c, a in parts])
            order = np.argsort(idx, kind="stable")
            st.t_stamp = np.concatenate([a["t_stamp"] for _c, a in parts])[order]
            st.t_log = np.concatenate([a["t_log"] for _c, a in parts])[order]
            names: dict[str, int] = {}
            for _c, a in parts:
                for k, (ci, _v) in a["cols"].items():
                    if ci.size:
                        names[k] = min(names.get(k, int(ci[0])), int(ci[0]))
            cols = {}
            for k in sorted(names, key=lambda k: names[k]):
                got = [a["cols"][k] for _c, a in parts if k in a["cols"]]
                ci = np.concatenate([g[0] for g in got])
                cols[k] = _take(_concat([g[1] for g in got]), np.argsort(ci, kind="stable"))
            st.cols = cols
        out[name] = st
    return out


def read_drive(lake, drive_id: str, *, points: bool = False, manifest: dict | None = None) -> DriveStreams:
    """Every message of the drive's bronze bags, one pass per bag (images: stamps only)."""
    from av_assets.shared.bag_containers import Typestores, iter_messages

    manifest = manifest or lake.read_json(tables.BRONZE_MANIFEST.rel(drive_id=drive_id))
    sensors = manifest.get("sensors") or []
    stores = _shared_typestores()
    checked: set[tuple[str, str]] = set()
    channels: dict[tuple, _Channel] = {}
    camera_info: dict[str, dict[str, Any]] = {}
    tf: list[dict[str, Any]] = []
    undecodable: dict[str, int] = defaultdict(int)
    n = n_tf = 0
    t0 = time.perf_counter()
    for file_no, entry in enumerate(manifest.get("files", [])):
        if entry.get("format") not in BAG_FORMATS:
            continue
        rel = tables.BRONZE_MANIFEST.sidecar(entry["path"], drive_id=drive_id)
        with lake.local_copy(rel) as local:
            msgs = (
                _iter_bronze_mcap(local)
                if entry["format"] == "mcap"
                else iter_messages(local, entry["format"])
            )
            for raw in msgs:
                n += 1
                key = (file_no, raw.channel_id, raw.topic, raw.type, raw.encoding)
                ch = channels.get(key)
                if ch is None:
                    tkey = (raw.encoding, raw.type)
                    if tkey not in checked:
                        checked.add(tkey)
                        if not _schema_agrees(stores, raw):  # another drive defined it differently
                            stores = Typestores()
                    short = raw.type.rsplit("/", 1)[-1]
                    ch = channels[key] = _Channel(
                        raw.topic,
                        raw.type,
                        short,
                        raw.encoding,
                        sensor_name(raw.topic, sensors),
                        _kind(raw, short, points),
                        stores,
                    )
                    ch.ok = stores.ensure(raw)
                elif not ch.ok:
                    ch.ok = ch.stores.ensure(raw)
                if not ch.ok:
                    undecodable[raw.type or raw.topic] += 1
                    continue
                kind = ch.kind
                if kind == "fixed":
                    ch.idx.append(n)
                    ch.t_log.append(raw.log_time)
                    ch.data.append(raw.data)
                    continue
                if kind == "header" and not (ch.short == "CameraInfo" and ch.sensor not in camera_info):
                    head = _cdr_header(raw.data)
                    if head is not None:  # stamps (and sweep sizes) only: no payload copy
                        stamp_ns, fid, end = head
                        if ch.frame_id is None:
                            ch.frame_id = fid
                        ch.idx.append(n)
                        ch.t_stamp.append(stamp_ns if stamp_ns > 0 else raw.log_time)
                        ch.t_log.append(raw.log_time)
                        if ch.short == "PointCloud2":  # height, width: the next two aligned uint32
                            off = 4 + ((end - 4 + 3) & ~3)
                            h, w = _U32.unpack_from(raw.data, off)[0], _U32.unpack_from(raw.data, off + 4)[0]
                            ch.add("count", n, int(h) * int(w))
                        continue
                try:
                    msg = _deserialise(ch.stores, raw.encoding, raw.data, raw.type)
                except Exception:  # noqa: BLE001 - counted, ingestion already validated
                    undecodable[raw.type] += 1
                    continue
                if ch.short == "TFMessage":
                    n_tf += 1
                _slow_one(ch, msg, n, raw.log_time, points, camera_info, tf)
    for ch in channels.values():
        if ch.kind == "fixed" and ch.data and not _decode_fixed(ch):
            datas, idx, t_log = ch.data, ch.idx, ch.t_log
            ch.data, ch.idx, ch.t_log = [], [], []
            for d, i, tl in zip(datas, idx, t_log, strict=True):
                try:
                    msg = _deserialise(ch.stores, ch.encoding, d, ch.type)
                except Exception:  # noqa: BLE001
                    undecodable[ch.type] += 1
                    continue
                _slow_one(ch, msg, i, tl, points, camera_info, tf)
    streams = _streams(list(channels.values()))
    n_dec = n_tf + sum(len(s.t_stamp) for s in streams.values())
    return DriveStreams(
        drive_id, streams, camera_info, tf, n, n_dec, time.perf_counter() - t0, dict(undecodable)
    )


def _iter_bronze_mcap(path):
    """Bronze MCAPs without re-checking chunk CRCs: they were sha256-verified against drive.json and
    validated at ingest, so the CRCs would only re-check bytes already proven intact."""
    from av_assets.shared.bag_containers import iter_mcap

    return iter_mcap(path, verify_crcs=False)
