"""Identity and tenancy: the api_keys table; tenant and key id on every provider call.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Calls recorded before this revision take their session's owner as tenant, or ``default``
when their session is gone (the one tenant there was before keys existed).

``api_keys.spent`` is kept by a trigger on ``provider_calls``: each inserted call's cost is
added to its key in the inserting transaction, with no extra round trip, so a key's spend
is always the sum of its call records and is read with the key on every request.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("prefix", sa.String(), nullable=False),
        sa.Column("secret_hash", sa.String(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=True),
        sa.Column("revoked_at", Timestamp, nullable=True),
        sa.Column("rate_limit_rpm", sa.Integer(), nullable=True),
        sa.Column("token_limit_tpm", sa.Integer(), nullable=True),
        sa.Column("budget", sa.BigInteger(), nullable=True),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("secret_hash", name="uq_api_keys_secret_hash"),
    )
    with op.batch_alter_table("provider_calls") as batch:
        batch.add_column(sa.Column("tenant", sa.String(), nullable=False, server_default="default"))
        batch.add_column(sa.Column("key_id", sa.String(), nullable=True))
    op.execute(
        "UPDATE provider_calls SET tenant = "
        "(SELECT owner FROM sessions WHERE sessions.id = provider_calls.session_id) "
        "WHERE session_id IS NOT NULL"
    )
    with op.batch_alter_table("provider_calls") as batch:
        batch.alter_column("tenant", server_default=None)
    op.create_index("ix_provider_calls_tenant", "provider_calls", ["tenant"])
    op.create_index("ix_provider_calls_key_id", "provider_calls", ["key_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION charge_api_key() RETURNS trigger AS $$ BEGIN "
            "UPDATE api_keys SET spent = spent + NEW.cost WHERE id = NEW.key_id; "
            "RETURN NULL; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER provider_calls_charge_key AFTER INSERT ON provider_calls "
            "FOR EACH ROW WHEN (NEW.key_id IS NOT NULL AND NEW.cost IS NOT NULL) "
            "EXECUTE FUNCTION charge_api_key()"
        )
    else:
        op.execute(
            "CREATE TRIGGER provider_calls_charge_key AFTER INSERT ON provider_calls "
            "WHEN NEW.key_id IS NOT NULL AND NEW.cost IS NOT NULL "
            "BEGIN UPDATE api_keys SET spent = spent + NEW.cost WHERE id = NEW.key_id; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER provider_calls_charge_key ON provider_calls")
        op.execute("DROP FUNCTION charge_api_key()")
    else:
        op.execute("DROP TRIGGER provider_calls_charge_key")
    op.drop_index("ix_provider_calls_key_id", "provider_calls")
    op.drop_index("ix_provider_calls_tenant", "provider_calls")
    with op.batch_alter_table("provider_calls") as batch:
        batch.drop_column("key_id")
        batch.drop_column("tenant")
    op.drop_table("api_keys")
