"""Governance: Ed25519 keys on actors, applications and invites, proposals, roster snapshots,
ballots.

Each actor gets an Ed25519 key beside its RSA one: HTTP signatures stay RSA (what Mastodon
verifies), object integrity proofs (FEP-8b32, eddsa-jcs-2022) on ballots and roster snapshots
use Ed25519, so a ballot can be checked long after it was delivered, by anyone.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger
TEXT = sa.Text
INT = sa.Integer


def upgrade() -> None:
    op.add_column("actors", sa.Column("ed25519_private_key", TEXT))
    op.add_column("actors", sa.Column("ed25519_public_key", TEXT))
    op.create_table(
        "applications",
        sa.Column("id", ID, primary_key=True, autoincrement=False),
        sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("motivation", TEXT, nullable=False, server_default=""),
        sa.Column("state", TEXT, nullable=False),
        sa.Column("decided_by", ID, sa.ForeignKey("accounts.id")),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("decided_at", TEXT),
    )
    op.create_index("applications_state", "applications", ["state", "id"])
    op.create_table(
        "invites",
        sa.Column("code", TEXT, primary_key=True),
        sa.Column("created_by", ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("max_uses", INT, nullable=False, server_default="1"),
        sa.Column("uses", INT, nullable=False, server_default="0"),
        sa.Column("expires_at", TEXT),
        sa.Column("created_at", TEXT, nullable=False),
    )
    op.create_table(
        "proposals",
        sa.Column("id", ID, primary_key=True, autoincrement=False),
        sa.Column("uri", TEXT, nullable=False, unique=True),
        sa.Column("local", INT, nullable=False, server_default="0"),
        sa.Column("group_id", ID, sa.ForeignKey("actors.id"), nullable=False),
        sa.Column("proposer_uri", TEXT),
        sa.Column("title", TEXT, nullable=False),
        sa.Column("body", TEXT, nullable=False, server_default=""),
        sa.Column("kind", TEXT, nullable=False),
        sa.Column("options", TEXT, nullable=False),
        sa.Column("coops", TEXT, nullable=False),
        sa.Column("rule", TEXT, nullable=False),
        sa.Column("quorum", TEXT),
        sa.Column("weighting", TEXT),
        sa.Column("max_choices", INT),
        sa.Column("max_score", INT, nullable=False, server_default="5"),
        sa.Column("secret", INT, nullable=False, server_default="0"),
        sa.Column("hidden_results", INT, nullable=False, server_default="0"),
        sa.Column("opened_at", TEXT, nullable=False),
        sa.Column("closes_at", TEXT, nullable=False),
        sa.Column("closed_at", TEXT),
        sa.Column("status", TEXT, nullable=False),
        sa.Column("outcome", TEXT, nullable=False, server_default=""),
        sa.Column("result", TEXT),
        sa.Column("reminded", INT, nullable=False, server_default="0"),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("updated_at", TEXT, nullable=False),
    )
    op.create_index("proposals_status", "proposals", ["status", "closes_at"])
    op.create_table(
        "roster_snapshots",
        sa.Column("id", ID, primary_key=True, autoincrement=False),
        sa.Column("uri", TEXT, nullable=False, unique=True),
        sa.Column(
            "proposal_id", ID, sa.ForeignKey("proposals.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("group_uri", TEXT, nullable=False),
        sa.Column("members", TEXT, nullable=False),
        sa.Column("size", INT, nullable=False),
        sa.Column("document", TEXT, nullable=False),
        sa.Column("created_at", TEXT, nullable=False),
        sa.UniqueConstraint("proposal_id", "group_uri"),
    )
    op.create_table(
        "ballots",
        sa.Column("id", ID, primary_key=True, autoincrement=False),
        sa.Column("uri", TEXT, nullable=False, unique=True),
        sa.Column(
            "proposal_id", ID, sa.ForeignKey("proposals.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("voter_uri", TEXT, nullable=False),
        sa.Column("coop_uri", TEXT, nullable=False),
        sa.Column("choice", TEXT, nullable=False),
        sa.Column("source", TEXT, nullable=False, server_default="fedicoop"),
        sa.Column("document", TEXT),
        sa.Column("state", TEXT, nullable=False),
        sa.Column("reason", TEXT, nullable=False, server_default=""),
        sa.Column("cast_at", TEXT, nullable=False),
    )
    op.create_index("ballots_proposal", "ballots", ["proposal_id", "voter_uri", "cast_at"])


def downgrade() -> None:
    for table in ("ballots", "roster_snapshots", "proposals", "invites", "applications"):
        op.drop_table(table)
    op.drop_column("actors", "ed25519_public_key")
    op.drop_column("actors", "ed25519_private_key")
