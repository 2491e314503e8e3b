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
    from av_assets.sync.signals import sync_drive

    drive_id = context.partition_key
    manifest = lake.read_json(tables.BRONZE_MANIFEST.rel(drive_id=drive_id))
    synced = sync_drive(
        lake,
        drive_id,
        manifest,
        read_sidecar=lambda rel: lake.read_bytes(tables.BRONZE_MANIFEST.sidecar(rel, drive_id=drive_id)),
        flag_threshold_ms=config.flag_threshold_ms,
        max_lag_s=config.max_lag_s,
        ground_truth=ground_truth.for_drive(drive_id),
    )
    for message in synced.warnings:
        context.log.warning(message)
    frame, clock = synced.result.frame, synced.clock
    rel = tables.SIGNALS.rel(drive_id=drive_id)
    uri = lake.write_parquet(rel, frame)
    lake.write_json(tables.CLOCK_OFFSETS.sidecar("clock.json", drive_id=drive_id), clock)
    lake.write_parquet(tables.CLOCK_OFFSETS.rel(drive_id=drive_id), synced.clock_rows)
    sha = _file_sha(lake, rel)
    return lineage_result(
        drive_ids=[drive_id],
        content_sha256=combine_hashes([sha, sha256_json(clock)]),
        uri=uri,
        row_count=frame.height,
        schema=frame.schema,
        metadata=_signals_metadata(synced),
        check_results=[monotonic_check(drive_id, synced.result.monotonic)],
    )


def _signals_metadata(synced) -> dict[str, Any]:
    """The asset's metadata from one drive's `DriveSync`."""
    streams, result, clock, frame = synced.streams, synced.result, synced.clock, synced.result.frame
    wall = synced.read_s + synced.decode_s
    md: dict[str, Any] = {
        "av/messages": streams.messages,
        "av/messages_decoded": streams.messages_decoded,
        "av/messages_per_s": round(streams.messages / wall, 1) if wall else 0.0,
        "av/read_s": round(synced.read_s, 3),
        "av/decode_s": round(synced.decode_s, 3),
        "av/can_frames": result.can["frames"],
        "av/can_frames_decoded": result.can["decoded_frames"],
        "av/can_frames_unknown_id": result.can["unknown_id_frames"],
        "av/can_messages": result.can["messages"],
        "av/dbc": f"{synced.dbc_source} ({synced.dbc_sha[:12]})" if synced.dbc_sha else "none",
        "av/signal_names": frame["signal"].n_unique(),
        "av/clock_reference": str(clock["reference"]),
        "av/clock_offsets_ms": dg.MetadataValue.json(
            {k: round(v / 1e6, 3) for k, v in clock["offsets_ns"].items()}
        ),
        "av/clock_estimates": dg.MetadataValue.json(clock["estimated"]),
        "av/clock_flagged": bool(clock["flagged"]),
        "av/clock_backwards_jumps": len(clock["backwards_jumps"]),
    }
    if synced.gt_errors_ms is not None:
        md["av/clock_offset_error_ms"] = dg.MetadataValue.json(synced.gt_errors_ms)
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
    return md


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
    from av_assets.sync.frames import decode_clouds, write_frame_shards
    from av_assets.sync.read import read_drive

    drive_id = context.partition_key
    t0 = time.perf_counter()
    clip_rows = lake.read_parquet(tables.CLIPS.rel(drive_id=drive_id))
    clock = lake.read_json(tables.CLOCK_OFFSETS.sidecar("clock.json", drive_id=drive_id))
    offs = clock["offsets_ns"]
    clouds = decode_clouds(read_drive(lake, drive_id, points=True), offs)
    idx_rel = tables.REDACTED_FRAMES.rel(drive_id=drive_id)
    keyframes = lake.read_parquet(idx_rel).to_dicts() if lake.exists(idx_rel) else []
    prefix = tables.FRAMES.folder(drive_id=drive_id)
    lake.delete(prefix, recursive=True)
    shards = write_frame_shards(lake, drive_id, clip_rows.to_dicts(), keyframes, clouds, offs)
    index = shards.index
    rel = f"{prefix}/index.parquet"
    uri = lake.write_parquet(rel, index)
    wall = time.perf_counter() - t0
    return lineage_result(
        drive_ids=[drive_id],
        content_sha256=combine_hashes(shards.hashes + [_file_sha(lake, rel)]),
        uri=lake.uri(prefix),
        row_count=index.height,
        schema=index.schema,
        metadata={
            "av/index_uri": dg.MetadataValue.path(uri),
            "av/shards": clip_rows.height,
            "av/keyframes": shards.keyframes,
            "av/sweeps": shards.sweeps,
            "av/objects_written": len(shards.hashes),
            "av/wall_s": round(wall, 2),
        },
    )
