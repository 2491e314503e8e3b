"""`av query` as a user runs it: a real subprocess, a real lake, the CLI contract."""

import json
import os
import subprocess
import sys

import polars as pl
import pytest

from av_contracts import tables
from av_contracts.schemas import validation_errors
from av_resources.lake import LakeStorage

AV = [sys.executable, "-m", "av_cli"]


@pytest.fixture()
def lake_env(tmp_path):
    lake = LakeStorage(root=str(tmp_path / "lake"))
    lake.write_parquet(
        tables.LAKE_INVENTORY.rel(),
        pl.DataFrame(
            {
                "layer": ["bronze", "silver"],
                "dataset": ["drives", "signals"],
                "objects": [3, 1],
                "bytes": [300, 10],
                "drives": [1, 1],
            }
        ),
    )
    env = dict(os.environ, AV_LAKE_ROOT=lake.root, AV_ENV="local")
    return env


def _av(args, env):
    return subprocess.run(AV + args, env=env, capture_output=True, text=True, timeout=120)


def test_query_json_is_one_document_of_rows(lake_env):
    out = _av(["query", "--json", "SELECT layer, bytes FROM lake_inventory ORDER BY bytes DESC"], lake_env)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)  # the whole stdout is one JSON document
    assert rows == [{"layer": "bronze", "bytes": 300}, {"layer": "silver", "bytes": 10}]
    assert validation_errors(rows, "cli_query") == []


def test_query_table_and_views(lake_env):
    out = _av(["query", "SELECT sum(objects) AS n FROM lake_inventory"], lake_env)
    assert out.returncode == 0 and "4" in out.stdout
    views = json.loads(_av(["query", "--views", "--json"], lake_env).stdout)
    assert {"view": "lake_inventory"}.items() <= views[
        [v["view"] for v in views].index("lake_inventory")
    ].items()


def test_bad_sql_is_a_usage_error_with_a_reason(lake_env):
    out = _av(["query", "--json", "SELECT nope FROM lake_inventory"], lake_env)
    assert out.returncode == 2
    assert json.loads(out.stdout) == {"error": json.loads(out.stdout)["error"], "exit_code": 2}
    assert "query failed" in out.stderr and "nope" in json.loads(out.stdout)["error"]


def test_help_explains_itself(lake_env):
    top = _av(["--help"], lake_env)
    assert top.returncode == 0 and "query" in top.stdout and "Exit codes" in top.stdout
    q = _av(["query", "--help"], lake_env)
    assert q.returncode == 0 and "DuckDB" in q.stdout and "--json" in q.stdout


def test_query_is_read_only(lake_env, tmp_path):
    target = tmp_path / "out.csv"
    for sql in (f"COPY (SELECT 1) TO '{target}'", "CREATE TABLE t(a INT)", "SELECT 1; ATTACH 'x.db'"):
        out = _av(["query", "--json", sql], lake_env)
        assert out.returncode == 2 and "read-only" in json.loads(out.stdout)["error"], (sql, out.stdout)
    assert not target.exists()
    out = _av(["query", "--json", "DESCRIBE SELECT layer FROM lake_inventory"], lake_env)
    assert out.returncode == 0 and json.loads(out.stdout)[0]["column_name"] == "layer"
