"""`silver/signals` as a plain function: decoded streams -> one long table on one clock.

One row per decoded frame and signal, in the source's unit (DBC units for CAN), columns
`drive_id, t_ns, t_raw_ns, signal, value, unit, source`. IMU and GNSS fields are named by their ROS
field path (`linear_acceleration.x`, `latitude`), CAN signals `<MESSAGE>.<SIGNAL>` as the DBC spells
them; `source` is the sensor name from drive.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from av_assets.sync.clock import (
    NS,
    can_speed_ms,
    derivative,
    despike,
    estimate_lag,
    fuse_offset,
    gnss_speed,
    lag_sigma,
    logger_offset,
    repair_backwards_jumps,
)
from av_assets.sync.read import DriveStreams

SIGNALS_SCHEMA = {
    "drive_id": "String",
    "t_ns": "Int64",
    "t_raw_ns": "Int64",
    "signal": "String",
    "value": "Float64",
    "unit": "String",
    "source": "String",
}
IMU_UNITS = {"linear_acceleration": "m/s^2", "angular_velocity": "rad/s", "orientation": "1"}
GNSS_UNITS = {"latitude": "deg", "longitude": "deg", "altitude": "m", "status": "1"}
POINTCLOUD_UNITS = {"count": "1"}
TWIST_UNITS = {"twist": "m/s"}
DEFAULT_FLAG_THRESHOLD_MS = 50.0


@dataclass
class ClockReport:
    reference: str | None
    offsets_ns: dict[str, int] = field(default_factory=dict)  # sensor -> offset (t_raw - t_true)
    estimated: dict[str, dict[str, Any]] = field(default_factory=dict)
    not_estimated: list[str] = field(default_factory=list)
    jumps: list[dict[str, Any]] = field(default_factory=list)
    logger_offsets_ns: dict[str, int] = field(default_factory=dict)  # median t_raw - t_log, per sensor
    threshold_ms: float = DEFAULT_FLAG_THRESHOLD_MS
    flagged: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "offsets_ns": dict(sorted(self.offsets_ns.items())),
            "estimated": self.estimated,
            "not_estimated": sorted(self.not_estimated),
            "backwards_jumps": self.jumps,
            "logger_offsets_ns": self.logger_offsets_ns,
            "threshold_ms": self.threshold_ms,
            "flagged": self.flagged,
            "convention": "t_raw_ns = t_true + offset; t_ns = t_raw_ns - offset",
        }


@dataclass
class SyncResult:
    frame: Any  # polars.DataFrame
    clock: ClockReport
    can: dict[str, Any]
    t_fixed: dict[str, np.ndarray]  # sensor -> jump-repaired raw stamps (arrival order)
    monotonic: Any = None  # polars.DataFrame: per (source, signal) rows and backward steps of t_ns


def monotonic_report(frame) -> Any:
    """Per (source, signal), in arrival order: rows, steps where corrected t_ns goes backwards and the
    largest such step (ms). `frame` must still be in arrival order (before the sort by t_ns)."""
    import polars as pl

    d = pl.col("t_ns").diff()
    return (
        frame.group_by("source", "signal", maintain_order=True)
        .agg(
            pl.len().alias("rows"),
            (d < 0).sum().alias("backward_steps"),
            (-d.min()).clip(lower_bound=0).truediv(1e6).fill_null(0.0).alias("max_backward_ms"),
        )
        .sort("source", "signal")
    )


class _Strings:
    """Interned strings: the long table's text columns are int32 codes into one small table until
    the frame is built (one polars gather per column instead of a Python string per row)."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def code(self, s: str) -> int:
        c = self.codes.get(s)
        if c is None:
            c = self.codes[s] = len(self.codes)
        return c

    def remap(self, names: list[str]) -> np.ndarray:
        return np.array([self.code(s) for s in names] + [0], dtype=np.int32)[:-1]


def _speed_rows(dec) -> np.ndarray:
    """Rows of a DecodedCan whose signal `can_speed_ms` may use (a wheel speed or a `*.SPEED`)."""
    if dec.signal_code is None:
        return np.arange(dec.signal.size)
    keep = [i for i, s in enumerate(dec.signal_names) if ".WHEEL_SPEED_" in s or s.endswith(".SPEED")]
    return np.nonzero(np.isin(dec.signal_code, keep))[0]


def _long(t_raw, t_fixed, offset, signal, values, unit, source) -> dict[str, np.ndarray]:
    """One part of the long table; `signal`, `unit`, `source`: int32 codes (arrays or one code)."""
    n = len(values)

    def codes(c):
        return np.full(n, c, dtype=np.int32) if np.isscalar(c) else np.asarray(c, dtype=np.int32)

    return {
        "t_ns": (t_fixed - offset).astype(np.int64),
        "t_raw_ns": t_raw.astype(np.int64),
        "signal": codes(signal),
        "value": np.asarray(values, dtype=np.float64),
        "unit": codes(unit),
        "source": codes(source),
    }


def sync_streams(
    streams: DriveStreams,
    *,
    dbc=None,
    flag_threshold_ms: float = DEFAULT_FLAG_THRESHOLD_MS,
    max_lag_s: float = 1.0,
) -> SyncResult:
    import polars as pl

    from av_assets.sync.dbc import decode_can

    drive_id = streams.drive_id
    clock = ClockReport(reference=None, threshold_ms=flag_threshold_ms)
    fixed: dict[str, np.ndarray] = {}
    raw: dict[str, np.ndarray] = {}
    vs_logger = {}  # sensor -> LoggerOffset (t_raw - t_log); a clock jump moves both, so raw stamps do
    for name, st in streams.streams.items():
        t_stamp, t_log = st.arrays()
        t_fix, jumps = repair_backwards_jumps(t_stamp)
        raw[name], fixed[name] = t_stamp, t_fix
        lo = logger_offset(t_stamp, t_log)
        if lo is not None:
            vs_logger[name] = lo
        clock.jumps += [{"sensor": name, **j.__dict__} for j in jumps]

    # ---- CAN decode (vectorised per id) ----
    can_parts: dict[str, Any] = {}
    can_info: dict[str, Any] = {"frames": 0, "decoded_frames": 0, "unknown_id_frames": 0, "messages": 0}
    for st in streams.of_type("Frame"):
        if dbc is None:
            continue
        data = st.cols["data"]
        if not isinstance(data, np.ndarray):
            data = np.frombuffer(b"".join(data), dtype=np.uint8).reshape(-1, 8)
        dec = decode_can(dbc, np.asarray(st.cols["id"]), data)
        can_parts[st.sensor] = dec
        can_info["frames"] += len(st.t_stamp)
        can_info["decoded_frames"] += dec.frames_decoded
        can_info["unknown_id_frames"] += dec.frames_unknown_id
        can_info["messages"] += dec.messages

    # ---- clock offsets ----
    gnss = [s for s in streams.of_type("NavSatFix") if len(s.t_stamp) >= 10]
    imus = [s for s in streams.of_type("Imu") if len(s.t_stamp) >= 10]
    can_speed = None
    can_name = None
    for name, dec in can_parts.items():
        sel = _speed_rows(dec)  # can_speed_ms only ever looks at these rows
        t = fixed[name][dec.frame_index[sel]] / NS
        sp = can_speed_ms(dec.signal[sel], dec.value[sel], dec.unit[sel], t)
        if sp is not None and sp[0].size >= 10:
            can_speed, can_name = (sp[0], despike(sp[1])), name
            break
    offsets: dict[str, float] = {n: 0.0 for n in streams.streams}
    t_origin = min((int(v[0]) for v in fixed.values() if v.size), default=0)

    def rel(a):  # seconds from a drive origin: float64 keeps sub-microsecond precision
        return (a - t_origin) / NS

    def logger_rel(sensor: str, against: str) -> float | None:
        if sensor in vs_logger and against in vs_logger:
            return (vs_logger[sensor].median_ns - vs_logger[against].median_ns) / NS
        return None

    def estimate(t_ref, v_ref, t_x, v_x, sensor, against, tolerance_s):
        lag = estimate_lag(t_ref, v_ref, t_x, v_x, max_lag_s=max_lag_s)
        lag.sigma_s = lag_sigma(t_ref, v_ref, t_x, v_x, max_lag_s=max_lag_s) if lag.ok else float("inf")
        lr = logger_rel(sensor, against)
        value, how = fuse_offset(lag, lr, tolerance_s=tolerance_s)
        info = {
            **lag.__dict__,
            "xcorr_lag_s": lag.lag_s,
            "logger_rel_s": lr,
            "chosen": how,
            "offset_s": value,
        }
        info["lag_s"] = value
        return lag, value, info

    if gnss:
        clock.reference = gnss[0].sensor
    elif can_name:
        clock.reference = can_name
    if can_speed is not None and gnss:
        g = gnss[0]
        vel = [s for s in streams.streams.values() if s.type.rsplit("/", 1)[-1].startswith("Twist")]
        if vel and len(vel[0].t_stamp) >= 10:  # a receiver's own velocity: no differentiation noise
            v0 = vel[0]
            tg = rel(fixed[v0.sensor])
            vg = np.hypot(np.asarray(v0.cols["twist.linear.x"]), np.asarray(v0.cols["twist.linear.y"]))
            method, g_sensor = "speed xcorr (receiver velocity)", v0.sensor
            tolerance_s = 0.010
        else:
            tg, vg = gnss_speed(
                rel(fixed[g.sensor]), np.asarray(g.cols["latitude"]), np.asarray(g.cols["longitude"])
            )
            method, g_sensor = "speed xcorr (fix differences, 1 s baseline)", g.sensor
            # speed from 0.35 m-noise fixes: the peak wanders by up to ~60 ms on 40-50 s drives
            tolerance_s = 0.075
        lag, value, info = estimate(
            tg, vg, (can_speed[0] * NS - t_origin) / NS, can_speed[1], can_name, g_sensor, tolerance_s
        )
        clock.estimated[can_name] = {"against": g_sensor, "method": method, **info}
        if lag.ok:
            offsets[can_name] = value
    if can_speed is not None:
        tc, ac = derivative((can_speed[0] * NS - t_origin) / NS, can_speed[1])
        for imu in imus:
            best = None
            for axis in ("x", "y", "z"):
                v = np.asarray(imu.cols.get(f"linear_acceleration.{axis}", []), dtype=np.float64)
                if v.size != fixed[imu.sensor].size:
                    continue
                for sign in (1.0, -1.0):
                    lag = estimate_lag(tc, ac, rel(fixed[imu.sensor]), sign * v, max_lag_s=max_lag_s)
                    if best is None or lag.score > best[0].score:
                        best = (lag, axis, sign)
            if best is None:
                continue
            _lag, axis, sign = best
            v = np.asarray(imu.cols[f"linear_acceleration.{axis}"], dtype=np.float64)
            lag, value, info = estimate(tc, ac, rel(fixed[imu.sensor]), sign * v, imu.sensor, can_name, 0.010)
            clock.estimated[imu.sensor] = {
                "against": can_name,
                "method": "accel vs d(wheel speed)/dt xcorr",
                "axis": ("+" if sign > 0 else "-") + axis,
                **info,
            }
            if lag.ok:
                offsets[imu.sensor] = offsets[can_name] + value
    for name in streams.streams:
        if name not in clock.estimated and name != clock.reference:
            clock.not_estimated.append(name)
    clock.offsets_ns = {n: int(round(v * NS)) for n, v in offsets.items()}
    clock.logger_offsets_ns = {n: lo.median_ns for n, lo in sorted(vs_logger.items())}
    clock.flagged = any(abs(v) > flag_threshold_ms * 1e6 for v in clock.offsets_ns.values()) or bool(
        clock.jumps
    )

    # ---- long table ----
    strings = _Strings()
    parts: list[dict[str, np.ndarray]] = []
    for name, dec in can_parts.items():
        fi = dec.frame_index
        if dec.signal_code is not None:
            sig = strings.remap(dec.signal_names)[dec.signal_code]
            unit = strings.remap(dec.unit_names)[dec.unit_code]
        else:  # a DecodedCan built without codes
            sig = np.array([strings.code(x) for x in dec.signal.tolist()] + [0], np.int32)[:-1]
            unit = np.array([strings.code(x) for x in dec.unit.tolist()] + [0], np.int32)[:-1]
        parts.append(
            _long(
                raw[name][fi],
                fixed[name][fi],
                clock.offsets_ns[name],
                sig,
                dec.value,
                unit,
                strings.code(name),
            )
        )
    for st in streams.streams.values():
        short = st.type.rsplit("/", 1)[-1]
        if short == "Frame":
            continue
        if short == "Imu":
            units = IMU_UNITS
        elif short == "NavSatFix":
            units = GNSS_UNITS
        elif short == "PointCloud2":
            units = POINTCLOUD_UNITS
        elif short.startswith("Twist"):
            units = TWIST_UNITS
        else:
            continue
        n = len(st.t_stamp)
        for col, values in st.cols.items():
            if col not in units and col.split(".")[0] not in units:
                continue
            if len(values) != n:
                continue
            unit = units.get(col) or units[col.split(".")[0]]
            parts.append(
                _long(
                    raw[st.sensor],
                    fixed[st.sensor],
                    clock.offsets_ns[st.sensor],
                    strings.code(col),
                    values,
                    strings.code(unit),
                    strings.code(st.sensor),
                )
            )
    if parts:
        cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    else:
        cols = {k: np.empty(0, dtype=np.int32) for k in ("signal", "unit", "source")}
        cols.update({k: np.empty(0, dtype=np.int64) for k in ("t_ns", "t_raw_ns")})
        cols["value"] = np.empty(0)
    table = pl.Series(list(strings.codes), dtype=pl.String)
    n_rows = len(cols["t_ns"])

    def frame_of(order=None):
        def take(a):
            return a if order is None else a[order]

        return pl.DataFrame(
            {
                "drive_id": pl.Series([drive_id], dtype=pl.String).new_from_index(0, n_rows),
                "t_ns": pl.Series(take(cols["t_ns"]), dtype=pl.Int64),
                "t_raw_ns": pl.Series(take(cols["t_raw_ns"]), dtype=pl.Int64),
                "signal": table.gather(take(cols["signal"])),
                "value": pl.Series(take(cols["value"]), dtype=pl.Float64),
                "unit": table.gather(take(cols["unit"])),
                "source": table.gather(take(cols["source"])),
            }
        )

    monotonic = monotonic_report(frame_of())
    # sorted by (t_ns, source, signal), stable: the strings' ranks order exactly as the strings do
    rank = np.empty(len(table), dtype=np.int32)
    rank[np.argsort(np.array(list(strings.codes) + [""], dtype=object)[:-1], kind="stable")] = np.arange(
        len(table), dtype=np.int32
    )
    order = np.lexsort((rank[cols["signal"]], rank[cols["source"]], cols["t_ns"]))
    frame = frame_of(order)
    return SyncResult(frame, clock, can_info, fixed, monotonic)


def gt_clock_errors(gt: dict | None, clock: dict[str, Any]) -> dict[str, float] | None:
    """Estimated minus true offset (ms) per estimated sensor, relative to the reference sensor, when the
    ground truth records `sensor_clocks`: `{sensor: {"offset_ns": int, "jitter_ns_std": int}}` (fleet
    part 2; a bare `{sensor: offset_ns}` is accepted too)."""
    sc = (gt or {}).get("sensor_clocks")
    if not isinstance(sc, dict) or not sc:
        return None
    true = {}
    for k, v in sc.items():
        off = v.get("offset_ns") if isinstance(v, dict) else v
        if isinstance(off, (int, float)):
            true[k] = float(off)
    ref = clock.get("reference")
    ref_true = true.get(ref, 0.0)
    out = {}
    for sensor in clock["estimated"]:
        if sensor in true:
            est = clock["offsets_ns"].get(sensor, 0)
            out[sensor] = round((est - (true[sensor] - ref_true)) / 1e6, 3)
    return out


CLOCK_OFFSETS_SCHEMA = {
    "drive_id": "String",
    "sensor": "String",
    "offset_ns": "Int64",
    "estimated": "Boolean",
    "score": "Float64",
    "reference": "String",
    "flagged": "Boolean",
}


def clock_offset_rows(drive_id: str, clock: dict[str, Any]) -> Any:
    """`silver/clock_offsets`: one row per sensor of the clock document (polars.DataFrame)."""
    import polars as pl

    return pl.DataFrame(
        [
            {
                "drive_id": drive_id,
                "sensor": s,
                "offset_ns": int(off),
                "estimated": s in clock["estimated"],
                "score": float(clock["estimated"].get(s, {}).get("score", float("nan"))),
                "reference": clock["reference"],
                "flagged": bool(clock["flagged"]),
            }
            for s, off in clock["offsets_ns"].items()
        ],
        schema={k: getattr(pl, v) for k, v in CLOCK_OFFSETS_SCHEMA.items()},
    )


@dataclass
class DriveSync:
    """Everything `silver/signals` writes and reports for one drive."""

    streams: DriveStreams
    result: SyncResult
    clock: dict[str, Any]  # the clock.json document
    clock_rows: Any  # polars.DataFrame, silver/clock_offsets
    gt_errors_ms: dict[str, float] | None
    dbc_source: str | None
    dbc_sha: str | None
    read_s: float
    decode_s: float
    warnings: list[str] = field(default_factory=list)


def sync_drive(
    lake,
    drive_id: str,
    manifest: dict[str, Any],
    *,
    read_sidecar,
    flag_threshold_ms: float = DEFAULT_FLAG_THRESHOLD_MS,
    max_lag_s: float = 1.0,
    ground_truth: dict | None = None,
) -> DriveSync:
    """Read the drive, decode CAN through its DBC (`read_sidecar(rel) -> bytes` resolves a DBC shipped
    beside the bags), put every stream on one clock and build the clock document and rows."""
    import hashlib
    import time

    from av_assets.sync.dbc import DbcNotFound, load_dbc_string, resolve_dbc_text
    from av_assets.sync.read import read_drive

    t0 = time.perf_counter()
    streams = read_drive(lake, drive_id, manifest=manifest)
    spec = (manifest.get("drive_json") or {}).get("can_dbc")
    db, dbc_source, dbc_sha, warnings = None, None, None, []
    if spec:
        try:
            dbc_source, text = resolve_dbc_text(spec, read_sidecar)
            db, dbc_sha = load_dbc_string(text), hashlib.sha256(text.encode()).hexdigest()
        except DbcNotFound as exc:
            warnings.append(f"{drive_id}: {exc}; CAN frames are not decoded")
    t1 = time.perf_counter()
    result = sync_streams(streams, dbc=db, flag_threshold_ms=flag_threshold_ms, max_lag_s=max_lag_s)
    t2 = time.perf_counter()
    clock = result.clock.as_dict()
    clock.update({"drive_id": drive_id, "dbc": {"spec": spec, "source": dbc_source, "sha256": dbc_sha}})
    errors = gt_clock_errors(ground_truth, clock)
    if errors is not None:
        clock["ground_truth_error_ms"] = errors
    return DriveSync(
        streams=streams,
        result=result,
        clock=clock,
        clock_rows=clock_offset_rows(drive_id, clock),
        gt_errors_ms=errors,
        dbc_source=dbc_source,
        dbc_sha=dbc_sha,
        read_s=t1 - t0,
        decode_s=t2 - t1,
        warnings=warnings,
    )
