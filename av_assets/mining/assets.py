"""Scenario mining assets: the named-queries policy (versioned, data version = its sha256), the
`mining_queries` dynamic partitions, `ml/mined_scenarios` (one partition per named query, every
materialisation an immutable content-addressed Parquet), and the daily sensor that adds partitions
and requests runs. Logic lives in dsl/atoms/inputs/select/mine/named; docs/mining.md."""

import json
import time
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from pydantic import Field

from av_assets.mining.named import DEFAULT_POLICY as _DEFAULT_QUERIES
from av_assets.platform.lineage import lineage_result
from av_assets.platform.policies import versioned_policy_asset
from av_resources.evaluation import GroundTruthResource
from av_resources.lake import LakeStorage
from av_resources.vector_store import VectorStoreResource

OWNERS = ["team:perception-data"]
MINING_QUERIES = dg.DynamicPartitionsDefinition(name="mining_queries")
QUERIES_KEY = dg.AssetKey(["ops", "mining_queries"])
MINED_KEY = dg.AssetKey(["ml", "mined_scenarios"])
JOB_NAME = "mining_mine_job"
PER_DRIVE_INPUTS = [
    ["silver", "object_tracks"],
    ["silver", "event_detections"],
    ["silver", "signals_grid"],
    ["silver", "road_context"],
    ["silver", "clips"],
]


def mined_rel(name: str, content_sha: str) -> str:
    return f"ml/mined_scenarios/query={name}/{content_sha}.parquet"


def _parse_queries(doc: Any) -> Any:
    from av_assets.mining.named import parse_queries

    parse_queries(doc)
    return doc


def _queries_summary(doc: Any) -> dict[str, Any]:
    from av_assets.mining.named import parse_queries

    version, queries = parse_queries(doc)
    return {
        "av/queries_version": version,
        "av/queries": dg.MetadataValue.json({q.name: q.canonical for q in queries}),
    }


mining_queries = versioned_policy_asset(
    key=["ops", "mining_queries"],
    name="mining_queries",
    ext="yaml",
    default=_DEFAULT_QUERIES,
    parse=_parse_queries,
    summary=_queries_summary,
    group_name="mining",
    kinds={"yaml"},
    owners=OWNERS,
    code_version="1",
    description=(
        "Named scenario queries (versioned YAML): the lake's ops/policies/mining_queries.yaml, "
        "else the repository default; data version = sha256 of the document."
    ),
)


class MinedScenariosConfig(dg.Config):
    golden_eval: bool = Field(
        default=True, description="score the golden query set where ground truth exists (cached per inputs)"
    )
    golden_queries: list[str] = Field(
        default_factory=list, description="golden query names to score (empty: all of golden.yaml)"
    )


def golden_cache_key(lake: LakeStorage, drive_ids: list[str], golden: list[dict]) -> str:
    """sha256 over the golden set, the DSL version and the bytes of every input the programs read:
    the same inputs score the same, so one run's numbers serve every partition."""
    from av_assets.mining.dsl import DSL_VERSION
    from av_assets.mining.inputs import rel_paths
    from av_assets.platform.lineage import sha256_bytes, sha256_json

    files = {
        rel: sha256_bytes(lake.read_bytes(rel))
        for d in sorted(drive_ids)
        for rel in rel_paths(d).values()
        if lake.exists(rel)
    }
    return sha256_json({"golden": golden, "dsl": DSL_VERSION, "files": files})


def golden_metrics(
    lake: LakeStorage, drive_ids: list[str], ground_truth: GroundTruthResource, names: list[str] | None = None
) -> dict | None:
    """Evaluation where ground truth exists: every golden query (or those in `names`) run over the
    covered drives and scored by `av_assets.mining.evaluation.evaluate_golden` (the one call site),
    cached in the lake under `ml/mining_eval/<key>.json`. None without ground truth."""
    import polars as pl

    with_truth = (
        [d for d in drive_ids if ground_truth.for_drive(d) is not None] if ground_truth.available else []
    )
    if not with_truth:
        return None
    try:  # THE call site of the golden-set evaluation (av_assets/mining/evaluation.py)
        from av_assets.mining.evaluation import evaluate_golden, read_ground_truth
    except ImportError as exc:
        return {"error": f"evaluation module not available: {exc}"}
    from av_assets.mining.dsl import compile_query
    from av_assets.mining.inputs import load_inputs, rel_paths
    from av_assets.mining.named import load_golden

    golden = [g for g in load_golden() if not names or g["name"] in names]
    if not golden:
        return {"error": "no golden queries (av_assets/mining/golden.yaml)"}
    ids = sorted(with_truth)
    cache = f"ml/mining_eval/{golden_cache_key(lake, ids, golden)}.json"
    if lake.exists(cache):
        return lake.read_json(cache) | {"cached": True}
    # the evaluation reads the drives' ground truth with its bulky parts (3D cuboids, ego trajectory)
    gts = read_ground_truth(ground_truth.root, ids)
    programs = {g["name"]: compile_query(g["query"]) for g in golden}
    parts: dict[str, list] = {name: [] for name in programs}
    for d in ids:
        inputs = load_inputs(lake, d)
        for name, program in programs.items():
            parts[name].append(program.run(inputs))
    referred = {name: pl.concat(p) for name, p in parts.items()}
    tracks = pl.concat(
        [lake.read_parquet(rel_paths(d)["tracks"]) for d in ids if lake.exists(rel_paths(d)["tracks"])],
        how="diagonal_relaxed",
    )
    metrics = json_safe(evaluate_golden(referred, tracks, gts, golden))
    lake.write_json(cache, metrics)
    return metrics | {"cached": False}


def json_safe(value: Any) -> Any:
    """Plain JSON for metadata: NaN/inf become None, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        return None
    return value


@dg.asset(
    key=["ml", "mined_scenarios"],
    group_name="mining",
    partitions_def=MINING_QUERIES,
    deps=[
        *(dg.AssetDep(dg.AssetKey(k), partition_mapping=dg.AllPartitionMapping()) for k in PER_DRIVE_INPUTS),
        dg.AssetDep(dg.AssetKey(["ml", "clip_embeddings"])),
        dg.AssetDep(QUERIES_KEY),
    ],
    kinds={"parquet", "polars"},
    owners=OWNERS,
    code_version="1",
    description=(
        "Clips mined for one named scenario query (partition = query name): DSL program over every "
        "drive's tracks, events, signals grid and road context; adjacent clips collapsed, embedding "
        "duplicates dropped, ranked by novelty and rarity, selected within the query's budget. Each "
        "materialisation is an immutable Parquet named by its content sha256."
    ),
)
def mined_scenarios(
    context: dg.AssetExecutionContext,
    config: MinedScenariosConfig,
    lake: LakeStorage,
    ground_truth: GroundTruthResource,
    vector_store: VectorStoreResource,
) -> dg.MaterializeResult:
    from av_assets.mining.inputs import drives_in_lake
    from av_assets.mining.mine import mine, mined_frame
    from av_assets.mining.named import load_queries, parse_queries
    from av_assets.platform.lineage import sha256_bytes
    from av_resources.lake import parquet_bytes

    name = context.partition_key
    doc, queries_sha, source = load_queries(lake)
    version, queries = parse_queries(doc)
    named = {q.name: q for q in queries}
    if name not in named:
        raise dg.Failure(f"no named query {name!r} in the queries policy ({source}, {version})")
    q = named[name]
    drive_ids = drives_in_lake(lake)
    # the golden evaluation first: av2 forks worker processes, safer before LanceDB's runtime starts
    metrics, golden_s = _golden_eval(context, lake, drive_ids, ground_truth, config)
    t0 = time.perf_counter()
    result = mine(
        lake,
        q.query,
        budget=q.budget,
        budget_cost_s=q.budget_cost_s,
        drive_ids=drive_ids,
        embeddings=vector_store.clips(lake),
    )
    wall = time.perf_counter() - t0
    frame = mined_frame(name, result.document)
    data = parquet_bytes(frame)
    sha = sha256_bytes(data)
    rel = mined_rel(name, sha)
    # immutable: same bytes, same name
    uri = lake.uri(rel) if lake.exists(rel) else lake.write_bytes(rel, data)
    md = _mined_metadata(q, rel, frame, result.document, wall, queries=(version, queries_sha))
    md.update(_golden_metadata(metrics, golden_s))
    return lineage_result(
        drive_ids=result.drive_ids,
        content_sha256=sha,
        uri=uri,
        row_count=frame.height,
        schema=frame.schema,
        metadata=md,
    )


def _golden_eval(context, lake: LakeStorage, drive_ids, ground_truth, config) -> tuple[dict | None, float]:
    """(golden metrics or None, seconds); a failing evaluator must not block the mined clips."""
    t1 = time.perf_counter()
    try:
        metrics = (
            golden_metrics(lake, drive_ids, ground_truth, config.golden_queries or None)
            if config.golden_eval
            else None
        )
    except Exception as exc:  # noqa: BLE001 - a failing evaluator must not block the mined clips
        context.log.warning(f"golden evaluation failed: {exc!r}")
        metrics = {"error": f"golden evaluation failed: {exc!r}"}
    return metrics, time.perf_counter() - t1


def _mined_metadata(q, rel: str, frame, document: dict, mine_s: float, queries: tuple[str, str]) -> dict:
    doc_md = {k: v for k, v in document.items() if k != "candidates"}
    return {
        "av/query_name": q.name,
        "av/path": rel,
        "av/query": q.canonical,
        "av/program_id": q.program_id,
        "av/queries_version": queries[0],
        "av/queries_sha256": queries[1],
        "av/selected": frame.height,
        "av/matched_clips": doc_md["matched_clips"],
        "av/referred_rows": doc_md["referred_rows"],
        "av/selection": dg.MetadataValue.json(json_safe(doc_md["selection"])),
        "av/mine_s": round(mine_s, 3),
        "av/preview": dg.MetadataValue.md(
            frame.drop("track_ids", "program_id").head(10).to_pandas().to_markdown(index=False)
            if frame.height
            else "(no clips matched)"
        ),
    }


def _golden_metadata(metrics: dict | None, golden_s: float) -> dict:
    md: dict[str, Any] = {}
    if metrics is not None:
        md["av/golden_eval_s"] = round(golden_s, 3)
        md["av/golden_eval"] = dg.MetadataValue.json(json_safe(metrics))
        for k, v in metrics.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v:  # NaN: no metadata
                md[f"av/golden/{k}"] = float(v)
    return md


mining_mine_job = dg.define_asset_job(
    JOB_NAME,
    selection=dg.AssetSelection.assets(MINED_KEY),
    description="Mine one named scenario query (partition = query name).",
)


def plan_sensor(
    cursor: str | None, names: list[str], existing: list[str], queries_sha: str, day: str
) -> tuple[list[str], list[str], str]:
    """(partitions to add, query names to run, new cursor). Every name runs once a day (UTC) and
    whenever the queries document changes; a new name runs at once. Names dropped from the list keep
    their partition and their results."""
    state = json.loads(cursor) if cursor else {}
    add = [n for n in names if n not in set(existing)]
    if state.get("day") != day or state.get("sha") != queries_sha:
        run = list(names)
    else:
        run = [n for n in names if n not in set(state.get("names", []))]
    new_cursor = json.dumps({"day": day, "sha": queries_sha, "names": sorted(names)}, sort_keys=True)
    return add, run, new_cursor


@dg.sensor(
    name="mining_queries_sensor",
    job=mining_mine_job,
    minimum_interval_seconds=3600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a `mining_queries` partition per named query and requests a mining run per query "
    "once a day (UTC) and whenever the queries document changes.",
)
def mining_queries_sensor(context: dg.SensorEvaluationContext, lake: LakeStorage):
    from av_assets.mining.named import load_queries, parse_queries

    doc, sha, _ = load_queries(lake)
    try:
        _, queries = parse_queries(doc)
    except ValueError as exc:
        return dg.SkipReason(f"queries document invalid: {exc}")
    names = [q.name for q in queries]
    existing = context.instance.get_dynamic_partitions(MINING_QUERIES.name)
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    add, run, cursor = plan_sensor(context.cursor, names, existing, sha, day)
    return dg.SensorResult(
        dynamic_partitions_requests=[MINING_QUERIES.build_add_request(add)] if add else [],
        run_requests=[dg.RunRequest(partition_key=n, run_key=f"{n}:{day}:{sha[:12]}") for n in run],
        cursor=cursor,
    )
