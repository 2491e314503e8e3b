"""PII redaction (workflow 2): faces and licence plates in camera frames, irreversibly anonymised,
with a signed per-drive report; `av verify` re-checks a drive's bronze copy against its signed manifest.

Pure functions: `redact.redact_frame` / `redact_frames`, `report.redaction_report`,
`av_contracts.signing.sign_document` / `verify_document`. Asset: `silver/redacted_frames`.
"""

from av_assets.platform.registry import DemoStep, Extension


def _demo(ctx) -> list[tuple[str, str]]:
    """`make demo` step: what redaction did to the drives the ingest step processed."""
    from av_contracts import tables
    from av_resources.env import local_lake

    lake = local_lake()
    reports = [
        lake.read_json(p) for p in lake.list(tables.REDACTED_FRAMES.root, f"*/{tables.REDACTION_REPORT}")
    ]
    return [
        ("drives redacted", str(len(reports))),
        ("keyframes redacted (2 Hz)", str(sum(r["frames_scanned"] for r in reports))),
        (
            "faces / plates blurred",
            f"{sum(r['faces_found'] for r in reports)} / {sum(r['plates_found'] for r in reports)}",
        ),
    ]


def _definitions():
    from av_assets.platform.defs import domain_definitions
    from av_assets.redaction.assets import redacted_frames

    return domain_definitions(assets=[redacted_frames])


EXTENSION = Extension(
    name="redaction",
    definitions=_definitions,
    cli={"verify": "av_assets.redaction.verify_cli:verify_command"},
    process_assets=["silver/redacted_frames"],
    demo_steps=[DemoStep(name="redaction", order=30, run=_demo)],
)
