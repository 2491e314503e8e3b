"""Re-verify a bronze drive: re-hash every file against its signed manifest, and check the manifest's
and the redaction report's signatures. `av verify` and lineage audits (`av lineage --verify`) run it.

Lake layout (av_contracts.tables):
    bronze/drives/<drive_id>/manifest.json       {"drive_id", "files": [{"path", "size", "sha256", "format"}], ...}
    bronze/drives/<drive_id>/manifest.sig.json   sign_document(manifest) (av_contracts.signing)
    bronze/drives/<drive_id>/<path>              the bronze copy of each listed file
    silver/redacted_frames/drive_id=<id>/redaction_report.json (+ .sig.json)   checked when present
"""

from __future__ import annotations

import hashlib
from typing import Any

from av_contracts import tables
from av_contracts.ids import InvalidIdentifier, safe_relative_path


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
    from av_contracts.signing import verify_document

    prefix = tables.BRONZE_MANIFEST.folder(drive_id=drive_id)
    if not lake.exists(tables.BRONZE_MANIFEST.rel(drive_id=drive_id)):
        raise LookupError(
            f"unknown drive {drive_id!r}: no {tables.BRONZE_MANIFEST.rel(drive_id=drive_id)} in {lake.uri()}"
        )
    problems: list[str] = []
    try:
        manifest = lake.read_json(tables.BRONZE_MANIFEST.rel(drive_id=drive_id))
    except ValueError as exc:
        manifest = None
        problems.append(f"manifest is not valid JSON: {exc}")
    # Signature over the manifest exactly as stored (parsed, canonicalised).
    if manifest is None:
        signature = {
            "present": lake.exists(
                tables.BRONZE_MANIFEST.sidecar(tables.MANIFEST_SIGNATURE, drive_id=drive_id)
            ),
            "ok": False,
            "public_key": None,
        }
    elif lake.exists(tables.BRONZE_MANIFEST.sidecar(tables.MANIFEST_SIGNATURE, drive_id=drive_id)):
        try:
            record = lake.read_json(
                tables.BRONZE_MANIFEST.sidecar(tables.MANIFEST_SIGNATURE, drive_id=drive_id)
            )
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
    rp = tables.REDACTED_FRAMES.sidecar(tables.REDACTION_REPORT, drive_id=drive_id)
    if lake.exists(rp):
        report_info = {"present": True, "path": rp}
        sig_rel = tables.REDACTED_FRAMES.sidecar(tables.REDACTION_REPORT_SIGNATURE, drive_id=drive_id)
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
