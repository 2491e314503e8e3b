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


MAX_RESULTS = 1000  # the most results one search returns (`av search ... -k`, the API's `k`)

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


# Columns of the search tables that hold data, not attributes: left out of "filter columns" lists.
_NOT_FILTERS = {"vector", "embedder", "embedder_version", "model", "text"}
_FILTER_ERRORS = (
    "Error parsing statement",
    "Error resolving filter expression",
    "Schema error",
    "sql parser",
    "Invalid user input",
)


def where_error(exc: Exception, where: str | None, name: str = "--where") -> str | None:
    """A filter the search backend refused, said in terms of what the user typed: LanceDB quotes the
    statement it built around the filter (`... WHERE clip_id <> ... AND (<filter>)`) and the Rust
    source line of the check. None when `exc` is not about the filter."""
    import re

    text = re.sub(r"^(Invalid input, )?", "", str(exc).strip())
    if not where or not any(m in text for m in _FILTER_ERRORS):
        return None
    text = re.sub(r",?\s*/\S+\.rs:\d+:\d+", "", text)  # the Rust source location
    # the reason, after the quoted statement: "... (sql parser error: X)", "... (Invalid user input: X)"
    cut = max(text.rfind("(sql parser error: "), text.rfind("(Invalid user input: "))
    if cut >= 0 and text.endswith(")"):
        detail = text[cut + 1 : -1].split(": ", 1)[1]
    else:
        detail = re.sub(r"Error parsing statement: SELECT .*", "", text)
    detail = re.sub(r"^Error resolving filter expression .*?\): ", "", detail, flags=re.S)
    detail = re.sub(r"^(Invalid user input: )?(Schema error: )?", "", detail)
    if where.count("(") == where.count(")"):  # the parenthesis in the message is ours
        detail = re.sub(r"^Expected: \), found: (.+)$", r"unexpected \1", detail)
        detail = re.sub(r"found: \)$", "found: the end of the filter", detail)
    unknown = re.search(
        r"No field named (\S+?)\.\s+(?:Valid fields are (.*?)\.?$|Did you mean '(\w+)')", detail, re.S
    )
    if unknown:
        import difflib

        field, listed, suggested = unknown.groups()
        columns = [c.strip(" `") for c in (listed or "").split(",")]
        columns = [c for c in columns if c and not c.startswith("_") and c not in _NOT_FILTERS]
        close = [suggested] if suggested else difflib.get_close_matches(field, columns, n=1)
        if re.search(rf"(=|<>|<|>|\bIN\s*\(|,)\s*{re.escape(field)}\b", where, re.I) or not close:
            hint = "a text value needs single quotes: day_night = 'night'"
        else:
            hint = f"did you mean {close[0]}?"
        detail = f"no column {field} ({hint})" + (
            f"; filter columns: {', '.join(columns)}" if columns else ""
        )
    literal = re.search(
        r"Received literal (\w+)\((.*)\) and could not convert to literal of type '(\w+)'", detail
    )
    if literal:
        got, value, want = literal.groups()

        def kind(t: str, plural: bool = False) -> str:
            if re.match(r"(Float|Int|UInt|Decimal)", t):
                return "numbers" if plural else "a number"
            words = {
                "Utf8": "text",
                "LargeUtf8": "text",
                "Boolean": "true/false" if plural else "a true/false value",
            }
            return words.get(t, t)

        if got == "List":
            detail = f"[{value.strip('[]')}] is a list, but the column holds text (lists are comma text: LIKE '%value%')"
        else:
            detail = f"{value} is {kind(got)}, but the column holds {kind(want, plural=True)}"
    return f"{name} {where!r} is not a filter on this table: {detail.strip()}"


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
