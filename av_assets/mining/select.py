"""From referred objects to a short list of clips worth labelling: clip candidates, de-duplication
(same-drive time adjacency, then embedding cosine distance), novelty, rarity, an uncertainty hook,
a weighted score, and greedy selection within a budget (clip count or labelling cost in seconds).

Pure functions over polars frames and numpy arrays; `mine.py` does the reading.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl

from av_assets.mining.atoms import EGO, GRID_NS, episodes


@dataclass(frozen=True)
class Weights:
    """score = novelty * w_novelty + rarity * w_rarity + uncertainty * w_uncertainty (docs/mining.md).
    Novelty leads (what datasets lack), rarity next (rare combinations of the matched atoms and
    conditions), uncertainty waits for a model (0 until then, so it changes no ranking today)."""

    novelty: float = 0.5
    rarity: float = 0.3
    uncertainty: float = 0.2

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


DEFAULT_WEIGHTS = Weights()
# Two clips closer than this cosine distance are the same scenario: the later one is dropped.
DUPLICATE_DISTANCE = 0.02
# A match that stops and resumes within this gap is one contiguous match (adjacent clips collapse).
ADJACENT_GAP_NS = 10 * GRID_NS

CANDIDATE_SCHEMA = {
    "clip_id": pl.String,
    "drive_id": pl.String,
    "t_start_ns": pl.Int64,
    "t_end_ns": pl.Int64,
    "duration_s": pl.Float64,
    "matched_s": pl.Float64,
    "match_start_ns": pl.Int64,
    "match_end_ns": pl.Int64,
    "track_ids": pl.List(pl.String),
}


def clip_candidates(referred: pl.DataFrame, clips: pl.DataFrame) -> pl.DataFrame:
    """One row per clip whose [t_start, t_end) holds referred ticks: matched seconds (ticks x 0.1 s),
    first/last matched tick, and the referred object tracks (sorted, "ego" left out)."""
    if referred.height == 0 or clips is None or clips.height == 0:
        return pl.DataFrame(schema=CANDIDATE_SCHEMA)
    c = clips.select("clip_id", "drive_id", "t_start_ns", "t_end_ns")
    j = referred.join(c, on="drive_id").filter(
        (pl.col("t_ns") >= pl.col("t_start_ns")) & (pl.col("t_ns") < pl.col("t_end_ns"))
    )
    if j.height == 0:
        return pl.DataFrame(schema=CANDIDATE_SCHEMA)
    out = (
        j.group_by("clip_id", "drive_id", "t_start_ns", "t_end_ns")
        .agg(
            (pl.col("t_ns").n_unique().cast(pl.Float64) * (GRID_NS / 1e9)).alias("matched_s"),
            pl.col("t_ns").min().alias("match_start_ns"),
            pl.col("t_ns").max().alias("match_end_ns"),
            pl.col("track_id").filter(pl.col("track_id") != EGO).unique().sort().alias("track_ids"),
        )
        .with_columns(((pl.col("t_end_ns") - pl.col("t_start_ns")) / 1e9).alias("duration_s"))
        .sort("drive_id", "t_start_ns")
    )
    return out.select(list(CANDIDATE_SCHEMA)).cast(CANDIDATE_SCHEMA)


def _find(parent: dict[str, str], x: str) -> str:
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def collapse_adjacent(
    cands: pl.DataFrame, referred: pl.DataFrame, gap_ns: int = ADJACENT_GAP_NS
) -> pl.DataFrame:
    """Clips of one drive that share one contiguous match (referred ticks with gaps <= gap_ns) collapse
    to the clip holding most of it (ties: the earlier clip). Adds `group` (drive:first-tick) and
    `collapsed` (how many clips it stands for)."""
    if cands.height == 0:
        return cands.with_columns(pl.lit(None, dtype=pl.String).alias("group"), pl.lit(0).alias("collapsed"))
    group_of: dict[str, str] = {}
    for drive_id, grp in cands.group_by("drive_id", maintain_order=True):
        ticks = referred.filter(pl.col("drive_id") == drive_id[0])["t_ns"].to_numpy()
        eps = episodes(ticks, max_gap_ns=gap_ns)
        # union-find over clips that share an episode
        parent = {c: c for c in grp["clip_id"]}
        rows = list(grp.select("clip_id", "match_start_ns", "match_end_ns").iter_rows())
        for s, e in eps:
            members = [cid for cid, ms, me in rows if ms <= e and me >= s]
            for m in members[1:]:
                parent[_find(parent, m)] = _find(parent, members[0])
        for cid, _, _ in rows:
            group_of[cid] = f"{drive_id[0]}:{_find(parent, cid)}"
    g = cands.with_columns(pl.col("clip_id").replace_strict(group_of, return_dtype=pl.String).alias("group"))
    best = (
        g.sort(["group", "matched_s", "t_start_ns"], descending=[False, True, False])
        .group_by("group", maintain_order=True)
        .agg(pl.all().first(), pl.len().alias("collapsed"))
    )
    return best.select(*cands.columns, "group", "collapsed").sort("drive_id", "t_start_ns")


def rarity(catalog_keys: Sequence, candidate_keys: Sequence) -> np.ndarray:
    """Inverse frequency of each candidate's key (matched atoms + conditions) among every clip of the
    catalog, normalised to [0, 1]: log(N / n_key) / log(N); a key no catalog clip has counts once."""
    from collections import Counter

    counts = Counter(catalog_keys)
    n = max(len(catalog_keys), 1)
    if n <= 1:
        return np.zeros(len(candidate_keys))
    return np.array([np.log(n / max(counts.get(k, 0), 1)) / np.log(n) for k in candidate_keys], dtype=float)


def normalise(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float64)
    if v.size == 0:
        return v.reshape(0, v.shape[1] if v.ndim == 2 else 0)
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norm > 0, norm, 1.0)


def novelty(vectors: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """1 - max cosine similarity of each vector to the reference set (1 where the set is empty),
    clipped to [0, 1]."""
    v = normalise(vectors)
    if len(v) == 0:
        return np.zeros(0)
    r = normalise(reference)
    if len(r) == 0:
        return np.ones(len(v))
    return np.clip(1.0 - (v @ r.T).max(axis=1), 0.0, 1.0)


def no_uncertainty(cands: pl.DataFrame) -> np.ndarray:
    """The uncertainty hook: a model's per-clip uncertainty in [0, 1] (e.g. 1 - max detector score,
    or ensemble disagreement) replaces this; until one exists every clip gets 0."""
    return np.zeros(cands.height)


def greedy_select(
    cands: pl.DataFrame,
    vectors: dict[str, np.ndarray],
    *,
    held: np.ndarray | None = None,
    budget: int | None = 20,
    budget_cost_s: float | None = None,
    weights: Weights = DEFAULT_WEIGHTS,
    duplicate_distance: float = DUPLICATE_DISTANCE,
    uncertainty_fn: Callable[[pl.DataFrame], np.ndarray] = no_uncertainty,
) -> tuple[pl.DataFrame, dict]:
    """Pick clips one at a time by score = w.novelty*novelty + w.rarity*rarity + w.uncertainty*u,
    where novelty is recomputed against the held clips plus those picked so far. A clip within
    `duplicate_distance` (cosine) of a held or picked clip is a duplicate and dropped. Stops at `budget`
    clips and/or when no remaining clip's `cost_s` fits `budget_cost_s`. `cands` needs `clip_id`,
    `rarity`, `cost_s`; clips without a vector get novelty 1 and are never embedding duplicates.
    Returns the picks in order with novelty/uncertainty/score and a summary."""
    n = cands.height
    unc = np.clip(np.asarray(uncertainty_fn(cands), dtype=float), 0.0, 1.0) if n else np.zeros(0)
    rar = cands["rarity"].to_numpy().astype(float) if n else np.zeros(0)
    cost = cands["cost_s"].to_numpy().astype(float) if n else np.zeros(0)
    ids = cands["clip_id"].to_list() if n else []
    dim = next((len(v) for v in vectors.values()), 0)
    has = np.array([c in vectors for c in ids], dtype=bool)
    mat = normalise(np.array([vectors[c] if c in vectors else np.zeros(dim) for c in ids]).reshape(n, dim))
    ref = normalise(held) if held is not None and len(held) else np.zeros((0, dim))
    alive = np.ones(n, dtype=bool)
    picked: list[int] = []
    nov_at_pick: list[float] = []
    spent, duplicates = 0.0, 0
    while alive.any():
        if budget is not None and len(picked) >= budget:
            break
        nov = np.ones(n)
        if len(ref) and has.any():
            nov[has] = novelty(mat[has], ref)
        dup = alive & has & (nov < duplicate_distance)
        duplicates += int(dup.sum())
        alive &= ~dup
        if budget_cost_s is not None:
            alive &= cost <= budget_cost_s - spent + 1e-9
        if not alive.any():
            break
        score = weights.novelty * nov + weights.rarity * rar + weights.uncertainty * unc
        score = np.where(alive, score, -np.inf)
        i = int(np.argmax(score))  # ties: the earlier row (candidates come sorted by drive and time)
        picked.append(i)
        nov_at_pick.append(float(nov[i]))
        spent += cost[i]
        alive[i] = False
        if has[i]:
            ref = np.vstack([ref, mat[i : i + 1]])
    if not picked:
        out = cands.head(0).with_columns(
            pl.lit(None, dtype=pl.Float64).alias("novelty"),
            pl.lit(None, dtype=pl.Float64).alias("uncertainty"),
            pl.lit(None, dtype=pl.Float64).alias("score"),
        )
    else:
        nov_a, unc_a = np.array(nov_at_pick), unc[picked]
        out = cands[picked].with_columns(
            pl.Series("novelty", np.round(nov_a, 6)),
            pl.Series("uncertainty", np.round(unc_a, 6)),
            pl.Series(
                "score",
                np.round(
                    weights.novelty * nov_a + weights.rarity * rar[picked] + weights.uncertainty * unc_a, 6
                ),
            ),
        )
    summary = {
        "considered": n,
        "selected": len(picked),
        "embedding_duplicates": duplicates,
        "cost_s": round(float(spent), 3),
        "budget": budget,
        "budget_cost_s": budget_cost_s,
        "weights": weights.as_dict(),
        "duplicate_distance": duplicate_distance,
    }
    return out, summary
