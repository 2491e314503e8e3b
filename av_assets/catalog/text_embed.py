"""Text for semantic clip search: per-clip tags and a plain-words summary.

Plain functions (no Dagster, no I/O):
- `clip_tags(a, b, events, road)`: the detected event types overlapping the clip and the clip's
  day/night, weather and road class (the most frequent value over its samples) from the pipeline's own
  tables (`silver/event_detections`, `silver/road_context`), never from ground truth.
- `clip_text(row, tags)`: what is indexed and embedded for a clip: a short sentence of what happens
  and under which conditions first, then the catalog description (vehicle, time, speeds, sensors...).
- `text_index_rows(catalog_rows, events, road)`: catalog rows -> text index rows (text + tag columns).

The sentence embedder that turns `embed_text` into vectors is a resource (`text_embedder`,
`av_resources/text_embedder.py`), injected into `catalog/clip_text`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


CLIP_TEXT_COLUMNS = {
    "clip_id": "String",
    "drive_id": "String",
    "t_start_ns": "Int64",
    "t_end_ns": "Int64",
    "day_night": "String",
    "weather": "String",
    "road_class": "String",
    "event_types": "String",
    "text": "String",
}


def event_type_list(event_types: str) -> list[str]:
    """The comma text of a text index row's `event_types` as a list."""
    return [e for e in event_types.split(",") if e]


def clip_store_updates(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the clip's key-value item gets from its text index row: the conditions and event types
    search results show (the catalog item is written before enrichment)."""
    keys = ("clip_id", "day_night", "weather", "weather_source", "road_class")
    return [{**{k: r[k] for k in keys}, "event_types": event_type_list(r["event_types"])} for r in rows]


def clip_text_frame(rows: Sequence[dict[str, Any]], embedder=None):
    """The `catalog/clip_text` table (polars.DataFrame): `CLIP_TEXT_COLUMNS` of every text index row
    plus the embedder's name and version (null without an embedder)."""
    import polars as pl

    return pl.DataFrame(
        [{k: r.get(k) for k in CLIP_TEXT_COLUMNS} for r in rows],
        schema={k: getattr(pl, v) for k, v in CLIP_TEXT_COLUMNS.items()},
    ).with_columns(
        embedder=pl.lit(embedder.name if embedder else None, pl.String),
        embedder_version=pl.lit(embedder.version if embedder else None, pl.String),
    )
