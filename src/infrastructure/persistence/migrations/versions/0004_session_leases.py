"""Session leases and call rollups.

Session leases: the turn lock of a session, held as a row instead of a connection. Call
rollups: running totals of the call records, built from the records already stored.

Revision ID: 0004
Revises: 0001
Create Date: 2026-12-01

See ``locks`` and ``rollups``. The backfill's SQL is written out here, not imported: a
migration must keep doing what it did when it was written.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_leases",
        sa.Column("session_id", sa.String(), primary_key=True),
        sa.Column("token", sa.String(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "call_rollups",
        sa.Column("provider", sa.String(), primary_key=True),
        sa.Column("kind", sa.String(), primary_key=True),
        sa.Column("bucket", sa.Integer(), primary_key=True, autoincrement=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in _COUNTS),
        sa.Column("latency_s_sum", sa.Float(), nullable=False),
    )
    op.execute(
        "INSERT INTO call_rollups (provider, kind, bucket, calls, failures, input_tokens,"
        " output_tokens, cached_input_tokens, cost, unknown_cost_calls, latency_s_sum)"
        " SELECT provider, kind, 0, count(*), sum(CASE WHEN ok THEN 0 ELSE 1 END),"
        " sum(input_tokens), sum(output_tokens), sum(cached_input_tokens),"
        " coalesce(sum(cost), 0), count(*) - count(cost), sum(latency_s)"
        " FROM provider_calls GROUP BY provider, kind"
    )


_COUNTS = (
    "calls",
    "failures",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cost",
    "unknown_cost_calls",
)


def downgrade() -> None:
    op.drop_table("call_rollups")
    op.drop_table("session_leases")
