"""Label Studio export and import for human QA of labels.

Export: one task per sampled frame, with the frame's auto labels as pre-annotations (`predictions`),
so annotators correct boxes rather than draw from scratch. Import: Label Studio's JSON export of the
annotated tasks, validated in full before anything is returned — a partial import would silently
change consensus votes, so the first problem refuses the whole document (`ImportRefused`).

Images: the caller's `image_url(frame_row)` gives each task's `data.image`. With Label Studio's
local-files storage (`LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true`,
`LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<root>`, and a Local Files storage on a folder under it) the
URL is `/data/local-files/?d=<path relative to the document root>`; `local_files_url` builds it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import polars as pl

from av_contracts.label_studio import (
    BOX_CONTROL,
    IMAGE_FIELD,
    RESULT_TYPE,
    box_region,
    label_config,
    value_to_box,
)
from av_contracts.taxonomy import OBJECT_CLASSES

FrameKey = tuple[str, str, int]
PREDICTED_SOURCES = ("auto", "model")  # labels shown to annotators as pre-annotations
PERCENT_TOL = 1e-6  # a result may overshoot 100 % by float noise, not more
ASPECT_TOL = 0.01  # original_width/height may be a resized keyframe, but of the same image

ANNOTATION_SCHEMA = {
    "annotator": pl.String,
    "annotation_id": pl.String,
    "task_id": pl.Int64,
    "drive_id": pl.String,
    "sensor_id": pl.String,
    "t_ns": pl.Int64,
    "width": pl.Int64,
    "height": pl.Int64,
    "gold": pl.Boolean,
    "class": pl.String,
    "x_min": pl.Float64,
    "y_min": pl.Float64,
    "x_max": pl.Float64,
    "y_max": pl.Float64,
}
SUBMISSION_SCHEMA = {
    k: v for k, v in ANNOTATION_SCHEMA.items() if k not in ("class", "x_min", "y_min", "x_max", "y_max")
} | {"boxes": pl.Int64}


class ImportRefused(ValueError):
    """A Label Studio export that is not, in full, annotations of this project's tasks."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ImportResult:
    """`annotations`: one row per drawn box (ANNOTATION_SCHEMA, native pixels). `submissions`: one
    row per completed (not cancelled) annotation, boxes or not — an annotator who saw a frame and
    drew nothing votes "no object", which consensus must count. `cancelled`: skipped annotations,
    ignored."""

    annotations: pl.DataFrame
    submissions: pl.DataFrame
    tasks: int
    cancelled: int


def task_id(drive_id: str, sensor_id: str, t_ns: int) -> int:
    """Deterministic task id of a frame (48 bits: exact in JSON and in Label Studio's JavaScript)."""
    digest = hashlib.blake2b(f"{drive_id}\x1f{sensor_id}\x1f{int(t_ns)}".encode(), digest_size=6).digest()
    return int.from_bytes(digest, "big")


def local_files_url(path: str | Path, document_root: str | Path) -> str:
    """The URL Label Studio's local-files storage serves `path` under (relative to the document root)."""
    rel = Path(path).resolve().relative_to(Path(document_root).resolve()).as_posix()
    return "/data/local-files/?d=" + quote(rel, safe="/")


@cache
def _interface():
    with warnings.catch_warnings():  # the SDK's pydantic-v1 style models warn on import
        warnings.simplefilter("ignore", DeprecationWarning)
        from label_studio_sdk.label_interface import LabelInterface

        return LabelInterface(label_config())


def _key(row: Mapping[str, Any]) -> FrameKey:
    return (str(row["drive_id"]), str(row["sensor_id"]), int(row["t_ns"]))


def export_tasks(
    frames: pl.DataFrame,
    labels: pl.DataFrame,
    image_url: Callable[[dict], str],
    gold: Iterable[FrameKey] = frozenset(),
) -> list[dict]:
    """One task per frame, sorted by frame key. `frames`: drive_id, sensor_id, t_ns, width, height
    and optionally stratum and gold (bool); a frame is gold when flagged there or its key is in
    `gold`. Each of the frame's auto/model labels (not rejected) becomes a prediction region, one
    prediction per label_set; boxes are clipped to the image (Label Studio refuses regions outside
    it) and boxes that vanish are left out."""
    gold = {(str(d), str(s), int(t)) for d, s, t in gold}
    preds: dict[FrameKey, dict[str, list[dict]]] = {}
    if labels.height:
        auto = labels.filter(pl.col("source").is_in(PREDICTED_SOURCES) & (pl.col("status") != "rejected"))
        for r in auto.sort("label_set", "label_id").iter_rows(named=True):
            preds.setdefault(_key(r), {}).setdefault(r["label_set"], []).append(r)
    tasks, seen = [], set()
    for f in frames.sort("drive_id", "sensor_id", "t_ns").iter_rows(named=True):
        key = _key(f)
        if key in seen:
            raise ValueError(f"frame {key} appears twice in the frames to export")
        seen.add(key)
        w, h = int(f["width"]), int(f["height"])
        if w <= 0 or h <= 0:
            raise ValueError(f"frame {key} has no valid size ({w}x{h})")
        predictions = []
        for label_set, rows in preds.get(key, {}).items():
            result = []
            for r in rows:
                x0, y0 = min(max(r["x_min"], 0.0), w), min(max(r["y_min"], 0.0), h)
                x1, y1 = min(max(r["x_max"], 0.0), w), min(max(r["y_max"], 0.0), h)
                if x1 <= x0 or y1 <= y0:
                    continue
                result.append(box_region(r["class"], x0, y0, x1, y1, w, h, r["label_id"][:16], r["score"]))
            if result:
                score = sum(x["score"] for x in result) / len(result)
                predictions.append({"model_version": label_set, "score": score, "result": result})
        task = {
            "id": task_id(*key),
            "data": {
                IMAGE_FIELD: image_url(f),
                "drive_id": key[0],
                "sensor_id": key[1],
                "t_ns": key[2],
                "width": w,
                "height": h,
            },
            # why the frame was sampled, and whether its answer is known: task metadata, which
            # Label Studio keeps and exports but does not show annotators (a visible "gold" flag
            # would tell them which frames are checked)
            "meta": {"stratum": f.get("stratum"), "gold": bool(f.get("gold") or key in gold)},
            "predictions": predictions,
        }
        for p in predictions:
            errors = _interface().validate_prediction(p, return_errors=True)
            if errors:
                raise ValueError(f"frame {key}: prediction not valid for the project: {errors[0]}")
        tasks.append(task)
    return tasks


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600: a Label Studio running as another user reads it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_export(tasks: list[dict], out_dir: str | Path) -> dict[str, Path]:
    """Write `tasks.json` (import into the project) and `label_config.xml` (its labelling interface),
    each atomically (temp file + os.replace), so a reader never sees half an export. Image URLs are
    whatever `export_tasks` got from the caller (see the module docstring: local-files storage)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"tasks": out / "tasks.json", "label_config": out / "label_config.xml"}
    _atomic_write(paths["tasks"], json.dumps(tasks, indent=1, sort_keys=True) + "\n")
    _atomic_write(paths["label_config"], label_config() + "\n")
    return paths


# ---------------------------------------------------------------------------------------------- import


def _int(v: Any) -> int | None:
    """A JSON integer (or a decimal string: JavaScript cannot carry 64-bit ns exactly)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        return int(v)
    return None


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v) if math.isfinite(v) else None


def _annotator(completed_by: Any) -> str | None:
    """Label Studio writes `completed_by` as a user id, or expanded as a user object."""
    if isinstance(completed_by, dict):
        if completed_by.get("email"):
            return str(completed_by["email"])
        completed_by = completed_by.get("id")
    i = _int(completed_by)
    return None if i is None else f"user:{i}"


def _task_data(task: dict, where: str) -> tuple[FrameKey, int, int, bool]:
    data = task.get("data")
    if not isinstance(data, dict):
        raise ImportRefused(f"{where}: no 'data' object — not a Label Studio task")
    for field in ("drive_id", "sensor_id"):
        if not isinstance(data.get(field), str) or not data[field]:
            raise ImportRefused(
                f"{where}: data has no frame key field '{field}' — not a task this pipeline exported"
            )
    t_ns = _int(data.get("t_ns"))
    if t_ns is None:
        raise ImportRefused(f"{where}: data.t_ns is {data.get('t_ns')!r}, not an integer — no frame key")
    w, h = _int(data.get("width")), _int(data.get("height"))
    if not w or not h or w <= 0 or h <= 0:
        raise ImportRefused(
            f"{where}: data width/height {data.get('width')!r}x{data.get('height')!r} is not an image size"
        )
    if not isinstance(data.get(IMAGE_FIELD), str) or not _interface().validate_task({"data": data}):
        raise ImportRefused(f"{where}: data has no '{IMAGE_FIELD}' URL for the project's <Image> tag")
    return (data["drive_id"], data["sensor_id"], t_ns), w, h, is_gold(task)


def is_gold(task: dict) -> bool:
    """A task's gold flag: in its `meta` (older exports: in its data)."""
    meta = task.get("meta") if isinstance(task.get("meta"), dict) else {}
    return bool(meta.get("gold", (task.get("data") or {}).get("gold", False)))


def _region_box(region: Any, w: int, h: int, where: str) -> tuple[str, float, float, float, float]:
    if not isinstance(region, dict):
        raise ImportRefused(f"{where}: a result is {type(region).__name__}, not an object")
    rtype, from_name, to_name = region.get("type"), region.get("from_name"), region.get("to_name")
    if rtype != RESULT_TYPE:
        raise ImportRefused(
            f"{where}: result type {rtype!r}, this project has only '{RESULT_TYPE}' (foreign project?)"
        )
    if from_name != BOX_CONTROL or to_name != IMAGE_FIELD:
        raise ImportRefused(
            f"{where}: from_name/to_name {from_name!r}/{to_name!r}, this project's are "
            f"'{BOX_CONTROL}'/'{IMAGE_FIELD}' — a foreign project's export"
        )
    value = region.get("value")
    if not isinstance(value, dict):
        raise ImportRefused(f"{where}: result has no 'value' object")
    classes = value.get(RESULT_TYPE)
    if not isinstance(classes, list) or len(classes) != 1 or not isinstance(classes[0], str):
        raise ImportRefused(f"{where}: a rectangle needs exactly one class, got {classes!r}")
    if classes[0] not in OBJECT_CLASSES:
        raise ImportRefused(f"{where}: class {classes[0]!r} is not in the taxonomy {list(OBJECT_CLASSES)}")
    nums = {k: _num(value.get(k)) for k in ("x", "y", "width", "height")}
    bad = [k for k, v in nums.items() if v is None]
    if bad:
        raise ImportRefused(
            f"{where}: value {', '.join(bad)} not a finite number ({[value.get(k) for k in bad]})"
        )
    if _num(value.get("rotation", 0)) != 0.0:
        raise ImportRefused(
            f"{where}: rotated rectangle (rotation {value.get('rotation')!r}); boxes are axis-aligned"
        )
    x, y, bw, bh = nums["x"], nums["y"], nums["width"], nums["height"]
    if bw <= 0 or bh <= 0:
        raise ImportRefused(f"{where}: empty box (width {bw} %, height {bh} %)")
    if x < -PERCENT_TOL or y < -PERCENT_TOL or x + bw > 100 + PERCENT_TOL or y + bh > 100 + PERCENT_TOL:
        raise ImportRefused(
            f"{where}: box outside the image: x {x:g}..{x + bw:g} %, y {y:g}..{y + bh:g} % (must lie in 0..100)"
        )
    ow, oh = region.get("original_width"), region.get("original_height")
    if ow is not None or oh is not None:
        ow, oh = _num(ow), _num(oh)
        if not ow or not oh or ow <= 0 or oh <= 0:
            raise ImportRefused(
                f"{where}: original_width/height {region.get('original_width')!r}x{region.get('original_height')!r} invalid"
            )
        if abs((ow / oh) / (w / h) - 1) > ASPECT_TOL:
            raise ImportRefused(
                f"{where}: annotated image {ow:g}x{oh:g} is not the frame's {w}x{h} image (aspect ratio differs)"
            )
    errors = _interface().validate_region(region, return_errors=True)
    if errors:
        raise ImportRefused(f"{where}: not valid for the project's label config: {errors[0]}")
    x0, y0, x1, y1 = value_to_box(value, w, h)
    return classes[0], max(x0, 0.0), max(y0, 0.0), min(x1, float(w)), min(y1, float(h))


def parse_import(
    doc: list | dict | str | bytes, known_tasks: Mapping[int, dict] | None = None
) -> ImportResult:
    """Validate a Label Studio JSON export of annotated tasks in full, then return its boxes.

    `doc`: the parsed export (a list of tasks; a single task or {"tasks": [...]} also accepted) or its
    text. `known_tasks`: the exported tasks by id (`{t["id"]: t for t in export_tasks(...)}`); when
    given, every task must be one of them, matched by frame key (Label Studio renumbers imported
    tasks) with the same image and size. Cancelled (skipped) annotations are ignored and counted. An
    annotator with two live annotations on a task is refused: it would vote twice. `task_id` in the
    result is the deterministic id of the frame (= the exported id)."""
    if isinstance(doc, str | bytes):
        try:
            doc = json.loads(doc)
        except json.JSONDecodeError as e:
            raise ImportRefused(f"not JSON: {e}") from None
    if isinstance(doc, dict):
        doc = doc["tasks"] if isinstance(doc.get("tasks"), list) else [doc] if "data" in doc else None
    if not isinstance(doc, list):
        raise ImportRefused("expected Label Studio's JSON export: a list of tasks")
    rows, subs, cancelled, seen = [], [], 0, {}
    for i, task in enumerate(doc):
        name = f"task #{i}"
        if not isinstance(task, dict):
            raise ImportRefused(f"{name}: is {type(task).__name__}, not a task object")
        if "id" in task:
            name += f" (id {task['id']})"
        key, w, h, gold = _task_data(task, name)
        where = f"{name} frame {key[0]}/{key[1]}/{key[2]}"
        tid = task_id(*key)
        if key in seen:
            raise ImportRefused(f"{where}: the frame appears in two tasks ({seen[key]} and {name})")
        seen[key] = name
        if known_tasks is not None:
            known = known_tasks.get(tid)
            if known is None:
                raise ImportRefused(f"{where}: unknown task — this frame was not in the export")
            kd = known.get("data", {})
            if (kd.get("width"), kd.get("height"), kd.get(IMAGE_FIELD)) != (w, h, task["data"][IMAGE_FIELD]):
                raise ImportRefused(f"{where}: image or size differs from the exported task {tid}")
            gold = is_gold(known) or gold
        annotations = task.get("annotations")
        if not isinstance(annotations, list):
            raise ImportRefused(f"{where}: 'annotations' is {type(annotations).__name__}, expected a list")
        by_annotator: set[str] = set()
        for j, ann in enumerate(annotations):
            awhere = f"{where} annotation #{j}"
            if not isinstance(ann, dict):
                raise ImportRefused(f"{awhere}: is {type(ann).__name__}, not an annotation object")
            if ann.get("was_cancelled", False):
                cancelled += 1
                continue
            annotator = _annotator(ann.get("completed_by"))
            if annotator is None:
                raise ImportRefused(f"{awhere}: completed_by {ann.get('completed_by')!r} names no annotator")
            if annotator in by_annotator:
                raise ImportRefused(
                    f"{awhere}: {annotator} has a second annotation on the task (would vote twice)"
                )
            by_annotator.add(annotator)
            result = ann.get("result")
            if not isinstance(result, list):
                raise ImportRefused(f"{awhere}: 'result' is {type(result).__name__}, expected a list")
            ann_id = str(ann.get("id", f"{tid}-{j}"))
            base = {
                "annotator": annotator,
                "annotation_id": ann_id,
                "task_id": tid,
                "drive_id": key[0],
                "sensor_id": key[1],
                "t_ns": key[2],
                "width": w,
                "height": h,
                "gold": gold,
            }
            for k, region in enumerate(result):
                cls, x0, y0, x1, y1 = _region_box(region, w, h, f"{awhere} result #{k}")
                rows.append(base | {"class": cls, "x_min": x0, "y_min": y0, "x_max": x1, "y_max": y1})
            subs.append(base | {"boxes": len(result)})
    return ImportResult(
        annotations=pl.DataFrame(rows, schema=ANNOTATION_SCHEMA),
        submissions=pl.DataFrame(subs, schema=SUBMISSION_SCHEMA),
        tasks=len(doc),
        cancelled=cancelled,
    )
