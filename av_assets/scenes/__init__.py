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


EXTENSION = Extension(
    name="scenes",
    definitions=_definitions,
    process_assets=["silver/object_tracks", "silver/event_detections"],
    demo_steps=[DemoStep(name="events", order=50, run="av_assets.scenes.demo:events_step")],
)
