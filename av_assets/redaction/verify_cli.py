"""`av verify DRIVE`: re-hash a drive's bronze copy against its signed manifest (the check itself is
`av_assets.shared.bronze_verify`).

Exit codes: 0 every file and signature good; 1 any mismatch (hash, size, missing file, bad or missing
signature); 2 unknown drive or invalid drive id.
"""

from __future__ import annotations

import typer

from av_assets.shared.bronze_verify import verify_drive
from av_cli.output import ExitCode, emit_json, stderr_console
from av_contracts.ids import InvalidIdentifier, validate_drive_id


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
