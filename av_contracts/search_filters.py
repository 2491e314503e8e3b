"""Search limits and filters (`-k`/`--where`, the API's `k`/`where`): how many results, and what a
refused filter is said as."""

from __future__ import annotations

MAX_RESULTS = 1000  # the most results one search returns (`av search ... -k`, the API's `k`)

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
