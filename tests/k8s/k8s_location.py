"""The code location the kmock run loads: the real per-drive pair of a CPU step
(`bronze/drive_manifest`) and a GPU step (`silver/redacted_frames`, declared with `gpu_step()`), with
the production executor and resources exactly as AV_ENV=prod builds them."""

import dagster as dg

from av_assets.ingest.assets import drive_manifest
from av_assets.redaction.assets import redacted_frames
from av_resources.env import build_executor, build_resources

k8s_proof_job = dg.define_asset_job(
    "k8s_proof_job",
    selection=dg.AssetSelection.assets(drive_manifest, redacted_frames),
    tags={"team": "privacy"},
)

defs = dg.Definitions(
    assets=[drive_manifest, redacted_frames],
    jobs=[k8s_proof_job],
    resources=build_resources("prod"),
    executor=build_executor("prod"),
)
