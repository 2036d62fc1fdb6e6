"""Session leases: the turn lock of a session, held as a row instead of a connection.

Revision ID: 0004
Revises: 0001
Create Date: 2026-12-01

See ``locks``: a row per held session with the holder's token and its expiry.
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


def downgrade() -> None:
    op.drop_table("session_leases")
