"""The platform as users run it: a real `dagster dev` (webserver + daemon), spoken to over GraphQL."""

import shutil
import time

import pytest

from av_resources.local_services import dagster_dev
from tests.helpers import REPO_ROOT

ASSET_NODES = "{ assetNodes { assetKey { path } groupName } }"
SENSORS = """
{ sensorsOrError(repositorySelector: {repositoryName: "__repository__", repositoryLocationName: "av_platform"}) {
    ... on Sensors { results { name sensorState { status } } }
    ... on PythonError { message }
} }
"""


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    lake = tmp_path_factory.mktemp("lake")
    import os

    env = dict(os.environ, AV_LAKE_ROOT=str(lake), AV_ENV="local")
    with dagster_dev(home, workspace=REPO_ROOT / "workspace.yaml", env=env) as server:
        server.wait_for_location("av_platform")
        yield server


@pytest.mark.slow
def test_dagster_dev_serves_the_graph_and_runs_the_automation_sensors(dev):
    keys = {"/".join(n["assetKey"]["path"]) for n in dev.graphql(ASSET_NODES)["assetNodes"]}
    assert "ops/lake_inventory" in keys
    deadline = time.monotonic() + 60
    while True:
        sensors = dev.graphql(SENSORS)["sensorsOrError"]["results"]
        states = {s["name"]: s["sensorState"]["status"] for s in sensors}
        if states.get("ops_automation_sensor") == "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert states["ops_automation_sensor"] == "RUNNING"


@pytest.mark.slow
def test_ui_in_a_real_browser_shows_the_assets(dev):
    from tests.e2e.browser import chromium, open_page

    artifacts = REPO_ROOT / "test-artifacts"
    with chromium() as browser:
        text = open_page(browser, f"{dev.url}/assets", ["lake_inventory"], artifacts / "ui-assets.png")
        assert "lake_inventory" in text
        text = open_page(
            browser,
            f"{dev.url}/assets/ops/lake_inventory",
            ["lake_inventory", "Freshness", "ops_automation_sensor"],
            artifacts / "ui-asset.png",
        )
        assert "Freshness" in text and "ops_automation_sensor" in text
    assert (artifacts / "ui-assets.png").stat().st_size > 10_000
