"""Session leases and call rollups.

Session leases: the turn lock of a session, held as a row instead of a connection. Call
rollups: running totals of the call records per tenant, provider and kind, kept by a trigger
on ``provider_calls`` in the transaction that stores each call, and built here from the
records already stored.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

See ``locks`` and ``rollups``. The SQL is written out here, not imported: a migration must
keep doing what it did when it was written.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_COUNTS = (
    "calls",
    "failures",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cost",
    "unknown_cost_calls",
)
_SUMMED = (*_COUNTS, "latency_s_sum")
_COLUMNS = "tenant, provider, kind, bucket, " + ", ".join(_SUMMED)
_ADD = ", ".join(f"{c} = call_rollups.{c} + excluded.{c}" for c in _SUMMED)


def _upsert(bucket: str) -> str:
    """The rollup row of the inserted call (``NEW``) grows by that call."""
    return (
        f"INSERT INTO call_rollups ({_COLUMNS}) VALUES (NEW.tenant, NEW.provider, NEW.kind,"  # noqa: S608
        f" {bucket}, 1, CASE WHEN NEW.ok THEN 0 ELSE 1 END, NEW.input_tokens,"
        " NEW.output_tokens, NEW.cached_input_tokens, coalesce(NEW.cost, 0),"
        " CASE WHEN NEW.cost IS NULL THEN 1 ELSE 0 END, NEW.latency_s)"
        f" ON CONFLICT (tenant, provider, kind, bucket) DO UPDATE SET {_ADD}"
    )


def upgrade() -> None:
    op.create_table(
        "session_leases",
        sa.Column("session_id", sa.String(), primary_key=True),
        sa.Column("token", sa.String(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "call_rollups",
        sa.Column("tenant", sa.String(), primary_key=True),
        sa.Column("provider", sa.String(), primary_key=True),
        sa.Column("kind", sa.String(), primary_key=True),
        sa.Column("bucket", sa.Integer(), primary_key=True, autoincrement=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in _COUNTS),
        sa.Column("latency_s_sum", sa.Float(), nullable=False),
    )
    op.execute(
        f"INSERT INTO call_rollups ({_COLUMNS})"  # noqa: S608
        " SELECT tenant, provider, kind, 0, count(*), sum(CASE WHEN ok THEN 0 ELSE 1 END),"
        " sum(input_tokens), sum(output_tokens), sum(cached_input_tokens),"
        " coalesce(sum(cost), 0), count(*) - count(cost), sum(latency_s)"
        " FROM provider_calls GROUP BY tenant, provider, kind"
    )
    # Rows are spread over 16 buckets at random so that concurrent turns of one provider do
    # not all wait on one row's lock until their commits.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION rollup_call() RETURNS trigger AS $$ BEGIN "
            + _upsert("floor(random() * 16)::int")
            + "; RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER provider_calls_rollup AFTER INSERT ON provider_calls "
            "FOR EACH ROW EXECUTE FUNCTION rollup_call()"
        )
    else:
        op.execute(
            "CREATE TRIGGER provider_calls_rollup AFTER INSERT ON provider_calls BEGIN "
            + _upsert("abs(random()) % 16")
            + "; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER provider_calls_rollup ON provider_calls")
        op.execute("DROP FUNCTION rollup_call()")
    else:
        op.execute("DROP TRIGGER provider_calls_rollup")
    op.drop_table("call_rollups")
    op.drop_table("session_leases")
