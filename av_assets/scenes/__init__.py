"""Scene & event detection (workflow 6): object tracks from radar and lidar, a versioned trigger
policy, event detections (cut-in, harsh brake, stationary hazard, disengagement, speeding, lane change)
and tags per clip.

Plain functions: `tracking.track`, `ego.ego_state`, `detect.*`, `events.detect_drive`,
`evaluate.match_events`. Docs: docs/scenes.md.
"""

from av_assets.platform.registry import DemoStep, Extension


def _definitions():
    from av_assets.platform.defs import domain_definitions
    from av_assets.scenes.assets import event_detections, object_tracks, trigger_policy

    return domain_definitions(assets=[trigger_policy, object_tracks, event_detections])


def _demo(ctx) -> list[tuple[str, str]]:
    """`make demo` step: events detected, by type (compare with the fleet step's ground truth)."""
    from av_assets.platform.demo import demo_query

    rows = demo_query("SELECT type, count(*) FROM events GROUP BY 1 ORDER BY 1")
    return [(f"detected {kind}", str(n)) for kind, n in rows] or [("events detected", "0")]


EXTENSION = Extension(
    name="scenes",
    definitions=_definitions,
    process_assets=["silver/object_tracks", "silver/event_detections"],
    demo_steps=[DemoStep(name="events", order=50, run=_demo)],
)
