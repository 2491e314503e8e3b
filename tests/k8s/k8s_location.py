"""The code location the kmock run loads: one GPU-tagged asset and a real CPU asset (ops/lake_inventory),
with the production executor and resources exactly as AV_ENV=prod builds them."""

import os

import dagster as dg

from av_assets.contracts.gpu import gpu_step
from av_assets.ops.assets import lake_inventory
from av_resources.env import build_executor, build_resources
from av_resources.lake import LakeStorage

PROBE_PATH = "ml/k8s_gpu_probe/probe.json"


@dg.asset(
    key=["ml", "k8s_gpu_probe"],
    group_name="ml",
    description="Records which pod ran it and what it was given; stands in for a training step.",
    kinds={"pytorch"},
    owners=["team:ml"],
    code_version="1",
    **gpu_step(),
)
def k8s_gpu_probe(context: dg.AssetExecutionContext, lake: LakeStorage) -> dg.MaterializeResult:
    seen = {
        "pod": os.environ.get("HOSTNAME", ""),
        "step_kind": os.environ.get("AV_STEP_KIND", ""),
        "nvidia_visible_devices": os.environ.get("NVIDIA_VISIBLE_DEVICES", ""),
        "run_id": context.run.run_id,
    }
    uri = lake.write_json(PROBE_PATH, seen)
    context.log.info(f"gpu probe ran in pod {seen['pod']}")
    return dg.MaterializeResult(
        metadata={**{k: v for k, v in seen.items() if k != "run_id"}, "dagster/uri": uri}
    )


k8s_proof_job = dg.define_asset_job(
    "k8s_proof_job", selection=dg.AssetSelection.assets(k8s_gpu_probe, lake_inventory)
)

defs = dg.Definitions(
    assets=[k8s_gpu_probe, lake_inventory],
    jobs=[k8s_proof_job],
    resources=build_resources("prod"),
    executor=build_executor("prod"),
)
