"""Freshness by the kind of asset, not by its key prefix.

- `per_drive`: partitioned by the `drives` dynamic partition, or a cross-drive table kept current
  from them (unpartitioned, automated on its inputs without a cron). A day with no drive makes them
  stale: a fleet-health warning, not a pipeline bug. Windows grow a little along the pipeline.
- `daily`: automated on a cron (`on_cron`, `cron_tick_passed`): stale when a scheduled run is missed.
- `event`: changes only when someone publishes something (policies, mined scenarios on demand): no
  freshness policy, a quiet week is normal.
- `none`: explicitly no freshness policy.

The tag `av/freshness` (= one of these) wins over the rules; the policy factory sets `event`.
`unknown` means no rule applied: the root leaves such an asset without a policy and a test fails.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

FRESHNESS_TAG = "av/freshness"
KINDS = ("per_drive", "daily", "event", "none")
DRIVES_PARTITION = "drives"

# per-drive windows by layer (roughly the old per-layer table): later layers run after earlier ones
_PER_DRIVE = {
    "bronze": (timedelta(hours=26), timedelta(hours=14)),
    "silver": (timedelta(hours=27), timedelta(hours=15)),
    "catalog": (timedelta(hours=27), timedelta(hours=15)),
    "gold": (timedelta(hours=28), timedelta(hours=16)),
    "ml": (timedelta(days=8), timedelta(days=7)),
}
_PER_DRIVE_DEFAULT = (timedelta(hours=28), timedelta(hours=16))
_DAILY = (timedelta(hours=26), timedelta(hours=25))


def _conditions(condition: dg.AutomationCondition | None):
    stack = [condition] if condition is not None else []
    while stack:
        node = stack.pop()
        yield node
        stack.extend(getattr(node, "children", None) or [])
        operand = getattr(node, "operand", None)  # since/newly_true wrappers keep theirs here
        if isinstance(operand, dg.AutomationCondition):
            stack.append(operand)


def cron_schedules(condition: dg.AutomationCondition | None) -> list[str]:
    """The cron schedules a condition's tree ticks on."""
    return [n.cron_schedule for n in _conditions(condition) if getattr(n, "cron_schedule", None)]


def freshness_kind(spec: dg.AssetSpec) -> str:
    tagged = (spec.tags or {}).get(FRESHNESS_TAG)
    if tagged:
        if tagged not in KINDS:
            raise ValueError(
                f"{spec.key.to_user_string()}: {FRESHNESS_TAG}={tagged!r}, expected one of {KINDS}"
            )
        return tagged
    pd = spec.partitions_def
    if isinstance(pd, dg.DynamicPartitionsDefinition) and pd.name == DRIVES_PARTITION:
        return "per_drive"
    if pd is not None and isinstance(pd, dg.DynamicPartitionsDefinition):
        return "event"  # partitions added on demand (named queries ...)
    if pd is None and spec.automation_condition is not None:
        return "daily" if cron_schedules(spec.automation_condition) else "per_drive"
    return "unknown"


def freshness_policy_for(spec: dg.AssetSpec) -> dg.FreshnessPolicy | None:
    kind = freshness_kind(spec)
    if kind == "per_drive":
        fail, warn = _PER_DRIVE.get(spec.key.path[0], _PER_DRIVE_DEFAULT)
    elif kind == "daily":
        fail, warn = _DAILY
    else:
        return None
    return dg.FreshnessPolicy.time_window(fail_window=fail, warn_window=warn)


def with_kind_freshness(spec: dg.AssetSpec) -> dg.AssetSpec:
    """For `map_resolved_asset_specs` at the root: an asset's own policy is kept."""
    policy = freshness_policy_for(spec)
    if policy is None:
        return spec
    return dg.apply_freshness_policy(spec, policy, overwrite_existing=False)
