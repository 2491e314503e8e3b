"""Redaction floors on the synthetic fleet in its HELD-OUT render style (issue 5), DEFAULT configuration.

`pii_net` and its verifier were trained on the default style only (training/train_pii_net.py: seed 21;
training/train_pii_verifier.py: seeds 21 and 22); thresholds were chosen on default-style seed 11. This
module renders a held-out drive with a seed used for none of them and measures per-box recall/precision
with the documented match rule (`av_assets.redaction.evaluate`: IoU >= 0.3 or coverage >= 0.7,
one-to-one; ground-truth boxes flagged too_small/occluded are don't-care).
"""

import json
import subprocess
import sys
import time

import pytest

from av_assets.redaction.config import RedactionConfig
from av_assets.redaction.evaluate import evaluate_fleet

pytest.importorskip("onnxruntime")

SEED = 7100  # not used for training (21) nor tuning (11)
FLOOR_RECALL = 0.95  # issue 5, faces and plates
# Precision floors: measured on this drive (docs/redaction.md) minus a margin.
PLATE_PRECISION_FLOOR = 0.9  # measured 1.00 (38/38)
FACE_PRECISION_FLOOR = 0.4  # measured 0.50 (3 tp, 3 fp: heads seen from behind); 0.78 on seed 7001
FLEET_CFG = RedactionConfig()  # the production defaults (pii_net + verifier on)


@pytest.fixture(scope="session")
def heldout_fleet(tmp_path_factory):
    out = tmp_path_factory.mktemp("heldout_fleet")
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "av_fleet.cli",
            "simulate",
            "--out",
            str(out),
            "--drives",
            "1",
            "--duration",
            "20",
            "--seed",
            str(SEED),
            "--render-style",
            "heldout",
            "--camera",
            "1280x720",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    gt = next((out / "_ground_truth").glob("*.json"))
    assert json.loads(gt.read_text())["render_style"] == "heldout"
    return out, time.perf_counter() - t0


@pytest.fixture(scope="session")
def heldout_scores(heldout_fleet):
    return evaluate_fleet(heldout_fleet[0], config=FLEET_CFG, keyframe_hz=2.0)


def test_heldout_plate_floor(heldout_scores):
    p = heldout_scores["plate"]
    print(json.dumps({k: v for k, v in heldout_scores.items() if k != "misses"}))
    assert p["tp"] + p["fn"] >= 20, "too few plates to measure"
    assert p["recall"] >= FLOOR_RECALL, p
    assert p["precision"] >= PLATE_PRECISION_FLOOR, p


def test_heldout_face_floor(heldout_scores):
    f = heldout_scores["face"]
    assert f["tp"] + f["fn"] >= 3, "too few identifiable faces to measure"
    assert f["recall"] >= FLOOR_RECALL, f
    assert f["precision"] >= FACE_PRECISION_FLOOR, f


def test_default_config_uses_pii_net_and_verifier():
    assert FLEET_CFG.pii_net and FLEET_CFG.pii_verifier
    assert set(FLEET_CFG.detector_versions()) == {
        "face_centerface",
        "face_haar",
        "plate_text_det",
        "pii_net",
        "pii_verifier",
    }
