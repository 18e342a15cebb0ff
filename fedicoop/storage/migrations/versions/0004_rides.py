"""Rides: offers and requests (local and federated), their dated trips, bookings, messages,
reviews and saved searches.

A ride's published places (snapped to ≈1 km cells, town labels) are columns every query
reads; the exact places live in `exact`, a JSON column only the two parties of an accepted
booking are shown. Seats left are kept per trip (`ride_occurrences`) and taken with one
conditional UPDATE, so two accepts racing for the last seat cannot both win.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger
TEXT = sa.Text
INT = sa.Integer
REAL = sa.Float


def upgrade() -> None:
    op.create_table(
        "rides",
        sa.Column("id", ID, primary_key=True, autoincrement=False),
        sa.Column("uri", TEXT, nullable=False, unique=True),
        sa.Column("url", TEXT),
        sa.Column("local", INT, nullable=False, server_default="0"),
        sa.Column("actor_id", ID, sa.ForeignKey("actors.id"), nullable=False),
        sa.Column("coop_uri", TEXT),
        sa.Column("coop", TEXT, nullable=False, server_default=""),
        sa.Column("role", TEXT, nullable=False),
        sa.Column("origin_lat", REAL, nullable=False),
        sa.Column("origin_lon", REAL, nullable=False),
        sa.Column("origin_label", TEXT, nullable=False, server_default=""),
        sa.Column("destination_lat", REAL, nullable=False),
        sa.Column("destination_lon", REAL, nullable=False),
        sa.Column("destination_label", TEXT, nullable=False, server_default=""),
        sa.Column("waypoints", TEXT, nullable=False, server_default="[]"),
        sa.Column("exact", TEXT),
        sa.Column("departure", TEXT, nullable=False),
        sa.Column("utc_offset_minutes", INT, nullable=False, server_default="0"),
        sa.Column("margin_minutes", INT, nullable=False),
        sa.Column("seats", INT, nullable=False),
        sa.Column("price_kind", TEXT, nullable=False),
        sa.Column("price_amount", TEXT, nullable=False),
        sa.Column("price_currency", TEXT, nullable=False),
        sa.Column("preferences", TEXT, nullable=False, server_default="{}"),
        sa.Column("max_detour_km", REAL, nullable=False),
        sa.Column("trip_km", REAL, nullable=False),
        sa.Column("schedule", TEXT),
        sa.Column("status", TEXT, nullable=False),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("updated_at", TEXT, nullable=False),
    )
    op.create_index("rides_actor", "rides", ["actor_id", "id"])
    op.create_table(
        "ride_occurrences",
        sa.Column("ride_id", ID, sa.ForeignKey("rides.id", ondelete="CASCADE"), nullable=False),
        sa.Column("day", TEXT, nullable=False),
        sa.Column("departure", TEXT, nullable=False),
        sa.Column("seats_left", INT, nullable=False),
        sa.Column("status", TEXT, nullable=False),
        sa.PrimaryKeyConstraint("ride_id", "day"),
    )
    op.create_index("ride_occurrences_open", "ride_occurrences", ["status", "departure"])
    op.create_table(
        "bookings",
        sa.Column("id", ID, primary_key=True, autoincrement=False),
        sa.Column("uri", TEXT, nullable=False, unique=True),
        sa.Column("offer_uri", TEXT, nullable=False, unique=True),
        sa.Column("ride_id", ID, sa.ForeignKey("rides.id", ondelete="CASCADE"), nullable=False),
        sa.Column("day", TEXT, nullable=False),
        sa.Column("rider_id", ID, sa.ForeignKey("actors.id"), nullable=False),
        sa.Column("driver_id", ID, sa.ForeignKey("actors.id"), nullable=False),
        sa.Column("seats", INT, nullable=False),
        sa.Column("status", TEXT, nullable=False),
        sa.Column("pickup", TEXT),
        sa.Column("dropoff", TEXT),
        sa.Column("message", TEXT, nullable=False, server_default=""),
        sa.Column("reason", TEXT, nullable=False, server_default=""),
        sa.Column("urgent", INT, nullable=False, server_default="0"),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("updated_at", TEXT, nullable=False),
    )
    op.create_index("bookings_ride", "bookings", ["ride_id", "day"])
    op.create_index("bookings_rider", "bookings", ["rider_id", "id"])
    op.create_index("bookings_driver", "bookings", ["driver_id", "id"])
    op.create_table(
        "booking_messages",
        sa.Column("id", ID, primary_key=True, autoincrement=False),
        sa.Column("uri", TEXT, nullable=False, unique=True),
        sa.Column(
            "booking_id", ID, sa.ForeignKey("bookings.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("author_id", ID, sa.ForeignKey("actors.id"), nullable=False),
        sa.Column("text", TEXT, nullable=False),
        sa.Column("created_at", TEXT, nullable=False),
    )
    op.create_index("booking_messages_booking", "booking_messages", ["booking_id", "id"])
    op.create_table(
        "ride_reviews",
        sa.Column("id", ID, primary_key=True, autoincrement=False),
        sa.Column("uri", TEXT, nullable=False, unique=True),
        sa.Column(
            "booking_id", ID, sa.ForeignKey("bookings.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("author_id", ID, sa.ForeignKey("actors.id"), nullable=False),
        sa.Column("subject_id", ID, sa.ForeignKey("actors.id"), nullable=False),
        sa.Column("rating", INT, nullable=False),
        sa.Column("text", TEXT, nullable=False, server_default=""),
        sa.Column("created_at", TEXT, nullable=False),
        sa.UniqueConstraint("booking_id", "author_id"),
    )
    op.create_index("ride_reviews_subject", "ride_reviews", ["subject_id", "id"])
    op.create_table(
        "saved_searches",
        sa.Column("id", ID, primary_key=True, autoincrement=False),
        sa.Column("account_id", ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("query", TEXT, nullable=False),
        sa.Column("created_at", TEXT, nullable=False),
    )
    op.create_index("saved_searches_account", "saved_searches", ["account_id", "id"])


def downgrade() -> None:
    for table in (
        "saved_searches",
        "ride_reviews",
        "booking_messages",
        "bookings",
        "ride_occurrences",
        "rides",
    ):
        op.drop_table(table)
