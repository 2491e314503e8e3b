"""Scene & event detection (workflow 6): object tracks, the versioned trigger policy, event detections
and tags per clip. Logic lives in plain functions (tracking, ego, detect, evaluate); docs/scenes.md."""

import time
from typing import Any

import dagster as dg
from pydantic import Field

from av_assets.platform.lineage import combine_hashes, lineage_result
from av_assets.platform.partitions import DRIVES
from av_assets.platform.policies import versioned_policy_asset
from av_contracts import tables
from av_resources.evaluation import GroundTruthResource
from av_resources.lake import LakeStorage

OWNERS = ["team:perception-data"]
SIGNALS = dg.AssetKey(["silver", "signals"])
CLIPS = dg.AssetKey(["silver", "clips"])
FRAMES = dg.AssetKey(["silver", "frames"])
CALIBRATION = dg.AssetKey(["silver", "calibration"])
ROAD_CONTEXT = dg.AssetKey(["silver", "road_context"])
TRACKS = dg.AssetKey(["silver", "object_tracks"])
POLICY = dg.AssetKey(["ops", "trigger_policy"])
POLICY_CURRENT = "ops/trigger_policy/current.json"

# New drives are picked up when their inputs exist; at most once an hour, drives whose inputs (clips,
# tracks, road context) or the trigger policy changed since the drive was last handled are
# re-detected. (`.since(_TICK)` needed the change to land between the tick and the next evaluation,
# so a policy published at 10:20 never re-triggered anything: tests/platform/test_policies.py.)
_TICK = dg.AutomationCondition.cron_tick_passed("0 * * * *", "UTC")
HOURLY_OVER_NEW_CLIPS = (
    dg.AutomationCondition.on_missing()
    | (
        _TICK.since_last_handled()
        & dg.AutomationCondition.any_deps_match(
            dg.AutomationCondition.newly_updated() | dg.AutomationCondition.will_be_requested()
        ).since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("hourly: inputs or policy changed since the drive was last handled")
).with_label("new drive, or hourly over changed clips/policy")


def current_policy(lake: LakeStorage):
    """The materialised policy (ops/trigger_policy) when present, else the code default."""
    from av_assets.scenes.policy import DEFAULT_POLICY, TriggerPolicy

    if lake.exists(POLICY_CURRENT):
        return TriggerPolicy.from_dict(lake.read_json(POLICY_CURRENT)), "lake"
    return DEFAULT_POLICY, "code default"


class TriggerPolicyConfig(dg.Config):
    version: str | None = Field(default=None, description="a new policy version name (with overrides)")
    detector_overrides: dict[str, float] = Field(
        default_factory=dict, description="DetectorPolicy fields to change, e.g. {'harsh_brake_mps2': -3.5}"
    )


def _override_trigger_policy(doc: dict[str, Any], config: TriggerPolicyConfig) -> dict[str, Any] | None:
    """A run with config publishes a new policy version (the lake override) before materialising."""
    from av_assets.scenes.policy import TriggerPolicy

    if not (config.detector_overrides or config.version):
        return None
    policy = TriggerPolicy.from_dict(doc)
    version = config.version or f"{policy.version}+custom"
    return policy.with_overrides(version, **config.detector_overrides).as_dict()


def _default_trigger_policy() -> dict[str, Any]:
    from av_assets.scenes.policy import DEFAULT_POLICY

    return DEFAULT_POLICY.as_dict()


def _parse_trigger_policy(doc: Any) -> dict[str, Any]:
    from av_assets.scenes.policy import parse_policy

    return parse_policy(doc)


trigger_policy = versioned_policy_asset(
    key=["ops", "trigger_policy"],
    name="trigger_policy",
    ext="json",
    default=_default_trigger_policy,
    parse=_parse_trigger_policy,
    summary=lambda doc: {"av/policy": dg.MetadataValue.json(doc)},
    config_cls=TriggerPolicyConfig,
    apply_config=_override_trigger_policy,
    group_name="scenes",
    kinds={"json"},
    owners=OWNERS,
    code_version="1",
    description=(
        "The versioned trigger policy: every tracker and detector threshold (physics/industry "
        "definitions); the lake's ops/policies/trigger_policy.json, else the code default. Its data "
        "version is the policy's sha256, so a change shows in lineage and re-triggers event detection."
    ),
)


@dg.asset(
    key=["silver", "object_tracks"],
    group_name="scenes",
    partitions_def=DRIVES,
    deps=[FRAMES, CALIBRATION, SIGNALS],
    kinds={"parquet", "numpy"},
    owners=OWNERS,
    code_version="3",
    description=(
        "Object tracks per drive from radar detections and lidar clusters: constant-velocity Kalman "
        "filter in the ego's odometry frame, Hungarian association, stable uuid track ids; box-centre "
        "position (x, y), near-face position (x_near, y_near, range_near_m), box size and class guess, "
        "velocity (relative and ground) in base_link, lateral offset and lane relative to the ego lane."
    ),
)
def object_tracks(
    context: dg.AssetExecutionContext, lake: LakeStorage, ground_truth: GroundTruthResource
) -> dg.MaterializeResult:
    drive_id = context.partition_key
    policy, policy_source = current_policy(lake)
    t0 = time.perf_counter()
    tracks, info = compute_tracks(lake, drive_id, policy)
    wall = time.perf_counter() - t0
    rel = tables.OBJECT_TRACKS.rel(drive_id=drive_id)
    uri, tracks_sha = lake.write_parquet_hashed(rel, tracks)
    md: dict[str, Any] = {
        "av/tracks": tracks["track_id"].n_unique() if tracks.height else 0,
        "av/radar_scans": info["radar_scans"],
        "av/lidar_sweeps": info["lidar_sweeps"],
        "av/lane_width_m": info["lane_width_m"],
        "av/lane_width_source": info["lane_width_source"],
        "av/policy_version": policy.version,
        "av/policy_sha256": policy.sha256,
        "av/policy_source": policy_source,
        "av/track_s": round(wall, 3),
    }
    gt = ground_truth.for_drive(drive_id)
    if gt is not None and (gt.get("tracks_table") or {}).get("path"):
        import polars as pl

        from av_assets.scenes.evaluate import tracking_metrics

        path = ground_truth.companion_path(gt["tracks_table"]["path"])
        if path is not None:
            md["av/tracking_vs_ground_truth"] = dg.MetadataValue.json(
                tracking_metrics(tracks, pl.read_parquet(path))
            )
    return lineage_result(
        drive_ids=[drive_id],
        content_sha256=tracks_sha,
        uri=uri,
        row_count=tracks.height,
        schema=tracks.schema,
        metadata=md,
    )


def lane_width_of(road) -> tuple[float | None, str]:
    if road is not None and "lane_width_m" in road.columns:
        w = road["lane_width_m"].drop_nulls()
        if w.len():
            return float(w.median()), "silver/road_context"
    return None, "policy default"


def compute_tracks(lake: LakeStorage, drive_id: str, policy):
    """Read sweeps + calibration + signals of one drive and run the tracker and lane assignment."""
    from av_assets.scenes.detect import lane_changes, track_lanes
    from av_assets.scenes.io import road_context, sweep_frames
    from av_assets.scenes.tracking import empty_tracks, track
    from av_assets.shared.ego import ego_state

    cal_rel = tables.CALIBRATION.sidecar("calibration.json", drive_id=drive_id)
    calibration = lake.read_json(cal_rel) if lake.exists(cal_rel) else {}
    sig = lake.read_parquet(tables.SIGNALS.rel(drive_id=drive_id))
    ego = ego_state(sig, accel_smooth_s=policy.detectors.accel_smooth_s)
    frames, info = sweep_frames(lake, drive_id, calibration, policy.tracker)
    w, src = lane_width_of(road_context(lake, drive_id))
    lane_width = w or policy.detectors.lane_width_m
    info.update(lane_width_m=lane_width, lane_width_source=src)
    if not frames or not ego.t_ns.size:
        t = empty_tracks()
        return track_lanes(ego, t, None, lane_width), info
    tracks = track(frames, ego, policy.tracker, drive_id)
    _, shift = lane_changes(ego, policy.detectors, lane_width)
    return track_lanes(ego, tracks, shift, lane_width), info


@dg.asset(
    key=["silver", "event_detections"],
    group_name="scenes",
    partitions_def=DRIVES,
    deps=[SIGNALS, TRACKS, CLIPS, ROAD_CONTEXT, POLICY],
    kinds={"parquet", "polars"},
    owners=OWNERS,
    code_version="3",
    automation_condition=HOURLY_OVER_NEW_CLIPS,
    description=(
        "Events per drive (cut_in, harsh_brake, stationary_hazard, disengagement, speeding, lane_change) "
        "from vectorised detectors over silver/signals and silver/object_tracks with the trigger policy's "
        "thresholds; one row per event with its clip, plus tags per clip (silver/clip_tags)."
    ),
)
def event_detections(
    context: dg.AssetExecutionContext, lake: LakeStorage, ground_truth: GroundTruthResource
) -> dg.MaterializeResult:
    from av_assets.scenes.events import detect_drive

    drive_id = context.partition_key
    policy, policy_source = current_policy(lake)
    t0 = time.perf_counter()
    sig = lake.read_parquet(tables.SIGNALS.rel(drive_id=drive_id))
    trel = tables.OBJECT_TRACKS.rel(drive_id=drive_id)
    tracks = lake.read_parquet(trel) if lake.exists(trel) else None
    clips_path = tables.CLIPS.rel(drive_id=drive_id)
    clips = lake.read_parquet(clips_path) if lake.exists(clips_path) else None
    from av_assets.scenes.io import road_context

    result = detect_drive(drive_id, sig, tracks, clips, road_context(lake, drive_id), policy)
    wall = time.perf_counter() - t0
    uri, events_sha = lake.write_parquet_hashed(tables.EVENT_DETECTIONS.rel(drive_id=drive_id), result.events)
    _, tags_sha = lake.write_parquet_hashed(tables.CLIP_TAGS.rel(drive_id=drive_id), result.clip_tags)
    md: dict[str, Any] = {
        "av/events_per_type": dg.MetadataValue.json(result.counts),
        "av/skipped": dg.MetadataValue.json(result.skipped),
        "av/policy_version": policy.version,
        "av/policy_sha256": policy.sha256,
        "av/policy_source": policy_source,
        "av/detect_s": round(wall, 3),
        "av/clips_tagged": int((result.clip_tags["n_events"] > 0).sum()) if result.clip_tags.height else 0,
        "av/preview": dg.MetadataValue.md(
            result.events.head(20).to_pandas().to_markdown(index=False)
            if result.events.height
            else "(no events)"
        ),
    }
    gt = ground_truth.for_drive(drive_id)
    if gt is not None:
        from av_assets.scenes.evaluate import MATCH_RULE, drive_evaluation

        ev = drive_evaluation(result.events.to_dicts(), gt, result.skipped)
        md["av/eval_vs_ground_truth"] = dg.MetadataValue.json(ev["per_type"])
        md["av/eval_matches"] = dg.MetadataValue.json(ev["matches"])  # per-event debug table
        md["av/eval_match_rule"] = MATCH_RULE
        for k, v in ev["per_type"].items():
            if v["precision"] is not None:
                md[f"av/precision/{k}"] = v["precision"]
            if v["recall"] is not None:
                md[f"av/recall/{k}"] = v["recall"]
        md["av/near_misses_in_drive"] = dg.MetadataValue.json(ev["near_miss_types"])
    return lineage_result(
        drive_ids=[drive_id],
        content_sha256=combine_hashes([events_sha, tags_sha]),
        uri=uri,
        row_count=result.events.height,
        schema=result.events.schema,
        metadata=md,
    )
