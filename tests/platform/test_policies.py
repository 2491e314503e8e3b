"""The versioned-policy factory: versions are content hashes, invalid policies fail clearly, and a new
version (only a new one) re-triggers what depends on it."""

import datetime as dt
import json

import dagster as dg
import pytest

from av_assets.platform.policies import (
    PolicyError,
    policy_versions_sensor,
    registered_policies,
    stale_policies,
    versioned_policy_asset,
)
from av_resources.lake import LakeStorage

KEY = dg.AssetKey(["ops", "test_thresholds"])


def _parse(doc):
    if not isinstance(doc, dict) or not isinstance(doc.get("limit"), (int, float)):
        raise ValueError("`limit` (a number) is required")
    return {"version": str(doc.get("version", "t-v1")), "limit": float(doc["limit"])}


policy = versioned_policy_asset(
    key=KEY.path,
    name="test_thresholds",
    ext="yaml",
    default=lambda: {"version": "t-v1", "limit": 1.0},
    parse=_parse,
    summary=lambda doc: {"av/limit": doc["limit"]},
    description="test policy",
    group_name="test",
    owners=["team:test"],
)
SPEC = registered_policies()[KEY]


@dg.asset(
    key=["silver", "test_dependent"],
    deps=[KEY],
    partitions_def=dg.DynamicPartitionsDefinition(name="drives"),
    automation_condition=dg.AutomationCondition.eager(),  # as silver/road_context
)
def dependent(context):
    return None


def _hourly():
    from av_assets.scenes.assets import HOURLY_OVER_NEW_CLIPS  # as silver/event_detections

    @dg.asset(
        key=["silver", "test_hourly"],
        deps=[KEY],
        partitions_def=dg.DynamicPartitionsDefinition(name="drives"),
        automation_condition=HOURLY_OVER_NEW_CLIPS,
    )
    def hourly(context):
        return None

    return hourly


@pytest.fixture
def lake(tmp_path):
    return LakeStorage(root=str(tmp_path / "lake"))


def test_same_content_same_version_changed_content_new_version(lake):
    a = SPEC.load(lake)
    assert a.source == "code default" and a.declared_version == "t-v1" and a == SPEC.load(lake)
    lake.write_bytes(SPEC.override_rel, b"version: t-v1\nlimit: 1\n")  # same canonical content
    same = SPEC.load(lake)
    assert same.sha256 == a.sha256 and same.source.endswith("ops/policies/test_thresholds.yaml")
    lake.write_bytes(SPEC.override_rel, b"version: t-v2\nlimit: 2.5\n")
    b = SPEC.load(lake)
    assert b.sha256 != a.sha256 and b.label.startswith("t-v2-") and b.doc["limit"] == 2.5


def test_invalid_policy_is_a_clear_error(lake):
    lake.write_bytes(SPEC.override_rel, b"version: t-v3\nlimit: lots\n")
    with pytest.raises(
        PolicyError, match=r"ops/test_thresholds from .*test_thresholds.yaml is invalid: `limit`"
    ):
        SPEC.load(lake)
    lake.write_bytes(SPEC.override_rel, b"version: [unclosed\n")
    with pytest.raises(PolicyError, match="is not valid yaml"):
        SPEC.load(lake)
    res = dg.materialize([policy], resources={"lake": lake}, raise_on_error=False)
    assert not res.success


def test_materialises_only_a_new_version(lake):
    instance = dg.DagsterInstance.ephemeral()
    res = dg.materialize([policy], resources={"lake": lake}, instance=instance)
    (mat,) = res.asset_materializations_for_node("ops__test_thresholds")
    sha = SPEC.load(lake).sha256
    assert mat.metadata["av/content_sha256"].value == sha and mat.metadata["av/limit"].value == 1.0
    assert mat.tags["dagster/data_version"] == sha and mat.metadata["av/drive_ids"].value == []
    assert json.loads(lake.read_bytes(SPEC.current_rel)) == SPEC.load(lake).doc
    again = dg.materialize([policy], resources={"lake": lake}, instance=instance)
    assert again.success and again.asset_materializations_for_node("ops__test_thresholds") == []


def _materialize_policy(lake, instance):
    return dg.materialize([policy], resources={"lake": lake}, instance=instance)


@pytest.mark.parametrize("which", ["eager", "hourly"])
def test_new_policy_version_retriggers_dependents(lake, which):
    target = dependent if which == "eager" else _hourly()
    defs = dg.Definitions(assets=[policy, target], resources={"lake": lake})
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("drives", ["d1"])
    _materialize_policy(lake, instance)
    dg.materialize(
        [policy, target],
        selection=[target.key],
        partition_key="d1",
        instance=instance,
        resources={"lake": lake},
    )
    now = dt.datetime.now(dt.UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=now)
    cursor = result.cursor

    def tick(minutes_after_next_hour):
        t = hour + dt.timedelta(hours=1, minutes=minutes_after_next_hour)
        return dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=cursor, evaluation_time=t
        )

    # re-materialising an unchanged policy records nothing: the dependent is not requested
    _materialize_policy(lake, instance)
    result = tick(1)  # an hourly tick has passed, nothing changed
    cursor = result.cursor
    assert result.get_requested_partitions(target.key) == set()
    # a new version in the lake override: the policy materialises it, the dependent is requested
    lake.write_bytes(SPEC.override_rel, b"version: t-v2\nlimit: 4\n")
    _materialize_policy(lake, instance)
    result = tick(10)
    assert result.get_requested_partitions(target.key) == {"d1"}


def test_sensor_requests_a_changed_policy_once(lake):
    instance = dg.DagsterInstance.ephemeral()
    sensor = policy_versions_sensor({KEY: SPEC})
    ctx = dg.build_sensor_context(instance=instance, resources={"lake": lake})
    assert sensor(ctx).run_requests == []  # never materialised: on_missing() does it
    _materialize_policy(lake, instance)
    assert sensor(ctx).run_requests == []
    lake.write_bytes(SPEC.override_rel, b"version: t-v2\nlimit: 4\n")
    (req,) = sensor(ctx).run_requests
    assert req.asset_selection == [KEY] and SPEC.load(lake).sha256[:20] in req.run_key
    assert stale_policies({KEY: "b"}, {KEY: "a"}) == [KEY] and stale_policies({KEY: "a"}, {KEY: None}) == []


def test_real_policy_assets_come_from_the_factory():
    from av_assets.definitions import defs as root

    d = root()
    policies = {k.to_user_string() for k in registered_policies()} & {
        s.key.to_user_string() for s in d.resolve_all_asset_specs()
    }
    assert {"ops/trigger_policy", "ops/construction_zones", "ops/mining_queries"} <= policies
    specs = {s.key.to_user_string(): s for s in d.resolve_all_asset_specs()}
    for name in policies:
        assert specs[name].tags["av/freshness"] == "event" and specs[name].freshness_policy is None
    # the trigger policy's data version keeps its meaning: TriggerPolicy.sha256 of the default
    from av_assets.scenes.policy import DEFAULT_POLICY

    assert (
        registered_policies()[dg.AssetKey(["ops", "trigger_policy"])].load(None).sha256
        == DEFAULT_POLICY.sha256
    )
