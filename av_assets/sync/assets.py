"""Sensor sync & conversion (workflow 3): signals on one clock, calibration, Zarr frames, clips."""

import time
from typing import Any

import dagster as dg
from pydantic import Field

from av_assets.platform.lineage import combine_hashes, lineage_result, sha256_bytes, sha256_json
from av_assets.platform.partitions import DRIVES
from av_contracts import tables
from av_resources.evaluation import GroundTruthResource
from av_resources.lake import LakeStorage

MANIFEST = dg.AssetKey(["bronze", "drive_manifest"])
SIGNALS = dg.AssetKey(["silver", "signals"])
CLIPS = dg.AssetKey(["silver", "clips"])
OWNERS = ["team:perception-data"]
SYNC_CODE_VERSION = "2"  # 2: logger-clock offsets confirmed by xcorr, despiked wheel speed


def _file_sha(lake: LakeStorage, rel: str) -> str:
    return sha256_bytes(lake.read_bytes(rel))


def _gt_clock_errors(gt: dict | None, clock: dict[str, Any]) -> dict[str, float] | None:
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


class SignalsConfig(dg.Config):
    flag_threshold_ms: float = Field(default=50.0, description="|offset| above this flags the drive")
    max_lag_s: float = Field(default=1.0, description="largest clock offset searched (s)")


@dg.asset(
    key=["silver", "signals"],
    group_name="sync",
    partitions_def=DRIVES,
    deps=[MANIFEST],
    kinds={"parquet", "polars"},
    owners=OWNERS,
    code_version=SYNC_CODE_VERSION,
    check_specs=[
        dg.AssetCheckSpec(
            "signals_timestamps_monotonic",
            asset=SIGNALS,
            blocking=True,
            description=(
                "Per signal, in arrival order, the corrected t_ns never steps backwards (after the "
                "backwards-jump repair and the offset correction)."
            ),
        )
    ],
    description=(
        "Raw decoded samples of every non-image stream (CAN through the drive's DBC, IMU, GNSS, point "
        "cloud counts) on one corrected clock: one row per frame and signal, source units, raw stamps kept."
    ),
)
def signals(
    context: dg.AssetExecutionContext,
    config: SignalsConfig,
    lake: LakeStorage,
    ground_truth: GroundTruthResource,
) -> dg.MaterializeResult:
    import polars as pl

    from av_assets.sync.dbc import DbcNotFound, load_dbc_string, resolve_dbc_text
    from av_assets.sync.read import read_drive
    from av_assets.sync.signals import sync_streams

    drive_id = context.partition_key
    manifest = lake.read_json(tables.BRONZE_MANIFEST.rel(drive_id=drive_id))
    t0 = time.perf_counter()
    streams = read_drive(lake, drive_id, manifest=manifest)
    spec = (manifest.get("drive_json") or {}).get("can_dbc")
    db, dbc_source, dbc_sha = None, None, None
    if spec:
        try:
            dbc_source, text = resolve_dbc_text(
                spec, lambda rel: lake.read_bytes(tables.BRONZE_MANIFEST.sidecar(rel, drive_id=drive_id))
            )
            db, dbc_sha = load_dbc_string(text), sha256_bytes(text.encode())
        except DbcNotFound as exc:
            context.log.warning(f"{drive_id}: {exc}; CAN frames are not decoded")
    t1 = time.perf_counter()
    result = sync_streams(
        streams, dbc=db, flag_threshold_ms=config.flag_threshold_ms, max_lag_s=config.max_lag_s
    )
    t2 = time.perf_counter()
    frame = result.frame
    rel = tables.SIGNALS.rel(drive_id=drive_id)
    uri = lake.write_parquet(rel, frame)
    clock = result.clock.as_dict()
    clock.update({"drive_id": drive_id, "dbc": {"spec": spec, "source": dbc_source, "sha256": dbc_sha}})
    errors = _gt_clock_errors(ground_truth.for_drive(drive_id), clock)
    if errors is not None:
        clock["ground_truth_error_ms"] = errors
    lake.write_json(tables.CLOCK_OFFSETS.sidecar("clock.json", drive_id=drive_id), clock)
    clock_rows = pl.DataFrame(
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
        schema={
            "drive_id": pl.String,
            "sensor": pl.String,
            "offset_ns": pl.Int64,
            "estimated": pl.Boolean,
            "score": pl.Float64,
            "reference": pl.String,
            "flagged": pl.Boolean,
        },
    )
    lake.write_parquet(tables.CLOCK_OFFSETS.rel(drive_id=drive_id), clock_rows)
    sha = _file_sha(lake, rel)
    wall = t2 - t0
    md: dict[str, Any] = {
        "av/messages": streams.messages,
        "av/messages_decoded": streams.messages_decoded,
        "av/messages_per_s": round(streams.messages / wall, 1) if wall else 0.0,
        "av/read_s": round(t1 - t0, 3),
        "av/decode_s": round(t2 - t1, 3),
        "av/can_frames": result.can["frames"],
        "av/can_frames_decoded": result.can["decoded_frames"],
        "av/can_frames_unknown_id": result.can["unknown_id_frames"],
        "av/can_messages": result.can["messages"],
        "av/dbc": f"{dbc_source} ({dbc_sha[:12]})" if dbc_sha else "none",
        "av/signal_names": frame["signal"].n_unique(),
        "av/clock_reference": str(clock["reference"]),
        "av/clock_offsets_ms": dg.MetadataValue.json(
            {k: round(v / 1e6, 3) for k, v in clock["offsets_ns"].items()}
        ),
        "av/clock_estimates": dg.MetadataValue.json(clock["estimated"]),
        "av/clock_flagged": bool(clock["flagged"]),
        "av/clock_backwards_jumps": len(clock["backwards_jumps"]),
    }
    if errors is not None:
        md["av/clock_offset_error_ms"] = dg.MetadataValue.json(errors)
    if streams.undecodable:
        md["av/undecodable"] = dg.MetadataValue.json(streams.undecodable)
    md["av/preview"] = dg.MetadataValue.md(
        frame.group_by("source", "signal", "unit")
        .len()
        .sort("source", "signal")
        .head(40)
        .to_pandas()
        .to_markdown(index=False)
        if frame.height
        else "(no signals)"
    )
    return lineage_result(
        drive_ids=[drive_id],
        content_sha256=combine_hashes([sha, sha256_json(clock)]),
        uri=uri,
        row_count=frame.height,
        schema=frame.schema,
        metadata=md,
        check_results=[monotonic_check(drive_id, result.monotonic)],
    )


def monotonic_check(drive_id: str, report) -> dg.AssetCheckResult:
    """`signals_timestamps_monotonic` from the per-signal report of `sync_streams`."""
    bad = report.filter(report["backward_steps"] > 0) if report is not None else None
    n_bad = 0 if bad is None else bad.height
    return dg.AssetCheckResult(
        check_name="signals_timestamps_monotonic",
        asset_key=SIGNALS,
        passed=n_bad == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "av/drive_ids": dg.MetadataValue.json([drive_id]),
            "av/signals_checked": 0 if report is None else report.height,
            "av/signals_non_monotonic": n_bad,
            "av/backward_steps": 0 if bad is None else int(bad["backward_steps"].sum()),
            "av/non_monotonic": dg.MetadataValue.json(bad.head(50).to_dicts() if n_bad else []),
        },
    )


GRID_HZ = 10.0
SI = {  # source unit -> (SI unit, factor)
    "km/h": ("m/s", 1 / 3.6),
    "kph": ("m/s", 1 / 3.6),
    "mph": ("m/s", 0.44704),
    "deg/s": ("rad/s", 0.017453292519943295),
    "deg": ("rad", 0.017453292519943295),
    "g": ("m/s^2", 9.80665),
}


@dg.asset(
    key=["silver", "signals_grid"],
    group_name="sync",
    partitions_def=DRIVES,
    deps=[SIGNALS],
    kinds={"parquet", "polars"},
    owners=OWNERS,
    code_version="1",
    description=(
        "Derived: silver/signals resampled to a 10 Hz grid (mean per 100 ms bin) in SI units "
        "(km/h -> m/s, deg -> rad except latitude/longitude, deg/s -> rad/s); long format with the SI unit."
    ),
)
def signals_grid(context: dg.AssetExecutionContext, lake: LakeStorage) -> dg.MaterializeResult:
    from av_assets.sync.grid import resample

    drive_id = context.partition_key
    frame = lake.read_parquet(tables.SIGNALS.rel(drive_id=drive_id))
    grid = resample(frame, hz=GRID_HZ, si=SI)
    rel = tables.SIGNALS_GRID.rel(drive_id=drive_id)
    uri = lake.write_parquet(rel, grid)
    return lineage_result(
        drive_ids=[drive_id],
        content_sha256=_file_sha(lake, rel),
        uri=uri,
        row_count=grid.height,
        schema=grid.schema,
        metadata={
            "av/grid_hz": GRID_HZ,
            "av/units": "SI",
            "av/signals": grid["signal"].n_unique() if grid.height else 0,
        },
    )


@dg.asset(
    key=["silver", "calibration"],
    group_name="sync",
    partitions_def=DRIVES,
    deps=[MANIFEST],
    kinds={"json", "parquet"},
    owners=OWNERS,
    code_version="1",
    description=(
        "Per-drive calibration: every sensor frame's extrinsics in base_link (chained /tf_static) and "
        "camera intrinsics (K, D, size) from CameraInfo; a JSON record and a one-row-per-sensor table."
    ),
)
def calibration(context: dg.AssetExecutionContext, lake: LakeStorage) -> dg.MaterializeResult:
    import polars as pl

    from av_assets.sync.calibration import calibration_record, calibration_rows
    from av_assets.sync.read import read_drive

    drive_id = context.partition_key
    manifest = lake.read_json(tables.BRONZE_MANIFEST.rel(drive_id=drive_id))
    streams = read_drive(lake, drive_id, manifest=manifest)
    sensors = (manifest.get("drive_json") or {}).get("sensors") or manifest.get("sensors") or []
    record = calibration_record(drive_id, streams.tf_static, streams.camera_info, sensors)
    lake.write_json(tables.CALIBRATION.sidecar("calibration.json", drive_id=drive_id), record)
    rows = calibration_rows(record)
    schema = _calibration_schema()
    table = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
    rel = tables.CALIBRATION.rel(drive_id=drive_id)
    uri = lake.write_parquet(rel, table)
    return lineage_result(
        drive_ids=[drive_id],
        content_sha256=sha256_json(record),
        uri=uri,
        row_count=table.height,
        schema=table.schema,
        metadata={
            "av/frames_in_base_link": len(record["frames"]),
            "av/cameras_with_intrinsics": sum(1 for s in record["sensors"].values() if "intrinsics" in s),
            "av/sensors_without_extrinsics": dg.MetadataValue.json(
                sorted(n for n, s in record["sensors"].items() if not s.get("extrinsics"))
            ),
        },
    )


def _calibration_schema():
    import polars as pl

    f, s, i = pl.Float64, pl.String, pl.Int64
    return {
        "drive_id": s,
        "sensor_id": s,
        "frame_id": s,
        "parent_frame": s,
        "tx": f,
        "ty": f,
        "tz": f,
        "qx": f,
        "qy": f,
        "qz": f,
        "qw": f,
        "fx": f,
        "fy": f,
        "cx": f,
        "cy": f,
        "width": i,
        "height": i,
        "distortion_model": s,
        "d": pl.List(pl.Float64),
    }


class ClipsConfig(dg.Config):
    clip_length_s: float = Field(default=20.0, description="clip length (policy default 20 s)")
    overlap_s: float = Field(default=0.0, description="overlap between consecutive clips")


@dg.asset(
    key=["silver", "clips"],
    group_name="sync",
    partitions_def=DRIVES,
    deps=[SIGNALS, dg.AssetKey(["silver", "redacted_frames"])],
    kinds={"parquet", "polars"},
    owners=OWNERS,
    code_version="1-clip-v1",
    description=(
        "Fixed-length clips (20 s, no overlap; policy clip-v1 recorded in every row) over the drive's "
        "corrected time span, clip_id = '{drive_id}:{t_start_ns}', with keyframe/sweep/signal counts."
    ),
)
def clips(context: dg.AssetExecutionContext, config: ClipsConfig, lake: LakeStorage) -> dg.MaterializeResult:
    import dataclasses

    import numpy as np

    from av_assets.sync.clips import CLIP_POLICY, clip_windows, clips_frame

    drive_id = context.partition_key
    policy = CLIP_POLICY
    if (config.clip_length_s, config.overlap_s) != (policy.length_s, policy.overlap_s):
        policy = dataclasses.replace(
            policy,
            length_s=config.clip_length_s,
            overlap_s=config.overlap_s,
            version=f"{policy.version}+len{config.clip_length_s:g}-ovl{config.overlap_s:g}",
        )
    sig = lake.read_parquet(tables.SIGNALS.rel(drive_id=drive_id))
    clock = lake.read_json(tables.CLOCK_OFFSETS.sidecar("clock.json", drive_id=drive_id))
    kf_t = _keyframe_times(lake, drive_id, clock)
    ts = sig["t_ns"].to_numpy() if sig.height else np.empty(0, np.int64)
    all_t = np.concatenate([ts, kf_t]) if kf_t.size else ts
    windows = clip_windows(int(all_t.min()), int(all_t.max()), policy) if all_t.size else []
    frame = clips_frame(
        drive_id,
        windows,
        keyframe_t=kf_t,
        lidar_t=_lidar_times(sig),
        signal_t=ts,
        policy=policy,
        shard_of=lambda t: f"{tables.FRAMES.folder(drive_id=drive_id)}/{t}.zarr",
    )
    rel = tables.CLIPS.rel(drive_id=drive_id)
    uri = lake.write_parquet(rel, frame)
    return lineage_result(
        drive_ids=[drive_id],
        content_sha256=_file_sha(lake, rel),
        uri=uri,
        row_count=frame.height,
        schema=frame.schema,
        metadata={
            "av/clip_policy": dg.MetadataValue.json(policy.as_dict()),
            "av/clip_policy_version": policy.version,
            "av/clips": frame.height,
            "av/preview": dg.MetadataValue.md(frame.head(10).to_pandas().to_markdown(index=False)),
        },
    )


def _lidar_times(sig):
    import numpy as np

    if not sig.height:
        return np.empty(0, np.int64)
    lid = sig.filter((sig["signal"] == "count") & sig["source"].str.contains("lidar"))
    return lid["t_ns"].to_numpy()


def _keyframe_times(lake: LakeStorage, drive_id: str, clock: dict):
    """Corrected stamps of the redacted keyframes (the only camera path out of bronze)."""
    import numpy as np

    rel = tables.REDACTED_FRAMES.rel(drive_id=drive_id)
    if not lake.exists(rel):
        return np.empty(0, np.int64)
    idx = lake.read_parquet(rel)
    if not idx.height:
        return np.empty(0, np.int64)
    off = np.array([clock["offsets_ns"].get(s, 0) for s in idx["sensor_id"].to_list()], dtype=np.int64)
    return idx["t_ns"].to_numpy().astype(np.int64) - off


@dg.asset(
    key=["silver", "frames"],
    group_name="sync",
    partitions_def=DRIVES,
    deps=[CLIPS, dg.AssetKey(["silver", "redacted_frames"]), SIGNALS],
    kinds={"zarr", "parquet"},
    owners=OWNERS,
    code_version="1",
    description=(
        "Zarr v3 clip shards (one store per clip) of the redacted camera keyframes and the lidar and "
        "radar sweeps on the corrected clock, plus an index Parquet (one row per frame)."
    ),
)
def frames(context: dg.AssetExecutionContext, lake: LakeStorage) -> dg.MaterializeResult:
    import io
    import tempfile
    from pathlib import Path

    import numpy as np
    import polars as pl
    from PIL import Image

    from av_assets.sync.clock import repair_backwards_jumps
    from av_assets.sync.frames import decode_pointcloud, write_shard
    from av_assets.sync.read import read_drive

    drive_id = context.partition_key
    t0 = time.perf_counter()
    clip_rows = lake.read_parquet(tables.CLIPS.rel(drive_id=drive_id))
    clock = lake.read_json(tables.CLOCK_OFFSETS.sidecar("clock.json", drive_id=drive_id))
    offs = clock["offsets_ns"]
    streams = read_drive(lake, drive_id, points=True)
    # point clouds: (sensor, kind, t_raw, t_ns, fields, points)
    clouds = []
    for st in streams.of_type("PointCloud2"):
        kind = "radar" if "radar" in st.sensor else "lidar"
        t_raw, _ = st.arrays()
        t_fix, _jumps = repair_backwards_jumps(t_raw)  # the same repair silver/signals applied
        for i in range(len(t_raw)):
            h, w = st.cols["shape"][i]
            names, pts = decode_pointcloud(
                st.cols["data"][i], st.cols["fields"][i], st.cols["point_step"][i], h * w
            )
            if kind == "lidar" and pts.shape[1] >= 3:
                pts = pts[np.isfinite(pts[:, :3]).all(axis=1)]
            clouds.append(
                (st.sensor, kind, int(t_raw[i]), int(t_fix[i]) - int(offs.get(st.sensor, 0)), names, pts)
            )
    idx_rel = tables.REDACTED_FRAMES.rel(drive_id=drive_id)
    kf = lake.read_parquet(idx_rel) if lake.exists(idx_rel) else pl.DataFrame()
    prefix = tables.FRAMES.folder(drive_id=drive_id)
    lake.delete(prefix, recursive=True)
    rows: list[dict[str, Any]] = []
    hashes: list[str] = []
    totals = {"keyframes": 0, "sweeps": 0}
    for clip in clip_rows.iter_rows(named=True):
        a, b = clip["t_start_ns"], clip["t_end_ns"]
        cams: dict[str, dict[str, Any]] = {}
        for r in kf.iter_rows(named=True) if kf.height else []:
            t = int(r["t_ns"]) - int(offs.get(r["sensor_id"], 0))
            if a <= t < b:
                c = cams.setdefault(r["sensor_id"], {"t_ns": [], "t_raw_ns": [], "images": []})
                img = np.asarray(Image.open(io.BytesIO(lake.read_bytes(r["path"]))).convert("RGB"))
                c["t_ns"].append(t)
                c["t_raw_ns"].append(int(r["t_ns"]))
                c["images"].append(img)
                rows.append(
                    {
                        "drive_id": drive_id,
                        "clip_id": clip["clip_id"],
                        "sensor_id": r["sensor_id"],
                        "kind": "camera",
                        "t_ns": t,
                        "t_raw_ns": int(r["t_ns"]),
                        "shard": clip["frames_shard"],
                        "index": len(c["images"]) - 1,
                        "n_points": 0,
                    }
                )
        cl: dict[str, dict[str, Any]] = {}
        for sensor, kind, t_raw, t, names, pts in clouds:
            if a <= t < b:
                c = cl.setdefault(
                    sensor, {"kind": kind, "t_ns": [], "t_raw_ns": [], "fields": names, "points": []}
                )
                c["t_ns"].append(t)
                c["t_raw_ns"].append(t_raw)
                c["points"].append(pts)
                rows.append(
                    {
                        "drive_id": drive_id,
                        "clip_id": clip["clip_id"],
                        "sensor_id": sensor,
                        "kind": kind,
                        "t_ns": t,
                        "t_raw_ns": t_raw,
                        "shard": clip["frames_shard"],
                        "index": len(c["points"]) - 1,
                        "n_points": int(pts.shape[0]),
                    }
                )
        attrs = {
            "drive_id": drive_id,
            "clip_id": clip["clip_id"],
            "t_start_ns": a,
            "t_end_ns": b,
            "policy_version": clip["policy_version"],
            "layout": "av-frames-v1",
        }
        with tempfile.TemporaryDirectory(prefix="av-zarr-") as tmp:
            store = Path(tmp) / "clip.zarr"
            counts = write_shard(str(store), attrs, cams, cl)
            for f in sorted(p for p in store.rglob("*") if p.is_file()):
                rel = f"{clip['frames_shard']}/{f.relative_to(store).as_posix()}"
                data = f.read_bytes()
                hashes.append(rel + ":" + sha256_bytes(data))
                lake.write_bytes(rel, data)
        for k in totals:
            totals[k] += counts[k]
    schema = {
        "drive_id": pl.String,
        "clip_id": pl.String,
        "sensor_id": pl.String,
        "kind": pl.String,
        "t_ns": pl.Int64,
        "t_raw_ns": pl.Int64,
        "shard": pl.String,
        "index": pl.Int64,
        "n_points": pl.Int64,
    }
    index = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
    rel = f"{prefix}/index.parquet"
    uri = lake.write_parquet(rel, index)
    wall = time.perf_counter() - t0
    return lineage_result(
        drive_ids=[drive_id],
        content_sha256=combine_hashes(hashes + [_file_sha(lake, rel)]),
        uri=lake.uri(prefix),
        row_count=index.height,
        schema=index.schema,
        metadata={
            "av/index_uri": dg.MetadataValue.path(uri),
            "av/shards": clip_rows.height,
            "av/keyframes": totals["keyframes"],
            "av/sweeps": totals["sweeps"],
            "av/objects_written": len(hashes),
            "av/wall_s": round(wall, 2),
        },
    )
