"""Freshness by the kind of asset (av_assets/platform/freshness.py), and its application at the root."""

from datetime import timedelta

import dagster as dg
import pytest

from av_assets.platform.freshness import KINDS, freshness_kind, freshness_policy_for

DRIVES = dg.DynamicPartitionsDefinition(name="drives")


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        (dg.AssetSpec(["silver", "x"], partitions_def=DRIVES), "per_drive"),
        (dg.AssetSpec(["gold", "x"], automation_condition=dg.AutomationCondition.eager()), "per_drive"),
        (
            dg.AssetSpec(["ops", "x"], automation_condition=dg.AutomationCondition.on_cron("0 3 * * *")),
            "daily",
        ),
        (
            dg.AssetSpec(
                ["silver", "w"],
                automation_condition=dg.AutomationCondition.on_cron("0 4 * * *")
                & dg.AutomationCondition.all_deps_blocking_checks_passed(),
            ),
            "daily",
        ),
        (dg.AssetSpec(["ml", "m"], partitions_def=dg.DynamicPartitionsDefinition(name="queries")), "event"),
        (dg.AssetSpec(["ops", "p"], partitions_def=DRIVES, tags={"av/freshness": "none"}), "none"),
        (dg.AssetSpec(["deploy", "x"]), "unknown"),
    ],
)
def test_kind_from_spec_and_explicit_tag_wins(spec, kind):
    assert freshness_kind(spec) == kind
    assert (freshness_policy_for(spec) is not None) == (kind in ("per_drive", "daily"))


def test_windows_and_bad_tag():
    bronze = freshness_policy_for(dg.AssetSpec(["bronze", "x"], partitions_def=DRIVES))
    assert bronze.fail_window.to_timedelta() == timedelta(hours=26)
    deploy = freshness_policy_for(dg.AssetSpec(["deploy", "x"], partitions_def=DRIVES))
    assert deploy.fail_window.to_timedelta() == timedelta(hours=28)
    with pytest.raises(ValueError, match="av/freshness"):
        freshness_kind(dg.AssetSpec(["ops", "x"], tags={"av/freshness": "weekly"}))


def test_root_applies_freshness_by_kind():
    from av_assets.definitions import defs as root

    specs = root().resolve_all_asset_specs()
    for spec in specs:
        name, kind = spec.key.to_user_string(), freshness_kind(spec)
        assert kind in KINDS, f"{name}: freshness kind unknown (tag it av/freshness)"
        if "av/policy" in spec.tags:
            assert spec.freshness_policy is None, f"{name}: a policy changes on demand, never stale"
        if kind == "per_drive":
            assert spec.freshness_policy is not None, name
    kinds = {
        freshness_kind(s) for s in specs if s.partitions_def is not None and s.partitions_def.name == "drives"
    }
    assert kinds == {"per_drive"}
