"""Asset checks evaluated in the step that materializes their asset.

A separate ``@asset_check`` is a step of its own: with the multiprocess executor a
process, an instance to open and events to write, ~0.5 s before its one query, and
the job's checks were most of its steps (11 of eBird's 15). A check declared as a
``check_spec`` of its asset and evaluated right after the asset's work costs only
its query. Blocking specs still stop everything downstream when they fail (Dagster
fails the step after recording the materialization and the failed check).

Checks whose asset is built elsewhere (the dlt assets: raw_ebird/*) are grouped in one
``multi_asset_check`` step instead of one step each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import dagster as dg

from orchestration.resources import WarehouseResource


@dataclass(frozen=True)
class InlineCheck:
    """A check's spec (asset, name, blocking, description) and what evaluates it."""

    spec: dg.AssetCheckSpec
    evaluate: Callable[[WarehouseResource], dg.AssetCheckResult]

    @property
    def key(self) -> dg.AssetCheckKey:
        return self.spec.key


def check_specs(checks: Iterable[InlineCheck]) -> list[dg.AssetCheckSpec]:
    return [c.spec for c in checks]


def evaluate_checks(
    context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext,
    checks: Iterable[InlineCheck],
    warehouse: WarehouseResource,
) -> Iterator[dg.AssetCheckResult]:
    """The results of the checks the run selected, each named by its spec."""
    selected = context.selected_asset_check_keys
    for check in checks:
        if check.key not in selected:
            continue
        result = check.evaluate(warehouse)
        yield dg.AssetCheckResult(
            asset_key=check.spec.asset_key,
            check_name=check.spec.name,
            passed=result.passed,
            severity=result.severity,
            description=result.description,
            metadata=result.metadata,
        )
