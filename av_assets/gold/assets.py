"""The dbt gold layer as Dagster assets: keys gold/<model>, group `gold`, dbt tests as asset checks,
eager on upstream + all blocking checks passed (a quarantined drive never flows into gold)."""

import contextlib
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from av_resources.lake import LakeStorage

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
OWNERS = ["team:perception-data"]
GOLD_MODELS = ("clip_metadata_enriched", "event_windows", "slices", "odd_coverage")


def _manifest_is_stale(manifest: Path) -> bool:
    if not manifest.exists():
        return True
    sources = [
        p
        for p in DBT_PROJECT_DIR.rglob("*")
        if p.suffix in (".sql", ".yml", ".yaml") and "target" not in p.parts
    ]
    return any(p.stat().st_mtime > manifest.stat().st_mtime for p in sources)


def dbt_project():
    """The DbtProject; its manifest is prepared (dbt parse) when missing or older than any model,
    macro or config file: never committed, never stale."""
    from dagster_dbt import DbtProject

    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    if _manifest_is_stale(project.manifest_path):
        # what `project.preparer.prepare` does, but with the venv's dbt: the venv need not be on PATH
        dbt_resource(project).cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return project


def _dbt_executable() -> str:
    import shutil
    import sys

    beside = Path(sys.executable).with_name("dbt")  # the venv's dbt, even when the venv is not on PATH
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def dbt_resource(project=None):
    from dagster_dbt import DbtCliResource

    return DbtCliResource(
        project_dir=project or dbt_project(),
        profiles_dir=str(DBT_PROJECT_DIR),
        dbt_executable=_dbt_executable(),
    )


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


def gold_rel(model: str) -> str:
    return f"gold/{model}.parquet"


def _clean_empty_sentinel(lake: LakeStorage, rel: str) -> None:
    """dbt-duckdb writes an empty result as ONE all-NULL row (to keep the schema); readers of the lake
    would see that row, so it is rewritten as a zero-row file with the same schema."""
    import io

    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(lake.read_bytes(rel)))
    if table.num_rows == 1 and all(table.column(i).null_count == 1 for i in range(table.num_columns)):
        lake.write_parquet(rel, table.slice(0, 0))


def gold_lineage(lake: LakeStorage, model: str) -> dict[str, Any]:
    """Lineage metadata of one gold file: uri, drive ids from its rows, content sha."""
    import io

    import pyarrow.parquet as pq

    from av_assets.contracts.lineage import lineage_metadata, sha256_bytes

    rel = gold_rel(model)
    data = lake.read_bytes(rel)
    table = pq.read_table(io.BytesIO(data))
    drives = set()
    if "drive_id" in table.column_names:
        drives = {d for d in table.column("drive_id").to_pylist() if d}
    elif model == "odd_coverage":  # the cube carries no drive column: its inputs' drives
        src = pq.read_table(io.BytesIO(lake.read_bytes(gold_rel("clip_metadata_enriched"))))
        drives = {d for d in src.column("drive_id").to_pylist() if d}
    md = lineage_metadata(
        drive_ids=drives,
        content_sha256=sha256_bytes(data),
        uri=lake.uri(rel),
        schema=[(f.name, str(f.type)) for f in table.schema],  # fetch_column_metadata cannot see :memory:
    )
    md["dagster/row_count"] = table.num_rows
    md["av/drive_count"] = len(drives)
    return md


def gold_dbt_assets():
    from dagster_dbt import DbtCliResource, dbt_assets

    project = dbt_project()

    @dbt_assets(
        manifest=project.manifest_path, project=project, dagster_dbt_translator=_translator(), name="gold_dbt"
    )
    def gold_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, lake: LakeStorage):
        from av_assets.contracts.lineage import DRIVE_IDS_KEY

        if not lake.is_s3:
            Path(lake.path("gold")).mkdir(parents=True, exist_ok=True)  # DuckDB's COPY makes no folders
        with _dbt_env(lake):
            # the op context: dagster-dbt reads `.op` from it, deprecated on AssetExecutionContext in 1.13
            invocation = dbt.cli(["build"], context=context.op_execution_context, raise_on_error=False)
            # row counts and column schema come from the Parquet files (gold_lineage): dbt-duckdb runs
            # in memory, so dagster-dbt's fetch_row_counts/fetch_column_metadata cannot reopen it
            events = list(invocation.stream())
        for event in events:
            key = getattr(event, "asset_key", None)
            if key is None and isinstance(event, dg.Output):
                key = context.asset_key_for_output(event.output_name)
            if (
                isinstance(event, dg.Output | dg.MaterializeResult | dg.AssetMaterialization)
                and key is not None
            ):
                model = key.path[-1]
                if key.path[0] == "gold" and lake.exists(gold_rel(model)):
                    _clean_empty_sentinel(lake, gold_rel(model))
                    extra = gold_lineage(lake, model)
                    if isinstance(event, dg.Output):
                        with warnings.catch_warnings():  # Output(data_version=) is beta in 1.13; accepted
                            warnings.simplefilter("ignore", dg.BetaWarning)
                            event = dg.Output(
                                value=event.value,
                                output_name=event.output_name,
                                metadata={**event.metadata, **extra},
                                data_version=dg.DataVersion(extra["av/content_sha256"]),
                            )
                    elif isinstance(event, dg.MaterializeResult):
                        event = dg.MaterializeResult(
                            asset_key=key,
                            metadata={**(event.metadata or {}), **extra},
                            data_version=dg.DataVersion(extra["av/content_sha256"]),
                        )
                    context.log.debug(f"{key.to_user_string()}: {extra[DRIVE_IDS_KEY]}")
            yield event
        if not invocation.is_successful():
            # Failed tests are reported as failed checks above; a failed model is a failed step.
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

    return gold_dbt
