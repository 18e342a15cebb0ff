"""Migration map: which local object stands for an object imported from another server.

A member who imports an archive gets copies of their old posts; each copy is a new local
object, and the map says which old id it replaces (FEP-1580 style), so that a re-import
copies nothing twice and links to the old id can be followed to the new one.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "migration_map",
        sa.Column("old_uri", sa.Text, primary_key=True),
        sa.Column("new_uri", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("actor_id", sa.BigInteger, sa.ForeignKey("actors.id")),
        sa.Column("imported_at", sa.Text, nullable=False),
    )
    op.create_index("migration_map_new", "migration_map", ["new_uri"])


def downgrade() -> None:
    op.drop_index("migration_map_new", "migration_map")
    op.drop_table("migration_map")
