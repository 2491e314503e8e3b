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

from av_cli.output import ExitCode, fail, print_results
from av_contracts.search_filters import MAX_RESULTS, where_error

search_app = typer.Typer(
    help="Search clips: by text (`text`: meaning + words), by example (`like`).", no_args_is_help=True
)


# measured in tests/catalog/test_text_semantic.py (docs/catalog.md): see there before changing
DEFAULT_MODE = "hybrid"


def open_text_index(lake=None):
    """The text index of this environment (AV_ENV): LanceDB under the lake, or OpenSearch in prod,
    with the environment's sentence embedder (loaded on the first query)."""
    from av_resources.env import current_resources, local_lake

    resources = current_resources()
    return resources["text_index"].open(lake or local_lake(), embedder=resources["text_embedder"].get())


def text(
    query: str = typer.Argument(..., help='words, e.g. "night rain highway" or "vehicle merging in front"'),
    k: int = typer.Option(10, "-k", "--limit", min=1, max=MAX_RESULTS, help="clips returned"),
    where: str = typer.Option(
        None,
        "--where",
        help="SQL prefilter on the text index: drive_id, vehicle_id, weather, day_night, road_class, "
        "event_types (comma text), route_id, duration_s, distance_m, speed_mean_mps, speed_max_mps, "
        "lat_centroid, lon_centroid, t_start_ns; e.g. \"day_night = 'night' AND event_types LIKE '%cut_in%'\"",
    ),
    mode: str = typer.Option(
        DEFAULT_MODE,
        "--mode",
        help="hybrid (rank fusion of meaning and words) | semantic (cosine) | fts (BM25)",
    ),
    as_json: bool = typer.Option(False, "--json", help='print {"results": [...]} on stdout'),
) -> None:
    """Search clips by text: sentence embeddings (all-MiniLM-L6-v2) fused with BM25 full text, over
    each clip's summary (conditions, road, speed, detected events) and catalog description."""
    if not isinstance(mode, str):  # called as a function (the `av catalog search` alias)
        mode = DEFAULT_MODE
    index = open_text_index()
    count = getattr(index, "count", None)  # LanceDB; OpenSearch answers an empty index with []
    if count is not None and count() == 0:
        from av_resources.env import local_lake

        fail(
            f"no clips in the text index of the lake at {local_lake().uri()} yet: `av process <drives>` "
            "writes them (AV_LAKE_ROOT chooses the lake)",
            ExitCode.USAGE,
        )
    try:
        results = search_text(query, k=k, where=where, mode=mode, index=index)
    except ValueError as exc:  # a bad --where or --mode: usage error
        fail(where_error(exc, where) or f"search failed: {exc}", ExitCode.USAGE)
    except Exception as exc:  # LanceDB reports SQL errors as generic runtime errors
        if (message := where_error(exc, where)) is None:
            raise
        fail(message, ExitCode.USAGE)
    scores = {
        "hybrid": "rank fusion of meaning and words, 1.0 = first in both",
        "semantic": "cosine",
        "fts": "BM25",
    }
    print_results(results, as_json, _shorten, column="text", score=scores.get(mode, mode))


def _shorten(r: dict, width: int = 140) -> str:
    text = r.get("text") or ""
    return text if len(text) <= width else text[:width].rsplit(" ", 1)[0] + " ..."


def search_text(
    query: str, k: int = 10, where: str | None = None, mode: str | None = DEFAULT_MODE, index=None
) -> list[dict]:
    """`av search text` and `GET /search/text`: the rows of {"results": [...]}, best first.
    ValueError for a bad mode or an unparsable filter; LanceDB SQL errors pass through."""
    if not query or not query.strip():
        raise ValueError("empty query")
    index = index or open_text_index()
    return index.search(query, limit=k, where=where or None, mode=mode)


# name -> "module:function": the commands of `av search`. Add yours here (one line, your module).
SUBCOMMANDS: dict[str, str] = {
    "text": "av_assets.catalog.search_cli:text",
    "like": "av_assets.embeddings.cli:like",
}


def _mount() -> None:
    from av_assets.platform.registry import load_object

    for name, target in SUBCOMMANDS.items():
        search_app.command(name)(load_object(target))


_mount()
