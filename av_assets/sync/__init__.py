"""Sensor sync & conversion (workflow 3): every stream decoded (CAN through the drive's DBC) onto one
corrected clock (`silver/signals`), a derived 10 Hz SI grid, per-drive calibration, fixed-length
clips with a versioned policy, and Zarr clip shards of redacted keyframes and lidar/radar sweeps.

Plain functions: `dbc.decode_can`, `clock.estimate_lag`, `signals.sync_streams`, `clips.clip_windows`,
`calibration.calibration_record`, `frames.write_shard`. Docs: docs/sync.md.
"""

from av_assets.platform.registry import DemoStep, Extension


def _definitions():
    from av_assets.platform.defs import domain_definitions
    from av_assets.sync.assets import calibration, clips, frames, signals, signals_grid

    return domain_definitions(assets=[signals, signals_grid, calibration, clips, frames])


EXTENSION = Extension(
    name="sync",
    definitions=_definitions,
    process_assets=[
        "silver/signals",
        "silver/signals_grid",
        "silver/calibration",
        "silver/clips",
        "silver/frames",
    ],
    demo_steps=[DemoStep(name="sync", order=40, run="av_assets.sync.demo:sync_step")],
)
