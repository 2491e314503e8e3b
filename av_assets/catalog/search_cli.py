"""`av search`: clip-level search commands, one typer group.

This module owns the group; `av search text` lives here. A later workflow adds its own command to
the same group (e.g. `av search like <clip_id>` for embedding similarity) by adding ONE line to
`SUBCOMMANDS` below, pointing at a function in its own module ("module:function"). The functions are
loaded lazily when the group is mounted, so this stays light. Every command prints, with --json,
`{"results": [{"clip_id", "drive_id", "t_start_ns", "t_end_ns", "score", ...}]}` (CONTRACTS.md,
schema `cli_results`): clip-level, de-duplicated, best first.
"""

from __future__ import annotations

import typer

from av_assets.contracts.cli import ExitCode, emit_json, fail, stderr_console

search_app = typer.Typer(help="Search clips: full text (`text`), and more to come.", no_args_is_help=True)


def open_text_index(lake=None):
    """The text index of this environment (AV_ENV): LanceDB under the lake, or OpenSearch in prod."""
    from av_resources.env import build_resources, current_env, local_lake

    resources = build_resources(current_env())
    return resources["text_index"].open(lake or local_lake())


def text(
    query: str = typer.Argument(..., help='words, e.g. "night rain highway"'),
    k: int = typer.Option(10, "-k", "--limit", min=1, help="clips returned"),
    where: str = typer.Option(
        None,
        "--where",
        help="SQL filter on the indexed columns, e.g. \"weather = 'rain' AND speed_mean_mps > 15\"",
    ),
    as_json: bool = typer.Option(False, "--json", help='print {"results": [...]} on stdout'),
) -> None:
    """Full-text search over clip descriptions (BM25, LanceDB FTS under the lake)."""
    try:
        results = open_text_index().search(query, limit=k, where=where)
    except ValueError as exc:  # a bad --where: usage error
        fail(f"search failed: {exc}", ExitCode.USAGE)
    except Exception as exc:  # noqa: BLE001 - LanceDB reports SQL errors as generic runtime errors
        if where:
            fail(f"search failed (check --where): {exc}", ExitCode.USAGE)
        raise
    print_results(results, as_json, lambda r: (r.get("text") or "")[:120])


def print_results(results: list[dict], as_json: bool, describe) -> None:
    """The output of every `av search` command: CONTRACTS' {"results": [...]} or one line per clip."""
    if as_json:
        emit_json({"results": results})
        return
    for r in results:
        typer.echo(f"{r['score']:7.3f}  {r['clip_id']}  {describe(r)}")
    stderr_console.print(f"[dim]{len(results)} clips[/]")


# name -> "module:function": the commands of `av search`. Add yours here (one line, your module).
SUBCOMMANDS: dict[str, str] = {
    "text": "av_assets.catalog.search_cli:text",
    "like": "av_assets.embeddings.cli:like",
}


def _mount() -> None:
    from av_assets.contracts.registry import load_object

    for name, target in SUBCOMMANDS.items():
        search_app.command(name)(load_object(target))


_mount()
