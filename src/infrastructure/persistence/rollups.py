"""Running totals of the call records, kept with each turn's write, for ``/api/metrics``.

Summing a million call records on every request took seconds and slowed the turns beside it.
Each call record added also adds itself to one row of ``call_rollups`` (provider, kind and a
bucket), in the same transaction, so the global totals are a read of a few dozen rows and can
never disagree with the records. The bucket is drawn at random from ``BUCKETS`` so that
concurrent turns of one provider do not all queue on one row's lock until their commits.
Per-session totals still sum that session's records, on the ``session_id`` index.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa

from src.domain.entities import CallKind, CallRecord, CallTotals
from src.infrastructure.persistence.tables import CALL_ROLLUPS

BUCKETS = 16

_SUMMED = (
    "calls",
    "failures",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cost",
    "unknown_cost_calls",
    "latency_s_sum",
)

# Plain SQL: INSERT ... ON CONFLICT DO UPDATE is spelled the same on SQLite and PostgreSQL.
# Only this module's constant column names are interpolated; every value is a bound parameter.
ADD_TO_ROLLUP = sa.text(
    f"INSERT INTO call_rollups (provider, kind, bucket, {', '.join(_SUMMED)})"  # noqa: S608
    f" VALUES (:provider, :kind, :bucket, {', '.join(':' + c for c in _SUMMED)})"
    " ON CONFLICT (provider, kind, bucket) DO UPDATE SET "
    + ", ".join(f"{c} = call_rollups.{c} + excluded.{c}" for c in _SUMMED)
)


def rollup_params(record: CallRecord, cost_picodollars: int | None) -> dict[str, Any]:
    usage = record.usage
    return {
        "provider": record.provider,
        "kind": record.kind,
        "bucket": random.randrange(BUCKETS),  # noqa: S311 - spreads row locks, not a secret
        "calls": 1,
        "failures": 0 if record.ok else 1,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cached_input_tokens": usage.cached_input_tokens,
        "cost": cost_picodollars or 0,
        "unknown_cost_calls": 1 if cost_picodollars is None else 0,
        "latency_s_sum": record.latency_s,
    }


_rollup = CALL_ROLLUPS.c
TOTALS = (
    sa.select(_rollup.provider, _rollup.kind, *(sa.func.sum(_rollup[c]) for c in _SUMMED))
    .group_by(_rollup.provider, _rollup.kind)
    .order_by(_rollup.provider, _rollup.kind)
)


def totals_of(rows: Any, from_picodollars: Any) -> list[CallTotals]:
    """``TOTALS`` rows as the domain's sums."""
    return [
        CallTotals(
            provider=provider,
            kind=cast(CallKind, kind),
            calls=int(calls),
            failures=int(failures),
            input_tokens=int(input_tokens),
            output_tokens=int(output_tokens),
            cached_input_tokens=int(cached),
            cost=from_picodollars(cost) or Decimal(0),
            calls_with_unknown_cost=int(unknown),
            latency_s_sum=float(latency),
        )
        for (
            provider,
            kind,
            calls,
            failures,
            input_tokens,
            output_tokens,
            cached,
            cost,
            unknown,
            latency,
        ) in rows
    ]
