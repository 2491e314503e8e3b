"""The definitions load as every code server and run worker loads them, in every environment."""

import json
import os
import subprocess
import sys

import dagster as dg
import pytest

from tests.helpers import REPO_ROOT

SNAPSHOT = REPO_ROOT / "tests" / "snapshots" / "definitions.json"
LAYERS = {"bronze", "silver", "catalog", "gold", "ml", "deploy", "ops"}


def _snapshot(d: dg.Definitions) -> dict:
    specs = d.resolve_all_asset_specs()
    repo = d.get_repository_def()
    return {
        "assets": sorted(s.key.to_user_string() for s in specs),
        "checks": sorted(
            f"{k.asset_key.to_user_string()}:{k.name}" for k in repo.asset_graph.asset_check_keys
        ),
        "sensors": sorted(s.name for s in repo.sensor_defs),
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
    }


@pytest.fixture(scope="module")
def defs():
    from av_assets.definitions import defs as root

    d = root()
    dg.Definitions.validate_loadable(d)
    return d


def test_snapshot_of_keys_checks_sensors_and_jobs(defs):
    """Renames are deliberate: regenerate with AV_UPDATE_SNAPSHOTS=1 and review the diff."""
    current = _snapshot(defs)
    if os.environ.get("AV_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(current, indent=2) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())


def test_every_asset_follows_house_style(defs):
    for spec in defs.resolve_all_asset_specs():
        name = spec.key.to_user_string()
        assert spec.key.path[0] in LAYERS, f"{name}: key prefix must be a layer"
        assert spec.description, f"{name}: needs a description"
        assert spec.kinds, f"{name}: needs kinds"
        assert spec.owners, f"{name}: needs owners"
        assert spec.code_version, f"{name}: needs a code_version (lineage convention)"
        assert spec.group_name and spec.group_name != "default", f"{name}: group = its domain"
        from av_assets.platform.freshness import KINDS, freshness_kind

        assert freshness_kind(spec) in KINDS, (
            f"{name}: freshness kind unknown (tests/platform/test_freshness.py)"
        )


def test_one_automation_sensor_per_domain_running_by_default(defs):
    repo = defs.get_repository_def()
    groups = {s.group_name for s in defs.resolve_all_asset_specs()}
    sensors = {s.name: s for s in repo.sensor_defs if s.name.endswith("_automation_sensor")}
    assert set(sensors) == {f"{g}_automation_sensor" for g in groups}
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in sensors.values())


def test_prod_loads_with_nothing_set():
    """AV_ENV=prod with no endpoint or secret in the environment: EnvVars resolve only at launch."""
    from av_resources.dbt import gold_dbt_project

    gold_dbt_project()  # the checkout's dbt manifest, as a local load leaves it: prod never parses one
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AV_", "AWS_", "DAGSTER_PG"))}
    env["AV_ENV"] = "prod"
    code = (
        "import dagster as dg; from av_assets.definitions import defs; d = defs(); "
        "dg.Definitions.validate_loadable(d); "
        "print(d.executor.name, sorted(k.to_user_string() for k in d.resolve_all_asset_keys())[:1])"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("k8s_job_executor")


def test_bad_env_is_a_clear_error(monkeypatch):
    from av_resources.env import current_env

    monkeypatch.setenv("AV_ENV", "staging")
    with pytest.raises(ValueError, match="not one of local, ci, prod"):
        current_env()


def test_heavy_imports_stay_out_of_definition_loading():
    code = (
        "import sys; from av_assets.definitions import defs; defs(); "
        "heavy = [m for m in ('torch','great_expectations','lancedb','wandb','onnxruntime','cv2','rapidocr_onnxruntime') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"heavy modules imported at load: {out.stdout}"


def test_every_demo_step_and_command_target_loads():
    """Registry targets are strings ("module:function"): a rename shows here, not in `make demo`."""
    from av_assets.platform.registry import all_demo_steps, extensions, load_object

    targets = [s.run for s in all_demo_steps()] + [t for ext in extensions() for t in ext.cli.values()]
    assert len(targets) >= 10
    for target in targets:
        assert callable(load_object(target)), target
    assert "av_fleet.demo:demo_fleet" not in targets  # the CLI adds the fleet step where av_fleet exists
    assert callable(load_object("av_fleet.demo:demo_fleet"))
