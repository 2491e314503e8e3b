"""Scene & event detection (workflow 6): object tracks from radar and lidar, a versioned trigger
policy, event detections (cut-in, harsh brake, stationary hazard, disengagement, speeding, lane change)
and tags per clip.

Plain functions: `tracking.track`, `ego.ego_state`, `detect.*`, `events.detect_drive`,
`evaluate.match_events`. Docs: docs/scenes.md.
"""

from av_assets.contracts.registry import DemoStep, Extension, View


def _definitions():
    from av_assets.contracts.defs import domain_definitions
    from av_assets.scenes.assets import event_detections, object_tracks, trigger_policy

    return domain_definitions(assets=[trigger_policy, object_tracks, event_detections])


def _demo(ctx) -> list[tuple[str, str]]:
    """`make demo` step: events detected, by type (compare with the fleet step's ground truth)."""
    from av_assets.contracts.demo import demo_query

    rows = demo_query("SELECT type, count(*) FROM events GROUP BY 1 ORDER BY 1")
    return [(f"detected {kind}", str(n)) for kind, n in rows] or [("events detected", "0")]


EXTENSION = Extension(
    name="scenes",
    definitions=_definitions,
    views=[
        View(
            name="object_tracks",
            path="silver/object_tracks/*/part-0.parquet",
            columns={
                "drive_id": "VARCHAR",
                "track_id": "VARCHAR",
                "t_ns": "BIGINT",
                "x": "DOUBLE",
                "y": "DOUBLE",
                "vx": "DOUBLE",
                "vy": "DOUBLE",
                "vx_ground": "DOUBLE",
                "vy_ground": "DOUBLE",
                "ground_speed_mps": "DOUBLE",
                "source": "VARCHAR",
                "lateral_offset_m": "DOUBLE",
                "lane": "TINYINT",
            },
            description="tracked objects per update: base_link position/velocity (m, m/s), lane vs the ego lane",
        ),
        View(
            name="events",
            path="silver/event_detections/*/part-0.parquet",
            columns={
                "drive_id": "VARCHAR",
                "type": "VARCHAR",
                "t_start_ns": "BIGINT",
                "t_end_ns": "BIGINT",
                "severity": "DOUBLE",
                "clip_id": "VARCHAR",
                "track_id": "VARCHAR",
                "policy_version": "VARCHAR",
            },
            description="detected events (trigger policy version in every row)",
        ),
        View(
            name="clip_tags",
            path="silver/clip_tags/*/part-0.parquet",
            columns={"clip_id": "VARCHAR", "drive_id": "VARCHAR", "tags": "VARCHAR[]", "n_events": "BIGINT"},
            description="event types per clip (an event tags every clip its interval overlaps)",
        ),
    ],
    process_assets=["silver/object_tracks", "silver/event_detections"],
    demo_steps=[DemoStep(name="events", order=50, run=_demo)],
)
