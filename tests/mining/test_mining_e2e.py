"""Scenario mining end to end on a small processed fleet: `av mine` against the fleet's ground truth
(read here, in the test only), the named-query asset (two partitions, immutable content-addressed
files), the sensor, and the stable interface the evaluation imports."""

import hashlib
import json

import dagster as dg
import polars as pl
import pytest

from av_contracts.schemas import validation_errors


@pytest.fixture(scope="module")
def fleet(mining_fleet):
    return mining_fleet


def _mine(*args):
    from typer.testing import CliRunner

    from av_cli.main import app

    return CliRunner().invoke(app, ["mine", *args])


def _overlaps_truth(cand, gt, etype="cut_in") -> bool:
    return any(
        e["type"] == etype and e["t_start_ns"] < cand["t_end_ns"] and e["t_end_ns"] >= cand["t_start_ns"]
        for e in gt[cand["drive_id"]]["events"]
    )


def test_mine_cut_in_hits_ground_truth(fleet):
    res = _mine("cut_in", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert validation_errors(doc, "cli_mine") == []
    assert doc["query"] == "cut_in" and doc["drives"] == len(fleet["drives"]) and doc["scope"] == "object"
    cands = doc["candidates"]
    assert cands, doc
    precision = sum(_overlaps_truth(c, fleet["gt"]) for c in cands) / len(cands)
    truth_clips = {
        (d, e["t_start_ns"]) for d, g in fleet["gt"].items() for e in g["events"] if e["type"] == "cut_in"
    }
    found = {
        (c["drive_id"], e["t_start_ns"])
        for c in cands
        for e in fleet["gt"][c["drive_id"]]["events"]
        if e["type"] == "cut_in" and e["t_start_ns"] < c["t_end_ns"] and e["t_end_ns"] >= c["t_start_ns"]
    }
    print(
        f"cut_in: {len(cands)} candidates, precision {precision:.2f}, truth found {len(found)}/{len(truth_clips)}"
    )
    assert precision >= 0.9
    assert len(found) >= 1
    for c in cands:
        assert (
            c["track_ids"] and c["matched_s"] > 0 and c["t_start_ns"] <= c["match_start_ns"] < c["t_end_ns"]
        )
        assert 0 <= c["novelty"] <= 1 and c["uncertainty"] == 0.0
    # deterministic: the same query gives the same document
    assert json.loads(_mine("cut_in", "--json").stdout) == doc


def test_mine_usage_errors_exit_2(fleet):
    for args in (
        ["cut_in and nope", "--json"],
        ["cut_in.attr", "--json"],
        ["cut_in", "--where", "((", "--json"],
    ):
        res = _mine(*args)
        assert res.exit_code == 2, res.output
        assert json.loads(res.stdout)["exit_code"] == 2


def test_where_budget_and_held(fleet, tmp_path):
    d0 = fleet["drives"][0]
    doc = json.loads(
        _mine("pedestrian_nearby or ego_lane_change", "--where", f"drive_id = '{d0}'", "--json").stdout
    )
    assert doc["candidates"] and {c["drive_id"] for c in doc["candidates"]} == {d0}
    everything = json.loads(
        _mine("not cut_in or at_night or not at_night", "--json", "--budget", "100").stdout
    )
    n = len(everything["candidates"])
    assert n >= 2
    assert (
        len(
            json.loads(_mine("not cut_in or at_night or not at_night", "--json", "--budget", "1").stdout)[
                "candidates"
            ]
        )
        == 1
    )
    cost = json.loads(_mine("not cut_in or at_night or not at_night", "--json", "--budget-cost", "45").stdout)
    assert sum(c["cost_s"] for c in cost["candidates"]) <= 45 and len(cost["candidates"]) == 2  # 20 s clips
    # a clip already held in a dataset is its own duplicate: it is not mined again
    top = everything["candidates"][0]["clip_id"]
    held = tmp_path / "held.txt"
    held.write_text(top + "\n")
    again = json.loads(
        _mine(
            "not cut_in or at_night or not at_night", "--json", "--budget", "100", "--held", str(held)
        ).stdout
    )
    assert top not in {c["clip_id"] for c in again["candidates"]} and again["held_clips"] == 1


def test_stable_interface_for_evaluation(fleet):
    from av_assets.mining import compile_query, load_inputs, run_query

    lake = fleet["lake"]
    program = compile_query("cut_in or harsh_braking")
    referred = run_query(lake, "cut_in or harsh_braking", fleet["drives"])
    assert referred.columns == ["drive_id", "track_id", "t_ns"] and referred.schema["t_ns"] == pl.Int64
    per_drive = pl.concat([program.run(load_inputs(lake, d)) for d in fleet["drives"]])
    assert referred.height == per_drive.height > 0
    assert (referred["t_ns"] % 100_000_000 == 0).all()


def test_named_query_partitions_do_not_overwrite(fleet):
    from av_assets.mining.assets import MINING_QUERIES, mined_scenarios
    from av_resources.evaluation import GroundTruthResource
    from av_resources.vector_store import VectorStoreResource

    lake, instance = fleet["lake"], fleet["instance"]
    names = ["cut-in", "pedestrian-at-junction"]
    instance.add_dynamic_partitions(MINING_QUERIES.name, names)
    gt = GroundTruthResource(root=str(fleet["landing"] / "_ground_truth"))
    resources = {"lake": lake, "ground_truth": gt, "vector_store": VectorStoreResource()}
    # two golden queries keep the av2 evaluator's time small here; the asset scores all by default
    golden = {"ops": {"ml__mined_scenarios": {"config": {"golden_queries": ["cut_in", "harsh_braking"]}}}}
    mds = {}
    for name in names:
        r = dg.materialize(
            [mined_scenarios], resources=resources, instance=instance, partition_key=name, run_config=golden
        )
        assert r.success
        mds[name] = r.asset_materializations_for_node("ml__mined_scenarios")[0].metadata
    paths = {n: md["av/path"].value for n, md in mds.items()}
    assert paths["cut-in"].startswith("ml/mined_scenarios/query=cut-in/")
    assert paths["pedestrian-at-junction"].startswith("ml/mined_scenarios/query=pedestrian-at-junction/")
    for name, md in mds.items():
        frame = lake.read_parquet(paths[name])
        assert set(frame["query_name"]) <= {name} and frame.height == md["dagster/row_count"].value
        assert hashlib.sha256(lake.read_bytes(paths[name])).hexdigest() == md["av/content_sha256"].value
        assert paths[name].endswith(md["av/content_sha256"].value + ".parquet")
        assert md["av/drive_ids"].value == fleet["drives"]
        ev = md["av/golden_eval"].value  # ground truth exists: the golden queries were scored
        assert "error" not in ev, ev
        assert ev["n_queries"] == 2 and ev["n_drives"] == len(fleet["drives"])
        assert 0 <= ev["timestamp_ba"] <= 1 and set(ev["per_query"]) == {"cut_in", "harsh_braking"}
        print(name, {k: v for k, v in ev.items() if k != "per_query"}, md["av/golden_eval_s"].value)
    # the same inputs score the same: the second partition reuses the first one's numbers
    assert mds["cut-in"]["av/golden_eval"].value["cached"] is False
    assert mds["pedestrian-at-junction"]["av/golden_eval"].value["cached"] is True
    assert mds["cut-in"]["dagster/row_count"].value >= 1
    # the same inputs again: the same immutable file, nothing else written under that query
    off = {"ops": {"ml__mined_scenarios": {"config": {"golden_eval": False}}}}
    r = dg.materialize(
        [mined_scenarios], resources=resources, instance=instance, partition_key="cut-in", run_config=off
    )
    md = r.asset_materializations_for_node("ml__mined_scenarios")[0].metadata
    assert md["av/path"].value == paths["cut-in"] and "av/golden_eval" not in md
    assert lake.list("ml/mined_scenarios/query=cut-in") == [paths["cut-in"]]
    assert len(lake.list("ml/mined_scenarios", "*/*.parquet")) == 2


def test_sensor_adds_partitions_and_requests_runs(fleet):
    from av_assets.mining.assets import MINING_QUERIES, mining_queries_sensor
    from av_assets.mining.named import load_queries, parse_queries

    names = [q.name for q in parse_queries(load_queries(fleet["lake"])[0])[1]]
    with dg.DagsterInstance.ephemeral() as instance:
        ctx = dg.build_sensor_context(instance=instance, resources={"lake": fleet["lake"]})
        result = mining_queries_sensor(ctx)
        assert [r.partition_key for r in result.run_requests] == names
        assert result.dynamic_partitions_requests[0].partition_keys == names
        assert result.dynamic_partitions_requests[0].partitions_def_name == MINING_QUERIES.name
        instance.add_dynamic_partitions(MINING_QUERIES.name, names)
        again = mining_queries_sensor(
            dg.build_sensor_context(
                instance=instance, cursor=result.cursor, resources={"lake": fleet["lake"]}
            )
        )
        assert again.run_requests == [] and again.dynamic_partitions_requests == []
