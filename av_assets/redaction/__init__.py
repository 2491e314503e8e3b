"""PII redaction (workflow 2): faces and licence plates in camera frames, irreversibly anonymised,
with a signed per-drive report; `av verify` re-checks a drive's bronze copy against its signed manifest.

Pure functions: `redact.redact_frame` / `redact_frames`, `report.redaction_report`,
`contracts.signing.sign_document` / `verify_document`. Asset: `silver/redacted_frames`.
"""

from av_assets.contracts.registry import DemoStep, Extension, View


def _demo(ctx) -> list[tuple[str, str]]:
    """`make demo` step: what redaction did to the drives the ingest step processed."""
    from av_resources.env import local_lake

    lake = local_lake()
    reports = [lake.read_json(p) for p in lake.list("silver/redacted_frames", "*/redaction_report.json")]
    return [
        ("drives redacted", str(len(reports))),
        ("keyframes redacted (2 Hz)", str(sum(r["frames_scanned"] for r in reports))),
        (
            "faces / plates blurred",
            f"{sum(r['faces_found'] for r in reports)} / {sum(r['plates_found'] for r in reports)}",
        ),
    ]


def _definitions():
    from av_assets.contracts.defs import domain_definitions
    from av_assets.redaction.assets import redacted_frames

    return domain_definitions(assets=[redacted_frames])


EXTENSION = Extension(
    name="redaction",
    definitions=_definitions,
    views=[
        View(
            name="redacted_frames",
            path="silver/redacted_frames/*/index.parquet",
            columns={
                "drive_id": "VARCHAR",
                "sensor_id": "VARCHAR",
                "t_ns": "BIGINT",
                "path": "VARCHAR",
                "faces": "INTEGER",
                "plates": "INTEGER",
                "width": "INTEGER",
                "height": "INTEGER",
            },
            description="redacted camera keyframes per drive, with faces/plates found in each",
        )
    ],
    cli={"verify": "av_assets.redaction.verify:verify_command"},
    process_assets=["silver/redacted_frames"],
    demo_steps=[DemoStep(name="redaction", order=30, run=_demo)],
)
