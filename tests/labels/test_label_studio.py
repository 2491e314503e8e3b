"""Label Studio export/import: what goes out comes back to the pixel, and an export that is not in
full this project's annotations is refused with a reason, nothing partial."""

import copy
import json

import polars as pl
import pytest

from av_assets.labels.label_studio import (
    ImportRefused,
    export_tasks,
    local_files_url,
    parse_import,
    task_id,
    write_export,
)
from av_contracts.label_studio import BOX_CONTROL, IMAGE_FIELD, label_config

W, H = 1920, 1080
T0 = 1_700_000_000_123_456_789


def _frames():
    return pl.DataFrame(
        {
            "drive_id": ["d1", "d1", "d2"],
            "sensor_id": ["cam_front", "cam_front", "cam_left"],
            "t_ns": [T0, T0 + 100_000_000, T0 + 7],
            "width": [W, W, 1280],
            "height": [H, H, 720],
            "stratum": ["accepted/night", "needs_review/rain", "gold"],
        }
    )


def _label(lid, drive, sensor, t, cls, box, score=0.8, source="auto", status="accepted", label_set="auto@v1"):
    return {
        "label_id": lid,
        "drive_id": drive,
        "sensor_id": sensor,
        "t_ns": t,
        "class": cls,
        "x_min": box[0],
        "y_min": box[1],
        "x_max": box[2],
        "y_max": box[3],
        "track_id": None,
        "score": score,
        "source": source,
        "status": status,
        "label_set": label_set,
    }


def _labels():
    return pl.DataFrame(
        [
            _label("a" * 16, "d1", "cam_front", T0, "car", (100.25, 200.5, 400.125, 380.75), 0.9),
            _label("b" * 16, "d1", "cam_front", T0, "pedestrian", (1500.0, 300.0, 1540.3, 420.9), 0.7),
            # partly outside the image: clipped to it on export
            _label("c" * 16, "d1", "cam_front", T0, "truck", (1800.0, 900.0, 2000.0, 1100.0), 0.6),
            # rejected and human labels are not pre-annotations
            _label("d" * 16, "d1", "cam_front", T0, "bus", (10.0, 10.0, 50.0, 50.0), 0.2, status="rejected"),
            _label("e" * 16, "d1", "cam_front", T0, "bus", (10.0, 10.0, 50.0, 50.0), 1.0, source="human"),
            _label("f" * 16, "d1", "cam_front", T0 + 100_000_000, "cyclist", (5.5, 6.5, 70.0, 90.0), 0.4,
                   status="needs_review"),
            _label("g" * 16, "d2", "cam_left", T0 + 7, "traffic_cone", (640.0, 360.0, 660.0, 400.0), 0.95),
        ]
    )  # fmt: skip


def _url(row):
    return f"/data/local-files/?d=keyframes/{row['drive_id']}/{row['sensor_id']}/{row['t_ns']}.jpg"


@pytest.fixture
def tasks():
    return export_tasks(_frames(), _labels(), _url, gold={("d2", "cam_left", T0 + 7)})


def _annotated(tasks, annotators=(11, 12)):
    """Label Studio's export after each annotator accepted the pre-annotations unchanged."""
    doc = []
    for t in tasks:
        result = [r for p in t["predictions"] for r in p["result"]]
        anns = [
            {
                "id": t["id"] * 10 + n,
                "completed_by": a,
                "result": copy.deepcopy(result),
                "was_cancelled": False,
            }
            for n, a in enumerate(annotators)
        ]
        doc.append({"id": t["id"], "data": copy.deepcopy(t["data"]), "annotations": anns, "predictions": []})
    return doc


def test_export_tasks_shape(tasks):
    assert [t["data"]["t_ns"] for t in tasks] == [T0, T0 + 100_000_000, T0 + 7]
    assert [t["id"] for t in tasks] == [task_id("d1", "cam_front", T0), task_id("d1", "cam_front", T0 + 100_000_000),
                                        task_id("d2", "cam_left", T0 + 7)]  # fmt: skip
    assert task_id("d1", "cam_front", T0) == task_id("d1", "cam_front", T0)  # deterministic
    assert all(0 < t["id"] < 2**53 for t in tasks)  # exact in JavaScript
    first = tasks[0]
    assert first["data"] == {
        IMAGE_FIELD: f"/data/local-files/?d=keyframes/d1/cam_front/{T0}.jpg",
        "drive_id": "d1",
        "sensor_id": "cam_front",
        "t_ns": T0,
        "width": W,
        "height": H,
    }
    assert first["meta"] == {"stratum": "accepted/night", "gold": False}
    assert tasks[2]["meta"]["gold"] is True and "gold" not in tasks[2]["data"]  # hidden from annotators
    [pred] = first["predictions"]
    assert pred["model_version"] == "auto@v1"
    assert pred["score"] == pytest.approx((0.9 + 0.7 + 0.6) / 3)
    classes = [r["value"]["rectanglelabels"] for r in pred["result"]]
    assert classes == [["car"], ["pedestrian"], ["truck"]]  # not the rejected or human bus
    car = pred["result"][0]
    assert (car["from_name"], car["to_name"], car["type"]) == (BOX_CONTROL, IMAGE_FIELD, "rectanglelabels")
    assert (car["original_width"], car["original_height"], car["score"]) == (W, H, 0.9)
    assert car["value"]["x"] == pytest.approx(100 * 100.25 / W)
    assert car["value"]["width"] == pytest.approx(100 * (400.125 - 100.25) / W)
    truck = pred["result"][2]["value"]
    assert truck["x"] + truck["width"] == pytest.approx(100.0)  # clipped to the image
    assert truck["y"] + truck["height"] == pytest.approx(100.0)


def test_write_export_atomic(tmp_path, tasks):
    paths = write_export(tasks, tmp_path / "qa")
    assert json.loads(paths["tasks"].read_text()) == tasks
    assert paths["label_config"].read_text().strip() == label_config()
    assert sorted(p.name for p in (tmp_path / "qa").iterdir()) == ["label_config.xml", "tasks.json"]
    write_export(tasks[:1], tmp_path / "qa")  # replaces, leaves no temp files
    assert len(json.loads(paths["tasks"].read_text())) == 1
    assert sorted(p.name for p in (tmp_path / "qa").iterdir()) == ["label_config.xml", "tasks.json"]


def test_local_files_url(tmp_path):
    img = tmp_path / "root" / "keyframes" / "d 1" / "0.jpg"
    assert local_files_url(img, tmp_path / "root") == "/data/local-files/?d=keyframes/d%201/0.jpg"


def test_round_trip_same_boxes(tasks):
    known = {t["id"]: t for t in tasks}
    res = parse_import(json.dumps(_annotated(tasks)), known)
    assert res.tasks == 3 and res.cancelled == 0
    assert res.submissions.height == 6 and res.submissions["boxes"].to_list() == [3, 3, 1, 1, 1, 1]
    got = res.annotations.filter(pl.col("annotator") == "user:11").sort("t_ns", "x_min")
    want = (
        _labels()
        .filter(pl.col("source") == "auto", pl.col("status") != "rejected")
        .with_columns(pl.col("x_max").clip(upper_bound=W), pl.col("y_max").clip(upper_bound=H))
        .sort("t_ns", "x_min")
    )
    assert got["class"].to_list() == want["class"].to_list()
    for c in ("x_min", "y_min", "x_max", "y_max"):
        assert (got[c] - want[c]).abs().max() < 1e-6, c
    assert got["t_ns"].to_list() == want["t_ns"].to_list()  # 64-bit ns survive exactly
    assert got["task_id"].to_list() == [
        task_id(d, s, t) for d, s, t in want.select("drive_id", "sensor_id", "t_ns").rows()
    ]
    assert got.filter(pl.col("drive_id") == "d2")["gold"].to_list() == [True]
    assert set(res.annotations["annotator"]) == {"user:11", "user:12"}


def test_import_annotator_identity_and_empty_submission(tasks):
    doc = _annotated(tasks)
    doc[0]["annotations"][0]["completed_by"] = {"id": 11, "email": "ann@example.org"}
    doc[1]["annotations"][1]["result"] = []  # saw the frame, drew nothing: still a submission
    doc[2]["data"]["t_ns"] = str(T0 + 7)  # a decimal string, as a JavaScript client may write it
    res = parse_import(doc)
    assert sorted(set(res.annotations["annotator"])) == ["ann@example.org", "user:11", "user:12"]
    sub = res.submissions.filter(pl.col("t_ns") == T0 + 100_000_000).sort("annotator")
    assert sub["boxes"].to_list() == [1, 0]
    assert res.annotations.filter(pl.col("drive_id") == "d2")["t_ns"].to_list() == [T0 + 7, T0 + 7]


def test_cancelled_annotations_are_ignored(tasks):
    doc = _annotated(tasks)
    doc[0]["annotations"].append(
        {"id": 9, "completed_by": 13, "result": [{"garbage": True}], "was_cancelled": True}
    )
    res = parse_import(doc, {t["id"]: t for t in tasks})
    assert res.cancelled == 1
    assert "user:13" not in set(res.annotations["annotator"]) | set(res.submissions["annotator"])
    assert res.annotations.height == 2 * 5


def _region(doc):
    return doc[0]["annotations"][0]["result"][0]


def _set(path_value):
    def mutate(doc):
        *path, value = path_value
        target = _region(doc)
        for p in path[:-1]:
            target = target[p]
        target[path[-1]] = value
        return doc

    return mutate


REFUSALS = {
    "not_json": (lambda doc: "[{not json", "not JSON"),
    "not_a_list": (lambda doc: {"project": 3}, "expected Label Studio's JSON export: a list of tasks"),
    "task_not_object": (lambda doc: [*doc, 5], "task #3: is int, not a task object"),
    "annotations_not_list": (lambda doc: [{**doc[0], "annotations": "x"}], "'annotations' is str, expected a list"),
    "no_frame_key": (lambda doc: [{**doc[0], "data": {IMAGE_FIELD: "x", "width": W, "height": H}}],
                     "data has no frame key field 'drive_id'"),
    "result_not_list": (lambda doc: [{**doc[0], "annotations": [{"completed_by": 1, "result": {}}]}],
                        "'result' is dict, expected a list"),
    "no_annotator": (lambda doc: [{**doc[0], "annotations": [{"result": []}]}], "completed_by None names no annotator"),
    "unknown_class": (_set(("value", "rectanglelabels", ["dog"])), "class 'dog' is not in the taxonomy"),
    "two_classes": (_set(("value", "rectanglelabels", ["car", "bus"])), "needs exactly one class"),
    "box_outside_x": (_set(("value", "x", 95.0)), "box outside the image: x 95..110.6"),
    "box_outside_neg": (_set(("value", "y", -3.0)), "box outside the image"),
    "nan_percent": (_set(("value", "width", float("nan"))), "value width not a finite number"),
    "string_percent": (_set(("value", "x", "12")), "value x not a finite number"),
    "rotated": (_set(("value", "rotation", 30)), "rotated rectangle"),
    "foreign_from_name": (_set(("from_name", "bbox")), "from_name/to_name 'bbox'/'image'"),
    "foreign_to_name": (_set(("to_name", "img")), "a foreign project's export"),
    "foreign_type": (_set(("type", "polygonlabels")), "result type 'polygonlabels'"),
    "other_image": (_set(("original_height", 1920)), "not the frame's 1920x1080 image"),
    "double_vote": (lambda doc: [{**doc[0], "annotations": doc[0]["annotations"] * 2}] + doc[1:],
                    "user:11 has a second annotation on the task"),
    "duplicate_task": (lambda doc: [doc[0], doc[1], doc[0]], "the frame appears in two tasks"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refused_with_reason(tasks, case):
    mutate, reason = REFUSALS[case]
    with pytest.raises(ImportRefused) as e:
        parse_import(mutate(_annotated(tasks)))
    assert reason in e.value.reason, e.value.reason
    assert str(e.value) == e.value.reason


def test_refusal_names_the_place(tasks):
    doc = _annotated(tasks)
    doc[1]["annotations"][1]["result"][0]["value"]["rectanglelabels"] = ["unicorn"]
    with pytest.raises(ImportRefused) as e:
        parse_import(doc)
    assert e.value.reason.startswith(
        f"task #1 (id {tasks[1]['id']}) frame d1/cam_front/{T0 + 100_000_000} annotation #1 result #0: class 'unicorn'"
    )


def test_unknown_task_refused(tasks):
    known = {t["id"]: t for t in tasks[:2]}
    with pytest.raises(ImportRefused) as e:
        parse_import(_annotated(tasks), known)
    assert e.value.reason == (
        f"task #2 (id {tasks[2]['id']}) frame d2/cam_left/{T0 + 7}: unknown task — this frame was not in the export"
    )
    moved = _annotated(tasks)
    moved[0]["data"][IMAGE_FIELD] = "/data/local-files/?d=elsewhere.jpg"
    with pytest.raises(ImportRefused, match="image or size differs from the exported task"):
        parse_import(moved, {t["id"]: t for t in tasks})
    # Label Studio renumbers imported tasks: a known frame under another id is still known
    renumbered = _annotated(tasks)
    for i, t in enumerate(renumbered):
        t["id"] = i + 1
    assert parse_import(renumbered, {t["id"]: t for t in tasks}).annotations.height == 10


def test_import_feeds_consensus(tasks):
    from av_assets.labels.qa import consensus, verified_labels_check

    doc = _annotated(tasks, annotators=(11, 12, 13))
    doc[1]["annotations"][2]["result"] = []  # one annotator saw nothing on frame 2: still 2 of 3
    res = parse_import(doc, {t["id"]: t for t in tasks})
    out = consensus(res.annotations, k=3, submissions=res.submissions)
    assert out.labels.height == 5 and out.adjudication.height == 0
    assert out.labels.sort("drive_id", "t_ns", "x_min")["votes"].to_list() == [3, 3, 3, 2, 3]
    assert out.labels.sort("drive_id", "t_ns", "x_min")["width"].to_list() == [W, W, W, W, 1280]
    assert verified_labels_check(out.labels) == (True, [])
    assert out.frames["status"].to_list() == ["verified"] * 3
