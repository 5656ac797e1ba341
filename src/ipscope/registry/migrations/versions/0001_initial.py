"""The first registry schema: owners, API keys, works, events (history), log nodes, log key.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table("owners",
                    sa.Column("id", sa.String(32), primary_key=True),
                    sa.Column("name", sa.String(200), nullable=False, unique=True),
                    sa.Column("created", TZ, nullable=False))
    op.create_table("api_keys",
                    sa.Column("id", sa.String(32), primary_key=True),
                    sa.Column("owner_id", sa.String(32), sa.ForeignKey("owners.id"), nullable=False, index=True),
                    sa.Column("secret_sha256", sa.String(64), nullable=False),
                    sa.Column("created", TZ, nullable=False),
                    sa.Column("revoked", TZ, nullable=True))
    op.create_table("works",
                    sa.Column("id", sa.String(32), primary_key=True),
                    sa.Column("owner_id", sa.String(32), sa.ForeignKey("owners.id"), nullable=False, index=True),
                    sa.Column("title", sa.Text, nullable=False),
                    sa.Column("text", sa.Text, nullable=False),
                    sa.Column("meta_json", sa.Text, nullable=False),
                    sa.Column("urls_json", sa.Text, nullable=False),
                    sa.Column("content_sha256", sa.String(64), nullable=False, index=True),
                    sa.Column("iscc", sa.String(80), nullable=False),
                    sa.Column("reservations_json", sa.Text, nullable=False),
                    sa.Column("created", TZ, nullable=False),
                    sa.Column("updated", TZ, nullable=False),
                    sa.Column("deleted", TZ, nullable=True))
    op.create_table("events",
                    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("work_id", sa.String(32), sa.ForeignKey("works.id"), nullable=False, index=True),
                    sa.Column("event", sa.String(20), nullable=False),
                    sa.Column("statement", sa.LargeBinary, nullable=False),
                    sa.Column("signature", sa.LargeBinary, nullable=False),
                    sa.Column("leaf_index", sa.Integer, nullable=False),
                    sa.Column("time", TZ, nullable=False),
                    sa.UniqueConstraint("leaf_index", name="uq_events_leaf_index"))
    op.create_table("log_nodes",
                    sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("hash", sa.LargeBinary, nullable=False))
    op.create_table("log_key",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("skey", sa.Text, nullable=False),
                    sa.Column("vkey", sa.Text, nullable=False))


def downgrade() -> None:
    for name in ("log_key", "log_nodes", "events", "works", "api_keys", "owners"):
        op.drop_table(name)
