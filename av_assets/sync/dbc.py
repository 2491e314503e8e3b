"""CAN decoding through a DBC, vectorised over every frame of a drive.

The DBC a drive names in `drive.json` `can_dbc` resolves, in order, to
1. an opendbc *generated* DBC (`toyota_nodsu_pt_generated`): opendbc builds these in memory from
   `dbc/generator/<brand>/<name>.dbc` with its `CM_ "IMPORT ..."` lines inlined (`get_generated_dbcs()`),
2. a plain opendbc DBC shipped in the wheel (`opendbc/dbc/<name>.dbc`),
3. a relative path inside the drive folder (`dbc/vehicle.dbc`), read from the bronze copy.

Decoding does not call cantools per frame: for each message id the payloads of all its frames form
one `uint64` column (big- and little-endian views), and every signal is a shift, mask, sign extension
and `raw * scale + offset` over that column (numpy), exactly cantools' arithmetic. Multiplexed messages
fall back to cantools per frame. Payloads shorter than the DBC length are zero-padded (loggers that
store payloads as fixed-width byte strings drop trailing NULs).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np

DBC_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


class DbcNotFound(LookupError):
    pass


@cache
def _generated() -> dict[str, str]:
    from opendbc import get_generated_dbcs

    return dict(get_generated_dbcs())


def opendbc_text(name: str) -> str | None:
    """The DBC text opendbc knows under `name` (generated first, then shipped files), else None."""
    stem = name[:-4] if name.endswith(".dbc") else name
    if not DBC_NAME_RE.fullmatch(stem) or "/" in stem:
        return None
    gen = _generated()
    if stem in gen:
        return gen[stem]
    from importlib.resources import files

    path = files("opendbc") / "dbc" / f"{stem}.dbc"
    return path.read_text() if path.is_file() else None


def resolve_dbc_text(spec: str, read_drive_file: Callable[[str], bytes] | None = None) -> tuple[str, str]:
    """(source, text) of the DBC `spec` names: `opendbc:<name>` or `drive:<relative path>`."""
    from av_contracts.ids import InvalidIdentifier, safe_relative_path

    text = opendbc_text(spec)
    if text is not None:
        return f"opendbc:{spec}", text
    if read_drive_file is not None:
        try:
            rel = safe_relative_path(spec)
        except InvalidIdentifier as exc:
            raise DbcNotFound(f"can_dbc {spec!r}: {exc}") from exc
        try:
            return f"drive:{rel}", read_drive_file(rel).decode("utf-8", "replace")
        except (FileNotFoundError, OSError) as exc:
            raise DbcNotFound(f"can_dbc {spec!r}: not an opendbc name and not a file in the drive") from exc
    raise DbcNotFound(f"can_dbc {spec!r}: not an opendbc DBC name")


@lru_cache(maxsize=8)
def load_dbc_string(text: str):
    """cantools database from DBC text; opendbc `CM_ "IMPORT ..."` lines are dropped (the generated
    DBCs already inline them). Cached per text (parsing the Toyota DBC takes ~35 ms): the database is
    only read, never modified, by the decoders."""
    import cantools

    lines = [ln for ln in text.splitlines() if not ln.startswith('CM_ "IMPORT')]
    return cantools.database.load_string("\n".join(lines), "dbc", strict=False)


@dataclass
class DecodedCan:
    """Long format: one entry per (frame, signal)."""

    frame_index: np.ndarray  # int64 index into the input frame arrays
    signal: np.ndarray  # object array of "<MESSAGE>.<SIGNAL>"
    value: np.ndarray  # float64, DBC physical unit
    unit: np.ndarray  # object array
    frames_decoded: int
    frames_unknown_id: int
    messages: int
    # the same two columns as codes into small tables (`signal == signal_names[signal_code]`), so the
    # long table can be built without touching one Python string per row
    signal_code: np.ndarray | None = None  # int32
    signal_names: list[str] | None = None
    unit_code: np.ndarray | None = None  # int32
    unit_names: list[str] | None = None


def _payload_u64(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(little-endian, big-endian) uint64 views of n x 8 uint8 payloads."""
    le = data.copy().view("<u8").reshape(-1)
    be = data.copy().view(">u8").reshape(-1).astype(np.uint64)
    return le.astype(np.uint64), be


def _raw_values(sig, le: np.ndarray, be: np.ndarray) -> np.ndarray:
    length = int(sig.length)
    mask = np.uint64((1 << length) - 1) if length < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)
    if sig.byte_order == "little_endian":
        raw = (le >> np.uint64(sig.start)) & mask
    else:
        # DBC start bit of a Motorola signal is its MSB in sawtooth numbering.
        msb = (sig.start // 8) * 8 + (7 - sig.start % 8)
        shift = 64 - (msb + length)
        raw = (be >> np.uint64(shift)) & mask
    if sig.is_signed:
        raw_i = raw.astype(np.int64)
        sign = np.int64(1) << np.int64(length - 1)
        return np.where(raw_i & sign, raw_i - (np.int64(1) << np.int64(length)), raw_i).astype(np.float64)
    return raw.astype(np.float64)


def decode_can(db, can_id: np.ndarray, data: np.ndarray, dlc: np.ndarray | None = None) -> DecodedCan:
    """Decode n frames (ids, n x 8 uint8 payloads) through a cantools database, vectorised per id."""
    can_id = np.asarray(can_id, dtype=np.int64)
    data = np.ascontiguousarray(data, dtype=np.uint8).reshape(-1, 8)
    idx_parts, sig_parts, val_parts, unit_parts = [], [], [], []
    sig_names: dict[str, int] = {}
    unit_names: dict[str, int] = {}

    def code(table: dict[str, int], s: str) -> int:
        c = table.get(s)
        if c is None:
            c = table[s] = len(table)
        return c

    decoded = unknown = 0
    n_msgs = 0
    ids, inverse = np.unique(can_id, return_inverse=True)
    for k, fid in enumerate(ids):
        rows = np.nonzero(inverse == k)[0]
        try:
            msg = db.get_message_by_frame_id(int(fid))
        except KeyError:
            unknown += rows.size
            continue
        n_msgs += 1
        decoded += rows.size
        payload = data[rows].copy()
        if msg.length < 8:
            payload[:, msg.length :] = 0  # bytes beyond the DBC length carry no signal
        names = [f"{msg.name}.{s.name}" for s in msg.signals]
        if msg.is_multiplexed():
            for r, p in zip(rows, payload, strict=True):
                vals = msg.decode(
                    bytes(p[: msg.length]), decode_choices=False, scaling=True, allow_truncated=True
                )
                for s in msg.signals:
                    if s.name in vals:
                        idx_parts.append(np.array([r]))
                        sig_parts.append(np.array([code(sig_names, f"{msg.name}.{s.name}")], np.int32))
                        val_parts.append(np.array([float(vals[s.name])]))
                        unit_parts.append(np.array([code(unit_names, s.unit or "")], np.int32))
            continue
        le, be = _payload_u64(payload)
        for s, name in zip(msg.signals, names, strict=True):
            raw = _raw_values(s, le, be)
            val = raw * float(s.scale) + float(s.offset) if (s.scale != 1 or s.offset != 0) else raw
            idx_parts.append(rows)
            sig_parts.append(np.full(rows.size, code(sig_names, name), np.int32))
            val_parts.append(val)
            unit_parts.append(np.full(rows.size, code(unit_names, s.unit or ""), np.int32))
    if idx_parts:
        fi = np.concatenate(idx_parts)
        sc, vv, uc = np.concatenate(sig_parts), np.concatenate(val_parts), np.concatenate(unit_parts)
    else:
        fi, sc, vv, uc = (np.empty(0, np.int64), np.empty(0, np.int32), np.empty(0), np.empty(0, np.int32))
    sn, un = list(sig_names), list(unit_names)
    sg = np.array(sn + [""], dtype=object)[:-1][sc]  # object arrays (the "" keeps numpy from nesting)
    uu = np.array(un + [""], dtype=object)[:-1][uc]
    return DecodedCan(fi, sg, vv, uu, decoded, unknown, n_msgs, sc, sn, uc, un)


def pad_payloads(payloads: list[bytes] | np.ndarray) -> np.ndarray:
    """n x 8 uint8 from byte strings of any length <= 8 (trailing NULs restored)."""
    arr = np.asarray(payloads, dtype="S8")  # numpy pads short strings with NULs
    return np.frombuffer(arr.tobytes(), dtype=np.uint8).reshape(-1, 8).copy()
