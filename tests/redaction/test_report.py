"""redaction_report: counts, versions, recall/precision under the documented matching rule, audit."""

from av_assets.redaction.config import RedactionConfig
from av_assets.redaction.redact import Detection, match_counts, matches
from av_assets.redaction.report import redaction_report


def test_matching_rule():
    assert matches([0, 0, 10, 10], [2, 2, 12, 12])  # IoU 0.47
    assert matches([0, 0, 10, 10], [-20, -20, 30, 30])  # IoU 0.04 but covers the whole box
    assert not matches([0, 0, 10, 10], [8, 8, 20, 20])
    assert match_counts([[0, 0, 10, 10], [50, 50, 60, 60]], [[1, 1, 10, 10], [1, 0, 11, 10]]) == {
        "tp": 1,
        "fp": 1,
        "fn": 1,
    }


def test_report_counts_metrics_and_audit():
    face = Detection("face", (0, 0, 10, 10), 0.9, "centerface+haar")
    plate = Detection("plate", (100, 100, 140, 110), 0.7, "text_det+plate_shape")
    frames = [
        {"frame_id": "cam:1", "detections": [face, plate], "path": "f1.jpg", "crops": ["c1.jpg"]},
        {"frame_id": "cam:2", "detections": [], "path": "f2.jpg"},
        {"frame_id": "cam:3", "detections": [plate.to_dict()], "path": "f3.jpg"},
    ]
    gt = {
        "cam:1": {"faces": [[1, 1, 10, 10]], "plates": [[100, 100, 140, 110], [300, 300, 340, 310]]},
        "cam:2": {"faces": [], "plates": []},
    }
    cfg = RedactionConfig()
    r = redaction_report("d-001", frames, cfg, ground_truth=gt, audit_samples=2)
    assert (r["frames_scanned"], r["faces_found"], r["plates_found"], r["frames_with_detections"]) == (
        3,
        1,
        2,
        2,
    )
    assert r["detector_versions"] == cfg.detector_versions() and r["config_sha256"] == cfg.fingerprint()
    assert r["thresholds"]["face_threshold"] == cfg.face_threshold
    ev = r["evaluation"]
    assert ev["frames_evaluated"] == 2  # cam:3 has no ground truth: not evaluated
    assert ev["face"] == {"tp": 1, "fp": 0, "fn": 0, "recall": 1.0, "precision": 1.0}
    assert ev["plate"]["recall"] == 0.5 and ev["plate"]["precision"] == 1.0
    assert len(r["audit"]) == 2 and {a["frame_id"] for a in r["audit"]} & {"cam:1", "cam:3"}
    assert r == redaction_report("d-001", frames, cfg, ground_truth=gt, audit_samples=2)  # reproducible
    assert redaction_report("d-001", frames, cfg)["evaluation"] is None
