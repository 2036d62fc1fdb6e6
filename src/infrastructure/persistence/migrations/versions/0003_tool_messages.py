"""Messages keep tool exchanges and content parts: an assistant's tool calls, a tool result's
call id and function, text and image parts, and the reply's finish reason.

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-01

Existing messages get empty lists, so the history of every session keeps working.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

_EMPTY_LIST = sa.text("'[]'")


def upgrade() -> None:
    with op.batch_alter_table("messages") as table:
        table.add_column(
            sa.Column("tool_calls", sa.JSON(), nullable=False, server_default=_EMPTY_LIST)
        )
        table.add_column(sa.Column("tool_call_id", sa.String(), nullable=True))
        table.add_column(sa.Column("tool_name", sa.String(), nullable=True))
        table.add_column(sa.Column("parts", sa.JSON(), nullable=False, server_default=_EMPTY_LIST))
        table.add_column(sa.Column("finish_reason", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as table:
        for column in ("finish_reason", "parts", "tool_name", "tool_call_id", "tool_calls"):
            table.drop_column(column)
