"""Great Expectations suites over the drive's manifest tables, run inside a blocking asset check."""

import dagster as dg

from av_assets.ingest.assets import drive_manifest
from av_assets.ingest.core import manifest_frames
from av_contracts import tables
from av_resources.lake import LakeStorage


def files_suite(gx):
    E = gx.expectations
    return [
        E.ExpectColumnValuesToNotBeNull(column="sha256"),
        E.ExpectColumnValuesToMatchRegex(column="sha256", regex=r"^[0-9a-f]{64}$"),
        E.ExpectColumnValuesToBeBetween(column="size", min_value=0),
        E.ExpectColumnValuesToBeUnique(column="path"),
        E.ExpectColumnValuesToBeInSet(
            column="format", value_set=["mcap", "ros2-sqlite3", "ros1-bag", "jpeg", "mp4", "other"]
        ),
    ]


def topics_suite(gx):
    E = gx.expectations
    return [
        E.ExpectColumnValuesToNotBeNull(column="topic"),
        E.ExpectColumnValuesToBeUnique(column="topic"),
        E.ExpectColumnValuesToBeBetween(column="message_count", min_value=0),
        E.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="t_last_ns",
            column_B="t_first_ns",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
        ),
    ]


def run_suites(frames: dict) -> dict:
    """Run the suites with an ephemeral GE context over pandas frames; {table: (success, details)}."""
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = gx.data_context.types.base.ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("manifest")
    out = {}
    for table, suite_fn in (("files", files_suite), ("topics", topics_suite)):
        frame = frames[table].to_pandas()
        asset = source.add_dataframe_asset(name=table)
        batch_def = asset.add_batch_definition_whole_dataframe(f"{table}_batch")
        suite = context.suites.add(gx.ExpectationSuite(name=f"bronze_{table}", expectations=suite_fn(gx)))
        result = batch_def.get_batch(batch_parameters={"dataframe": frame}).validate(suite)
        failed = [
            {
                "expectation": r.expectation_config.type,
                "kwargs": {k: v for k, v in r.expectation_config.kwargs.items() if k != "batch_id"},
                "unexpected_count": (r.result or {}).get("unexpected_count"),
            }
            for r in result.results
            if not r.success
        ]
        out[table] = {
            "success": bool(result.success),
            "evaluated": len(result.results),
            "failed": failed,
            "rows": len(frame),
        }
    return out


@dg.asset_check(
    asset=drive_manifest,
    name="drive_manifest_tables_expectations",
    blocking=True,
    description="Great Expectations suites over the drive's files and topics tables (sha256 shape, unique "
    "paths/topics, counts >= 0, t_first_ns <= t_last_ns)",
)
def drive_manifest_tables_expectations(
    context: dg.AssetCheckExecutionContext, lake: LakeStorage
) -> dg.AssetCheckResult:
    drive_id = context.partition_key if context.has_partition_key else None
    if drive_id is None:
        return dg.AssetCheckResult(passed=True, metadata={"skipped": "not a per-drive run"})
    frames = manifest_frames(lake.read_json(tables.BRONZE_MANIFEST.rel(drive_id=drive_id)))
    res = run_suites(frames)
    passed = all(r["success"] for r in res.values())
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "drive_id": drive_id,
            "evaluated_expectations": sum(r["evaluated"] for r in res.values()),
            "failed": dg.MetadataValue.json({t: r["failed"] for t, r in res.items()}),
            "rows": dg.MetadataValue.json({t: r["rows"] for t, r in res.items()}),
        },
    )
