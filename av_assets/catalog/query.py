"""`av query`: SQL over the catalog views, as a rich table or JSON rows."""

from __future__ import annotations

import typer

from av_cli.output import ExitCode, emit_json, fail, stderr_console


def query(
    sql: str = typer.Argument(
        None, help='SQL over the catalog views, e.g. "SELECT * FROM drives". Omit with --views.'
    ),
    as_json: bool = typer.Option(False, "--json", help="print a JSON list of row objects on stdout"),
    limit: int = typer.Option(200, help="rows shown in the table (JSON returns all)"),
    views: bool = typer.Option(False, "--views", help="list the registered views and their columns"),
) -> None:
    """Query the lake through DuckDB views defined in code (drives, files, topics, signals, clips, ...).

    Every call opens a fresh in-memory DuckDB over the lake's Parquet ($AV_LAKE_ROOT), so it never
    locks against running pipelines.
    """
    from av_contracts.tables import views as table_views
    from av_resources.catalog import connect
    from av_resources.env import local_lake

    if views:
        rows = [
            {"view": v.name, "columns": list(v.columns), "path": v.glob, "description": v.description}
            for v in table_views()
        ]
        if as_json:
            emit_json(rows)
        else:
            _print_table(rows, limit)
        return
    if not sql:
        fail("give a SQL statement, or --views to list the views", ExitCode.USAGE)
    import duckdb

    con = connect(local_lake())
    try:
        _read_only(con, sql)
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description or []]
        rows = [dict(zip(columns, r, strict=True)) for r in cursor.fetchall()]
    except duckdb.Error as exc:
        fail(f"query failed: {exc}", ExitCode.USAGE)
    finally:
        con.close()
    if as_json:
        emit_json(rows)
    else:
        _print_table(rows, limit, columns)


READ_ONLY_STATEMENTS = {"SELECT", "EXPLAIN"}  # also DESCRIBE, SHOW, SUMMARIZE, WITH ... (all SELECT)


def _read_only(con, sql: str) -> None:
    """A query reads: COPY ... TO, CREATE, ATTACH, INSTALL, SET ... are refused before anything runs."""
    for stmt in con.extract_statements(sql):
        kind = str(stmt.type).rsplit(".", 1)[-1]
        if kind not in READ_ONLY_STATEMENTS:
            fail(
                f"av query is read-only: {kind} statements are refused (SELECT / EXPLAIN only)",
                ExitCode.USAGE,
            )


def _print_table(rows: list[dict], limit: int, columns: list[str] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    columns = columns or (list(rows[0]) if rows else [])
    table = Table(show_lines=False)
    for c in columns:
        table.add_column(c)
    for row in rows[:limit]:
        table.add_row(*(_cell(row[c]) for c in columns))
    Console().print(table)
    if len(rows) > limit:
        stderr_console.print(f"[dim]{len(rows) - limit} more rows not shown (use --limit or --json)[/]")
    stderr_console.print(f"[dim]{len(rows)} rows[/]")


def _cell(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)
