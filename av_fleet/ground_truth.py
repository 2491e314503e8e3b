"""Ground truth of a synthetic drive: `<fleet>/_ground_truth/<drive_id>.json` plus Parquet beside it.

The JSON (schema: av_contracts/schemas/ground_truth.schema.json) holds the events, the hard
negatives (`near_misses`), the track list, conditions, faults and references to the bulky tables:
  <drive_id>.cuboids.parquet  one row per (camera frame time, track): 3D cuboid in base_link and map
  <drive_id>.boxes_2d.parquet one row per (camera frame, visible object | face | plate): 2D box
  <drive_id>.ego_trajectory.parquet  the ego trajectory at 100 Hz (t_ns, lat, lon, speed, accel, ...)
  <drive_id>.masks.parquet    one row per rendered camera frame: its segmentation mask, a PNG of class
                              indices (SEG_CLASSES) at the camera's native resolution
Pipelines never read this; evaluation does.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from av_contracts.taxonomy import EVENT_TYPES, OBJECT_CLASSES, SEG_CLASSES

GT_SCHEMA_VERSION = 1

CUBOID_SCHEMA = pa.schema(
    [
        ("t_ns", pa.int64()),
        ("track_uuid", pa.string()),
        ("class", pa.string()),
        ("x_base", pa.float64()),
        ("y_base", pa.float64()),
        ("z_base", pa.float64()),
        ("yaw_base", pa.float64()),
        ("x_map", pa.float64()),
        ("y_map", pa.float64()),
        ("z_map", pa.float64()),
        ("yaw_map", pa.float64()),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("length", pa.float64()),
        ("width", pa.float64()),
        ("height", pa.float64()),
        ("vx_map", pa.float64()),
        ("vy_map", pa.float64()),
        ("vx_base", pa.float64()),
        ("vy_base", pa.float64()),
        ("speed", pa.float64()),
    ]
)
BOX_SCHEMA = pa.schema(
    [
        ("t_ns", pa.int64()),
        ("sensor", pa.string()),
        ("kind", pa.string()),
        ("track_uuid", pa.string()),
        ("class", pa.string()),
        ("x_min", pa.float64()),
        ("y_min", pa.float64()),
        ("x_max", pa.float64()),
        ("y_max", pa.float64()),
        ("depth_m", pa.float64()),
        ("truncated", pa.bool_()),
        ("stamp_ns", pa.int64()),  # the frame's header stamp (camera clock); t_ns is true time
        # objects: share of their silhouette's pixels that are front-most and inside the image;
        # faces/plates: share of their pixels visible (docs/fleet.md gives both definitions)
        ("visible_fraction", pa.float64()),
        ("min_px", pa.float64()),  # faces/plates: the box's smaller side in px
        ("flag", pa.string()),  # faces/plates: ok | occluded | too_small
        ("text", pa.string()),  # plates: the characters
        ("style", pa.string()),  # plates: the plate style
    ]
)
MASK_SCHEMA = pa.schema(
    [
        ("t_ns", pa.int64()),  # true time, as the frame's boxes_2d / cuboids rows
        ("sensor", pa.string()),
        ("stamp_ns", pa.int64()),  # the frame's header stamp (camera clock)
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("drivable_px", pa.int64()),
        ("lane_marking_px", pa.int64()),
        ("png", pa.binary()),  # 8-bit greyscale PNG, pixel value = index into SEG_CLASSES
    ]
)
EGO_SCHEMA = pa.schema(
    [
        ("t_ns", pa.int64()),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("x_map", pa.float64()),
        ("y_map", pa.float64()),
        ("yaw_map", pa.float64()),
        ("speed", pa.float64()),
        ("accel", pa.float64()),
        ("yaw_rate", pa.float64()),
        ("engaged", pa.bool_()),
        ("turn_signal", pa.int8()),
        ("speed_limit", pa.float64()),
        ("lane_offset", pa.float64()),
    ]
)


class GroundTruthCollector:
    def __init__(self):
        self.cuboids: dict[str, list] = {f.name: [] for f in CUBOID_SCHEMA}
        self.boxes: dict[str, list] = {f.name: [] for f in BOX_SCHEMA}
        self.frames: list[int] = []
        self.stamps: list[int] = []
        self.pii_boxes: list[dict] = []
        self.masks: dict[str, list] = {f.name: [] for f in MASK_SCHEMA}

    def add_frame(
        self,
        t_ns: int,
        sensor: str,
        objects: list[dict],
        boxes: list[tuple[dict, list, float, bool]],
        to_latlon,
        stamp_ns: int | None = None,
        pii: list[dict] | None = None,
        visibility: dict[str, float] | None = None,
        segmentation: np.ndarray | None = None,
    ) -> None:
        """One rendered camera frame: cuboids of `objects`, object `boxes` (with their `visibility` by
        track uuid), face/plate items `pii`, and the frame's `segmentation` (class indices)."""
        self.frames.append(t_ns)
        self.stamps.append(t_ns if stamp_ns is None else stamp_ns)
        c = self.cuboids
        for ob in objects:
            assert ob["cls"] in OBJECT_CLASSES
            lat, lon = to_latlon(ob["x"], ob["y"])
            for k, v in (
                ("t_ns", t_ns),
                ("track_uuid", ob["uid"]),
                ("class", ob["cls"]),
                ("x_base", ob["xb"]),
                ("y_base", ob["yb"]),
                ("z_base", ob["size"][2] / 2),
                ("yaw_base", ob["yawb"]),
                ("x_map", ob["x"]),
                ("y_map", ob["y"]),
                ("z_map", ob["size"][2] / 2),
                ("yaw_map", ob["yaw"]),
                ("lat", float(lat)),
                ("lon", float(lon)),
                ("length", ob["size"][0]),
                ("width", ob["size"][1]),
                ("height", ob["size"][2]),
                ("vx_map", ob["vx"]),
                ("vy_map", ob["vy"]),
                ("vx_base", ob["vxb"]),
                ("vy_base", ob["vyb"]),
                ("speed", ob["speed"]),
            ):
                c[k].append(v)
        b = self.boxes
        for ob, box, depth, trunc in boxes:
            for k, v in (
                ("t_ns", t_ns),
                ("sensor", sensor),
                ("kind", "object"),
                ("track_uuid", ob["uid"]),
                ("class", ob["cls"]),
                ("x_min", box[0]),
                ("y_min", box[1]),
                ("x_max", box[2]),
                ("y_max", box[3]),
                ("depth_m", depth),
                ("truncated", trunc),
                ("stamp_ns", self.stamps[-1]),
                ("visible_fraction", None if visibility is None else visibility.get(ob["uid"], 0.0)),
                ("min_px", None),
                ("flag", None),
                ("text", None),
                ("style", None),
            ):
                b[k].append(v)
        entry = {"sensor_id": sensor, "t_ns": self.stamps[-1], "faces": [], "plates": [], "ignored": []}
        for it in pii or ():
            for k in ("t_ns", "sensor", "kind", "track_uuid", "class", "depth_m", "truncated"):
                b[k].append({"t_ns": t_ns, "sensor": sensor}.get(k, it.get(k)))
            for k, v in zip(("x_min", "y_min", "x_max", "y_max"), it["box"], strict=True):
                b[k].append(v)
            b["stamp_ns"].append(self.stamps[-1])
            for k in ("visible_fraction", "min_px", "flag", "text", "style"):
                b[k].append(it.get(k))
            box = [_r(v, 3) for v in it["box"]]
            if it["flag"] == "ok":
                entry["faces" if it["kind"] == "face" else "plates"].append(box)
            else:
                entry["ignored"].append({"kind": it["kind"], "box": box, "flag": it["flag"]})
        if pii:
            self.pii_boxes.append(entry)
        if segmentation is not None:
            self.add_mask(t_ns, sensor, self.stamps[-1], segmentation)

    def add_mask(self, t_ns: int, sensor: str, stamp_ns: int, seg: np.ndarray) -> None:
        assert seg.dtype == np.uint8 and seg.ndim == 2 and int(seg.max()) < len(SEG_CLASSES)
        m = self.masks
        for k, v in (
            ("t_ns", t_ns),
            ("sensor", sensor),
            ("stamp_ns", stamp_ns),
            ("width", seg.shape[1]),
            ("height", seg.shape[0]),
            ("drivable_px", int(np.count_nonzero(seg == 1))),
            ("lane_marking_px", int(np.count_nonzero(seg == 2))),
            ("png", mask_png(seg)),
        ):
            m[k].append(v)


def mask_png(seg: np.ndarray) -> bytes:
    """8-bit greyscale PNG of a class-index mask; deterministic (Pillow writes no time or text chunk)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(seg, dtype=np.uint8), mode="L").save(
        buf, format="PNG", compress_level=6
    )
    return buf.getvalue()


def _write_parquet(path: Path, cols: dict[str, list] | dict[str, np.ndarray], schema: pa.Schema) -> int:
    table = pa.Table.from_pydict({f.name: cols[f.name] for f in schema}, schema=schema)
    binary = [f.name for f in schema if pa.types.is_binary(f.type)]  # already-compressed blobs (PNG)
    if not binary:
        pq.write_table(table, path, compression="zstd", write_statistics=True)
        return table.num_rows
    plain = [f.name for f in schema if f.name not in binary]
    pq.write_table(
        table,
        path,
        compression={f.name: "none" if f.name in binary else "zstd" for f in schema},
        use_dictionary=plain,
        write_statistics=plain,
    )
    return table.num_rows


def _r(x: float, nd: int = 6) -> float:
    return float(round(float(x), nd))


def write_ground_truth(
    gt_dir: Path, doc: dict, collector: GroundTruthCollector, ego_cols: dict
) -> list[Path]:
    """Write the JSON and its Parquet tables; `doc` carries everything else. Returns the files written."""
    gt_dir.mkdir(parents=True, exist_ok=True)
    drive_id = doc["drive_id"]
    files = []
    refs = {}
    for key, cols, schema in (
        ("cuboids", collector.cuboids, CUBOID_SCHEMA),
        ("boxes_2d", collector.boxes, BOX_SCHEMA),
        ("ego_trajectory", ego_cols, EGO_SCHEMA),
        ("masks", collector.masks, MASK_SCHEMA),
    ):
        name = f"{drive_id}.{key}.parquet"
        rows = _write_parquet(gt_dir / name, cols, schema)
        refs[key] = {"path": name, "format": "parquet", "rows": rows, "columns": [f.name for f in schema]}
        files.append(gt_dir / name)
    for e in doc["events"]:
        assert e["type"] in EVENT_TYPES
    doc = dict(doc)
    doc["tracks_table"] = refs["cuboids"]
    doc["camera_frames"][0]["boxes"] = refs["boxes_2d"]
    doc["camera_frames"][0]["masks"] = dict(refs["masks"], classes=list(SEG_CLASSES), encoding="png_l8")
    doc["ego_trajectory"] = refs["ego_trajectory"]
    doc["pii_boxes"] = collector.pii_boxes
    path = gt_dir / f"{drive_id}.json"
    path.write_text(json.dumps(_clean(doc), indent=1, sort_keys=False) + "\n")
    files.append(path)
    return files


def _clean(o):
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, (np.floating, float)):
        return _r(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.bool_):
        return bool(o)
    return o
