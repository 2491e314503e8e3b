"""Container readers: detect a file's format by its bytes and count messages from the container's own
records (never from metadata.yaml, never from a reader's filtered iteration).

- MCAP: the `mcap` library's streaming reader over every record, chunks decompressed, so indexed,
  unindexed, chunked and unchunked files read alike; a truncated file is a structural error.
- ROS 2 sqlite3: the `messages` and `topics` tables through sqlite3.
- ROS 1 (`#ROSBAG V2.0`): our own record parser (bag header, chunks none/lz4/bz2, connections, message
  data), so the count is what the records hold.

Each reader yields `RawMessage`s (topic, type, encoding, log_time, publish_time, sequence, data) and a
`ContainerSummary` (per-topic counts and time spans) is folded from that stream.
"""

from __future__ import annotations

import bz2
import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

MAGIC_ROS1 = b"#ROSBAG V2.0\n"
MAGIC_SQLITE = b"SQLite format 3\x00"
MAGIC_MCAP = b"\x89MCAP0\r\n"
MAGIC_JPEG = b"\xff\xd8\xff"

BAG_FORMATS = ("mcap", "ros2-sqlite3", "ros1-bag")


class StructuralError(ValueError):
    """A container whose records cannot be read to the end (truncated, corrupt, not what it claims)."""


def detect_format(head: bytes) -> str:
    """The format of a file from its first bytes: mcap, ros2-sqlite3, ros1-bag, jpeg, mp4, json, other."""
    if head.startswith(MAGIC_MCAP):
        return "mcap"
    if head.startswith(MAGIC_SQLITE):
        return "ros2-sqlite3"
    if head.startswith(MAGIC_ROS1):
        return "ros1-bag"
    if head.startswith(MAGIC_JPEG):
        return "jpeg"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mp4"
    return "other"


def normalise_type(ros_type: str) -> str:
    """`pkg/Name` and `pkg/msg/Name` are the same type: always answer `pkg/msg/Name`."""
    parts = ros_type.strip().split("/")
    if len(parts) == 2:
        return f"{parts[0]}/msg/{parts[1]}"
    return ros_type.strip()


@dataclass
class RawMessage:
    topic: str
    type: str  # normalised ROS type ("" when the container has no schema)
    encoding: str  # "cdr" | "ros1" | other (not deserialisable by us)
    log_time: int
    publish_time: int
    sequence: int
    data: bytes
    channel_id: int = 0
    schema_text: str = ""  # message definition when the container carries it
    schema_encoding: str = ""


@dataclass
class TopicStats:
    topic: str
    type: str
    encoding: str
    message_count: int = 0
    t_first_ns: int | None = None
    t_last_ns: int | None = None

    def add(self, t: int) -> None:
        self.message_count += 1
        if self.t_first_ns is None or t < self.t_first_ns:
            self.t_first_ns = t
        if self.t_last_ns is None or t > self.t_last_ns:
            self.t_last_ns = t


@dataclass
class ContainerSummary:
    format: str
    topics: dict[str, TopicStats] = field(default_factory=dict)

    @property
    def message_count(self) -> int:
        return sum(t.message_count for t in self.topics.values())

    def declare(self, topic: str, type_: str, encoding: str) -> TopicStats:
        st = self.topics.get(topic)
        if st is None:
            st = self.topics[topic] = TopicStats(topic, type_, encoding)
        return st


# ---- MCAP -----------------------------------------------------------------------------------------
def iter_mcap_records(path: str | Path):
    """Every record of an MCAP file in stream order (chunk contents inlined), CRCs validated."""
    from mcap.exceptions import McapError
    from mcap.stream_reader import StreamReader

    try:
        with open(path, "rb") as fh:
            reader = StreamReader(fh, skip_magic=False, emit_chunks=False, validate_crcs=True)
            yield from reader.records
    except (McapError, EOFError, struct.error, ValueError, KeyError, IndexError) as exc:
        raise StructuralError(
            f"{Path(path).name}: MCAP records unreadable: {type(exc).__name__}: {exc}"
        ) from exc


def iter_mcap(path: str | Path, *, summary: ContainerSummary | None = None) -> Iterator[RawMessage]:
    from mcap.records import Channel, Footer, Message, Schema

    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    saw_footer = False
    for rec in iter_mcap_records(path):
        if isinstance(rec, Schema):
            schemas[rec.id] = rec
        elif isinstance(rec, Channel):
            channels[rec.id] = rec
            if summary is not None:
                sch = schemas.get(rec.schema_id)
                summary.declare(rec.topic, normalise_type(sch.name) if sch else "", rec.message_encoding)
        elif isinstance(rec, Message):
            ch = channels.get(rec.channel_id)
            if ch is None:
                raise StructuralError(f"{Path(path).name}: message on unknown channel {rec.channel_id}")
            sch = schemas.get(ch.schema_id)
            yield RawMessage(
                topic=ch.topic,
                type=normalise_type(sch.name) if sch else "",
                encoding=ch.message_encoding,
                log_time=rec.log_time,
                publish_time=rec.publish_time,
                sequence=rec.sequence,
                data=rec.data,
                channel_id=rec.channel_id,
                schema_text=sch.data.decode("utf-8", "replace") if sch else "",
                schema_encoding=sch.encoding if sch else "",
            )
        elif isinstance(rec, Footer):
            saw_footer = True
    if not saw_footer:
        raise StructuralError(f"{Path(path).name}: MCAP ends without a footer (truncated)")


# ---- ROS 2 sqlite3 --------------------------------------------------------------------------------
def _sqlite_connect(path: str | Path) -> sqlite3.Connection:
    con = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro&immutable=1", uri=True)
    try:
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        cols = {r[1] for r in con.execute("PRAGMA table_info(messages)")}
        if not {"topic_id", "timestamp", "data"} <= cols:
            raise StructuralError(f"{Path(path).name}: no rosbag2 `messages` table")
    except sqlite3.DatabaseError as exc:
        con.close()
        raise StructuralError(f"{Path(path).name}: sqlite3 unreadable: {exc}") from exc
    return con


def _sqlite_topics(con: sqlite3.Connection, path) -> dict[int, tuple[str, str, str]]:
    try:
        rows = con.execute("SELECT id, name, type, serialization_format FROM topics").fetchall()
    except sqlite3.DatabaseError as exc:
        raise StructuralError(f"{Path(path).name}: no rosbag2 `topics` table: {exc}") from exc
    return {int(i): (n, normalise_type(t), f or "cdr") for i, n, t, f in rows}


def _sqlite_definitions(con: sqlite3.Connection) -> dict[str, tuple[str, str]]:
    try:
        rows = con.execute("SELECT topic_type, encoding, encoded_message_definition FROM message_definitions")
        return {normalise_type(t): (d, e) for t, e, d in rows}
    except sqlite3.DatabaseError:
        return {}


def summarise_sqlite(path: str | Path) -> ContainerSummary:
    """Counts and spans with one GROUP BY over the messages table (no per-row Python)."""
    con = _sqlite_connect(path)
    try:
        topics = _sqlite_topics(con, path)
        summary = ContainerSummary("ros2-sqlite3")
        for _tid, (name, type_, enc) in sorted(topics.items()):
            summary.declare(name, type_, enc)
        try:
            rows = con.execute(
                "SELECT topic_id, count(*), min(timestamp), max(timestamp) FROM messages GROUP BY topic_id"
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StructuralError(f"{Path(path).name}: messages unreadable: {exc}") from exc
        for tid, n, t0, t1 in rows:
            if tid not in topics:
                raise StructuralError(f"{Path(path).name}: {n} messages on unknown topic id {tid}")
            st = summary.topics[topics[tid][0]]
            st.message_count, st.t_first_ns, st.t_last_ns = int(n), int(t0), int(t1)
        return summary
    finally:
        con.close()


def iter_sqlite(path: str | Path) -> Iterator[RawMessage]:
    con = _sqlite_connect(path)
    try:
        topics = _sqlite_topics(con, path)
        defs = _sqlite_definitions(con)
        try:
            cur = con.execute("SELECT id, topic_id, timestamp, data FROM messages ORDER BY id")
            for mid, tid, ts, data in cur:
                name, type_, enc = topics.get(tid, (f"<topic {tid}>", "", "cdr"))
                text, senc = defs.get(type_, ("", ""))
                yield RawMessage(
                    name, type_, enc, int(ts), int(ts), int(mid), bytes(data), int(tid), text, senc
                )
        except sqlite3.DatabaseError as exc:
            raise StructuralError(f"{Path(path).name}: messages unreadable: {exc}") from exc
    finally:
        con.close()


# ---- ROS 1 ----------------------------------------------------------------------------------------
_OP_MSG_DATA, _OP_BAG_HEADER, _OP_INDEX, _OP_CHUNK, _OP_CHUNK_INFO, _OP_CONNECTION = 2, 3, 4, 5, 6, 7


def _parse_header(buf: bytes | memoryview) -> dict[str, bytes]:
    fields: dict[str, bytes] = {}
    pos, n = 0, len(buf)
    while pos < n:
        if pos + 4 > n:
            raise StructuralError("ROS 1 header field length cut short")
        (flen,) = struct.unpack_from("<I", buf, pos)
        pos += 4
        if pos + flen > n:
            raise StructuralError("ROS 1 header field runs past its header")
        raw = bytes(buf[pos : pos + flen])
        pos += flen
        name, sep, value = raw.partition(b"=")
        if not sep:
            raise StructuralError("ROS 1 header field without '='")
        fields[name.decode("ascii", "replace")] = value
    return fields


def _iter_ros1_records(buf: bytes | memoryview, where: str) -> Iterator[tuple[dict[str, bytes], memoryview]]:
    view = memoryview(buf)
    pos, n = 0, len(view)
    while pos < n:
        if pos + 4 > n:
            raise StructuralError(f"{where}: record header length cut short at byte {pos}")
        (hlen,) = struct.unpack_from("<I", view, pos)
        pos += 4
        if pos + hlen + 4 > n:
            raise StructuralError(f"{where}: record header runs past the end at byte {pos} (truncated)")
        header = _parse_header(view[pos : pos + hlen])
        pos += hlen
        (dlen,) = struct.unpack_from("<I", view, pos)
        pos += 4
        if pos + dlen > n:
            raise StructuralError(f"{where}: record data runs past the end at byte {pos} (truncated)")
        yield header, view[pos : pos + dlen]
        pos += dlen


def _op(header: dict[str, bytes]) -> int:
    op = header.get("op")
    if op is None or len(op) != 1:
        raise StructuralError("ROS 1 record without a one-byte op")
    return op[0]


def _decompress_chunk(header: dict[str, bytes], data: memoryview, where: str) -> bytes:
    compression = header.get("compression", b"none").decode()
    size = struct.unpack("<I", header["size"])[0] if "size" in header else None
    try:
        if compression == "none":
            out = bytes(data)
        elif compression == "bz2":
            out = bz2.decompress(data)
        elif compression == "lz4":
            import lz4.frame

            out = lz4.frame.decompress(bytes(data))
        else:
            raise StructuralError(f"{where}: unknown chunk compression {compression!r}")
    except (OSError, RuntimeError, ValueError) as exc:
        if isinstance(exc, StructuralError):
            raise
        raise StructuralError(f"{where}: {compression} chunk does not decompress: {exc}") from exc
    if size is not None and len(out) != size:
        raise StructuralError(f"{where}: chunk decompressed to {len(out)} bytes, header says {size}")
    return out


def iter_ros1(path: str | Path) -> Iterator[RawMessage]:
    path = Path(path)
    where = path.name
    raw = path.read_bytes()
    if not raw.startswith(MAGIC_ROS1):
        raise StructuralError(f"{where}: not a ROS 1 bag v2.0")
    body = memoryview(raw)[len(MAGIC_ROS1) :]
    connections: dict[int, tuple[str, str, str]] = {}
    saw_bag_header = False
    index_pos = None

    def connection(header, data) -> None:
        conn = struct.unpack("<I", header["conn"])[0]
        fields = _parse_header(data)
        topic = (fields.get("topic") or header.get("topic", b"")).decode()
        connections[conn] = (
            topic,
            normalise_type(fields.get("type", b"").decode()),
            fields.get("message_definition", b"").decode("utf-8", "replace"),
        )

    def message(header, data, seq) -> RawMessage:
        conn = struct.unpack("<I", header["conn"])[0]
        sec, nsec = struct.unpack("<II", header["time"])
        if conn not in connections:
            raise StructuralError(f"{where}: message on undeclared connection {conn}")
        topic, type_, msgdef = connections[conn]
        t = sec * 1_000_000_000 + nsec
        return RawMessage(topic, type_, "ros1", t, t, seq, bytes(data), conn, msgdef, "ros1msg")

    seq = 0
    for header, data in _iter_ros1_records(body, where):
        op = _op(header)
        if op == _OP_BAG_HEADER:
            saw_bag_header = True
            index_pos = struct.unpack("<Q", header["index_pos"])[0]
            if index_pos > len(raw):
                raise StructuralError(f"{where}: bag header points past the end of the file (truncated)")
        elif op == _OP_CONNECTION:
            connection(header, data)
        elif op == _OP_CHUNK:
            inner = _decompress_chunk(header, data, where)
            for ih, idata in _iter_ros1_records(inner, f"{where} chunk"):
                iop = _op(ih)
                if iop == _OP_CONNECTION:
                    connection(ih, idata)
                elif iop == _OP_MSG_DATA:
                    yield message(ih, idata, seq)
                    seq += 1
        elif op == _OP_MSG_DATA:
            yield message(header, data, seq)
            seq += 1
    if not saw_bag_header:
        raise StructuralError(f"{where}: no bag header record")
    if index_pos == 0 and seq:
        raise StructuralError(f"{where}: bag was never closed (index_pos 0)")


# ---- dispatch -------------------------------------------------------------------------------------
def iter_messages(path: str | Path, fmt: str) -> Iterator[RawMessage]:
    if fmt == "mcap":
        return iter_mcap(path)
    if fmt == "ros2-sqlite3":
        return iter_sqlite(path)
    if fmt == "ros1-bag":
        return iter_ros1(path)
    raise ValueError(f"not a bag format: {fmt}")


def summarise(path: str | Path, fmt: str) -> ContainerSummary:
    """Per-topic message counts and time spans, counted from the container's records."""
    if fmt == "ros2-sqlite3":
        return summarise_sqlite(path)
    summary = ContainerSummary(fmt)
    if fmt == "mcap":
        it = iter_mcap(path, summary=summary)
    else:
        it = iter_messages(path, fmt)
    for m in it:
        st = summary.topics.get(m.topic)
        if st is None:
            st = summary.declare(m.topic, m.type, m.encoding)
        st.add(m.log_time)
    return summary


class Typestores:
    """rosbags typestores per encoding (ROS 2 Humble for CDR, ROS 1 Noetic), extended lazily from
    the message definitions the containers carry; `deserialise` decodes a `RawMessage`."""

    def __init__(self) -> None:
        from rosbags.typesys import Stores, get_typestore

        self.cdr = get_typestore(Stores.ROS2_HUMBLE)
        self.ros1 = get_typestore(Stores.ROS1_NOETIC)
        self._tried: set[tuple[str, str]] = set()

    def store(self, encoding: str):
        return self.cdr if encoding == "cdr" else self.ros1 if encoding == "ros1" else None

    def ensure(self, msg: RawMessage) -> bool:
        store = self.store(msg.encoding)
        if store is None or not msg.type:
            return False
        if msg.type in store.fielddefs:
            return True
        key = (msg.encoding, msg.type)
        if key in self._tried or not msg.schema_text:
            return False
        self._tried.add(key)
        from rosbags.typesys import get_types_from_idl, get_types_from_msg

        try:
            if msg.schema_encoding == "ros2idl":
                types = get_types_from_idl(msg.schema_text)
            else:
                types = get_types_from_msg(msg.schema_text, msg.type)
            store.register(types)
        except Exception:  # noqa: BLE001 - an unparsable definition means undecodable (WARN)
            return False
        return msg.type in store.fielddefs

    def deserialise(self, msg: RawMessage):
        store = self.store(msg.encoding)
        if msg.encoding == "cdr":
            return store.deserialize_cdr(msg.data, msg.type)
        return store.deserialize_ros1(msg.data, msg.type)
