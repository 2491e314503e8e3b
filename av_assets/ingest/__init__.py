"""Ingestion & integrity (workflows 1-2): landing zone -> bronze copy + manifest, quarantine, checks."""

from av_assets.contracts.demo import DemoContext
from av_assets.contracts.registry import DemoStep, Extension, View

TABLE_VIEWS = [
    View(
        name="drives",
        path="bronze/tables/drives/*/*.parquet",
        columns={
            "drive_id": "VARCHAR",
            "vehicle_id": "VARCHAR",
            "start_time": "VARCHAR",
            "status": "VARCHAR",
            "message_count": "BIGINT",
        },
        description="one row per ingested drive (status ingested | quarantined), from its bronze manifest",
    ),
    View(
        name="files",
        path="bronze/tables/files/*/*.parquet",
        columns={
            "drive_id": "VARCHAR",
            "path": "VARCHAR",
            "size": "BIGINT",
            "sha256": "VARCHAR",
            "format": "VARCHAR",
        },
        description="every file of every bronze drive, with its sha256 and content-detected format",
    ),
    View(
        name="topics",
        path="bronze/tables/topics/*/*.parquet",
        columns={
            "drive_id": "VARCHAR",
            "topic": "VARCHAR",
            "type": "VARCHAR",
            "message_count": "BIGINT",
            "t_first_ns": "BIGINT",
            "t_last_ns": "BIGINT",
        },
        description="topics per drive, message counts and time spans counted from the container records",
    ),
    View(
        name="quarantine",
        path="quarantine/*/record.parquet",
        columns={
            "drive_id": "VARCHAR",
            "reason": "VARCHAR",
            "detail": "VARCHAR",
            "released": "BOOLEAN",
            "note": "VARCHAR",
        },
        description="drives refused by ingestion/integrity, with the reason (see quarantine/<id>/reason.json)",
    ),
]


def _definitions():
    from av_assets.ingest.definitions import ingest_definitions

    return ingest_definitions()


def _demo(ctx: DemoContext) -> list[tuple[str, str]]:
    from av_assets.ingest.cli import demo_step

    return demo_step(ctx)


EXTENSION = Extension(
    name="ingest",
    definitions=_definitions,
    views=TABLE_VIEWS,
    cli={
        "ingest": "av_assets.ingest.cli:ingest",
        "process": "av_assets.ingest.cli:process",
        "quarantine": "av_assets.ingest.cli:quarantine_app",
    },
    process_assets=["bronze/drive_files", "bronze/drive_manifest"],
    demo_steps=[DemoStep(name="ingest", order=20, run=_demo)],
)
