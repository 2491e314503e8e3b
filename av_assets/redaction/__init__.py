"""PII redaction (workflow 2): faces and licence plates in camera frames, irreversibly anonymised,
with a signed per-drive report; `av verify` re-checks a drive's bronze copy against its signed manifest.

Pure functions: `redact.redact_frame` / `redact_frames`, `report.redaction_report`,
`av_contracts.signing.sign_document` / `verify_document`. Asset: `silver/redacted_frames`.
"""

from av_assets.platform.registry import DemoStep, Extension


def _definitions():
    from av_assets.platform.defs import domain_definitions
    from av_assets.redaction.assets import redacted_frames

    return domain_definitions(assets=[redacted_frames])


EXTENSION = Extension(
    name="redaction",
    definitions=_definitions,
    cli={"verify": "av_assets.redaction.verify_cli:verify_command"},
    process_assets=["silver/redacted_frames"],
    demo_steps=[DemoStep(name="redaction", order=30, run="av_assets.redaction.demo:redaction_step")],
)
