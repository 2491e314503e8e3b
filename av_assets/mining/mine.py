"""Mining one query over the lake: run the program on every drive, turn referred objects into clip
candidates, collapse adjacent clips, filter (`--where`), score rarity against the whole catalog,
fetch clip embeddings (the clip table of the `vector_store` resource, passed in) and select greedily
within the budget. Used by `av mine` (ad hoc, nothing materialised) and by the `ml/mined_scenarios`
asset (named queries)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from av_assets.mining.select import DEFAULT_WEIGHTS, Weights

if TYPE_CHECKING:
    from av_resources.vector_store import EmbeddingStore

CONDITION_COLUMNS = ("day_night", "weather", "road_class")


@dataclass
class MineResult:
    document: dict  # the `av mine --json` document
    selected: pl.DataFrame  # the picked candidates (one row per clip, best first)
    referred: pl.DataFrame  # drive_id, track_id, t_ns over every drive covered
    drive_ids: list[str]


def clip_conditions(road: pl.DataFrame | None, clips: pl.DataFrame) -> pl.DataFrame:
    """Per clip, the most frequent day_night / weather / road_class of its road-context ticks."""
    base = clips.select("clip_id", "t_start_ns", "t_end_ns")
    if road is None or road.height == 0:
        return base.select("clip_id").with_columns(
            [pl.lit(None, dtype=pl.String).alias(c) for c in CONDITION_COLUMNS]
        )
    cols = [c for c in CONDITION_COLUMNS if c in road.columns]
    j = (
        road.select("t_ns", *cols)
        .join(base, how="cross")
        .filter((pl.col("t_ns") >= pl.col("t_start_ns")) & (pl.col("t_ns") < pl.col("t_end_ns")))
    )
    agg = j.group_by("clip_id").agg([pl.col(c).drop_nulls().mode().sort().first().alias(c) for c in cols])
    out = base.select("clip_id").join(agg, on="clip_id", how="left")
    for c in CONDITION_COLUMNS:
        if c not in out.columns:
            out = out.with_columns(pl.lit(None, dtype=pl.String).alias(c))
    return out.select("clip_id", *CONDITION_COLUMNS)


def _atoms_of(program) -> list:
    from av_assets.mining import dsl

    found: dict[str, dsl.Atom] = {}

    def walk(n):
        if isinstance(n, dsl.Atom):
            found[dsl.canonical(n)] = n
        elif isinstance(n, (dsl.And, dsl.Or)):
            for i in n.items:
                walk(i)
        elif isinstance(n, dsl.Not):
            walk(n.item)
        elif isinstance(n, dsl.Then):
            walk(n.first)
            walk(n.second)
        elif isinstance(n, dsl.During):
            walk(n.item)
            walk(n.condition)

    walk(program.root)
    return [found[k] for k in sorted(found)]


def embedding_vectors(embeddings: EmbeddingStore | None, clip_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """Clip vectors from `ml/clip_embeddings` (`embeddings`: `vector_store.clips(lake)`); {} when
    the table is absent or no store is given."""
    if not clip_ids or embeddings is None:
        return {}
    table = embeddings.table()
    if table is None:
        return {}
    out: dict[str, np.ndarray] = {}
    ids = sorted(set(clip_ids))
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        cond = "clip_id IN (" + ", ".join("'" + c.replace("'", "''") + "'" for c in chunk) + ")"
        rows = table.search().where(cond).select(["clip_id", "vector"]).limit(len(chunk)).to_list()
        for r in rows:
            out[r["clip_id"]] = np.asarray(r["vector"], dtype=np.float64)
    return out


def apply_where(cands: pl.DataFrame, where: str | None) -> pl.DataFrame:
    """`--where`: a SQL boolean expression over the candidate columns (clip_id, drive_id, t_start_ns,
    t_end_ns, duration_s, matched_s, day_night, weather, road_class). Raises ValueError when invalid."""
    if not where:
        return cands
    try:
        return cands.sql(f"SELECT * FROM self WHERE {where}")
    except Exception as exc:  # noqa: BLE001 - polars raises several SQL error types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"invalid --where {where!r}: {first}") from None


def mine(
    lake,
    text,
    *,
    budget: int | None = 20,
    budget_cost_s: float | None = None,
    where: str | None = None,
    held_clip_ids: Iterable[str] = (),
    drive_ids: Iterable[str] | None = None,
    weights: Weights = DEFAULT_WEIGHTS,
    embeddings: EmbeddingStore | None,
) -> MineResult:
    """`embeddings`: the clip table of the vector store (`vector_store.clips(lake)`) for novelty
    against the selection and `held_clip_ids`; None: no vectors (novelty 1 for every clip)."""
    from av_assets.mining.atoms import evaluate
    from av_assets.mining.dsl import Program, canonical, compile_query
    from av_assets.mining.inputs import drives_in_lake, load_inputs
    from av_assets.mining.select import clip_candidates, collapse_adjacent, greedy_select, rarity

    program = text if isinstance(text, Program) else compile_query(text)
    ids = sorted(set(drive_ids)) if drive_ids is not None else drives_in_lake(lake)
    atoms = _atoms_of(program)
    referred_parts, clip_parts, key_parts = [], [], []
    for d in ids:
        inputs = load_inputs(lake, d)
        referred_parts.append(program.run(inputs))
        if inputs.clips is None or inputs.clips.height == 0:
            continue
        clips = inputs.clips.select("clip_id", "drive_id", "t_start_ns", "t_end_ns")
        clip_parts.append(clips)
        # the rarity key of every clip: which of the program's atoms hold in it, and its conditions
        keys = clip_conditions(inputs.road, clips)
        for a in atoms:
            hit = clip_candidates(evaluate(a, inputs), clips)["clip_id"]
            keys = keys.with_columns(pl.col("clip_id").is_in(hit.implode()).alias(f"atom:{canonical(a)}"))
        key_parts.append(keys)
    referred = (
        pl.concat(referred_parts).sort("drive_id", "track_id", "t_ns")
        if referred_parts
        else pl.DataFrame(schema={"drive_id": pl.String, "track_id": pl.String, "t_ns": pl.Int64})
    )
    clips_all = pl.concat(clip_parts) if clip_parts else None
    keys_all = pl.concat(key_parts, how="diagonal_relaxed") if key_parts else None
    cands = clip_candidates(referred, clips_all)
    matched_clips = cands.height
    if keys_all is not None and cands.height:
        cands = cands.join(keys_all.select("clip_id", *CONDITION_COLUMNS), on="clip_id", how="left")
    else:
        cands = cands.with_columns([pl.lit(None, dtype=pl.String).alias(c) for c in CONDITION_COLUMNS])
    cands = apply_where(cands, where)
    after_where = cands.height
    cands = collapse_adjacent(cands, referred)
    key_cols = [c for c in (keys_all.columns if keys_all is not None else []) if c != "clip_id"]
    if keys_all is not None and cands.height:
        catalog = [tuple(r) for r in keys_all.select(key_cols).iter_rows()]
        ordered = cands.select("clip_id").join(keys_all, on="clip_id", how="left", maintain_order="left")
        cand_keys = [tuple(r) for r in ordered.select(key_cols).iter_rows()]
        rar = rarity(catalog, cand_keys)
    else:
        rar = np.zeros(cands.height)
    cands = cands.with_columns(
        pl.Series("rarity", np.round(rar, 6), dtype=pl.Float64), pl.col("duration_s").alias("cost_s")
    )
    held = list(held_clip_ids)
    vectors = embedding_vectors(embeddings, cands["clip_id"].to_list() + held)
    held_vecs = np.array([vectors[c] for c in held if c in vectors]) if held else None
    cand_vecs = {c: vectors[c] for c in cands["clip_id"].to_list() if c in vectors}
    selected, summary = greedy_select(
        cands, cand_vecs, held=held_vecs, budget=budget, budget_cost_s=budget_cost_s, weights=weights
    )
    rows = [
        {
            "clip_id": r["clip_id"],
            "drive_id": r["drive_id"],
            "t_start_ns": int(r["t_start_ns"]),
            "t_end_ns": int(r["t_end_ns"]),
            "score": float(r["score"]),
            "novelty": float(r["novelty"]),
            "rarity": float(r["rarity"]),
            "uncertainty": float(r["uncertainty"]),
            "matched_s": round(float(r["matched_s"]), 3),
            "match_start_ns": int(r["match_start_ns"]),
            "match_end_ns": int(r["match_end_ns"]),
            "track_ids": list(r["track_ids"] or []),
            "collapsed": int(r["collapsed"]),
            "cost_s": round(float(r["cost_s"]), 3),
            "day_night": r.get("day_night"),
            "weather": r.get("weather"),
            "road_class": r.get("road_class"),
        }
        for r in selected.iter_rows(named=True)
    ]
    doc = {
        "candidates": rows,
        "query": program.canonical,
        "program_id": program.program_id,
        "scope": program.scope,
        "drives": len(ids),
        "referred_rows": referred.height,
        "matched_clips": matched_clips,
        "after_where": after_where,
        "after_adjacency": cands.height,
        "held_clips": len(held),
        "vectors_found": len(cand_vecs),
        "selection": summary,
    }
    return MineResult(document=doc, selected=selected, referred=referred, drive_ids=ids)


MINED_SCHEMA = {
    "query_name": pl.String,
    "program_id": pl.String,
    "rank": pl.Int32,
    "clip_id": pl.String,
    "drive_id": pl.String,
    "t_start_ns": pl.Int64,
    "t_end_ns": pl.Int64,
    "score": pl.Float64,
    "novelty": pl.Float64,
    "rarity": pl.Float64,
    "uncertainty": pl.Float64,
    "matched_s": pl.Float64,
    "match_start_ns": pl.Int64,
    "match_end_ns": pl.Int64,
    "track_ids": pl.List(pl.String),
}


def mined_frame(query_name: str, document: dict) -> pl.DataFrame:
    """`ml/mined_scenarios` rows of one named query: its `mine` document's candidates, best first,
    with their rank (1-based) and the program id (`MINED_SCHEMA`)."""
    return pl.DataFrame(
        [
            {
                "query_name": query_name,
                "program_id": document["program_id"],
                "rank": i + 1,
                **{k: r[k] for k in MINED_SCHEMA if k not in ("query_name", "program_id", "rank")},
            }
            for i, r in enumerate(document["candidates"])
        ],
        schema=MINED_SCHEMA,
    )
