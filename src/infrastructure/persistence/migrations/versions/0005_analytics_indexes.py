"""Indexes for the dashboard's reads: calls by time, per-session call totals, sessions by
last activity.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

``ix_provider_calls_created_at`` bounds every period of the overview and time series;
``ix_provider_calls_session_totals`` covers the per-session sums (tokens, cost) and the
provider filter of the sessions table, so they are read from the index alone;
``ix_sessions_owner_updated_at`` orders a tenant's sessions by last activity.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_provider_calls_created_at", "provider_calls", ["created_at"])
    op.create_index(
        "ix_provider_calls_session_totals",
        "provider_calls",
        ["session_id", "provider", "input_tokens", "output_tokens", "cost"],
    )
    op.create_index("ix_sessions_owner_updated_at", "sessions", ["owner", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_sessions_owner_updated_at", table_name="sessions")
    op.drop_index("ix_provider_calls_session_totals", table_name="provider_calls")
    op.drop_index("ix_provider_calls_created_at", table_name="provider_calls")
