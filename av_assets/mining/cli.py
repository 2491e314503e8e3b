"""`av mine "<query>"`: ad-hoc scenario mining over the lake (nothing is materialised)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from av_cli.output import ExitCode, emit_json, fail, stderr_console


def _usage(message: str, as_json: bool) -> None:
    """Exit 2 with the error; under --json stdout still carries exactly one document (fail() writes it
    itself when --json is on the real command line, e.g. not under a test runner)."""
    if as_json and "--json" not in sys.argv[1:]:
        emit_json({"error": message, "exit_code": int(ExitCode.USAGE)})
    fail(message, ExitCode.USAGE)


def mine(
    query: str = typer.Argument(
        None,
        help='a scenario query, e.g. "cut_in and at_night" or "then(cut_in, harsh_braking, within_s=30)"; '
        "`av mine --atoms` lists the atoms",
    ),
    atoms: bool = typer.Option(False, "--atoms", help="list the atoms of the query language and exit"),
    budget: int = typer.Option(20, "--budget", min=0, help="clips to select at most"),
    budget_cost: float = typer.Option(
        None,
        "--budget-cost",
        min=0.0,
        help="labelling-cost budget in seconds (sum of selected clips' cost_s)",
    ),
    where: str = typer.Option(
        None,
        "--where",
        help="SQL filter on candidate columns (drive_id, day_night, weather, road_class, matched_s, duration_s, ...)",
    ),
    held: Path = typer.Option(
        None,
        "--held",
        help="a file of clip ids (one a line) already held in datasets: novelty is measured against them",
    ),
    as_json: bool = typer.Option(
        False, "--json", help='print {"candidates": [...], "query", "program_id", ...}'
    ),
) -> None:
    """Mine clips matching a scenario query (DSL: docs/mining.md), de-duplicated and ranked by novelty and rarity."""
    from av_assets.mining.dsl import QueryError, compile_query
    from av_assets.mining.mine import mine as run_mine
    from av_resources.env import current_resources, local_lake

    if atoms:
        _print_atoms(as_json)
        return
    if not query:
        _usage("missing QUERY (see `av mine --atoms` for the atoms)", as_json)
    try:
        program = compile_query(query)
    except QueryError as exc:
        _usage(f"invalid query: {exc}", as_json)
    held_ids: list[str] = []
    if held is not None:
        if not held.is_file():
            _usage(f"--held: no such file {held}", as_json)
        held_ids = [line.strip() for line in held.read_text().splitlines() if line.strip()]
    stderr_console.print(f"mining [bold]{program.canonical}[/] (program {program.program_id[:12]})")
    try:
        lake = local_lake()
        result = run_mine(
            lake,
            program,
            budget=budget,
            budget_cost_s=budget_cost,
            where=where,
            held_clip_ids=held_ids,
            embeddings=current_resources()["vector_store"].clips(lake),
        )
    except ValueError as exc:
        _usage(str(exc), as_json)
    doc = result.document
    if as_json:
        emit_json(doc)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(doc['candidates'])} clips for {doc['query']} ({doc['drives']} drives)")
    for col in ("clip_id", "score", "novelty", "rarity", "matched_s", "tracks"):
        table.add_column(col, justify="left" if col == "clip_id" else "right")
    for c in doc["candidates"]:
        table.add_row(
            c["clip_id"],
            f"{c['score']:.3f}",
            f"{c['novelty']:.3f}",
            f"{c['rarity']:.3f}",
            f"{c['matched_s']:.1f}",
            str(len(c["track_ids"])),
        )
    Console().print(table)


def _print_atoms(as_json: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    from av_assets.mining.atoms import ATOMS

    rows = [
        {"atom": name, "scope": a["scope"], "params": a["params"], "description": a["doc"]}
        for name, a in sorted(ATOMS.items())
    ]
    if as_json:
        emit_json(
            {"atoms": rows, "relations": ["and", "or", "not", "then(A, B, within_s=N)", "during(A, B)"]}
        )
        return
    table = Table(title="atoms (combine with and / or / not, then(A, B, within_s=N), during(A, B))")
    for col in ("atom", "scope", "params", "description"):
        table.add_column(col)
    for r in rows:
        params = ", ".join(f"{k}={v!r}" for k, v in r["params"].items())
        table.add_row(r["atom"], r["scope"], params, r["description"])
    Console().print(table)
