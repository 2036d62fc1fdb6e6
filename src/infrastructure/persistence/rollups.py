"""Running totals of the call records, for ``/api/metrics``.

Summing a million call records on every request took seconds and slowed the turns beside it.
Each call record stored also adds itself to one row of ``call_rollups`` (tenant, provider,
kind and a bucket): a trigger on ``provider_calls`` does it in the transaction that stores the
call (migration 0004), so whichever driver writes a call, the global totals are a read of a
few dozen rows and can never disagree with the records. Per-session totals still sum that
session's records, on the ``session_id`` index.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa

from src.domain.entities import CallKind, CallTotals
from src.infrastructure.persistence.tables import CALL_ROLLUPS

_rollup = CALL_ROLLUPS.c
_TOTALS = (
    sa.select(
        _rollup.provider,
        _rollup.kind,
        sa.func.sum(_rollup.calls).label("calls"),
        sa.func.sum(_rollup.failures).label("failures"),
        sa.func.sum(_rollup.input_tokens).label("input_tokens"),
        sa.func.sum(_rollup.output_tokens).label("output_tokens"),
        sa.func.sum(_rollup.cached_input_tokens).label("cached_input_tokens"),
        sa.func.sum(_rollup.cost).label("cost"),
        sa.func.sum(_rollup.unknown_cost_calls).label("calls_with_unknown_cost"),
        sa.func.sum(_rollup.latency_s_sum).label("latency_s_sum"),
    )
    .group_by(_rollup.provider, _rollup.kind)
    .order_by(_rollup.provider, _rollup.kind)
)
# Of every tenant, or of the tenant bound as ``tenant``.
TOTALS = {False: _TOTALS, True: _TOTALS.where(_rollup.tenant == sa.bindparam("tenant"))}


def totals_of(
    rows: Sequence[Mapping[str, Any]], from_picodollars: Callable[[Any], Decimal | None]
) -> list[CallTotals]:
    """Rows of the totals (labelled as ``TOTALS``'s) as the domain's sums."""
    return [
        CallTotals(
            provider=row["provider"],
            kind=cast(CallKind, row["kind"]),
            calls=int(row["calls"]),
            failures=int(row["failures"]),
            input_tokens=int(row["input_tokens"]),
            output_tokens=int(row["output_tokens"]),
            cached_input_tokens=int(row["cached_input_tokens"]),
            cost=from_picodollars(row["cost"]) or Decimal(0),
            calls_with_unknown_cost=int(row["calls_with_unknown_cost"]),
            latency_s_sum=float(row["latency_s_sum"]),
        )
        for row in rows
    ]
