"""The dbt gold layer as Dagster assets: keys gold/<model>, group `gold`, dbt tests as asset checks,
eager on upstream + all blocking checks passed (a quarantined drive never flows into gold)."""

import contextlib
import os
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from pydantic import Field

from av_contracts import tables
from av_resources.lake import LakeStorage

OWNERS = ["team:perception-data"]
GOLD_MODELS = ("clip_metadata_enriched", "event_windows", "slices", "odd_coverage")


def dbt_project():
    """The DbtProject the gold assets are built from (which directory, and when it is parsed:
    av_resources/dbt.py; the `dbt` resource that runs it is built in av_resources/env.py)."""
    from av_resources.dbt import gold_dbt_project

    return gold_dbt_project()


def _translator():
    from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

    class GoldTranslator(DagsterDbtTranslator):
        def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> dg.AssetSpec:
            spec = super().get_asset_spec(manifest, unique_id, project)
            props = self.get_resource_props(manifest, unique_id)
            if props.get("resource_type") != "model":
                return spec
            checksum = (props.get("checksum") or {}).get("checksum", "")
            return spec.replace_attributes(
                key=dg.AssetKey(["gold", props["name"]]),
                group_name="gold",
                kinds={"dbt", "duckdb", "parquet"},
                owners=OWNERS,
                code_version=checksum[:16] or "1",
                automation_condition=dg.AutomationCondition.eager()
                & dg.AutomationCondition.all_deps_blocking_checks_passed(),
                description=props.get("description") or f"dbt model {props['name']}",
            )

    return GoldTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@contextlib.contextmanager
def _dbt_env(lake: LakeStorage) -> Iterator[None]:
    """dbt reads the lake root (and S3 endpoint/credentials) from the environment of its subprocess."""
    env = {"AV_LAKE_ROOT": lake.uri(), "AV_DBT_TARGET": "prod" if lake.is_s3 else "local"}
    if lake.is_s3:
        env.update(
            {
                "AV_S3_ENDPOINT_URL": lake.s3_endpoint_url or "",
                "AWS_ACCESS_KEY_ID": lake.s3_access_key or os.environ.get("AWS_ACCESS_KEY_ID", ""),
                "AWS_SECRET_ACCESS_KEY": lake.s3_secret_key or os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
            }
        )
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def read_gold(lake: LakeStorage, model: str):
    """A gold model as one polars DataFrame (every drive's partition; empty when none exists)."""
    import polars as pl

    from av_assets.gold.incremental import PER_DRIVE_MODELS, whole_rel

    if model not in PER_DRIVE_MODELS:
        return lake.read_parquet(whole_rel(model))
    rels = lake.list(tables.table(model).root, "drive_id=*/part-0.parquet")
    frames = [lake.read_parquet(r) for r in rels]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


class GoldConfig(dg.Config):
    drive_ids: list[str] = Field(
        default_factory=list,
        description="drives to (re)build; empty = every drive whose gold inputs changed since its last build",
    )
    full_refresh: bool = Field(default=False, description="rebuild every drive present in the inputs")


def _lineage(
    lake: LakeStorage, model: str, published: dict[str, Any], states: dict[str, Any], removed: list[str]
) -> dict[str, Any]:
    """Lineage metadata of one gold model after publishing: the drives this run wrote, rows and a
    content sha over the whole table (every drive's partition, from the drive states)."""
    from av_assets.gold.incremental import PER_DRIVE_MODELS, model_totals
    from av_assets.platform.lineage import lineage_metadata, sha256_bytes

    pub = published[model]
    if model in PER_DRIVE_MODELS:
        rows, sha, all_drives = model_totals(states, model)
        md = lineage_metadata(
            drive_ids=pub.drives,
            content_sha256=sha,
            uri=lake.uri(tables.table(model).root),
            schema=pub.schema,
        )
        md["av/rows_written"] = pub.rows_written
        md["av/drives_removed"] = dg.MetadataValue.json(removed)
        md["av/drive_count"] = len(all_drives)
    else:
        table, data = pub
        _rows, _sha, all_drives = model_totals(states, "clip_metadata_enriched")  # the cube's inputs
        rows = table.num_rows
        md = lineage_metadata(
            drive_ids=all_drives,
            content_sha256=sha256_bytes(data),
            uri=lake.uri(tables.table(model).rel()),
            schema=[(f.name, str(f.type)) for f in table.schema],
        )
        md["av/drive_count"] = len(all_drives)
    md["dagster/row_count"] = rows
    return md


def _with_metadata(event, context, extra: dict[str, Any]):
    key = getattr(event, "asset_key", None)
    if isinstance(event, dg.Output):
        with warnings.catch_warnings():  # Output(data_version=) is beta in 1.13; accepted
            warnings.simplefilter("ignore", dg.BetaWarning)
            return dg.Output(
                value=event.value,
                output_name=event.output_name,
                metadata={**event.metadata, **extra},
                data_version=dg.DataVersion(extra["av/content_sha256"]),
            )
    if isinstance(event, dg.MaterializeResult):
        return dg.MaterializeResult(
            asset_key=key,
            metadata={**(event.metadata or {}), **extra},
            data_version=dg.DataVersion(extra["av/content_sha256"]),
        )
    return event


def gold_dbt_assets():
    from dagster_dbt import DbtCliResource, dbt_assets

    project = dbt_project()

    @dbt_assets(
        manifest=project.manifest_path, project=project, dagster_dbt_translator=_translator(), name="gold_dbt"
    )
    def gold_dbt(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, lake: LakeStorage, config: GoldConfig
    ):
        import json
        import uuid

        from av_assets.gold import incremental as inc
        from av_assets.platform.lineage import DRIVE_IDS_KEY
        from av_resources.dbt import run_target_path

        plan = inc.start_run(lake, project.project_dir, config.drive_ids, config.full_refresh)
        context.log.info(
            f"gold: building {len(plan.build)} drive(s) ({plan.reason}), removing {len(plan.remove)}: "
            f"{plan.build[:20]}{' ...' if len(plan.build) > 20 else ''}"
        )
        run = f"{context.run.run_id}-{uuid.uuid4().hex[:8]}"
        inc.open_run_folder(lake, run)
        dbt_vars = json.dumps({"drive_ids": plan.build, "gold_run": run})
        try:
            with _dbt_env(lake):
                # the op context: dagster-dbt reads `.op` from it, deprecated on AssetExecutionContext in 1.13
                invocation = dbt.cli(
                    ["build", "--vars", dbt_vars],
                    context=context.op_execution_context,
                    raise_on_error=False,
                    target_path=run_target_path(project),  # a temp folder where the project is read-only
                )
                # row counts and column schema come from the published Parquet (dbt-duckdb runs in
                # memory, so dagster-dbt's fetch_row_counts/fetch_column_metadata cannot reopen it)
                events = list(invocation.stream())
            built = {k.path[-1] for k in (_materialised_key(e, context) for e in events) if k}
            published = inc.publish_run(lake, run, plan, built)
        finally:
            lake.delete(inc.run_prefix(run), recursive=True)
        states = inc.read_states(lake)
        for event in events:
            key = _materialised_key(event, context)
            if key is not None and key.path[0] == "gold" and key.path[-1] in published:
                extra = _lineage(lake, key.path[-1], published, states, plan.remove)
                event = _with_metadata(event, context, extra)
                context.log.debug(f"{key.to_user_string()}: {extra[DRIVE_IDS_KEY]}")
            yield event
        _raise_if_a_model_failed(invocation)

    return gold_dbt


def _materialised_key(event, context) -> dg.AssetKey | None:
    """The asset a dbt event materialised (None for logs, check results and the like)."""
    if not isinstance(event, dg.Output | dg.MaterializeResult | dg.AssetMaterialization):
        return None
    key = getattr(event, "asset_key", None)
    if key is None and isinstance(event, dg.Output):
        key = context.asset_key_for_output(event.output_name)
    return key


def _raise_if_a_model_failed(invocation) -> None:
    """Failed dbt tests are reported as failed checks; a failed model (or dbt itself) fails the step."""
    if invocation.is_successful():
        return
    failed = (
        [
            e.raw_event["data"]["node_info"]["unique_id"]
            for e in invocation.get_error_events()
            if "node_info" in e.raw_event.get("data", {})
        ]
        if hasattr(invocation, "get_error_events")
        else []
    )
    if any(u.startswith("model.") for u in failed) or not failed:
        invocation.wait()
        if invocation.process.returncode not in (0, 1) or any(u.startswith("model.") for u in failed):
            raise RuntimeError(f"dbt build failed: {failed or invocation.get_error()}")
