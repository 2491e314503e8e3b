"""Labels (workflows 9-10): the routing policy, the per-drive label set `ml/labels` (auto-labels merged
with human-verified reviews), and `ml/label_reviews` (written by `av labels import`)."""

from typing import Any

import dagster as dg

from av_assets.platform.lineage import combine_hashes, lineage_result
from av_assets.platform.partitions import DRIVES
from av_assets.platform.policies import versioned_policy_asset
from av_contracts import tables
from av_resources.evaluation import GroundTruthResource
from av_resources.lake import LakeStorage

OWNERS = ["team:perception-data"]
ROUTING = dg.AssetKey(["ops", "label_routing"])
REVIEWS = dg.AssetKey(["ml", "label_reviews"])
INPUTS = [
    dg.AssetKey(["silver", "redacted_frames"]),
    dg.AssetKey(["silver", "object_tracks"]),
    dg.AssetKey(["silver", "calibration"]),
    dg.AssetKey(["silver", "signals"]),
    dg.AssetKey(["silver", "road_context"]),
]


def _parse_routing(doc: Any) -> dict:
    from av_assets.labels.policy import RoutingPolicy

    return RoutingPolicy.from_doc(doc).as_doc()


label_routing = versioned_policy_asset(
    key=["ops", "label_routing"],
    name="label_routing",
    ext="json",
    default=lambda: {"accept_min": 0.8, "review_min": 0.35, "veto": True},
    parse=_parse_routing,
    summary=lambda doc: {"av/accept_min": doc["accept_min"], "av/review_min": doc["review_min"]},
    group_name="labels",
    kinds={"json"},
    owners=["team:labelling"],
    description=(
        "Where an auto-label goes by its confidence: accepted at or above accept_min, human QA from "
        "review_min, rejected below (lake override ops/policies/label_routing.json); every label row "
        "records the version that routed it, and a new version re-labels the drives."
    ),
)

label_reviews = dg.AssetSpec(
    key=REVIEWS,
    partitions_def=DRIVES,
    group_name="labels",
    owners=OWNERS,
    kinds={"parquet"},
    code_version="1",  # the consensus rules of av_assets/labels/qa.py
    description=(
        "Human QA per drive: verified labels from annotator consensus, written by `av labels import` "
        "(Label Studio JSON export) and reported as a materialisation of the drive's partition."
    ),
)


@dg.asset(
    key=["ml", "labels"],
    group_name="labels",
    partitions_def=DRIVES,
    deps=[*INPUTS, ROUTING, REVIEWS],
    kinds={"parquet", "numpy"},
    owners=OWNERS,
    code_version="1",
    description=(
        "The drive's label set: offline auto-labels of every redacted keyframe (tracks smoothed both "
        "ways, classified over their life, cuboids projected with occlusion), confidence from a weak-"
        "supervision label model, routed by ops/label_routing; drivable/lane masks per keyframe; "
        "human-verified frames from ml/label_reviews replace their auto-labels. Tables labels, "
        "label_frames, label_masks."
    ),
)
def labels(
    context: dg.AssetExecutionContext, lake: LakeStorage, ground_truth: GroundTruthResource
) -> dg.MaterializeResult:
    from av_assets.labels.store import label_and_write

    drive_id = context.partition_key
    routing = _routing_policy(lake)
    written = label_and_write(lake, drive_id, routing, log=context.log)
    md: dict[str, Any] = written.metadata
    quality = written.quality(ground_truth)
    if quality:
        md["av/quality_vs_ground_truth"] = dg.MetadataValue.json(quality)
    return lineage_result(
        drive_ids=[drive_id],
        content_sha256=combine_hashes(written.hashes),
        uri=lake.uri(tables.LABELS.rel(drive_id=drive_id)),
        row_count=written.labels,
        metadata=md,
    )


def _routing_policy(lake: LakeStorage):
    from av_assets.labels.policy import RoutingPolicy
    from av_assets.platform.policies import registered_policies

    loaded = registered_policies()[ROUTING].load(lake)
    return RoutingPolicy.from_doc(loaded.doc, version=loaded.label)


@dg.asset_check(
    asset=labels,
    blocking=True,
    description=(
        "verified labels are consensus of >= 2 annotators, inside their frame, in the taxonomy, and "
        "every verified label of ml/labels is one of ml/label_reviews (datasets trust them)"
    ),
)
def verified_labels_pass_qa(context: dg.AssetCheckExecutionContext, lake: LakeStorage) -> dg.AssetCheckResult:
    from av_assets.labels.store import verified_labels_status

    # Partitioned checks are a preview in 1.13: every drive on disk, outcomes in metadata.
    passed, per_drive = verified_labels_status(lake)
    return dg.AssetCheckResult(
        passed=passed,
        metadata={"per_drive": dg.MetadataValue.json(per_drive), "drives": len(per_drive)},
    )
