"""The catalog tables as plain functions: clip_index_frame, clip_store_updates, clip_text_frame."""

from dataclasses import dataclass

import polars as pl

from av_assets.catalog.clip_index import CLIP_INDEX_SCHEMA, clip_index_frame
from av_assets.catalog.text_embed import (
    CLIP_TEXT_COLUMNS,
    clip_store_updates,
    clip_text_frame,
    event_type_list,
)

ROW = {
    "clip_id": "d1:0",
    "drive_id": "d1",
    "t_start_ns": 0,
    "t_end_ns": 20,
    "day_night": "day",
    "weather": "rain",
    "weather_source": "drive",
    "road_class": "primary",
    "event_types": "cut_in,harsh_brake",
    "text": "a cut in by day",
    "embed_text": "a cut in",
}


@dataclass
class Embedder:
    name: str = "minilm"
    version: str = "2"


def test_clip_index_frame_typed_even_when_empty():
    empty = clip_index_frame([])
    assert empty.height == 0 and empty.columns == list(CLIP_INDEX_SCHEMA)
    assert empty.schema["sensors"] == pl.List(pl.String) and empty.schema["t_start_ns"] == pl.Int64


def test_clip_store_updates_and_event_types():
    assert event_type_list("") == [] and event_type_list("a,,b") == ["a", "b"]
    assert clip_store_updates([ROW]) == [
        {
            "clip_id": "d1:0",
            "day_night": "day",
            "weather": "rain",
            "weather_source": "drive",
            "road_class": "primary",
            "event_types": ["cut_in", "harsh_brake"],
        }
    ]


def test_clip_text_frame_names_the_embedder():
    frame = clip_text_frame([ROW], Embedder())
    assert frame.columns == [*CLIP_TEXT_COLUMNS, "embedder", "embedder_version"]
    assert frame.row(0, named=True)["embedder"] == "minilm" and frame["text"][0] == "a cut in by day"
    bare = clip_text_frame([ROW])
    assert bare["embedder"][0] is None and bare.schema["embedder_version"] == pl.String
    assert clip_text_frame([]).height == 0
