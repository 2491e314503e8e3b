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

    def add_many(self, ts: list[int]) -> None:
        """`add` of each time, in one go."""
        if not ts:
            return
        self.message_count += len(ts)
        lo, hi = min(ts), max(ts)
        if self.t_first_ns is None or lo < self.t_first_ns:
            self.t_first_ns = lo
        if self.t_last_ns is None or hi > self.t_last_ns:
            self.t_last_ns = hi


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


_MSG_HEAD = struct.Struct("<HIQQ")  # channel_id, sequence, log_time, publish_time
_U64 = struct.Struct("<Q")
_OP_MCAP_SCHEMA, _OP_MCAP_CHANNEL, _OP_MCAP_MESSAGE, _OP_MCAP_CHUNK = 0x03, 0x04, 0x05, 0x06


def _mcap_chunk_data(chunk, verify_crcs: bool = True) -> bytes:
    """A Chunk's records, decompressed and CRC-checked exactly as `mcap.stream_reader` does it (the
    same optional codecs, unknown compression read as stored)."""
    import zlib

    from mcap import stream_reader as sr
    from mcap.exceptions import UnsupportedCompressionError

    try:
        if chunk.compression == "zstd":
            if sr.zstandard is None:
                raise UnsupportedCompressionError("zstandard")
            data = sr.zstandard.decompress(chunk.data, chunk.uncompressed_size)
        elif chunk.compression == "lz4":
            if sr.lz4 is None:
                raise UnsupportedCompressionError("lz4")
            data = sr.lz4.decompress(chunk.data)
        else:
            data = chunk.data
    except UnsupportedCompressionError:
        raise
    except Exception as exc:  # noqa: BLE001 - zstd/lz4 raise their own types for damaged input
        raise StructuralError(f"{chunk.compression} chunk does not decompress: {exc}") from exc
    if chunk.uncompressed_size and len(data) != chunk.uncompressed_size:
        raise StructuralError(
            f"chunk decompressed to {len(data)} bytes, its record says {chunk.uncompressed_size}"
        )
    if verify_crcs and chunk.uncompressed_crc != 0:
        crc = zlib.crc32(data)
        if crc != chunk.uncompressed_crc:
            raise sr.CRCValidationError(expected=chunk.uncompressed_crc, actual=crc, record=chunk)
    return data


def _mcap_chunk_records(data: bytes, payload: bool):
    """The records inside one decompressed chunk, bounded and as lenient as
    `mcap.stream_reader.breakup_chunk` (the conformance suite holds both to the same stream), but a
    Message is a tuple `(channel_id, sequence, log_time, publish_time, data)` read with one
    `struct.unpack_from` and its payload sliced only when `payload` (None otherwise)."""
    from io import BytesIO

    from mcap.data_stream import ReadDataStream
    from mcap.exceptions import EndOfFile
    from mcap.records import Channel, Schema

    unpack_msg = _MSG_HEAD.unpack_from
    unpack_u64 = _U64.unpack_from
    n = len(data)
    pos = 0
    while pos < n:
        opcode = data[pos]
        if pos + 9 > n:
            raise EndOfFile(f"chunk record header cut short at byte {pos}")
        (length,) = unpack_u64(data, pos + 1)
        pos += 9
        if opcode == _OP_MCAP_MESSAGE:
            if pos + 22 > n:
                raise EndOfFile(f"chunk message header cut short at byte {pos}")
            cid, seq, log_time, publish_time = unpack_msg(data, pos)
            start = pos + 22
            k = length - 22
            if k == 0:
                end = start
            else:  # ReadDataStream.read(k): short reads allowed, nothing left is EndOfFile
                end = start + k
                if k < 0 or end > n:
                    end = n
                if end == start:
                    raise EndOfFile(f"chunk message data missing at byte {start}")
            pos = end
            yield (cid, seq, log_time, publish_time, data[start:end] if payload else None)
        elif opcode == _OP_MCAP_CHANNEL or opcode == _OP_MCAP_SCHEMA:
            bio = BytesIO(data)
            bio.seek(pos)
            rs = ReadDataStream(bio)
            yield (Channel if opcode == _OP_MCAP_CHANNEL else Schema).read(rs)
            pos += rs.count  # breakup_chunk does not skip a record's padding either
        elif length:
            if pos >= n:
                raise EndOfFile(f"chunk record data missing at byte {pos}")
            pos = min(n, pos + length)


def _read_message_index(stream):
    """`mcap.records.MessageIndex.read` in one read instead of two per entry: the same bytes consumed
    (whole 16-byte entries up to `records_length`), the same errors on a short stream."""
    from mcap.exceptions import EndOfFile
    from mcap.records import MessageIndex

    channel_id = stream.read2()
    records_length = stream.read4()
    want = -(-records_length // 16) * 16
    data = stream.read(want) if want else b""
    if len(data) < want:  # where the per-entry read8 loop would have stopped
        if len(data) % 8 == 0:
            raise EndOfFile()
        raise struct.error("unpack requires a buffer of 8 bytes")
    return MessageIndex(channel_id, list(struct.iter_unpack("<QQ", data)))


def _stream_reader(fh, verify_crcs: bool = True):
    from mcap.opcode import Opcode
    from mcap.stream_reader import StreamReader

    class _Reader(StreamReader):
        def _read_record(self, opcode: int, length: int):
            if opcode == Opcode.MESSAGE_INDEX:
                return _read_message_index(self._stream)
            return super()._read_record(opcode, length)

    return _Reader(fh, skip_magic=False, emit_chunks=True, validate_crcs=verify_crcs)


def _mcap_stream(path: str | Path, *, payload: bool = True, verify_crcs: bool = True):
    """`iter_mcap_records` (same StreamReader, same CRC/magic/length checks) with chunks walked by
    `_mcap_chunk_records`: Schema/Channel/Footer/... records as objects, Messages as tuples."""
    from mcap.exceptions import McapError
    from mcap.records import Chunk, Message

    try:
        with open(path, "rb") as fh:
            for rec in _stream_reader(fh, verify_crcs).records:
                if isinstance(rec, Chunk):
                    yield from _mcap_chunk_records(_mcap_chunk_data(rec, verify_crcs), payload)
                elif isinstance(rec, Message):
                    yield (rec.channel_id, rec.sequence, rec.log_time, rec.publish_time, rec.data)
                else:
                    yield rec
    except (McapError, EOFError, struct.error, ValueError, KeyError, IndexError) as exc:
        raise StructuralError(
            f"{Path(path).name}: MCAP records unreadable: {type(exc).__name__}: {exc}"
        ) from exc


def iter_mcap(
    path: str | Path, *, summary: ContainerSummary | None = None, verify_crcs: bool = True
) -> Iterator[RawMessage]:
    """Every message of an MCAP file; `verify_crcs=False` for files already proven intact (bronze
    copies were sha256-verified at ingest), which saves about two passes over the bytes."""
    from mcap.records import Channel, Footer, Schema

    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    resolved: dict[int, tuple[str, str, str, str, str]] = {}  # channel id -> what a message carries
    saw_footer = False
    for rec in _mcap_stream(path, verify_crcs=verify_crcs):
        if type(rec) is tuple:
            cid, seq, log_time, publish_time, data = rec
            info = resolved.get(cid)
            if info is None:
                ch = channels.get(cid)
                if ch is None:
                    raise StructuralError(f"{Path(path).name}: message on unknown channel {cid}")
                sch = schemas.get(ch.schema_id)
                info = resolved[cid] = (
                    ch.topic,
                    normalise_type(sch.name) if sch else "",
                    ch.message_encoding,
                    sch.data.decode("utf-8", "replace") if sch else "",
                    sch.encoding if sch else "",
                )
            topic, type_, encoding, schema_text, schema_encoding = info
            yield RawMessage(
                topic, type_, encoding, log_time, publish_time, seq, data, cid, schema_text, schema_encoding
            )
        elif isinstance(rec, Schema):
            schemas[rec.id] = rec
            resolved.clear()
        elif isinstance(rec, Channel):
            channels[rec.id] = rec
            resolved.clear()
            if summary is not None:
                sch = schemas.get(rec.schema_id)
                summary.declare(rec.topic, normalise_type(sch.name) if sch else "", rec.message_encoding)
        elif isinstance(rec, Footer):
            saw_footer = True
    if not saw_footer:
        raise StructuralError(f"{Path(path).name}: MCAP ends without a footer (truncated)")


def scan_mcap(path: str | Path, summary: ContainerSummary) -> dict[str, list[int]]:
    """What `iter_mcap` + counting would give, without building a message: topics declared into
    `summary` from the Channel records, counts and spans added from the Message records, and each
    topic's log_times in file order (topics in order of their first message). Payloads are never
    copied."""
    from mcap.records import Channel, Footer, Schema

    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    lists: dict[int, list[int]] = {}  # channel id -> its topic's list of log_times
    times: dict[str, list[int]] = {}
    saw_footer = False
    for rec in _mcap_stream(path, payload=False):
        if type(rec) is tuple:
            tl = lists.get(rec[0])
            if tl is None:
                ch = channels.get(rec[0])
                if ch is None:
                    raise StructuralError(f"{Path(path).name}: message on unknown channel {rec[0]}")
                tl = lists[rec[0]] = times.setdefault(ch.topic, [])
            tl.append(rec[2])
        elif isinstance(rec, Schema):
            schemas[rec.id] = rec
        elif isinstance(rec, Channel):
            channels[rec.id] = rec
            lists.pop(rec.id, None)
            sch = schemas.get(rec.schema_id)
            summary.declare(rec.topic, normalise_type(sch.name) if sch else "", rec.message_encoding)
        elif isinstance(rec, Footer):
            saw_footer = True
    if not saw_footer:
        raise StructuralError(f"{Path(path).name}: MCAP ends without a footer (truncated)")
    for topic, ts in times.items():
        summary.topics[topic].add_many(ts)
    return times


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


def scan_sqlite(path: str | Path, summary: ContainerSummary) -> dict[str, list[int]]:
    """What `iter_sqlite` + counting would give (every row read, payloads included, so a damaged
    page is still a structural error), without building a message per row: counts and spans added
    to `summary`, each topic's timestamps in id order (topics in order of their first message)."""
    con = _sqlite_connect(path)
    try:
        topics = _sqlite_topics(con, path)
        times: dict[str, list[int]] = {}
        lists: dict[int, list[int]] = {}
        try:
            cur = con.execute("SELECT topic_id, timestamp, data FROM messages ORDER BY id")
            for tid, ts, _data in cur:
                tl = lists.get(tid)
                if tl is None:
                    name, type_, enc = topics.get(tid, (f"<topic {tid}>", "", "cdr"))
                    if name not in summary.topics:
                        summary.declare(name, type_, enc)
                    tl = lists[tid] = times.setdefault(name, [])
                tl.append(int(ts))
        except sqlite3.DatabaseError as exc:
            raise StructuralError(f"{Path(path).name}: messages unreadable: {exc}") from exc
    finally:
        con.close()
    for name, ts in times.items():
        summary.topics[name].add_many(ts)
    return times


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
        scan_mcap(path, summary)
        return summary
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
