"""Sensor sync & conversion (workflow 3): every stream decoded (CAN through the drive's DBC) onto one
corrected clock (`silver/signals`), a derived 10 Hz SI grid, per-drive calibration, fixed-length
clips with a versioned policy, and Zarr clip shards of redacted keyframes and lidar/radar sweeps.

Plain functions: `dbc.decode_can`, `clock.estimate_lag`, `signals.sync_streams`, `clips.clip_windows`,
`calibration.calibration_record`, `frames.write_shard`. Docs: docs/sync.md.
"""

from av_assets.contracts.registry import DemoStep, Extension, View


def _definitions():
    from av_assets.contracts.defs import domain_definitions
    from av_assets.sync.assets import calibration, clips, frames, signals, signals_grid

    return domain_definitions(assets=[signals, signals_grid, calibration, clips, frames])


def _demo(ctx) -> list[tuple[str, str]]:
    """`make demo` step: what sync made of the processed drives."""
    from av_assets.contracts.demo import demo_query

    ((clips, drives),) = demo_query("SELECT count(*), count(DISTINCT drive_id) FROM clips")
    ((rows, signals),) = demo_query("SELECT count(*), count(DISTINCT signal) FROM signals")
    return [
        ("clips (20 s)", f"{clips} over {drives} drives"),
        ("decoded signal rows", f"{rows:,} ({signals} signals)"),
    ]


EXTENSION = Extension(
    name="sync",
    definitions=_definitions,
    views=[
        View(
            name="signals",
            path="silver/signals/*/part-0.parquet",
            columns={
                "drive_id": "VARCHAR",
                "t_ns": "BIGINT",
                "t_raw_ns": "BIGINT",
                "signal": "VARCHAR",
                "value": "DOUBLE",
                "unit": "VARCHAR",
                "source": "VARCHAR",
            },
            description="raw decoded samples on the corrected clock, source units (CAN: DBC units)",
        ),
        View(
            name="signals_grid",
            path="silver/signals_grid/*/part-0.parquet",
            columns={
                "drive_id": "VARCHAR",
                "t_ns": "BIGINT",
                "source": "VARCHAR",
                "signal": "VARCHAR",
                "value": "DOUBLE",
                "unit": "VARCHAR",
                "n_samples": "UINTEGER",
            },
            description="derived: signals on a 10 Hz grid in SI units (lat/lon stay in degrees)",
        ),
        View(
            name="clock_offsets",
            path="silver/signals_clock/*/part-0.parquet",
            columns={
                "drive_id": "VARCHAR",
                "sensor": "VARCHAR",
                "offset_ns": "BIGINT",
                "estimated": "BOOLEAN",
                "score": "DOUBLE",
                "reference": "VARCHAR",
                "flagged": "BOOLEAN",
            },
            description="per-sensor clock offsets (t_raw - t_true) estimated per drive",
        ),
        View(
            name="calibration",
            path="silver/calibration/*/part-0.parquet",
            columns={
                "drive_id": "VARCHAR",
                "sensor_id": "VARCHAR",
                "frame_id": "VARCHAR",
                "parent_frame": "VARCHAR",
                "tx": "DOUBLE",
                "ty": "DOUBLE",
                "tz": "DOUBLE",
                "qx": "DOUBLE",
                "qy": "DOUBLE",
                "qz": "DOUBLE",
                "qw": "DOUBLE",
                "fx": "DOUBLE",
                "fy": "DOUBLE",
                "cx": "DOUBLE",
                "cy": "DOUBLE",
                "width": "BIGINT",
                "height": "BIGINT",
            },
            description="extrinsics in base_link (tf_static) and camera intrinsics per sensor and drive",
        ),
        View(
            name="clips",
            path="silver/clips/*/part-0.parquet",
            columns={
                "clip_id": "VARCHAR",
                "drive_id": "VARCHAR",
                "t_start_ns": "BIGINT",
                "t_end_ns": "BIGINT",
                "duration_s": "DOUBLE",
                "policy_version": "VARCHAR",
                "clip_length_s": "DOUBLE",
                "overlap_s": "DOUBLE",
            },
            description="fixed-length clips per drive (policy version in every row)",
        ),
        View(
            name="frames",
            path="silver/frames/*/index.parquet",
            columns={
                "drive_id": "VARCHAR",
                "clip_id": "VARCHAR",
                "sensor_id": "VARCHAR",
                "kind": "VARCHAR",
                "t_ns": "BIGINT",
                "t_raw_ns": "BIGINT",
                "shard": "VARCHAR",
                "index": "BIGINT",
                "n_points": "BIGINT",
            },
            description="every keyframe / sweep in the Zarr clip shards, with its shard and index",
        ),
    ],
    process_assets=[
        "silver/signals",
        "silver/signals_grid",
        "silver/calibration",
        "silver/clips",
        "silver/frames",
    ],
    demo_steps=[DemoStep(name="sync", order=40, run=_demo)],
)
