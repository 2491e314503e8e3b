"""The Label Studio export/import against a real Label Studio 1.23 server on loopback (the session's
`label_studio_server`, from `.venv-labelstudio`), driven through label-studio-sdk as a QA round is:
a project with this pipeline's label config, the frames' tasks with the auto labels as predictions,
images served from the local-files document root, annotators' answers posted through the API, the
project exported as Label Studio JSON and `parse_import`ed. What comes back is the boxes that went in,
to 1e-6 px after the percent round trip, under the frames' own keys; a foreign project's export is
refused with a reason."""

from __future__ import annotations

import json
import urllib.request
import warnings

import polars as pl
import pytest
from PIL import Image

from av_assets.labels.label_studio import ImportRefused, export_tasks, local_files_url, parse_import, task_id
from av_contracts.label_studio import BOX_CONTROL, IMAGE_FIELD, box_region, label_config, value_to_box
from av_contracts.taxonomy import OBJECT_CLASSES

with warnings.catch_warnings():  # the SDK's pydantic-v1 style models warn on import
    warnings.simplefilter("ignore", DeprecationWarning)
    from label_studio_sdk.client import LabelStudio

pytestmark = pytest.mark.slow

W, H = 1920, 1080
T0 = 1_700_000_000_123_456_789  # > 2**53: the 64-bit ns must survive the server (and its JavaScript) exactly
BOX_TOL_PX = 1e-6


def _frames() -> pl.DataFrame:
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


def _label(lid, drive, sensor, t, cls, box, score, status="accepted", source="auto"):
    x0, y0, x1, y1 = box
    return {
        "label_id": lid, "drive_id": drive, "sensor_id": sensor, "t_ns": t, "class": cls,
        "x_min": x0, "y_min": y0, "x_max": x1, "y_max": y1, "track_id": None, "score": score,
        "source": source, "status": status, "label_set": "auto@v1",
    }  # fmt: skip


def _labels() -> pl.DataFrame:
    return pl.DataFrame(
        [
            _label("a" * 16, "d1", "cam_front", T0, "car", (100.25, 200.5, 400.125, 380.75), 0.9),
            _label("b" * 16, "d1", "cam_front", T0, "pedestrian", (1500.0, 300.0, 1540.3, 420.9), 0.7),
            _label("c" * 16, "d1", "cam_front", T0, "truck", (1800.0, 900.0, 2000.0, 1100.0), 0.6),  # clipped
            _label("d" * 16, "d1", "cam_front", T0, "bus", (10.0, 10.0, 50.0, 50.0), 0.2, status="rejected"),
            _label("f" * 16, "d1", "cam_front", T0 + 100_000_000, "cyclist", (5.5, 6.5, 70.0, 90.0), 0.4,
                   status="needs_review"),
            _label("g" * 16, "d2", "cam_left", T0 + 7, "traffic_cone", (640.0, 360.0, 660.0, 400.0), 0.95),
        ]
    )  # fmt: skip


def _key(data: dict) -> tuple[str, str, int]:
    return data["drive_id"], data["sensor_id"], int(data["t_ns"])


@pytest.fixture(scope="module")
def ls(label_studio_server) -> LabelStudio:
    return LabelStudio(base_url=label_studio_server.url, api_key=label_studio_server.token)


@pytest.fixture(scope="module")
def exported(label_studio_server) -> list[dict]:
    """The frames' keyframes as small JPEGs under the document root, and their tasks."""
    root = label_studio_server.document_root
    paths = {}
    for f in _frames().iter_rows(named=True):
        p = root / "keyframes" / f["drive_id"] / f["sensor_id"] / f"{f['t_ns']}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (f["width"], f["height"]), (70, 90, 110)).save(p, quality=60)
        paths[_key(f)] = p
    return export_tasks(
        _frames(),
        _labels(),
        lambda f: local_files_url(paths[_key(f)], root),
        gold={("d2", "cam_left", T0 + 7)},
    )


def _get(server, path: str) -> tuple[int, str, bytes]:
    req = urllib.request.Request(server.url + path, headers={"Authorization": f"Token {server.token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


def _export(ls: LabelStudio, project_id: int) -> bytes:
    """The project's Label Studio JSON export, as the file a person downloads from the UI."""
    return b"".join(
        ls.projects.exports.download_sync(project_id, export_type="JSON", download_all_tasks=True)
    )


def _boxes(result: list[dict], w: int, h: int) -> list[tuple]:
    return [(r["value"]["rectanglelabels"][0], *value_to_box(r["value"], w, h)) for r in result]


def _err(got: tuple, want: tuple) -> float:
    """The largest coordinate difference (px) of two `(class, x_min, y_min, x_max, y_max)`, same class."""
    assert got[0] == want[0], (got, want)
    return max(abs(a - b) for a, b in zip(got[1:], want[1:], strict=True))


def _nudged(result: list[dict], w: int, h: int) -> list[dict]:
    """A second annotator's own boxes: each prediction moved by a few (fractional) pixels."""
    out = []
    for i, (cls, x0, y0, x1, y1) in enumerate(_boxes(result, w, h)):
        box = (max(x0 - 3.3, 0.0), max(y0 + 1.7, 0.0), min(x1 + 2.1, w), min(y1 - 0.9, h))
        out.append(box_region(cls, *box, w, h, region_id=f"b{i}"))
    return out


def test_round_trip_through_server(label_studio_server, ls, exported):
    server = label_studio_server
    project = ls.projects.create(title="av QA round", label_config=label_config())
    storage_dir = server.document_root / "keyframes"
    ls.import_storage.local.create(
        project=project.id, path=str(storage_dir), use_blob_urls=False, title="keyframes"
    )

    imported = ls.projects.import_tasks(id=project.id, request=exported, return_task_ids=True)
    assert imported.task_count == 3 and imported.prediction_count == 3
    tasks = sorted(ls.tasks.list(project=project.id, fields="all"), key=lambda t: _key(t.data))
    assert len(tasks) == 3
    by_key = {_key(t["data"]): t for t in exported}
    for t in tasks:
        want = by_key[_key(t.data)]
        assert t.data == want["data"]  # t_ns exactly, the image URL
        assert t.meta == want["meta"]  # stratum and gold, kept but not shown to annotators
        [pred] = t.predictions
        [wpred] = want["predictions"]
        assert pred.model_version == "auto@v1" and pred.score == pytest.approx(wpred["score"])
        assert [r["id"] for r in pred.result] == [r["id"] for r in wpred["result"]]
        w, h = want["data"]["width"], want["data"]["height"]
        for got, sent in zip(_boxes(pred.result, w, h), _boxes(wpred["result"], w, h), strict=True):
            assert _err(got, sent) < BOX_TOL_PX
    assert all(t.id != by_key[_key(t.data)]["id"] for t in tasks)  # the server numbers tasks itself

    # the image the annotator's browser loads: served from the document root through the storage
    status, ctype, body = _get(server, tasks[0].data[IMAGE_FIELD])
    first = storage_dir / "d1" / "cam_front" / f"{T0}.jpg"
    assert (status, ctype, body) == (200, "image/jpeg", first.read_bytes())

    # the panel: A accepts the pre-annotations, B draws its own boxes (nothing on the second frame),
    # C skips the gold frame
    panel = [ls.users.create(email=f"annotator-{n}@example.org", username=f"annotator-{n}") for n in "abc"]
    sent = {}  # (annotator, frame key) -> the boxes posted, native px
    for t in tasks:
        w, h = t.data["width"], t.data["height"]
        [pred] = t.predictions
        drew = [] if t.data["t_ns"] == T0 + 100_000_000 else _nudged(pred.result, w, h)
        answers = {panel[0].id: pred.result, panel[1].id: drew}
        for user_id, result in answers.items():
            ls.annotations.create(id=t.id, result=result, completed_by=user_id, was_cancelled=False)
            sent[(f"user:{user_id}", _key(t.data))] = _boxes(result, w, h)
        if t.meta["gold"]:
            ls.annotations.create(id=t.id, result=[], completed_by=panel[2].id, was_cancelled=True)

    raw = _export(ls, project.id)
    doc = json.loads(raw)
    assert len(doc) == 3 and sum(len(t["annotations"]) for t in doc) == 7
    res = parse_import(raw, {t["id"]: t for t in exported})
    assert res.tasks == 3 and res.cancelled == 1

    frames = {_key(f) for f in _frames().iter_rows(named=True)}
    assert set(res.submissions.select("drive_id", "sensor_id", "t_ns").rows()) == frames
    keyed = res.submissions.select("task_id", "drive_id", "sensor_id", "t_ns").rows()
    assert all(tid == task_id(*key) for tid, *key in keyed)  # the exported ids, not the server's
    assert res.submissions.height == 6
    boxes = {(r["annotator"], _key(r)): r["boxes"] for r in res.submissions.iter_rows(named=True)}
    assert boxes == {k: len(v) for k, v in sent.items()}
    assert set(res.annotations.filter(pl.col("gold"))["drive_id"]) == {"d2"}

    worst = 0.0
    for (annotator, key), want in sent.items():
        got = res.annotations.filter(
            (pl.col("annotator") == annotator)
            & (pl.col("drive_id") == key[0])
            & (pl.col("sensor_id") == key[1])
            & (pl.col("t_ns") == key[2])
        )
        got = sorted(got.select("class", "x_min", "y_min", "x_max", "y_max").rows())
        worst = max([worst] + [_err(g, w) for g, w in zip(got, sorted(want), strict=True)])
    assert worst < BOX_TOL_PX
    # against the pipeline's own boxes (clipped to the image), what annotator A accepted unchanged
    a_boxes = res.annotations.filter(pl.col("annotator") == f"user:{panel[0].id}").sort("t_ns", "x_min")
    want = (
        _labels()
        .filter(pl.col("status") != "rejected")
        .with_columns(pl.col("x_max").clip(upper_bound=W), pl.col("y_max").clip(upper_bound=H))
        .sort("t_ns", "x_min")
    )
    assert a_boxes["class"].to_list() == want["class"].to_list()
    for c in ("x_min", "y_min", "x_max", "y_max"):
        assert (a_boxes[c] - want[c]).abs().max() < BOX_TOL_PX, c
    print(f"\nLabel Studio start {server.start_s:.1f} s; worst box error after the round trip {worst:.3g} px")


FOREIGN = {
    # same tag names, another label set: a class this pipeline does not know
    "label_set": (
        label_config(("car", "dog")),
        lambda w, h: [box_region("dog", 10.0, 20.0, 110.0, 220.0, w, h)],
        "class 'dog' is not in the taxonomy",
    ),
    # another interface: its own tag names
    "tag_names": (
        '<View><Image name="photo" value="$image"/><RectangleLabels name="bbox" toName="photo">'
        '<Label value="car"/></RectangleLabels></View>',
        lambda w, h: [
            {**box_region("car", 10.0, 20.0, 110.0, 220.0, w, h), "from_name": "bbox", "to_name": "photo"}
        ],
        "a foreign project's export",
    ),
}


@pytest.mark.parametrize("case", sorted(FOREIGN))
def test_foreign_project_export_refused(ls, exported, case):
    config, answer, reason = FOREIGN[case]
    project = ls.projects.create(title=f"other project {case}", label_config=config)
    plain = [{"data": t["data"]} for t in exported]  # the same frames, no pre-annotations
    assert ls.projects.import_tasks(id=project.id, request=plain).task_count == 3
    t = next(iter(ls.tasks.list(project=project.id)))
    ls.annotations.create(id=t.id, result=answer(t.data["width"], t.data["height"]), was_cancelled=False)
    raw = _export(ls, project.id)
    assert sum(len(x["annotations"]) for x in json.loads(raw)) == 1
    with pytest.raises(ImportRefused) as e:
        parse_import(raw, {x["id"]: x for x in exported})
    assert reason in e.value.reason, e.value.reason
    assert f"frame {t.data['drive_id']}/{t.data['sensor_id']}/{t.data['t_ns']}" in e.value.reason


def test_box_control_names_match_the_server(ls):
    """The server parses this project's config into the tag names the import checks for."""
    project = ls.projects.create(title="av config check", label_config=label_config())
    got = ls.projects.get(id=project.id).parsed_label_config
    assert got[BOX_CONTROL]["type"] == "RectangleLabels" and got[BOX_CONTROL]["to_name"] == [IMAGE_FIELD]
    assert got[BOX_CONTROL]["labels"] == list(OBJECT_CLASSES)
