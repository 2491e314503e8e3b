"""The real loopback servers: SeaweedFS S3 (signatures enforced), PostgreSQL (+ a Dagster instance on
it) and moto."""

from __future__ import annotations

import socket
import uuid

import boto3
import pytest
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError

from av_resources.local_services import (
    LOOPBACK,
    ServerStartError,
    free_port,
    postgres_cluster,
    seaweedfs_s3,
)


def _bucket(s3_server, prefix: str) -> str:
    return s3_server.create_bucket(f"{prefix}-{uuid.uuid4().hex[:10]}")


def _client(endpoint_url: str, key: str, secret: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, s3={"addressing_style": "path"}),
    )


def test_free_port_is_bindable_on_loopback():
    port = free_port()
    with socket.socket() as s:
        s.bind((LOOPBACK, port))


# ------------------------------------------------------------------------------------------------ S3


def test_s3_refuses_to_start_on_a_nearly_full_disk(tmp_path, monkeypatch):
    """SeaweedFS itself would start, then stall each PUT 30 s and answer InternalError (a CI failure)."""
    import shutil as real_shutil

    import av_resources.local_services as services

    total = 252 * 2**30
    monkeypatch.setattr(
        services.shutil, "disk_usage", lambda p: real_shutil._ntuple_diskusage(total, total - 2**24, 2**24)
    )
    with pytest.raises(ServerStartError, match=r"needs 64 MiB free under .*; 16 MiB are free"):
        with seaweedfs_s3(tmp_path, "key-a", "secret-a"):
            pytest.fail("started")


@pytest.mark.s3
def test_s3_endpoint_is_loopback(s3_server):
    assert s3_server.endpoint_url.startswith(f"http://{LOOPBACK}:")
    assert s3_server.region == "us-east-1"
    # create_bucket is idempotent (session fixtures share the server)
    assert s3_server.create_bucket("idempotent-bucket") == "idempotent-bucket"
    assert s3_server.create_bucket("idempotent-bucket") == "idempotent-bucket"


@pytest.mark.s3
def test_s3_put_get_list_with_boto3(s3_server):
    bucket = _bucket(s3_server, "boto")
    client = _client(s3_server.endpoint_url, s3_server.access_key, s3_server.secret_key)
    client.put_object(Bucket=bucket, Key="drives/d1/a.bin", Body=b"alpha")
    client.put_object(Bucket=bucket, Key="drives/d1/b.bin", Body=b"beta")
    client.put_object(Bucket=bucket, Key="other/c.bin", Body=b"gamma")
    assert client.get_object(Bucket=bucket, Key="drives/d1/a.bin")["Body"].read() == b"alpha"
    listed = client.list_objects_v2(Bucket=bucket, Prefix="drives/")
    assert sorted(o["Key"] for o in listed["Contents"]) == ["drives/d1/a.bin", "drives/d1/b.bin"]
    assert bucket in {b["Name"] for b in client.list_buckets()["Buckets"]}


@pytest.mark.s3
def test_s3_many_buckets_each_take_writes(s3_server):
    """Each bucket is a SeaweedFS collection with its own volumes; a session creates dozens."""
    client = _client(s3_server.endpoint_url, s3_server.access_key, s3_server.secret_key)
    for i in range(40):
        bucket = _bucket(s3_server, f"many{i}")
        client.put_object(Bucket=bucket, Key="k", Body=b"x" * 1000 + bytes([i]))
        assert client.get_object(Bucket=bucket, Key="k")["Body"].read()[-1] == i


@pytest.mark.s3
def test_s3_put_get_list_with_s3fs(s3_server):
    import s3fs

    bucket = _bucket(s3_server, "s3fs")
    fs = s3fs.S3FileSystem(
        key=s3_server.access_key,
        secret=s3_server.secret_key,
        client_kwargs={"endpoint_url": s3_server.endpoint_url},
        skip_instance_cache=True,
    )
    fs.pipe(f"{bucket}/x/one.txt", b"one")
    with fs.open(f"{bucket}/x/two.txt", "wb") as f:
        f.write(b"two" * 1000)
    assert fs.cat(f"{bucket}/x/one.txt") == b"one"
    assert fs.cat(f"{bucket}/x/two.txt") == b"two" * 1000
    assert sorted(fs.ls(f"{bucket}/x", detail=False)) == [f"{bucket}/x/one.txt", f"{bucket}/x/two.txt"]
    # and through the helper's kwargs
    fs2 = s3fs.S3FileSystem(skip_instance_cache=True, **s3_server.s3fs_kwargs())
    assert fs2.cat(f"{bucket}/x/one.txt") == b"one"


@pytest.mark.s3
def test_s3_wrong_secret_and_unknown_key_are_refused(s3_server):
    bucket = _bucket(s3_server, "auth")
    good = _client(s3_server.endpoint_url, s3_server.access_key, s3_server.secret_key)
    good.put_object(Bucket=bucket, Key="k", Body=b"v")

    wrong_secret = _client(s3_server.endpoint_url, s3_server.access_key, "not-the-secret-at-all")
    with pytest.raises(ClientError) as err:
        wrong_secret.get_object(Bucket=bucket, Key="k")
    assert err.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as err:
        wrong_secret.put_object(Bucket=bucket, Key="forged", Body=b"x")
    assert err.value.response["Error"]["Code"] == "SignatureDoesNotMatch"

    unknown_key = _client(s3_server.endpoint_url, "nobody-key", s3_server.secret_key)
    with pytest.raises(ClientError) as err:
        unknown_key.list_objects_v2(Bucket=bucket)
    assert err.value.response["Error"]["Code"] == "InvalidAccessKeyId"

    # anonymous (unsigned) requests are denied too
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as http_err:
        urllib.request.urlopen(f"{s3_server.endpoint_url}/{bucket}/k", timeout=5)
    assert http_err.value.code == 403

    keys = [o["Key"] for o in good.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["k"]


# ---------------------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_postgres_query_with_psycopg2_and_sqlalchemy(postgres_server):
    import psycopg2
    import sqlalchemy as sa

    assert postgres_server.host == LOOPBACK
    with psycopg2.connect(postgres_server.url) as conn, conn.cursor() as cur:
        cur.execute("select current_database(), current_user, inet_server_addr()::text")
        db, user, addr = cur.fetchone()
    conn.close()
    assert (db, user) == (postgres_server.db, postgres_server.user)
    assert addr.startswith("127.0.0.1")

    engine = sa.create_engine(postgres_server.url.replace("postgresql://", "postgresql+psycopg2://"))
    try:
        with engine.begin() as c:
            c.execute(sa.text("create table if not exists t_smoke (id int primary key, name text)"))
            c.execute(sa.text("insert into t_smoke values (1, 'a'), (2, 'b') on conflict do nothing"))
            assert c.execute(sa.text("select count(*) from t_smoke")).scalar_one() == 2
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_refuses_a_wrong_password(postgres_server):
    import psycopg2

    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(
            host=postgres_server.host,
            port=postgres_server.port,
            user=postgres_server.user,
            password="wrong-password",
            dbname=postgres_server.db,
        )


@pytest.mark.postgres
def test_dagster_instance_on_postgres(postgres_server, tmp_path):
    import dagster as dg

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        yaml.safe_dump({"storage": postgres_server.dagster_storage_config(), "telemetry": {"enabled": False}})
    )
    key = f"pg_smoke_{uuid.uuid4().hex[:8]}"

    @dg.asset(name=key)
    def smoke() -> int:
        return 42

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = dg.materialize([smoke], instance=instance)
        assert result.success
        event = instance.get_latest_materialization_event(dg.AssetKey(key))
        assert event is not None
        assert event.run_id == result.run_id
        assert event.asset_materialization.asset_key == dg.AssetKey(key)

    # the event is really in PostgreSQL, not in a local SQLite file
    import psycopg2

    with psycopg2.connect(postgres_server.url) as conn, conn.cursor() as cur:
        cur.execute(
            "select count(*) from event_logs where run_id = %s and dagster_event_type = 'ASSET_MATERIALIZATION'",
            (result.run_id,),
        )
        assert cur.fetchone()[0] == 1
    conn.close()


@pytest.mark.postgres
def test_postgres_start_failure_reports_the_log(tmp_path):
    with pytest.raises(ServerStartError, match="shared_buffers"):
        with postgres_cluster(tmp_path / "bad", settings={"shared_buffers": "bogus"}):
            pass


# -------------------------------------------------------------------------------------------- moto


def test_moto_dynamodb_and_glue(moto_endpoint):
    assert moto_endpoint.endpoint_url.startswith(f"http://{LOOPBACK}:")
    ddb = moto_endpoint.client("dynamodb")
    table = f"t_{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName=table, Item={"id": {"S": "a"}, "v": {"N": "1"}})
    assert ddb.get_item(TableName=table, Key={"id": {"S": "a"}})["Item"]["v"] == {"N": "1"}

    glue = moto_endpoint.client("glue")
    db = f"db_{uuid.uuid4().hex[:8]}"
    glue.create_database(DatabaseInput={"Name": db})
    assert db in {d["Name"] for d in glue.get_databases()["DatabaseList"]}
