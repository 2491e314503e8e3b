"""The production instance config on a real PostgreSQL, with a real asset writing to a real S3 lake."""

import uuid

import dagster as dg
import pytest
import yaml

from av_assets.ops.assets import lake_inventory
from av_contracts import tables
from av_resources.lake import LakeStorage
from tests.helpers import REPO_ROOT

PROD_YAML = REPO_ROOT / "deploy" / "instance" / "dagster.prod.yaml"


@pytest.mark.postgres
@pytest.mark.s3
def test_prod_instance_config_materialises_on_postgres_and_s3(
    postgres_server, s3_server, tmp_path, monkeypatch
):
    config = yaml.safe_load(PROD_YAML.read_text())
    # The run launcher (k8s) and S3 compute logs are proven in tests/k8s; here: storage + queue.
    config.pop("run_launcher")
    config.pop("compute_logs")
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    for key, value in {
        "DAGSTER_PG_HOST": postgres_server.host,
        "DAGSTER_PG_PORT": str(postgres_server.port),
        "DAGSTER_PG_USER": postgres_server.user,
        "DAGSTER_PG_PASSWORD": postgres_server.password,
        "DAGSTER_PG_DB": postgres_server.db,
    }.items():
        monkeypatch.setenv(key, value)
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))

    bucket = f"prod-{uuid.uuid4().hex[:10]}"
    s3_server.create_bucket(bucket)
    lake = LakeStorage(
        root=f"s3://{bucket}/lake",
        s3_endpoint_url=s3_server.endpoint_url,
        s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key,
    )
    lake.write_bytes("bronze/drives/d-001/bag/x.mcap", b"m" * 4096)

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        result = dg.materialize([lake_inventory], resources={"lake": lake}, instance=instance)
        assert result.success
        event = instance.get_latest_materialization_event(dg.AssetKey(["ops", "lake_inventory"]))
        md = event.asset_materialization.metadata
        assert md["av/bytes"].value == 4096
        assert md["dagster/uri"].value == f"s3://{bucket}/lake/ops/lake_inventory/inventory.parquet"
        assert instance.get_run_by_id(result.run_id).is_success
    assert lake.read_parquet(tables.LAKE_INVENTORY.rel())["bytes"].to_list() == [4096]
