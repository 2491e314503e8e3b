"""Synthetic fleet: the simulated annotator panel (`av_fleet.annotators`, `av fleet annotate`).

A hand-built ground-truth folder (one drive, a few 10 Hz camera frames with well separated objects)
and hand-built Label Studio tasks; the panel's answers are checked against the known boxes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from av_contracts.label_studio import BOX_CONTROL, IMAGE_FIELD, RESULT_TYPE, label_config, value_to_box
from av_fleet.annotators import (
    MIN_VISIBLE,
    Annotator,
    answer_tasks,
    default_panel,
    gold_truth,
)
from av_fleet.ground_truth import BOX_SCHEMA

DRIVE = "20260101t000000-sim-veh-01-abc123"
SENSOR = "camera_front"
W, H = 1280, 720
T0 = 1_767_225_600_000_000_000
FRAME_NS = 100_000_000
N_FRAMES = 4
# (track, class, box, visible_fraction): big, far apart boxes so a jittered answer matches one object
OBJECTS = [
    ("t-car", "car", (100.0, 300.0, 260.0, 420.0), 1.0),
    ("t-truck", "truck", (400.0, 250.0, 600.0, 430.0), 0.9),
    ("t-ped", "pedestrian", (700.0, 300.0, 760.0, 450.0), 1.0),
    ("t-cyc", "cyclist", (900.0, 280.0, 980.0, 440.0), 0.6),
    ("t-cone", "traffic_cone", (1100.0, 500.0, 1160.0, 580.0), 1.0),
    ("t-edge", "bus", (1200.0, 100.0, 1400.0, 260.0), 0.5),  # cut by the right edge: clipped to 1280
]
HIDDEN = ("t-hidden", "car", (300.0, 600.0, 420.0, 700.0), 0.1)  # behind another: nobody boxes it
TINY = ("t-tiny", "pedestrian", (50.0, 50.0, 52.0, 55.0), 1.0)  # 2 px wide: too small to box
CLIPPED = {"t-edge": (1200.0, 100.0, 1280.0, 260.0)}


def _truth(ob) -> tuple[float, float, float, float]:
    return CLIPPED.get(ob[0], ob[2])


def _write_gt(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    cols: dict[str, list] = {f.name: [] for f in BOX_SCHEMA}
    for k in range(N_FRAMES):
        t = T0 + k * FRAME_NS
        for track, cls, box, vis in [*OBJECTS, HIDDEN, TINY]:
            row = {
                "t_ns": t,
                "sensor": SENSOR,
                "kind": "object",
                "track_uuid": track,
                "class": cls,
                "x_min": box[0],
                "y_min": box[1],
                "x_max": box[2],
                "y_max": box[3],
                "depth_m": 20.0,
                "truncated": box[2] > W,
                "stamp_ns": t - 40_000_000,
                "visible_fraction": vis,
            }
            for f in BOX_SCHEMA:
                cols[f.name].append(row.get(f.name))
        # a face row: not a taxonomy object, never boxed
        for f in BOX_SCHEMA:
            cols[f.name].append(
                {"t_ns": t, "sensor": SENSOR, "kind": "face", "class": "pedestrian", "x_min": 720.0}.get(
                    f.name, {"y_min": 305.0, "x_max": 730.0, "y_max": 315.0}.get(f.name)
                )
            )
    pq.write_table(pa.Table.from_pydict(cols, schema=BOX_SCHEMA), root / f"{DRIVE}.boxes_2d.parquet")
    return root


@pytest.fixture(scope="module")
def gt_root(tmp_path_factory) -> Path:
    return _write_gt(tmp_path_factory.mktemp("annotators") / "_ground_truth")


def _task(i: int, frame: int = 0, offset_ns: int = 7_000_000, gold: bool = False) -> dict:
    t = T0 + frame * FRAME_NS + offset_ns  # the pipeline's corrected clock, a few ms off true time
    return {
        "id": i,
        "data": {
            "image": f"s3://lake/frames/{DRIVE}/{SENSOR}/{t}.jpg",
            "drive_id": DRIVE,
            "sensor_id": SENSOR,
            "t_ns": t,
            "width": W,
            "height": H,
            "stratum": "night" if i % 2 else "day",
            "gold": gold,
        },
        "predictions": [
            {
                "model_version": "det-v1",
                "score": 0.5,
                "result": [
                    {
                        "id": "p0",
                        "from_name": BOX_CONTROL,
                        "to_name": IMAGE_FIELD,
                        "type": RESULT_TYPE,
                        "original_width": W,
                        "original_height": H,
                        "image_rotation": 0,
                        "value": {
                            "x": 1,
                            "y": 1,
                            "width": 5,
                            "height": 5,
                            "rotation": 0,
                            "rectanglelabels": ["bus"],
                        },
                    }
                ],
            }
        ],
    }


def _many(n: int) -> list[dict]:
    return [_task(i + 1, frame=i % N_FRAMES, offset_ns=(i % 7 - 3) * 5_000_000) for i in range(n)]


EXACT = Annotator("exact", 0.0, 0.0, 0.0, 0.0, False)


def _boxes(annotation: dict) -> list[tuple[str, tuple[float, float, float, float]]]:
    return [
        (
            r["value"]["rectanglelabels"][0],
            value_to_box(r["value"], r["original_width"], r["original_height"]),
        )
        for r in annotation["result"]
    ]


def _iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _score(annotated: list[dict], j: int) -> dict:
    """Annotator `j`'s miss, confusion and spurious-box rates, and per-edge residuals (px) by object."""
    truth = [(ob[1], _truth(ob), ob[0]) for ob in OBJECTS]
    expected = matched = confusable = confused = spurious = 0
    residuals: dict[str, list] = {ob[0]: [] for ob in OBJECTS}
    for task in annotated:
        drawn = _boxes(task["annotations"][j])
        used = set()
        for cls, box, track in truth:
            expected += 1
            best = max(
                (k for k in range(len(drawn)) if k not in used),
                key=lambda k: _iou(drawn[k][1], box),
                default=None,
            )
            if best is None or _iou(drawn[best][1], box) < 0.3:
                continue
            used.add(best)
            matched += 1
            if cls in ("car", "truck", "bus", "pedestrian", "cyclist"):
                confusable += 1
                confused += drawn[best][0] != cls
            else:
                assert drawn[best][0] == cls
            residuals[track].append(np.subtract(drawn[best][1], box))
        spurious += len(drawn) - len(used)
    return {
        "miss": 1 - matched / expected,
        "confusion": confused / confusable,
        "fp_per_task": spurious / len(annotated),
        "residuals": {k: np.array(v) for k, v in residuals.items()},
    }


def test_default_panel_has_distinct_profiles_and_exactly_one_careless():
    for k in (2, 3, 5, 12):
        panel = default_panel(k)
        assert len(panel) == k and len({a.name for a in panel}) == k
        assert sum(a.careless for a in panel) == 1
        profiles = {(a.miss_rate, a.box_jitter_px, a.class_confusion, a.false_positive_rate) for a in panel}
        assert len(profiles) == k
        careless = next(a for a in panel if a.careless)
        for a in panel:
            if not a.careless:
                assert a.miss_rate < careless.miss_rate and a.class_confusion < careless.class_confusion
                assert a.box_jitter_px < careless.box_jitter_px
    assert [a.name for a in default_panel()] == ["ana", "ben", "cal"]
    for bad in (0, 1, 13):
        with pytest.raises(ValueError):
            default_panel(bad)
    with pytest.raises(ValueError):
        Annotator("x", 1.5, 0.0, 0.0, 0.0, False)
    with pytest.raises(ValueError):
        Annotator("Not An Email", 0.0, 0.0, 0.0, 0.0, False)


def test_same_seed_same_bytes_other_seed_other_answers(gt_root):
    tasks = _many(40)
    a = json.dumps(answer_tasks(tasks, gt_root, default_panel(), seed=3))
    b = json.dumps(answer_tasks(json.loads(json.dumps(tasks)), gt_root, default_panel(), seed=3))
    c = json.dumps(answer_tasks(tasks, gt_root, default_panel(), seed=4))
    assert a == b and a != c
    # a task's answers depend on (seed, annotator, task id), not on which other tasks come with it
    alone = answer_tasks(tasks[7:8], gt_root, default_panel(), seed=3)[0]
    assert json.dumps(alone) == json.dumps(json.loads(a)[7])


def test_annotation_shape_and_input_untouched(gt_root):
    tasks = _many(3)
    before = json.dumps(tasks)
    out = answer_tasks(tasks, gt_root, default_panel(), seed=0)
    assert json.dumps(tasks) == before  # a copy comes back
    for task, src in zip(out, tasks, strict=True):
        assert task["data"] == src["data"] and task["predictions"] == src["predictions"]
        assert [a["completed_by"]["email"] for a in task["annotations"]] == [
            "ana@annotators.sim",
            "ben@annotators.sim",
            "cal@annotators.sim",
        ]
        for ann in task["annotations"]:
            assert set(ann) == {"id", "completed_by", "was_cancelled", "lead_time", "result"}
            assert isinstance(ann["id"], int) and ann["was_cancelled"] is False and ann["lead_time"] > 0
            for r in ann["result"]:
                assert set(r) == {
                    "id",
                    "from_name",
                    "to_name",
                    "type",
                    "original_width",
                    "original_height",
                    "image_rotation",
                    "value",
                }
                assert (r["from_name"], r["to_name"], r["type"]) == (BOX_CONTROL, IMAGE_FIELD, RESULT_TYPE)
                assert (r["original_width"], r["original_height"], r["image_rotation"]) == (W, H, 0)
    ids = [a["id"] for t in out for a in t["annotations"]]
    region_ids = [r["id"] for t in out for a in t["annotations"] for r in a["result"]]
    assert len(set(ids)) == len(ids) and len(set(region_ids)) == len(region_ids)
    assert all(0 < i < 2**53 for i in ids)  # exact in Label Studio's JavaScript


def test_a_zero_noise_annotator_draws_the_ground_truth_exactly(gt_root):
    tasks = [_task(1, frame=0, offset_ns=-19_000_000), _task(2, frame=3, offset_ns=15_000_000)]
    for task in answer_tasks(tasks, gt_root, [EXACT], seed=0):
        drawn = sorted(_boxes(task["annotations"][0]), key=lambda cb: cb[1])
        want = sorted(((ob[1], _truth(ob)) for ob in OBJECTS), key=lambda cb: cb[1])
        assert [c for c, _ in drawn] == [
            c for c, _ in want
        ]  # not the hidden car, the tiny pedestrian, the face
        for (_, got), (_, box) in zip(drawn, want, strict=True):
            assert got == pytest.approx(box, abs=1e-9)
        for r in task["annotations"][0]["result"]:
            v = r["value"]
            assert 0 <= v["x"] and 0 <= v["y"] and v["x"] + v["width"] <= 100 + 1e-9
            assert v["y"] + v["height"] <= 100 + 1e-9


def test_no_ground_truth_frame_no_boxes_and_missing_drive_is_an_error(gt_root, tmp_path):
    far = [_task(1, frame=1, offset_ns=30_000_000), _task(2, frame=N_FRAMES + 5)]
    other = dict(_task(3), data=dict(_task(3)["data"], sensor_id="camera_rear"))
    for task in answer_tasks([*far, other], gt_root, default_panel(), seed=0):
        assert all(a["result"] == [] for a in task["annotations"])
    assert gold_truth([dict(t, data=dict(t["data"], gold=True)) for t in far], gt_root) == []
    with pytest.raises(FileNotFoundError):
        answer_tasks([_task(1)], tmp_path, default_panel(), seed=0)
    with pytest.raises(ValueError):
        answer_tasks([{"id": 1, "data": {"image": "x"}}], gt_root, default_panel(), seed=0)


def test_answers_come_from_ground_truth_never_from_predictions(gt_root):
    tasks = _many(10)
    bare = [dict(t, predictions=[]) for t in tasks]
    a = answer_tasks(tasks, gt_root, default_panel(), seed=1)
    b = answer_tasks(bare, gt_root, default_panel(), seed=1)
    assert [t["annotations"] for t in a] == [t["annotations"] for t in b]


def test_the_careless_annotator_misses_and_confuses_more(gt_root):
    annotated = answer_tasks(_many(600), gt_root, default_panel(3), seed=11)
    s = {a.name: _score(annotated, j) for j, a in enumerate(default_panel(3))}
    # 3600 objects, 3000 confusable, 600 tasks per annotator: binomial std of a rate <= ~0.01-0.02
    assert 0.24 <= s["cal"]["miss"] <= 0.36
    assert 0.19 <= s["cal"]["confusion"] <= 0.31
    assert 0.17 <= s["cal"]["fp_per_task"] <= 0.33
    assert s["ana"]["miss"] <= 0.05 and s["ben"]["miss"] <= 0.08
    assert s["ana"]["confusion"] <= 0.03 and s["ben"]["confusion"] <= 0.06
    assert s["ana"]["fp_per_task"] <= 0.06 and s["ben"]["fp_per_task"] <= 0.10
    for careful in ("ana", "ben"):
        assert s["cal"]["miss"] > 3 * s[careful]["miss"]
        assert s["cal"]["confusion"] > 3 * s[careful]["confusion"]


def test_jitter_statistics_match_the_profile(gt_root):
    panel = [
        Annotator("steady", 0.0, 1.0, 0.0, 0.0, False, box_jitter_frac=0.02),
        Annotator("shaky", 0.0, 4.0, 0.0, 0.0, True, box_jitter_frac=0.06),
    ]
    annotated = answer_tasks(_many(400), gt_root, panel, seed=5)
    for j, a in enumerate(panel):
        s = _score(annotated, j)
        assert s["miss"] == 0 and s["confusion"] == 0 and s["fp_per_task"] == 0
        for ob in OBJECTS:
            if ob[0] in CLIPPED:
                continue  # clipping at the image edge cuts the noise of its right edge
            x0, y0, x1, y1 = _truth(ob)
            res = s["residuals"][ob[0]]  # (n, 4): dx_min, dy_min, dx_max, dy_max
            assert len(res) == 400
            sigma = np.array([a.edge_sigma(x1 - x0), a.edge_sigma(y1 - y0)] * 2)
            z = res / sigma
            assert np.abs(z.mean(axis=0)).max() < 0.25  # unbiased: 5 sigma of the mean of 400 draws
            assert np.allclose(z.std(axis=0), 1.0, atol=0.15)  # std matches (about 4 sigma)


def test_gold_truth_gives_the_gold_tasks_true_boxes(gt_root):
    tasks = [
        _task(1, frame=0, gold=True),
        _task(2, frame=1),
        _task(3, frame=2, offset_ns=-5_000_000, gold=True),
    ]
    rows = gold_truth(tasks, gt_root, MIN_VISIBLE)
    assert {r["t_ns"] for r in rows} == {tasks[0]["data"]["t_ns"], tasks[2]["data"]["t_ns"]}
    assert len(rows) == 2 * len(OBJECTS)
    assert set(rows[0]) == {"drive_id", "sensor_id", "t_ns", "class", "x_min", "y_min", "x_max", "y_max"}
    exact = answer_tasks([tasks[0]], gt_root, [EXACT], seed=0)[0]["annotations"][0]
    first = sorted(
        (r["class"], (r["x_min"], r["y_min"], r["x_max"], r["y_max"]))
        for r in rows
        if r["t_ns"] == tasks[0]["data"]["t_ns"]
    )
    assert [c for c, _ in first] == sorted(c for c, _ in _boxes(exact))
    # a stricter visibility rule drops the partly hidden ones (truck 0.9 stays, cyclist 0.6 and bus 0.5 go)
    assert len(gold_truth(tasks, gt_root, min_visible=0.8)) == 2 * (len(OBJECTS) - 2)


def test_output_validates_against_the_label_config(gt_root):
    from label_studio_sdk.label_interface import LabelInterface

    li = LabelInterface(label_config())
    annotated = answer_tasks(_many(60), gt_root, default_panel(5), seed=2)
    n = 0
    for task in annotated:
        for ann in task["annotations"]:
            assert li.validate_annotation(ann), li.validate_prediction(ann, return_errors=True)
            for r in ann["result"]:
                v = r["value"]  # the SDK checks the upper bounds only
                assert 0 <= v["x"] <= 100 and 0 <= v["y"] <= 100 and v["width"] > 0 and v["height"] > 0
                assert v["x"] + v["width"] <= 100 + 1e-9 and v["y"] + v["height"] <= 100 + 1e-9
                n += 1
    assert n > 1000
    # the validator does catch a broken region
    bad = json.loads(json.dumps(annotated[0]["annotations"][0]))
    bad["result"][0]["value"]["rectanglelabels"] = ["unicorn"]
    assert not li.validate_annotation(bad)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "av_cli", "fleet", "annotate", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_writes_the_annotated_export_and_a_json_summary(gt_root, tmp_path):
    tasks = _many(20)
    (tmp_path / "tasks.json").write_text(json.dumps(tasks))
    common = ["--tasks", str(tmp_path / "tasks.json"), "--ground-truth", str(gt_root), "--seed", "9"]
    p = _cli(*common, "--out", str(tmp_path / "out" / "a.json"), "--annotators", "4", "--json")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert p.stdout.count("\n") == 1
    written = json.loads((tmp_path / "out" / "a.json").read_text())
    assert written == answer_tasks(tasks, gt_root, default_panel(4), seed=9)
    assert summary == {
        "tasks": 20,
        "annotations": 80,
        "boxes": sum(len(a["result"]) for t in written for a in t["annotations"]),
    }
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.json"]  # no temp file left behind
    p2 = _cli(*common, "--out", str(tmp_path / "b.json"), "--annotators", "4")
    assert p2.returncode == 0 and p2.stdout == ""
    assert (tmp_path / "b.json").read_bytes() == (tmp_path / "out" / "a.json").read_bytes()

    bad = _cli(*common, "--out", str(tmp_path / "c.json"), "--annotators", "1", "--json")
    assert bad.returncode == 2 and "error" in json.loads(bad.stdout) and not (tmp_path / "c.json").exists()
    missing = _cli(
        "--tasks",
        str(tmp_path / "tasks.json"),
        "--ground-truth",
        str(tmp_path),
        "--out",
        str(tmp_path / "d.json"),
    )
    assert missing.returncode == 2 and "no ground truth" in missing.stderr
