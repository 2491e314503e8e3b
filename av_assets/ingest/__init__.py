"""Ingestion & integrity (workflows 1-2): landing zone -> bronze copy + manifest, quarantine, checks."""

from av_assets.platform.registry import DemoStep, Extension


def _definitions():
    from av_assets.ingest.definitions import ingest_definitions

    return ingest_definitions()


EXTENSION = Extension(
    name="ingest",
    definitions=_definitions,
    cli={
        "ingest": "av_assets.ingest.cli:ingest",
        "process": "av_assets.ingest.cli:process",
        "quarantine": "av_assets.ingest.cli:quarantine_app",
    },
    process_assets=["bronze/drive_files", "bronze/drive_manifest"],
    demo_steps=[DemoStep(name="ingest", order=20, run="av_assets.ingest.cli:demo_step")],
)
