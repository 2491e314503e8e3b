"""`evaluate.drive_evaluation`: one drive's detections against its ground truth (event_detections)."""

from av_assets.scenes.evaluate import drive_evaluation, event_matches, match_events
from av_assets.scenes.policy import EVENT_TYPES

S = 1_000_000_000


def test_drive_evaluation_over_the_types_not_skipped():
    dets = [
        {"type": "harsh_brake", "t_start_ns": 10 * S, "t_end_ns": 11 * S},
        {"type": "cut_in", "t_start_ns": 30 * S, "t_end_ns": 31 * S},
    ]
    gt = {
        "t_start_ns": 0,
        "events": [
            {"type": "harsh_brake", "t_start_ns": 10 * S, "t_end_ns": 12 * S},
            {"type": "speeding", "t_start_ns": 50 * S, "t_end_ns": 60 * S},
        ],
        "near_misses": [{"type": "swerve", "resembles": "cut_in", "t_start_ns": 30 * S, "t_end_ns": 31 * S}],
    }
    ev = drive_evaluation(dets, gt, skipped={"speeding": "no speed limits"})
    types = [t for t in EVENT_TYPES if t != "speeding"]
    assert list(ev["per_type"]) == types
    assert ev["per_type"] == match_events(dets, gt["events"], types)
    assert ev["per_type"]["harsh_brake"]["recall"] == 1.0 and ev["per_type"]["cut_in"]["precision"] == 0.0
    assert ev["matches"] == event_matches(dets, gt["events"][:1], gt["near_misses"], t0_ns=0)
    assert ev["near_miss_types"] == ["swerve"]
    assert drive_evaluation([], {}, skipped=[])["near_miss_types"] == []
