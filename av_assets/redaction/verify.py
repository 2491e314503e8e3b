"""`av verify DRIVE`: re-hash a drive's bronze copy against its signed manifest.

Lake layout (relative to the lake root):
    bronze/drives/<drive_id>/manifest.json       {"drive_id", "files": [{"path", "size", "sha256", "format"}], ...}
    bronze/drives/<drive_id>/manifest.sig.json   sign_document(manifest) (signing.py)
    bronze/drives/<drive_id>/<path>              the bronze copy of each listed file
    silver/redacted_frames/drive_id=<id>/redaction_report.json (+ .sig.json)   checked when present

Exit codes: 0 every file and signature good; 1 any mismatch (hash, size, missing file, bad or missing
signature); 2 unknown drive or invalid drive id.
"""

from __future__ import annotations

import hashlib
from typing import Any

import typer

from av_assets.contracts.cli import ExitCode, emit_json, stderr_console
from av_assets.contracts.ids import InvalidIdentifier, safe_relative_path, validate_drive_id
from av_assets.ingest.core import BRONZE, manifest_path, manifest_sig_path

REPORT_NAME = "redaction_report.json"
REPORT_SIG_NAME = "redaction_report.sig.json"


def bronze_drive_prefix(drive_id: str) -> str:
    return f"{BRONZE}/{validate_drive_id(drive_id)}"


def redacted_prefix(drive_id: str) -> str:
    return f"silver/redacted_frames/drive_id={validate_drive_id(drive_id)}"


def _hash_object(lake, rel: str) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    with lake.open_read(rel) as fh:
        for block in iter(lambda: fh.read(8 << 20), b""):
            h.update(block)
            n += len(block)
    return h.hexdigest(), n


def verify_drive(lake, drive_id: str) -> dict[str, Any]:
    """Verification result document; raises `LookupError` for an unknown drive, `InvalidIdentifier`
    for an invalid id."""
    from av_assets.contracts.signing import verify_document

    prefix = bronze_drive_prefix(drive_id)
    if not lake.exists(manifest_path(drive_id)):
        raise LookupError(f"unknown drive {drive_id!r}: no {manifest_path(drive_id)} in {lake.uri()}")
    problems: list[str] = []
    try:
        manifest = lake.read_json(manifest_path(drive_id))
    except ValueError as exc:
        manifest = None
        problems.append(f"manifest is not valid JSON: {exc}")
    # Signature over the manifest exactly as stored (parsed, canonicalised).
    if manifest is None:
        signature = {"present": lake.exists(manifest_sig_path(drive_id)), "ok": False, "public_key": None}
    elif lake.exists(manifest_sig_path(drive_id)):
        try:
            record = lake.read_json(manifest_sig_path(drive_id))
        except ValueError:
            record = {}
        ok = isinstance(record, dict) and verify_document(manifest, record)
        signature = {
            "present": True,
            "ok": ok,
            "public_key": record.get("public_key") if isinstance(record, dict) else None,
        }
        if not ok:
            problems.append("manifest signature does not verify")
    else:
        signature = {"present": False, "ok": False, "public_key": None}
        problems.append("no manifest.sig.json")

    files_out: list[dict[str, Any]] = []
    listed = (manifest or {}).get("files", []) if isinstance(manifest, dict) else []
    if isinstance(manifest, dict) and manifest.get("drive_id") not in (None, drive_id):
        problems.append(f"manifest drive_id {manifest.get('drive_id')!r} != {drive_id!r}")
    for entry in listed:
        row: dict[str, Any] = {
            "path": entry.get("path"),
            "sha256_expected": entry.get("sha256"),
            "size_expected": entry.get("size"),
        }
        try:
            rel = f"{prefix}/{safe_relative_path(str(entry.get('path')))}"
        except InvalidIdentifier as exc:
            row.update(status="invalid_path", reason=str(exc))
            files_out.append(row)
            problems.append(f"{entry.get('path')}: invalid path")
            continue
        if not lake.exists(rel):
            row.update(status="missing", sha256=None, size=None)
            problems.append(f"{entry['path']}: missing")
        else:
            digest, size = _hash_object(lake, rel)
            ok = digest == str(entry.get("sha256", "")).lower() and (
                entry.get("size") is None or int(entry["size"]) == size
            )
            row.update(status="ok" if ok else "mismatch", sha256=digest, size=size)
            if not ok:
                problems.append(f"{entry['path']}: sha256/size mismatch")
        files_out.append(row)

    # The signed redaction report, when redaction has run for this drive.
    report_info: dict[str, Any] = {"present": False}
    rp = f"{redacted_prefix(drive_id)}/{REPORT_NAME}"
    if lake.exists(rp):
        report_info = {"present": True, "path": rp}
        sig_rel = f"{redacted_prefix(drive_id)}/{REPORT_SIG_NAME}"
        try:
            report = lake.read_json(rp)
            record = lake.read_json(sig_rel) if lake.exists(sig_rel) else None
        except ValueError:
            report, record = None, None
        report_info["signature_ok"] = bool(report is not None and record and verify_document(report, record))
        if not report_info["signature_ok"]:
            problems.append("redaction report signature does not verify")

    return {
        "drive_id": drive_id,
        "ok": not problems,
        "signature_ok": signature["ok"],
        "signature": signature,
        "files": files_out,
        "files_checked": len(files_out),
        "files_ok": sum(f.get("status") == "ok" for f in files_out),
        "redaction_report": report_info,
        "problems": problems,
    }


def verify_command(
    drive: str = typer.Argument(..., help="drive id"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON document on stdout"),
) -> None:
    """Re-hash every bronze file of DRIVE against its signed manifest; exit 1 on any mismatch."""
    from av_resources.env import local_lake

    try:
        validate_drive_id(drive)
        result = verify_drive(local_lake(), drive)
    except (InvalidIdentifier, LookupError) as exc:
        if as_json:
            emit_json({"drive_id": drive, "ok": False, "error": str(exc)})
        stderr_console.print(f"[bold red]error:[/] {exc}")
        raise SystemExit(int(ExitCode.USAGE)) from None
    if as_json:
        emit_json(result)
    else:
        for f in result["files"]:
            mark = "[green]ok[/]" if f.get("status") == "ok" else f"[red]{f.get('status')}[/]"
            stderr_console.print(f"{mark}  {f['path']}")
        sig = "[green]valid[/]" if result["signature_ok"] else "[red]INVALID[/]"
        stderr_console.print(f"manifest signature: {sig}")
        for p in result["problems"]:
            stderr_console.print(f"[red]problem:[/] {p}")
        stderr_console.print(
            f"{result['drive_id']}: {result['files_ok']}/{result['files_checked']} files ok -> "
            + ("[green]VERIFIED[/]" if result["ok"] else "[red]FAILED[/]")
        )
    raise SystemExit(int(ExitCode.OK if result["ok"] else ExitCode.FAILED))
