"""The Label Studio project both sides speak: the pipeline exports QA tasks in it and imports the
annotations; the simulated annotator panel (av_fleet) answers in it. Label Studio's own JSON
(https://labelstud.io/guide/task_format, /guide/export#Label-Studio-JSON-format-of-annotated-tasks):
a rectangle's `value.x/y/width/height` are percentages of `original_width/original_height`.

A task's `data` carries, besides `image`, the frame key (`drive_id`, `sensor_id`, `t_ns`), the
native `width`/`height`, the sampling `stratum` and `gold` (a frame with known answers)."""

from __future__ import annotations

from av_contracts.taxonomy import OBJECT_CLASSES

IMAGE_FIELD = "image"  # the <Image> tag's name and the task data key
BOX_CONTROL = "label"  # the <RectangleLabels> tag's name (a result's from_name)
RESULT_TYPE = "rectanglelabels"


def label_config(classes: tuple[str, ...] = OBJECT_CLASSES) -> str:
    """The labelling interface (XML) of a QA project: one image, rectangles with the taxonomy."""
    labels = "".join(f'<Label value="{c}"/>' for c in classes)
    return (
        f'<View><Image name="{IMAGE_FIELD}" value="${IMAGE_FIELD}"/>'
        f'<RectangleLabels name="{BOX_CONTROL}" toName="{IMAGE_FIELD}">{labels}</RectangleLabels></View>'
    )


def box_to_value(x_min: float, y_min: float, x_max: float, y_max: float, width: int, height: int) -> dict:
    """Native-pixel box -> a rectangle's `value` (percent of the image)."""
    return {
        "x": 100.0 * x_min / width,
        "y": 100.0 * y_min / height,
        "width": 100.0 * (x_max - x_min) / width,
        "height": 100.0 * (y_max - y_min) / height,
        "rotation": 0,
    }


def value_to_box(value: dict, width: int, height: int) -> tuple[float, float, float, float]:
    """A rectangle's `value` (percent) -> native-pixel `x_min, y_min, x_max, y_max`."""
    x0 = float(value["x"]) * width / 100.0
    y0 = float(value["y"]) * height / 100.0
    return x0, y0, x0 + float(value["width"]) * width / 100.0, y0 + float(value["height"]) * height / 100.0


def box_region(
    cls: str,
    x_min: float,
    y_min: float,
    x_max: float,
    y_max: float,
    width: int,
    height: int,
    region_id: str | None = None,
    score: float | None = None,
) -> dict:
    """One rectangle result (a prediction's or an annotation's) in this project, from a native-pixel
    box: the same shape whether the pipeline predicts it or an annotator (or the fleet's simulated
    panel) draws it."""
    region = {
        "from_name": BOX_CONTROL,
        "to_name": IMAGE_FIELD,
        "type": RESULT_TYPE,
        "original_width": int(width),
        "original_height": int(height),
        "image_rotation": 0,
        "value": {**box_to_value(x_min, y_min, x_max, y_max, width, height), RESULT_TYPE: [cls]},
    }
    if region_id is not None:
        region["id"] = region_id
    if score is not None:
        region["score"] = float(score)
    return region
