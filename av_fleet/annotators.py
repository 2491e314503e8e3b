"""The simulated annotator panel: human QA answers to the pipeline's Label Studio tasks.

The pipeline exports camera frames as Label Studio tasks (`av_contracts.label_studio`); on the synthetic
fleet nobody draws boxes by hand, so a panel of simulated annotators answers them from the fleet's
ground truth (`<ground_truth_root>/<drive_id>.boxes_2d.parquet`), never from the tasks' predictions.

What an annotator is asked to box: the taxonomy objects (`kind == "object"`) of the frame that a human
would see, i.e. `visible_fraction >= min_visible` (default `MIN_VISIBLE` = 0.25: an object mostly
hidden behind another or cut off by the image edge is left out, as labelling guides tell people to;
a null visible_fraction counts as fully visible) whose box, clipped to the image, is at least
`MIN_BOX_PX` px on both sides. The frame is the ground-truth camera frame of the task's sensor whose
header stamp `stamp_ns` equals the task's `t_ns` (a camera's offset is not estimated by the pipeline,
so its keyframes keep the header stamp, tens of ms off true time), else the one whose true time
`t_ns` is nearest the task's `t_ns` within `MATCH_TOLERANCE_NS` (20 ms; frames are 100 ms apart);
with no such frame the annotator draws nothing.

How each annotator errs (`Annotator`), independently per object: misses it with `miss_rate`; else
answers a confusable class (car/truck/bus, pedestrian/cyclist; uniformly among the others of the
group) with `class_confusion`; moves each edge by Gaussian noise of std `box_jitter_px +
box_jitter_frac * side` (side: the box's width for the x edges, its height for the y edges), then clips
to the image. Per task, with `false_positive_rate`, it adds one spurious box of a random class.
Every draw comes from `numpy.random.default_rng` seeded by a stable hash (BLAKE2b) of
(seed, annotator name, task id), and each object consumes the same draws whatever its fate, so the
output is byte-for-byte reproducible and one object's miss does not reshuffle the others.

`gold_truth` gives the true boxes of the gold tasks (the same objects an annotator is asked for,
clipped), so tests and the demo can score annotators; the pipeline itself never reads ground truth.
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from av_contracts.label_studio import BOX_CONTROL, IMAGE_FIELD, RESULT_TYPE, box_to_value
from av_contracts.taxonomy import OBJECT_CLASSES

MIN_VISIBLE = 0.25  # share of an object's silhouette visible for a human to box it
MIN_BOX_PX = 4.0  # smaller side (px, after clipping) below which nobody draws a box
MATCH_TOLERANCE_NS = 20_000_000  # task time -> ground-truth frame (camera frames are 100 ms apart)
EMAIL_DOMAIN = "annotators.sim"
CONFUSABLE: tuple[tuple[str, ...], ...] = (("car", "truck", "bus"), ("pedestrian", "cyclist"))
_CONFUSE = {c: tuple(o for o in group if o != c) for group in CONFUSABLE for c in group}
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
_GT_COLUMNS = ["t_ns", "sensor", "kind", "track_uuid", "class", "x_min", "y_min", "x_max", "y_max"]


@dataclass(frozen=True)
class Annotator:
    """One simulated annotator's error profile (see the module docstring for how each is applied)."""

    name: str  # the email's local part: `<name>@annotators.sim`
    miss_rate: float  # probability of not boxing an object that should be boxed
    box_jitter_px: float  # per-edge noise std, px (plus `box_jitter_frac` of the box side)
    class_confusion: float  # probability of answering a confusable class instead of the true one
    false_positive_rate: float  # probability of one extra spurious box per task
    careless: bool
    box_jitter_frac: float = 0.0  # per-edge noise std as a share of the box side (bigger box, bigger slop)
    seconds_per_box: float = 4.0  # lead_time model: ~6 s to look + this per box drawn

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"annotator name must be lowercase [a-z0-9._-], got {self.name!r}")
        for f in ("miss_rate", "class_confusion", "false_positive_rate"):
            if not 0.0 <= getattr(self, f) <= 1.0:
                raise ValueError(f"{f} must be in [0, 1], got {getattr(self, f)}")
        for f in ("box_jitter_px", "box_jitter_frac", "seconds_per_box"):
            if not getattr(self, f) >= 0.0:
                raise ValueError(f"{f} must be >= 0, got {getattr(self, f)}")

    @property
    def email(self) -> str:
        return f"{self.name}@{EMAIL_DOMAIN}"

    def edge_sigma(self, side_px: float) -> float:
        """Std (px) of the noise on one edge of a box whose side (along that edge's axis) is `side_px`."""
        return self.box_jitter_px + self.box_jitter_frac * side_px


# Two careful annotators of different habits and one careless one; a bigger panel adds careful ones.
_CAREFUL = (
    Annotator("ana", 0.02, 0.8, 0.01, 0.02, False, box_jitter_frac=0.01, seconds_per_box=5.0),
    Annotator("ben", 0.05, 1.5, 0.03, 0.05, False, box_jitter_frac=0.02, seconds_per_box=3.5),
)
_CARELESS = Annotator("cal", 0.30, 4.0, 0.25, 0.25, True, box_jitter_frac=0.06, seconds_per_box=1.5)
_MORE_NAMES = ("dee", "eve", "fay", "gil", "hui", "ivo", "jun", "kai", "lea")


def default_panel(k: int = 3) -> list[Annotator]:
    """`k` (2..12) annotators with distinct error profiles, exactly one careless (the last): for k=3
    `ana` (meticulous), `ben` (quick, a bit sloppier), `cal` (careless: misses 30%, confuses 25%, big
    jitter, frequent spurious boxes)."""
    if not 2 <= k <= len(_CAREFUL) + len(_MORE_NAMES) + 1:
        raise ValueError(f"a panel has 2..{len(_CAREFUL) + len(_MORE_NAMES) + 1} annotators, got {k}")
    careful = list(_CAREFUL)
    for i, name in enumerate(_MORE_NAMES[: max(0, k - 1 - len(_CAREFUL))]):
        careful.append(
            Annotator(
                name,
                miss_rate=0.03 + 0.005 * i,
                box_jitter_px=1.0 + 0.25 * (i % 4),
                class_confusion=0.02 + 0.005 * (i % 3),
                false_positive_rate=0.03 + 0.01 * (i % 2),
                careless=False,
                box_jitter_frac=0.015,
                seconds_per_box=3.0 + 0.5 * (i % 3),
            )
        )
    return careful[: k - 1] + [_CARELESS]


def stable_seed(*parts: object) -> int:
    """A 128-bit seed from `parts` that is the same in every process (unlike `hash()`)."""
    key = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=16).digest(), "little")


def _annotation_id(task_id: int, name: str) -> int:
    """Deterministic annotation id (48 bits, like the pipeline's task ids: exact in JavaScript)."""
    return int.from_bytes(hashlib.blake2b(f"{task_id}\x1f{name}".encode(), digest_size=6).digest(), "big")


class _GroundTruth:
    """Per drive: the camera frames' true times by sensor, and their taxonomy objects."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._drives: dict[str, dict[str, tuple[np.ndarray, dict[int, list[dict]]]]] = {}
        self._stamps: dict[str, dict[str, dict[int, int]]] = {}  # drive -> sensor -> stamp -> true t

    def _load(self, drive_id: str) -> dict[str, tuple[np.ndarray, dict[int, list[dict]]]]:
        if drive_id in self._drives:
            return self._drives[drive_id]
        path = self.root / f"{drive_id}.boxes_2d.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"no ground truth for drive {drive_id!r}: {path} is missing")
        names = set(pq.read_schema(path).names)
        cols = pq.read_table(
            path, columns=[c for c in (*_GT_COLUMNS, "visible_fraction", "stamp_ns") if c in names]
        ).to_pydict()
        vis = cols.get("visible_fraction") or [None] * len(cols["t_ns"])
        times: dict[str, set[int]] = {}
        stamps: dict[str, dict[int, int]] = {}
        objects: dict[str, dict[int, list[dict]]] = {}
        for i in range(len(cols["t_ns"])):
            sensor, t = cols["sensor"][i], int(cols["t_ns"][i])
            times.setdefault(sensor, set()).add(t)  # faces/plates rows mark a frame too
            if cols.get("stamp_ns") and cols["stamp_ns"][i] is not None:
                stamps.setdefault(sensor, {})[int(cols["stamp_ns"][i])] = t
            if cols["kind"][i] != "object":
                continue
            objects.setdefault(sensor, {}).setdefault(t, []).append(
                {k: cols[k][i] for k in _GT_COLUMNS} | {"visible_fraction": vis[i]}
            )
        masks = self.root / f"{drive_id}.masks.parquet"  # every rendered frame, objects or not
        if masks.is_file():
            mcols = [c for c in ("t_ns", "sensor", "stamp_ns") if c in set(pq.read_schema(masks).names)]
            m = pq.read_table(masks, columns=mcols).to_pydict()
            for i, (sensor, t) in enumerate(zip(m["sensor"], m["t_ns"], strict=True)):
                times.setdefault(sensor, set()).add(int(t))
                if m.get("stamp_ns") and m["stamp_ns"][i] is not None:
                    stamps.setdefault(sensor, {})[int(m["stamp_ns"][i])] = int(t)
        out = {}
        for sensor, ts in times.items():
            frames = objects.get(sensor, {})
            for obs in frames.values():
                obs.sort(key=lambda o: (str(o["track_uuid"]), o["x_min"], o["y_min"]))
            out[sensor] = (np.array(sorted(ts), dtype=np.int64), frames)
        self._drives[drive_id] = out
        self._stamps[drive_id] = stamps
        return out

    def frame_objects(self, drive_id: str, sensor_id: str, t_ns: int) -> list[dict] | None:
        """The objects of the frame stamped `t_ns`, else of the frame whose true time is nearest `t_ns`
        within the tolerance; None if there is no frame."""
        sensors = self._load(drive_id)
        if sensor_id not in sensors:
            return None
        times, frames = sensors[sensor_id]
        stamped = self._stamps[drive_id].get(sensor_id, {}).get(int(t_ns))
        if stamped is not None:
            return frames.get(stamped, [])
        j = int(np.searchsorted(times, t_ns))
        best = None
        for c in (j - 1, j):
            if 0 <= c < len(times) and (best is None or abs(int(times[c]) - t_ns) < abs(best - t_ns)):
                best = int(times[c])
        if best is None or abs(best - t_ns) > MATCH_TOLERANCE_NS:
            return None
        return frames.get(best, [])


def _to_box(
    ob: dict, width: int, height: int, min_visible: float
) -> tuple[float, float, float, float] | None:
    """The clipped box a human would draw for `ob`, or None when nobody would box it."""
    coords = [ob["x_min"], ob["y_min"], ob["x_max"], ob["y_max"]]
    if any(v is None or not math.isfinite(v) for v in coords):
        return None
    vf = ob.get("visible_fraction")
    if vf is not None and math.isfinite(vf) and vf < min_visible:
        return None
    x0, y0 = max(0.0, float(coords[0])), max(0.0, float(coords[1]))
    x1, y1 = min(float(width), float(coords[2])), min(float(height), float(coords[3]))
    if min(x1 - x0, y1 - y0) < MIN_BOX_PX:
        return None
    return x0, y0, x1, y1


def _task_frame(task: dict) -> tuple[int, str, str, int, int, int]:
    try:
        d = task["data"]
        tid, drive, sensor = int(task["id"]), str(d["drive_id"]), str(d["sensor_id"])
        t, w, h = int(d["t_ns"]), int(d["width"]), int(d["height"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"task {task.get('id')!r} lacks the frame key or image size: {exc!r}") from exc
    if w <= 0 or h <= 0:
        raise ValueError(f"task {tid}: image size must be positive, got {w}x{h}")
    return tid, drive, sensor, t, w, h


def _region(rid: str, cls: str, box: tuple[float, float, float, float], w: int, h: int) -> dict:
    return {
        "id": rid,
        "from_name": BOX_CONTROL,
        "to_name": IMAGE_FIELD,
        "type": RESULT_TYPE,
        "original_width": w,
        "original_height": h,
        "image_rotation": 0,
        "value": {**box_to_value(*box, w, h), RESULT_TYPE: [cls]},
    }


def _answer(a: Annotator, rng: np.random.Generator, truth: list[tuple[str, tuple]], w: int, h: int):
    """(class, box) pairs one annotator draws for the objects `truth` of a `w`x`h` image."""
    drawn = []
    for cls, (x0, y0, x1, y1) in truth:
        u_miss, u_conf, u_pick = rng.random(3)
        noise = rng.standard_normal(4)
        if u_miss < a.miss_rate:
            continue
        others = _CONFUSE.get(cls, ())
        if others and u_conf < a.class_confusion:
            cls = others[min(int(u_pick * len(others)), len(others) - 1)]
        sx, sy = a.edge_sigma(x1 - x0), a.edge_sigma(y1 - y0)
        bx0, by0 = x0 + sx * noise[0], y0 + sy * noise[1]
        bx1, by1 = x1 + sx * noise[2], y1 + sy * noise[3]
        bx0, bx1 = min(bx0, bx1), max(bx0, bx1)  # a tiny box jittered inside out is redrawn the right way
        by0, by1 = min(by0, by1), max(by0, by1)
        bx0, by0, bx1, by1 = max(0.0, bx0), max(0.0, by0), min(float(w), bx1), min(float(h), by1)
        if bx1 - bx0 < 1.0 or by1 - by0 < 1.0:
            continue  # jittered off the image: nothing left to draw
        drawn.append((cls, (float(bx0), float(by0), float(bx1), float(by1))))
    u_fp, u_cls, u_w, u_ar, u_x, u_y = rng.random(6)
    if u_fp < a.false_positive_rate:
        bw = min(float(w), 12.0 + u_w * max(1.0, w / 6.0 - 12.0))
        bh = min(float(h), bw * (0.5 + 1.5 * u_ar))
        bx0 = u_x * (w - bw)
        by0 = 0.3 * (h - bh) + u_y * 0.7 * (h - bh)  # spurious boxes land on the road half of the image
        cls = OBJECT_CLASSES[min(int(u_cls * len(OBJECT_CLASSES)), len(OBJECT_CLASSES) - 1)]
        drawn.append((cls, (float(bx0), float(by0), float(bx0 + bw), float(by0 + bh))))
    return drawn


def answer_tasks(
    tasks: list[dict],
    ground_truth_root: Path,
    panel: list[Annotator],
    seed: int,
    min_visible: float = MIN_VISIBLE,
) -> list[dict]:
    """A copy of the Label Studio `tasks` with `annotations`: one per annotator of `panel` (in panel
    order, replacing any the task had), each `{"id", "completed_by": {"email"}, "was_cancelled",
    "lead_time", "result"}` with `rectanglelabels` regions in Label Studio's export format. Answers
    come from the ground truth under `ground_truth_root`; `predictions` are left as they are, unread.
    Raises FileNotFoundError when a task's drive has no ground truth, ValueError on a malformed task."""
    names = [a.name for a in panel]
    if not panel or len(set(names)) != len(names):
        raise ValueError(f"a panel needs annotators with distinct names, got {names}")
    gt = _GroundTruth(Path(ground_truth_root))
    out = []
    for task in tasks:
        tid, drive, sensor, t, w, h = _task_frame(task)
        objects = gt.frame_objects(drive, sensor, t)
        truth = []
        for ob in objects or ():
            box = _to_box(ob, w, h, min_visible)
            if box is not None:
                truth.append((str(ob["class"]), box))
        annotations = []
        for a in panel:
            rng = np.random.default_rng(stable_seed(seed, a.name, tid))
            drawn = [] if objects is None else _answer(a, rng, truth, w, h)
            ann_id = _annotation_id(tid, a.name)
            result = [
                _region(hashlib.blake2b(f"{ann_id}:{r}".encode(), digest_size=5).hexdigest(), cls, box, w, h)
                for r, (cls, box) in enumerate(drawn)
            ]
            lead = (6.0 + a.seconds_per_box * len(result)) * math.exp(0.25 * float(rng.standard_normal()))
            annotations.append(
                {
                    "id": ann_id,
                    "completed_by": {"email": a.email},
                    "was_cancelled": False,
                    "lead_time": round(lead, 3),
                    "result": result,
                }
            )
        new = copy.deepcopy(task)
        new["annotations"] = annotations
        out.append(new)
    return out


def gold_truth(tasks: list[dict], ground_truth_root: Path, min_visible: float = MIN_VISIBLE) -> list[dict]:
    """The true boxes of the gold tasks (`data.gold` true): one row per object an annotator is asked
    to box (same visibility and size rule, clipped to the image), keyed by the task's frame key:
    `{drive_id, sensor_id, t_ns, class, x_min, y_min, x_max, y_max}` (native px, t_ns as in the task)."""
    gt = _GroundTruth(Path(ground_truth_root))
    rows = []
    for task in tasks:
        meta = task.get("meta") or {}
        if not meta.get("gold", task.get("data", {}).get("gold")):
            continue
        _, drive, sensor, t, w, h = _task_frame(task)
        for ob in gt.frame_objects(drive, sensor, t) or ():
            box = _to_box(ob, w, h, min_visible)
            if box is not None:
                rows.append(
                    {"drive_id": drive, "sensor_id": sensor, "t_ns": t, "class": str(ob["class"])}
                    | dict(zip(("x_min", "y_min", "x_max", "y_max"), box, strict=True))
                )
    return rows
