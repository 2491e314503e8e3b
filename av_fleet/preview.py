"""Example frames with their ground-truth boxes drawn (docs/img/fleet_*.png).

`python -m av_fleet.preview OUT_DIR` generates short drives (default and held-out style; day, night,
rain, fog), reads the camera frames back from the bags with rosbags, draws the ground-truth object,
face and plate boxes and writes one PNG per case: the frame with the most readable plates/faces.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

CASES = (
    ("default_day", "default", "clear", "day"),
    ("heldout_day", "heldout", "overcast", "day"),
    ("default_night", "default", "clear", "night"),
    ("heldout_rain", "heldout", "rain", "dusk"),
    ("default_fog", "default", "fog", "day"),
)


def frames_with_gt(out: Path, summary: dict, drive_index: int = 0):
    """Yield (t_ns, stamp_ns, BGR image, boxes DataFrame rows of that frame) for one drive."""
    import pyarrow.parquet as pq
    from rosbags.highlevel import AnyReader

    d = summary["drive_list"][drive_index]
    gt = json.loads((out / "_ground_truth" / f"{d['drive_id']}.json").read_text())
    boxes = pq.read_table(out / "_ground_truth" / gt["camera_frames"][0]["boxes"]["path"]).to_pandas()
    by_stamp = dict(boxes.groupby("stamp_ns").__iter__())
    folder = out / d["path"]
    bags = list(folder.glob("*.bag"))
    with AnyReader([bags[0] if bags else folder / "bag"]) as reader:
        conns = [c for c in reader.connections if c.topic == "/camera/front/image_raw/compressed"]
        for conn, t, raw in reader.messages(connections=conns):
            m = reader.deserialize(raw, conn.msgtype)
            stamp = m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec
            img = cv2.imdecode(np.frombuffer(bytes(m.data), np.uint8), cv2.IMREAD_COLOR)
            yield t, stamp, img, by_stamp.get(stamp)


def draw(img: np.ndarray, rows) -> np.ndarray:
    out = img.copy()
    if rows is None:
        return out
    for r in rows.itertuples():
        p0, p1 = (int(r.x_min), int(r.y_min)), (int(np.ceil(r.x_max)) - 1, int(np.ceil(r.y_max)) - 1)
        if r.kind == "object":
            cv2.rectangle(out, p0, p1, (0, 255, 0), 1)
        else:
            col = (255, 0, 255) if r.kind == "face" else (0, 255, 255)
            if r.flag != "ok":
                col = tuple(c // 2 for c in col)
            cv2.rectangle(out, p0, p1, col, 1)
    return out


def main(dest: str) -> None:
    from av_fleet.simulate import simulate_fleet

    dest_p = Path(dest)
    dest_p.mkdir(parents=True, exist_ok=True)
    for name, style, weather, light in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            s = simulate_fleet(out, 1, 21, 12.0, "mcap", render_style=style, weather=weather, light=light)
            best, score = None, -1.0
            for _t, _st, img, rows in frames_with_gt(out, s):
                if rows is None:
                    continue
                pii = rows[(rows.kind != "object") & (rows.flag == "ok")]
                sc = float(pii.min_px.max()) if len(pii) else 0.0
                sc += 5.0 * len(set(pii.kind)) + 0.01 * len(rows)
                if sc > score:
                    best, score = draw(img, rows), sc
            # an adaptive 96-colour palette keeps the PNG small (sensor noise defeats plain PNG)
            from PIL import Image

            pal = Image.fromarray(best[:, :, ::-1]).quantize(colors=96, method=Image.Quantize.MEDIANCUT)
            pal.save(dest_p / f"fleet_{name}.png", optimize=True)
            print(dest_p / f"fleet_{name}.png", round(score, 1))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/img")
