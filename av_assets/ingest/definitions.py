"""The ingest domain's Definitions."""

import dagster as dg

from av_assets.platform.defs import domain_definitions


def ingest_job(selection_keys: list[str] | None = None):
    """The per-drive subgraph: every asset registered in the registry's `process_assets`."""
    from av_assets.ingest.sensors import JOB_NAME
    from av_assets.platform.registry import all_process_assets

    keys = selection_keys or all_process_assets()
    return dg.define_asset_job(
        JOB_NAME,
        selection=dg.AssetSelection.assets(*[dg.AssetKey(k.split("/")) for k in keys]),
        description="One run per drive: bronze copy + manifest + integrity gate, then every per-drive layer.",
        tags={"team": "platform"},  # the queued coordinator's per-team run limits key on it
    )


def ingest_definitions() -> dg.Definitions:
    from av_assets.ingest.assets import drive_files, drive_manifest
    from av_assets.ingest.checks import drive_manifest_tables_expectations
    from av_assets.ingest.sensors import new_drive_sensor

    return domain_definitions(
        assets=[drive_files, drive_manifest],
        asset_checks=[drive_manifest_tables_expectations],
        sensors=[new_drive_sensor],
        jobs=[ingest_job()],
    )
