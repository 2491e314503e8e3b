"""Every table the pipeline writes, declared once: its asset key, lake path, columns and partitioning.

The writer (`TABLE.rel(drive_id=...)`), the catalog view (`av query`), every reader in another
domain, and dbt's sources (`dbt_project/models/sources.yml`, generated from here:
`python -m av_contracts.tables --dbt-sources`) all use these declarations; no path or column list is
spelled a second time. Paths are relative to the lake root (a folder locally, `s3://...` in
production). A per-drive table lives under `.../drive_id=<id>/`, one folder per `drives` partition.

Columns are DuckDB types: the catalog makes an empty but well-typed view from them before the first
write, and dbt's staging models read exactly these columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from av_contracts.ids import validate_drive_id

PARTITIONINGS = ("drive", "none", "query")
_KEY = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Table:
    """One lake table: `path` is a template whose `{drive_id}` / `{query}` fields are the partition."""

    name: str  # the catalog view's name
    asset_key: str  # the asset that writes it ("silver/object_tracks")
    path: str
    owner: str  # the domain (extension) that writes it
    columns: dict[str, str] = field(default_factory=dict)
    description: str = ""
    format: str = "parquet"  # or "json"
    view: bool = True  # a catalog view (`av query`) over it

    def __post_init__(self) -> None:
        unknown = set(_KEY.findall(self.path)) - {"drive_id", "query"}
        if unknown:
            raise ValueError(f"table {self.name}: unknown path field(s) {sorted(unknown)}")

    @property
    def partitioning(self) -> str:
        """ "drive" (one file per `drives` partition), "query" (per named query) or "none"."""
        fields = _KEY.findall(self.path)
        return "drive" if "drive_id" in fields else "query" if "query" in fields else "none"

    @property
    def key_path(self) -> list[str]:
        return self.asset_key.split("/")

    @property
    def glob(self) -> str:
        """Every partition's file: what a view or a cross-drive reader opens."""
        return _KEY.sub("*", self.path)

    def rel(self, **keys: str) -> str:
        """The file of one partition (a drive id is validated: names from outside never build paths)."""
        if "drive_id" in keys:
            keys["drive_id"] = validate_drive_id(keys["drive_id"])
        return self.path.format(**keys)

    def folder(self, **keys: str) -> str:
        """The partition's folder (sidecar files, frame images and reports sit beside the table)."""
        return self.rel(**keys).rsplit("/", 1)[0]

    def sidecar(self, name: str, **keys: str) -> str:
        """A file beside the partition's table (`calibration.json`, `redaction_report.json`...)."""
        return f"{self.folder(**keys)}/{name}"

    @property
    def root(self) -> str:
        """The prefix every partition of the table lives under."""
        return self.path.split("{", 1)[0].rsplit("/", 1)[0]


_TABLES: list[Table] = []


def _table(name: str, **kw) -> Table:
    t = Table(name=name, **kw)
    _TABLES.append(t)
    return t


MANIFEST_SIGNATURE = "manifest.sig.json"  # beside each drive's manifest: sign_document(manifest)
REDACTION_REPORT = "redaction_report.json"  # beside a drive's redacted frames, signed like a manifest
REDACTION_REPORT_SIGNATURE = "redaction_report.sig.json"

# ---- bronze (ingest) ------------------------------------------------------------------------------
BRONZE_MANIFEST = _table(
    "drive_manifest",
    asset_key="bronze/drive_manifest",
    path="bronze/drives/{drive_id}/manifest.json",
    owner="ingest",
    format="json",
    view=False,
    description="the signed manifest of a drive's bronze copy (manifest.sig.json beside it); "
    "the drive's files sit under the same folder",
)
CLIP_INDEX = _table(
    "clip_index",
    asset_key="catalog/clip_index",
    path="catalog/clip_index/drive_id={drive_id}/part-0.parquet",
    owner="catalog",
    description="one row per clip: times, GPS box, distance, speeds, route, weather, sensors, flags",
    columns={
        "clip_id": "VARCHAR",
        "drive_id": "VARCHAR",
        "vehicle_id": "VARCHAR",
        "t_start_ns": "BIGINT",
        "t_end_ns": "BIGINT",
        "utc_start": "VARCHAR",
        "utc_end": "VARCHAR",
        "duration_s": "DOUBLE",
        "lat_min": "DOUBLE",
        "lat_max": "DOUBLE",
        "lon_min": "DOUBLE",
        "lon_max": "DOUBLE",
        "lat_centroid": "DOUBLE",
        "lon_centroid": "DOUBLE",
        "distance_m": "DOUBLE",
        "speed_mean_mps": "DOUBLE",
        "speed_max_mps": "DOUBLE",
        "route_id": "VARCHAR",
        "weather": "VARCHAR",
        "sensors": "VARCHAR[]",
        "quality_flags": "VARCHAR[]",
        "policy_version": "VARCHAR",
        "description": "VARCHAR",
    },
)
CLIP_TEXT = _table(
    "clip_text",
    asset_key="catalog/clip_text",
    path="catalog/clip_text/drive_id={drive_id}/part-0.parquet",
    owner="catalog",
    description="one row per clip: the text `av search text` searches, its tags and embedder",
    columns={
        "clip_id": "VARCHAR",
        "drive_id": "VARCHAR",
        "t_start_ns": "BIGINT",
        "t_end_ns": "BIGINT",
        "day_night": "VARCHAR",
        "weather": "VARCHAR",
        "road_class": "VARCHAR",
        "event_types": "VARCHAR",
        "text": "VARCHAR",
        "embedder": "VARCHAR",
        "embedder_version": "VARCHAR",
    },
)
CLIP_EMBEDDINGS = _table(
    "clip_embeddings",
    asset_key="ml/clip_embeddings",
    path="ml/clip_embeddings/drive_id={drive_id}/part-0.parquet",
    owner="embeddings",
    description="one embedding row per clip (vector in the LanceDB table ml/embeddings); `av search like --where` filters on these columns",
    columns={
        "clip_id": "VARCHAR",
        "drive_id": "VARCHAR",
        "t_start_ns": "BIGINT",
        "t_end_ns": "BIGINT",
        "event_types": "VARCHAR",
        "day_night": "VARCHAR",
        "weather": "VARCHAR",
        "road_class": "VARCHAR",
        "speed_mean_mps": "DOUBLE",
        "model": "VARCHAR",
        "model_version": "VARCHAR",
    },
)
KEYFRAME_EMBEDDINGS = _table(
    "keyframe_embeddings",
    asset_key="ml/keyframe_embeddings",
    path="ml/keyframe_embeddings/drive_id={drive_id}/part-0.parquet",
    owner="embeddings",
    description="one embedding row per redacted keyframe (vector in the LanceDB table ml/keyframe_embeddings)",
    columns={
        "keyframe_id": "VARCHAR",
        "drive_id": "VARCHAR",
        "clip_id": "VARCHAR",
        "sensor_id": "VARCHAR",
        "t_ns": "BIGINT",
        "event_types": "VARCHAR",
        "day_night": "VARCHAR",
        "weather": "VARCHAR",
        "model": "VARCHAR",
        "model_version": "VARCHAR",
    },
)
ROAD_CONTEXT = _table(
    "road_context",
    asset_key="silver/road_context",
    path="silver/road_context/drive_id={drive_id}/part-0.parquet",
    owner="enrich",
    description="per GNSS sample: matched road class, speed limit, junction distance, zone, sun, weather and where it came from (drive report, archive, or climatology: a guess)",
    columns={
        "drive_id": "VARCHAR",
        "t_ns": "BIGINT",
        "lat": "DOUBLE",
        "lon": "DOUBLE",
        "road_class": "VARCHAR",
        "speed_limit_kph": "DOUBLE",
        "junction_dist_m": "DOUBLE",
        "in_construction_zone": "BOOLEAN",
        "match_quality": "DOUBLE",
        "sun_elevation_deg": "DOUBLE",
        "day_night": "VARCHAR",
        "weather": "VARCHAR",
        "weather_source": "VARCHAR",
    },
)
WEATHER_HOURLY = _table(
    "weather_hourly",
    asset_key="silver/weather_hourly",
    path="silver/weather_hourly/weather.parquet",
    owner="enrich",
    description="hourly weather per drive (drive report > provider > climatology), refreshed daily",
    columns={
        "drive_id": "VARCHAR",
        "hour_start_ns": "BIGINT",
        "condition": "VARCHAR",
        "source": "VARCHAR",
        "provider": "VARCHAR",
        "temperature_c": "DOUBLE",
        "precipitation_mm": "DOUBLE",
    },
)
GOLD_CLIP_METADATA_ENRICHED = _table(
    "clip_metadata_enriched",
    asset_key="gold/clip_metadata_enriched",
    path="gold/clip_metadata_enriched/drive_id={drive_id}/part-0.parquet",
    owner="gold",
    description="gold: one row per clip with road context and weather",
    columns={
        "clip_id": "VARCHAR",
        "drive_id": "VARCHAR",
        "t_start_ns": "BIGINT",
        "t_end_ns": "BIGINT",
        "duration_s": "DOUBLE",
        "road_class": "VARCHAR",
        "speed_band": "VARCHAR",
        "speed_limit_max_kph": "DOUBLE",
        "in_construction_zone": "BOOLEAN",
        "day_night": "VARCHAR",
        "weather": "VARCHAR",
    },
)
GOLD_EVENT_WINDOWS = _table(
    "event_windows",
    asset_key="gold/event_windows",
    path="gold/event_windows/drive_id={drive_id}/part-0.parquet",
    owner="gold",
    description="gold: merged, enriched event detections",
    columns={
        "event_id": "VARCHAR",
        "drive_id": "VARCHAR",
        "type": "VARCHAR",
        "t_start_ns": "BIGINT",
        "t_end_ns": "BIGINT",
        "severity": "DOUBLE",
        "clip_id": "VARCHAR",
        "road_class": "VARCHAR",
    },
)
GOLD_SLICES = _table(
    "slices",
    asset_key="gold/slices",
    path="gold/slices/drive_id={drive_id}/part-0.parquet",
    owner="gold",
    description="gold: named clip slices (night, rain, fog, construction, occlusion, highway, urban)",
    columns={
        "slice": "VARCHAR",
        "clip_id": "VARCHAR",
        "drive_id": "VARCHAR",
        "t_start_ns": "BIGINT",
    },
)
GOLD_ODD_COVERAGE = _table(
    "odd_coverage",
    asset_key="gold/odd_coverage",
    path="gold/odd_coverage.parquet",
    owner="gold",
    description="gold: ODD coverage cube with clip counts and hours",
    columns={
        "road_class": "VARCHAR",
        "speed_band": "VARCHAR",
        "weather": "VARCHAR",
        "light": "VARCHAR",
        "event_type": "VARCHAR",
        "clip_count": "BIGINT",
        "hours": "DOUBLE",
    },
)
DRIVES = _table(
    "drives",
    asset_key="bronze/drive_manifest",
    path="bronze/tables/drives/drive_id={drive_id}/part-0.parquet",
    owner="ingest",
    description="one row per ingested drive (status ingested | quarantined), from its bronze manifest",
    columns={
        "drive_id": "VARCHAR",
        "vehicle_id": "VARCHAR",
        "start_time": "VARCHAR",
        "status": "VARCHAR",
        "message_count": "BIGINT",
        "t_first_ns": "BIGINT",
        "t_last_ns": "BIGINT",
        "files": "BIGINT",
        "bytes": "BIGINT",
        "warnings": "BIGINT",
        "reason": "VARCHAR",
    },
)
FILES = _table(
    "files",
    asset_key="bronze/drive_manifest",
    path="bronze/tables/files/drive_id={drive_id}/part-0.parquet",
    owner="ingest",
    description="every file of every bronze drive, with its sha256 and content-detected format",
    columns={
        "drive_id": "VARCHAR",
        "path": "VARCHAR",
        "size": "BIGINT",
        "sha256": "VARCHAR",
        "format": "VARCHAR",
    },
)
TOPICS = _table(
    "topics",
    asset_key="bronze/drive_manifest",
    path="bronze/tables/topics/drive_id={drive_id}/part-0.parquet",
    owner="ingest",
    description="topics per drive, message counts and time spans counted from the container records",
    columns={
        "drive_id": "VARCHAR",
        "topic": "VARCHAR",
        "type": "VARCHAR",
        "message_count": "BIGINT",
        "t_first_ns": "BIGINT",
        "t_last_ns": "BIGINT",
    },
)
QUARANTINE = _table(
    "quarantine",
    asset_key="bronze/drive_manifest",
    path="quarantine/{drive_id}/record.parquet",
    owner="ingest",
    description="drives refused by ingestion/integrity, with the reason (see quarantine/<id>/reason.json)",
    columns={
        "drive_id": "VARCHAR",
        "reason": "VARCHAR",
        "detail": "VARCHAR",
        "released": "BOOLEAN",
        "note": "VARCHAR",
    },
)
LAKE_INVENTORY = _table(
    "lake_inventory",
    asset_key="ops/lake_inventory",
    path="ops/lake_inventory/inventory.parquet",
    owner="ops",
    description="objects, bytes and drives per lake layer and dataset",
    columns={
        "layer": "VARCHAR",
        "dataset": "VARCHAR",
        "objects": "BIGINT",
        "bytes": "BIGINT",
        "drives": "BIGINT",
    },
)
REDACTED_FRAMES = _table(
    "redacted_frames",
    asset_key="silver/redacted_frames",
    path="silver/redacted_frames/drive_id={drive_id}/index.parquet",
    owner="redaction",
    description="redacted camera keyframes per drive, with faces/plates found in each",
    columns={
        "drive_id": "VARCHAR",
        "sensor_id": "VARCHAR",
        "t_ns": "BIGINT",
        "path": "VARCHAR",
        "faces": "INTEGER",
        "plates": "INTEGER",
        "width": "INTEGER",
        "height": "INTEGER",
    },
)
OBJECT_TRACKS = _table(
    "object_tracks",
    asset_key="silver/object_tracks",
    path="silver/object_tracks/drive_id={drive_id}/part-0.parquet",
    owner="scenes",
    description="tracked objects per update: base_link position/velocity (m, m/s), lane vs the ego lane",
    columns={
        "drive_id": "VARCHAR",
        "track_id": "VARCHAR",
        "t_ns": "BIGINT",
        "x": "DOUBLE",
        "y": "DOUBLE",
        "vx": "DOUBLE",
        "vy": "DOUBLE",
        "vx_ground": "DOUBLE",
        "vy_ground": "DOUBLE",
        "ground_speed_mps": "DOUBLE",
        "source": "VARCHAR",
        "lateral_offset_m": "DOUBLE",
        "lane": "TINYINT",
    },
)
EVENT_DETECTIONS = _table(
    "events",
    asset_key="silver/event_detections",
    path="silver/event_detections/drive_id={drive_id}/part-0.parquet",
    owner="scenes",
    description="detected events (trigger policy version in every row)",
    columns={
        "drive_id": "VARCHAR",
        "type": "VARCHAR",
        "t_start_ns": "BIGINT",
        "t_end_ns": "BIGINT",
        "severity": "DOUBLE",
        "clip_id": "VARCHAR",
        "track_id": "VARCHAR",
        "policy_version": "VARCHAR",
    },
)
CLIP_TAGS = _table(
    "clip_tags",
    asset_key="silver/event_detections",
    path="silver/clip_tags/drive_id={drive_id}/part-0.parquet",
    owner="scenes",
    description="event types per clip (an event tags every clip its interval overlaps)",
    columns={
        "clip_id": "VARCHAR",
        "drive_id": "VARCHAR",
        "tags": "VARCHAR[]",
        "n_events": "BIGINT",
    },
)
SIGNALS = _table(
    "signals",
    asset_key="silver/signals",
    path="silver/signals/drive_id={drive_id}/part-0.parquet",
    owner="sync",
    description="raw decoded samples on the corrected clock, source units (CAN: DBC units)",
    columns={
        "drive_id": "VARCHAR",
        "t_ns": "BIGINT",
        "t_raw_ns": "BIGINT",
        "signal": "VARCHAR",
        "value": "DOUBLE",
        "unit": "VARCHAR",
        "source": "VARCHAR",
    },
)
SIGNALS_GRID = _table(
    "signals_grid",
    asset_key="silver/signals_grid",
    path="silver/signals_grid/drive_id={drive_id}/part-0.parquet",
    owner="sync",
    description="derived: signals on a 10 Hz grid in SI units (lat/lon stay in degrees)",
    columns={
        "drive_id": "VARCHAR",
        "t_ns": "BIGINT",
        "source": "VARCHAR",
        "signal": "VARCHAR",
        "value": "DOUBLE",
        "unit": "VARCHAR",
        "n_samples": "UINTEGER",
    },
)
CLOCK_OFFSETS = _table(
    "clock_offsets",
    asset_key="silver/signals",
    path="silver/signals_clock/drive_id={drive_id}/part-0.parquet",
    owner="sync",
    description="per-sensor clock offsets (t_raw - t_true) estimated per drive",
    columns={
        "drive_id": "VARCHAR",
        "sensor": "VARCHAR",
        "offset_ns": "BIGINT",
        "estimated": "BOOLEAN",
        "score": "DOUBLE",
        "reference": "VARCHAR",
        "flagged": "BOOLEAN",
    },
)
CALIBRATION = _table(
    "calibration",
    asset_key="silver/calibration",
    path="silver/calibration/drive_id={drive_id}/part-0.parquet",
    owner="sync",
    description="extrinsics in base_link (tf_static) and camera intrinsics per sensor and drive",
    columns={
        "drive_id": "VARCHAR",
        "sensor_id": "VARCHAR",
        "frame_id": "VARCHAR",
        "parent_frame": "VARCHAR",
        "tx": "DOUBLE",
        "ty": "DOUBLE",
        "tz": "DOUBLE",
        "qx": "DOUBLE",
        "qy": "DOUBLE",
        "qz": "DOUBLE",
        "qw": "DOUBLE",
        "fx": "DOUBLE",
        "fy": "DOUBLE",
        "cx": "DOUBLE",
        "cy": "DOUBLE",
        "width": "BIGINT",
        "height": "BIGINT",
    },
)
CLIPS = _table(
    "clips",
    asset_key="silver/clips",
    path="silver/clips/drive_id={drive_id}/part-0.parquet",
    owner="sync",
    description="fixed-length clips per drive (policy version in every row)",
    columns={
        "clip_id": "VARCHAR",
        "drive_id": "VARCHAR",
        "t_start_ns": "BIGINT",
        "t_end_ns": "BIGINT",
        "duration_s": "DOUBLE",
        "policy_version": "VARCHAR",
        "clip_length_s": "DOUBLE",
        "overlap_s": "DOUBLE",
    },
)
FRAMES = _table(
    "frames",
    asset_key="silver/frames",
    path="silver/frames/drive_id={drive_id}/index.parquet",
    owner="sync",
    description="every keyframe / sweep in the Zarr clip shards, with its shard and index",
    columns={
        "drive_id": "VARCHAR",
        "clip_id": "VARCHAR",
        "sensor_id": "VARCHAR",
        "kind": "VARCHAR",
        "t_ns": "BIGINT",
        "t_raw_ns": "BIGINT",
        "shard": "VARCHAR",
        "index": "BIGINT",
        "n_points": "BIGINT",
    },
)

# ---- the model half: labels (labels domain) -----------------------------------------------------
# the `labels` view of CONTRACTS.md ("The model half"); the tables below extend it
LABEL_COLUMNS = {
    "label_id": "VARCHAR",
    "drive_id": "VARCHAR",
    "sensor_id": "VARCHAR",
    "t_ns": "BIGINT",
    "class": "VARCHAR",
    "x_min": "DOUBLE",
    "y_min": "DOUBLE",
    "x_max": "DOUBLE",
    "y_max": "DOUBLE",
    "track_id": "VARCHAR",
    "score": "DOUBLE",
    "source": "VARCHAR",
    "status": "VARCHAR",
    "label_set": "VARCHAR",
}
LABELS = _table(
    "labels",
    asset_key="ml/labels",
    path="ml/labels/drive_id={drive_id}/labels.parquet",
    owner="labels",
    description="2D box labels per redacted keyframe (auto, model, human, adjudicated) with status, confidence and provenance",
    columns={
        **LABEL_COLUMNS,
        "votes": "VARCHAR",
        "labeller": "VARCHAR",
        "policy_version": "VARCHAR",
        "model_version": "VARCHAR",
        "cuboid": "DOUBLE[]",  # auto-labels: the 3D box in base_link [x, y, z0, length, width, height, yaw]
    },
)
LABEL_FRAMES = _table(
    "label_frames",
    asset_key="ml/labels",
    path="ml/labels/drive_id={drive_id}/frames.parquet",
    owner="labels",
    description="one row per labelled keyframe (a frame with no objects is known empty, not unlabelled)",
    columns={
        "drive_id": "VARCHAR",
        "sensor_id": "VARCHAR",
        "t_ns": "BIGINT",
        "status": "VARCHAR",
        "label_set": "VARCHAR",
    },
)
LABEL_MASKS = _table(
    "label_masks",
    asset_key="ml/labels",
    path="ml/labels/drive_id={drive_id}/masks.parquet",
    owner="labels",
    description="per keyframe: a PNG of segmentation class indices at native resolution (drivable area, lane markings)",
    columns={
        "drive_id": "VARCHAR",
        "sensor_id": "VARCHAR",
        "t_ns": "BIGINT",
        "uri": "VARCHAR",
        "classes": "VARCHAR[]",
        "source": "VARCHAR",
        "status": "VARCHAR",
        "label_set": "VARCHAR",
    },
)
LABEL_REVIEWS = _table(
    "label_reviews",
    asset_key="ml/label_reviews",
    path="ml/label_reviews/drive_id={drive_id}/reviews.parquet",
    owner="labels",
    description="human QA per drive: verified labels from annotator consensus (Label Studio imports), replacing the auto-labels of the frames they cover",
    columns={
        **LABEL_COLUMNS,
        "votes": "BIGINT",
        "annotators": "BIGINT",
        "width": "BIGINT",
        "height": "BIGINT",
    },
)
LABEL_REVIEW_FRAMES = _table(
    "label_review_frames",
    asset_key="ml/label_reviews",
    path="ml/label_reviews/drive_id={drive_id}/frames.parquet",
    owner="labels",
    description="per reviewed keyframe: annotators, labels, open adjudications and status (verified when nothing is left to decide)",
    columns={
        "drive_id": "VARCHAR",
        "sensor_id": "VARCHAR",
        "t_ns": "BIGINT",
        "annotators": "BIGINT",
        "labels": "BIGINT",
        "adjudications": "BIGINT",
        "status": "VARCHAR",
        "label_set": "VARCHAR",
    },
)


# The tables dbt's staging models read (sources.yml is generated from these).
DBT_SOURCES = (ROAD_CONTEXT, WEATHER_HOURLY, EVENT_DETECTIONS, OBJECT_TRACKS, CLIP_INDEX)


def all_tables() -> tuple[Table, ...]:
    return tuple(_TABLES)


def views() -> list[Table]:
    """The tables `av query` and every DuckDB reader see as views."""
    return [t for t in _TABLES if t.view]


def table(name: str) -> Table:
    for t in _TABLES:
        if t.name == name:
            return t
    raise KeyError(f"no table {name!r}; known: {', '.join(t.name for t in _TABLES)}")


def dbt_sources_yaml() -> str:
    """dbt's sources.yml: each table a gold model reads, tied to its Dagster asset and carrying its
    path and columns for the `lake_source` macro. Generated; tests/test_boundaries.py keeps the file
    in step with these declarations."""
    import yaml

    by_layer: dict[str, list[dict]] = {}
    for t in DBT_SOURCES:
        by_layer.setdefault(t.key_path[0], []).append(
            {
                "name": t.key_path[-1],
                "meta": {
                    "dagster": {"asset_key": t.key_path},
                    "av": {"glob": t.glob, "columns": {c: ty.lower() for c, ty in t.columns.items()}},
                },
            }
        )
    doc = {"version": 2, "sources": [{"name": k, "tables": v} for k, v in by_layer.items()]}
    header = (
        "# GENERATED from av_contracts/tables.py (python -m av_contracts.tables --dbt-sources); do not edit.\n"
        "# Each source is a lake table written by a Python asset: `meta.dagster.asset_key` puts gold models\n"
        "# downstream of it, `meta.av` is the path and columns the `lake_source` macro reads.\n"
    )
    return header + yaml.safe_dump(doc, sort_keys=False, width=120)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--dbt-sources"]:
        raise SystemExit("usage: python -m av_contracts.tables --dbt-sources")
    sys.stdout.write(dbt_sources_yaml())
