"""`av search like CLIP_ID`: the clips nearest to a clip in the embedding table (mounted by
av_assets.catalog.search_cli.SUBCOMMANDS)."""

from __future__ import annotations

import typer

from av_cli.output import ExitCode, fail
from av_contracts.search_filters import MAX_RESULTS, where_error


def like(
    clip_id: str = typer.Argument(
        ...,
        help="the query clip, '<drive_id>:<t_start_ns>' (list them: av query \"SELECT clip_id FROM clip_embeddings\")",
    ),
    k: int = typer.Option(20, "-k", "--limit", min=1, max=MAX_RESULTS, help="clips returned"),
    where: str = typer.Option(
        None,
        "--where",
        help="SQL prefilter on the clip-embedding table: drive_id, t_start_ns, t_end_ns, event_types (comma "
        "text), day_night, weather, road_class, speed_mean_mps, model_version; e.g. "
        "\"day_night = 'night' AND event_types LIKE '%cut_in%'\"",
    ),
    as_json: bool = typer.Option(False, "--json", help='print {"results": [...]} on stdout'),
) -> None:
    """Clips most similar to CLIP_ID (cosine over clip embeddings, LanceDB under the lake)."""
    from av_resources.env import current_resources, local_lake

    lake = local_lake()
    store = current_resources()["vector_store"].clips(lake)
    if not store.exists():
        fail(
            f"no clip embeddings in the lake at {lake.uri()} yet: `av process <drives>` writes them "
            "(AV_LAKE_ROOT chooses the lake)",
            ExitCode.USAGE,
        )
    try:
        results = store.like(clip_id, k=k, where=where)
    except KeyError:
        fail(
            f"no clip {clip_id!r} among the embedded clips (an unknown id, or ml/clip_embeddings has not run "
            'for its drive; ids: `av query "SELECT clip_id FROM clip_embeddings"`)',
            ExitCode.USAGE,
        )
    except Exception as exc:  # LanceDB reports SQL errors as generic runtime errors
        if (message := where_error(exc, where)) is None:
            raise
        fail(message, ExitCode.USAGE)
    from av_cli.output import print_results

    def conditions(r: dict) -> str:
        light = "/".join(str(r.get(c) or "?") for c in ("day_night", "weather", "road_class"))
        return f"{light:<28}  {','.join(r['event_types']) or '-'}"

    print_results(
        results, as_json, conditions, column="light/weather/road  events", score="cosine similarity"
    )
