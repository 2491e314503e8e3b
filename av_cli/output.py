"""CLI output contract: with --json stdout carries exactly one JSON document; the rest goes to stderr."""

from __future__ import annotations

import json
import sys
from enum import IntEnum
from typing import Any

from rich.console import Console


class ExitCode(IntEnum):
    OK = 0  # the command did its job (a quarantined drive is a result, not a failure)
    FAILED = 1  # some inputs failed the command's own purpose (e.g. `av verify` mismatch)
    USAGE = 2  # usage or environment error


# Progress bars, logs and warnings: always stderr, so `--json` stdout stays one document.
stderr_console = Console(stderr=True)


def _default(o: Any) -> Any:
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    if isinstance(o, bytes):
        return o.hex()
    return str(o)


def emit_json(document: Any) -> None:
    """Write the one JSON document of a `--json` command to stdout."""
    sys.stdout.write(json.dumps(document, default=_default, sort_keys=False) + "\n")
    sys.stdout.flush()


def fail(message: str, code: ExitCode = ExitCode.USAGE) -> None:
    """Print a clear error on stderr and exit with a contract exit code. Under `--json` stdout still
    carries exactly one document: `{"error": message, "exit_code": code}`."""
    from rich.markup import escape

    stderr_console.print(f"[bold red]error:[/] {escape(message)}")
    if "--json" in sys.argv[1:]:
        emit_json({"error": message, "exit_code": int(code)})
    raise SystemExit(int(code))


def print_results(results: list[dict], as_json: bool, describe, column: str, score: str) -> None:
    """The output of every `av search` command: CONTRACTS' {"results": [...]}, or a header and one
    line per clip (score, clip id, `describe(row)` under `column`); what the score is goes to stderr."""
    import typer

    if as_json:
        emit_json({"results": results})
        return
    if results:
        width = max(len(r["clip_id"]) for r in results)
        typer.echo(f"{'score':>7}  {'clip_id':<{width}}  {column}")
        for r in results:
            typer.echo(f"{r['score']:7.3f}  {r['clip_id']:<{width}}  {describe(r)}")
    n = len(results)
    stderr_console.print(f"[dim]{n} clip{'' if n == 1 else 's'} (score: {score}, higher is better)[/]")
