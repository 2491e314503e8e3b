"""Versioned policy assets: one factory for every policy a domain publishes (trigger thresholds,
construction zones, named mining queries, platform profiles ...).

A policy is a small document. The effective one is the lake's override `ops/policies/<name>.<ext>`
when operations have published one, else the repository default. The domain supplies a plain
`parse` function (validate, return the canonical document; raise `ValueError` when invalid); the
factory does the rest the same way for every policy:

- version = sha256 of the canonical document's JSON (`sha256_json`), the asset's `DataVersion` and
  `av/content_sha256`; the document's own `version` string (when it declares one) is recorded beside;
- the canonical copy is written to `<key path>/current.json` and `<key path>/<label>.json`;
- a materialisation happens only for a NEW version: re-materialising an unchanged policy records
  nothing, so dependents automated on `newly_updated` (eager, hourly-over-changes) re-run only when
  the policy really changed;
- `policy_versions_sensor` hashes every policy's source each minute and requests a materialisation
  when it differs from the last materialised version, so a published override needs no manual step.

Decision: docs/decisions.md (versioned policy assets).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from av_assets.platform.freshness import FRESHNESS_TAG
from av_assets.platform.lineage import lineage_result, sha256_bytes, sha256_json
from av_resources.lake import LakeStorage

POLICY_TAG = "av/policy"
DATA_VERSION_TAG = "dagster/data_version"
SENSOR_NAME = "policy_versions_sensor"


class PolicyError(ValueError):
    """An invalid policy document: names the policy, where it came from and what is wrong."""


@dataclass(frozen=True)
class LoadedPolicy:
    doc: Any  # the canonical document
    sha256: str  # data version
    declared_version: str | None
    source: str  # lake uri of the override, or "repo:<file>" / "code default"

    @property
    def label(self) -> str:
        """`<declared version>-<sha[:12]>` (or the sha prefix alone): the versioned copy's name."""
        return f"{self.declared_version}-{self.sha256[:12]}" if self.declared_version else self.sha256[:12]


def _declared_version(doc: Any) -> str | None:
    v = doc.get("version") if isinstance(doc, Mapping) else None
    return str(v) if v not in (None, "") else None


def _decode(data: bytes, ext: str) -> Any:
    if ext in ("yaml", "yml"):
        import yaml

        return yaml.safe_load(data.decode())
    return json.loads(data)


@dataclass(frozen=True)
class PolicySpec:
    """What a domain declares about one policy; `load` is the plain logic the asset and sensor share."""

    key: dg.AssetKey
    name: str  # file stem of the lake override: ops/policies/<name>.<ext>
    ext: str  # json | geojson | yaml
    default: Path | Callable[[], Any]  # repository file, or a function returning the default document
    parse: Callable[[Any], Any]  # validate (raise ValueError) and return the canonical document
    declared_version: Callable[[Any], str | None] = _declared_version
    summary: Callable[[Any], Mapping[str, Any]] | None = None  # domain metadata of a version

    @property
    def override_rel(self) -> str:
        return f"ops/policies/{self.name}.{self.ext}"

    @property
    def folder(self) -> str:
        return "/".join(self.key.path)

    @property
    def current_rel(self) -> str:
        return f"{self.folder}/current.json"

    def raw(self, lake: Any | None) -> tuple[Any, str]:
        """(document as written, where it came from): the lake override, else the default."""
        if lake is not None and lake.exists(self.override_rel):
            data = lake.read_bytes(self.override_rel)
            try:
                return _decode(data, self.ext), lake.uri(self.override_rel)
            except Exception as exc:  # unreadable YAML/JSON is an invalid policy, said so
                raise PolicyError(
                    f"policy {self.key.to_user_string()}: {lake.uri(self.override_rel)} is not valid "
                    f"{self.ext}: {exc}"
                ) from exc
        if isinstance(self.default, Path):
            return _decode(self.default.read_bytes(), self.ext), f"repo:{self.default.name}"
        return self.default(), "code default"

    def load(self, lake: Any | None) -> LoadedPolicy:
        doc, source = self.raw(lake)
        try:
            canonical = self.parse(doc)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise PolicyError(f"policy {self.key.to_user_string()} from {source} is invalid: {exc}") from exc
        return LoadedPolicy(canonical, sha256_json(canonical), self.declared_version(canonical), source)


_REGISTRY: dict[dg.AssetKey, PolicySpec] = {}


def registered_policies() -> dict[dg.AssetKey, PolicySpec]:
    """Every policy a factory call declared in this process (the root builds the sensor from these)."""
    return dict(_REGISTRY)


def latest_data_version(instance: dg.DagsterInstance, key: dg.AssetKey) -> str | None:
    """The data version of the asset's latest materialisation (None before the first)."""
    event = instance.get_latest_materialization_event(key)
    mat = event.asset_materialization if event else None
    return mat.tags.get(DATA_VERSION_TAG) if mat is not None and mat.tags else None


def versioned_policy_asset(
    *,
    key: Sequence[str],
    name: str,
    ext: str,
    default: Path | Callable[[], Any],
    parse: Callable[[Any], Any],
    description: str,
    group_name: str,
    owners: Sequence[str],
    kinds: set[str] | None = None,
    code_version: str = "1",
    declared_version: Callable[[Any], str | None] = _declared_version,
    summary: Callable[[Any], Mapping[str, Any]] | None = None,
    config_cls: type[dg.Config] | None = None,
    apply_config: Callable[[Any, Any], Any | None] | None = None,
) -> dg.AssetsDefinition:
    """A materialisable policy asset (see the module docstring).

    `apply_config(doc, config)` (with `config_cls`) may return a changed document: it is published as
    the lake override first, so the sensor and every reader see the same policy afterwards.
    """
    spec = PolicySpec(
        key=dg.AssetKey(list(key)),
        name=name,
        ext=ext,
        default=default,
        parse=parse,
        declared_version=declared_version,
        summary=summary,
    )
    _REGISTRY[spec.key] = spec

    def body(context: dg.AssetExecutionContext, lake, config=None):
        if config is not None and apply_config is not None:
            doc, _ = spec.raw(lake)
            changed = apply_config(spec.parse(doc), config)
            if changed is not None:
                spec.parse(changed)  # validate before publishing
                data = json.dumps(changed, indent=2, sort_keys=True).encode()
                if ext in ("yaml", "yml"):
                    import yaml

                    data = yaml.safe_dump(changed, sort_keys=True).encode()
                lake.write_bytes(spec.override_rel, data)
        try:
            policy = spec.load(lake)
        except PolicyError as exc:
            raise dg.Failure(str(exc)) from exc
        versioned = f"{spec.folder}/{policy.label}.json"
        if latest_data_version(context.instance, spec.key) == policy.sha256 and lake.exists(versioned):
            context.log.info(
                f"{spec.key.to_user_string()}: version {policy.label} from {policy.source} is already "
                "the materialised one; nothing recorded (dependents are not re-triggered)"
            )
            return
        lake.write_json(versioned, policy.doc)
        uri = lake.write_json(spec.current_rel, policy.doc)
        yield lineage_result(
            drive_ids=[],
            content_sha256=policy.sha256,
            uri=uri,
            metadata={
                "av/policy_version": policy.declared_version or "",
                "av/policy_sha256": policy.sha256,
                "av/policy_label": policy.label,
                "av/source": policy.source,
                "av/versioned_uri": lake.uri(versioned),
                **(summary(policy.doc) if summary else {}),
            },
        )

    if config_cls is not None:

        def fn(context: dg.AssetExecutionContext, config, lake):
            yield from body(context, lake, config)

        fn.__annotations__["config"] = config_cls
    else:

        def fn(context: dg.AssetExecutionContext, lake):
            yield from body(context, lake)

    fn.__annotations__["lake"] = LakeStorage
    fn.__annotations__["context"] = dg.AssetExecutionContext
    fn.__name__ = "__".join(key)
    return dg.asset(
        key=list(key),
        group_name=group_name,
        kinds=set(kinds or {ext}),
        owners=list(owners),
        code_version=code_version,
        tags={POLICY_TAG: name, FRESHNESS_TAG: "event"},
        output_required=False,
        automation_condition=dg.AutomationCondition.on_missing(),
        description=description,
    )(fn)


def stale_policies(
    current: Mapping[dg.AssetKey, str], materialized: Mapping[dg.AssetKey, str | None]
) -> list:
    """Policies whose source now hashes differently from their last materialised version. Never-
    materialised ones are left to their `on_missing()` condition."""
    return sorted(
        (k for k, sha in current.items() if materialized.get(k) is not None and materialized[k] != sha),
        key=lambda k: k.to_user_string(),
    )


def policy_versions_sensor(specs: Mapping[dg.AssetKey, PolicySpec] | None = None) -> dg.SensorDefinition:
    """One sensor over every policy: requests a materialisation of each policy whose source changed.
    An invalid source is requested once per distinct content too, so its clear failure shows on the
    asset. Run keys name the content and the last materialisation, so a revert to an earlier version
    is requested again."""
    specs = dict(registered_policies() if specs is None else specs)

    @dg.sensor(
        name=SENSOR_NAME,
        target=dg.AssetSelection.assets(*specs),
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Materialises a policy asset (ops/*) when its lake override or default changed "
        "since its last materialised version, so what depends on it re-runs.",
    )
    def _sensor(context: dg.SensorEvaluationContext, lake: LakeStorage) -> dg.SensorResult:
        current: dict[dg.AssetKey, str] = {}
        invalid: dict[dg.AssetKey, str] = {}
        for key, spec in specs.items():
            try:
                current[key] = spec.load(lake).sha256
            except PolicyError as exc:
                context.log.warning(str(exc))
                raw = lake.read_bytes(spec.override_rel) if lake.exists(spec.override_rel) else b""
                invalid[key] = "invalid-" + sha256_bytes(raw)
        stamps = {k: context.instance.get_latest_materialization_event(k) for k in specs}
        materialized = {k: latest_data_version(context.instance, k) for k in specs}
        todo = stale_policies({**current, **invalid}, materialized)
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    asset_selection=[k],
                    run_key=f"{k.to_user_string()}@{({**current, **invalid})[k][:20]}"
                    f"@after-{int(stamps[k].timestamp * 1000) if stamps[k] else 0}",
                    tags={POLICY_TAG: specs[k].name},
                )
                for k in todo
            ]
        )

    return _sensor
