"""`redact.redact_drive`: the per-frame loop of silver/redacted_frames (JPEGs, audit crops, index rows,
ground-truth boxes in working resolution, the frame cap), with a stub detector."""

import hashlib
from dataclasses import dataclass

import numpy as np
import pytest

from av_assets.redaction import redact
from av_assets.redaction.config import RedactionConfig
from av_assets.redaction.redact import INDEX_SCHEMA, Detection, FrameResult, index_table, redact_drive

pytest.importorskip("cv2")


@dataclass
class Frame:
    sensor_id: str
    t_ns: int
    data: bytes


def _frames(n: int) -> list[Frame]:
    from av_assets.redaction.frames import encode_jpeg

    img = np.full((40, 60, 3), 128, np.uint8)
    return [Frame("cam", 1000 + i, encode_jpeg(img)) for i in range(n)]


@pytest.fixture
def stub_detector(monkeypatch):
    def fake(image, config):
        dets = [
            Detection("face", (2.0, 2.0, 10.0, 10.0), 0.9, "stub"),
            Detection("plate", (20.0, 20.0, 40.0, 30.0), 0.8, "stub"),
        ]
        return FrameResult(redacted=image.copy(), detections=dets, scale=0.5, timings_s={"total_s": 0.25})

    monkeypatch.setattr(redact, "redact_frame_full", fake)


def test_redact_drive_writes_frames_crops_and_rows(stub_detector):
    written: dict[str, bytes] = {}
    gt = {("cam", 1001): {"faces": [[4, 4, 8, 8, 1.0]], "plates": []}}
    run = redact_drive(
        "d1",
        _frames(3),
        RedactionConfig(),
        prefix="p",
        write_bytes=written.__setitem__,
        gt_boxes=gt,
        max_crops=3,
    )
    assert [r["path"] for r in run.rows] == [f"p/frames/cam/{1000 + i}.jpg" for i in range(3)]
    assert run.rows[0] | {"path": None} == {
        "drive_id": "d1",
        "sensor_id": "cam",
        "t_ns": 1000,
        "path": None,
        "faces": 1,
        "plates": 1,
        "width": 60,
        "height": 40,
    }
    assert (run.faces, run.plates) == (3, 3)
    # the audit crops stop at max_crops over the drive
    crops = [c for f in run.frames_for_report for c in f["crops"]]
    assert crops == [
        "p/audit/cam_1000_0_face.jpg",
        "p/audit/cam_1000_1_plate.jpg",
        "p/audit/cam_1001_0_face.jpg",
    ]
    assert set(written) == {r["path"] for r in run.rows} | set(crops)
    assert run.frame_hashes == [hashlib.sha256(written[r["path"]]).hexdigest() for r in run.rows]
    # ground truth boxes scaled to the working resolution, only where the frame has them
    assert run.gt_for_report == {"cam:1001": {"faces": [[2.0, 2.0, 4.0, 4.0]], "plates": []}}
    assert run.detect_s == pytest.approx(0.75)
    table = index_table(run.rows)
    assert table.num_rows == 3 and table.schema.names == list(INDEX_SCHEMA)


def test_redact_drive_stops_at_max_frames(stub_detector):
    run = redact_drive(
        "d1", _frames(5), RedactionConfig(), prefix="p", write_bytes=lambda r, d: None, max_frames=2
    )
    assert len(run.rows) == 2 and len(run.frames_for_report) == 2 and not run.gt_for_report
    assert index_table([]).num_rows == 0
