"""Leaving for good: a member deletes their account; their data is erased after a grace period.

At once: the account can no longer log in (its tokens are revoked), its open rides are
cancelled and its bookings withdrawn (the other parties are told), and `Delete` of the actor
goes to its followers and the partner co-ops; the actor's URL answers 410 Gone. After the grace
period (`GRACE`), what the member wrote and gave is erased: posts, media, profile, booking
messages and exact places, email and password. Their bookings and ballots stay in other
members' records, under an actor id that no longer names anyone (signed ballots must keep
verifying).
"""

import asyncio
import logging
from datetime import timedelta

from fedicoop import clock
from fedicoop.accounts.model import Status, check_transition
from fedicoop.accounts.passwords import verify_password
from fedicoop.activitypub.documents import OBJECT_CONTEXT, PUBLIC
from fedicoop.activitypub.runtime import Federation
from fedicoop.coops.partnership import active_partner_groups
from fedicoop.errors import Conflict, FedicoopError, Forbidden
from fedicoop.media.service import files_of
from fedicoop.rides.booking import BookingStatus
from fedicoop.rides.bookings import BookingService
from fedicoop.rides.service import RideService
from fedicoop.storage.accounts import AccountRecord, AccountRepository
from fedicoop.storage.actors import ActorRecord

log = logging.getLogger(__name__)

GRACE = timedelta(days=30)
ERASE_EVERY_SECONDS = 3600


async def delete_account(
    federation: Federation, account: AccountRecord, actor: ActorRecord, password: str
) -> AccountRecord:
    """Delete a member's account (their password confirms it); erasure follows after GRACE."""
    if not await asyncio.to_thread(verify_password, account.password_hash, password or ""):
        raise Forbidden("wrong password: the account was not deleted")
    check_transition(Status(account.status), Status.DELETED)
    db = federation.instance.db
    if account.role == "admin":
        admins = [
            a
            for a in await AccountRepository(db).list()
            if a.role == "admin" and a.status == Status.ACTIVE and a.id != account.id
        ]
        if not admins:
            raise Conflict("the last admin cannot delete their account: make another admin first")
    now = clock.now()
    await db.execute(
        "UPDATE accounts SET status = $2, deleted_at = $3, erase_after = $4, updated_at = $3 "
        "WHERE id = $1",
        account.id,
        Status.DELETED.value,
        clock.to_text(now),
        clock.to_text(now + GRACE),
    )
    await db.execute(
        "UPDATE oauth_tokens SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL",
        account.id,
        clock.to_text(now),
    )
    await _withdraw_from_rides(federation, actor)
    delete = {
        "@context": OBJECT_CONTEXT,
        "id": federation.new_activity_uri(),
        "type": "Delete",
        "actor": actor.uri,
        "object": actor.uri,
        "to": [PUBLIC],
        "cc": [actor.followers_uri] if actor.followers_uri else [],
    }
    await federation.publish(
        delete, actor, extra_recipients=await active_partner_groups(federation)
    )
    deleted = await AccountRepository(db).get(account.id)
    assert deleted is not None
    return deleted


async def _withdraw_from_rides(federation: Federation, actor: ActorRecord) -> None:
    rides = RideService.of(federation)
    bookings = BookingService.of(rides)
    for ride in await rides.rides.by_actor([actor.id]):
        if ride.local and ride.status.value in ("open", "full"):
            await rides.cancel(actor, ride.id, "the member left the co-op")
    for booking in await bookings.bookings.for_actor(actor.id):
        if booking.status in (BookingStatus.PENDING, BookingStatus.ACCEPTED):
            try:
                await bookings.cancel(actor, booking.id, {"reason": "the member left the co-op"})
            except FedicoopError as error:  # changed meanwhile: nothing left to withdraw
                log.info("booking not withdrawn", extra={"reason": str(error)})


async def erase_due(federation: Federation) -> int:
    """Erase the data of accounts deleted longer ago than the grace period; return how many."""
    db = federation.instance.db
    rows = await db.fetch(
        "SELECT id, actor_id FROM accounts WHERE status = $1 AND erase_after IS NOT NULL "
        "AND erase_after <= $2",
        Status.DELETED.value,
        clock.now_text(),
    )
    files = files_of(federation.instance)
    for row in rows:
        account_id, actor_id = int(row["id"]), int(row["actor_id"])
        stamp = clock.now_text()
        media = await db.fetch(
            "SELECT file_name FROM media WHERE actor_id = $1 AND file_name IS NOT NULL", actor_id
        )
        async with db.transaction() as tx:
            await tx.execute(
                "UPDATE objects SET content = '', summary = '', raw = '{}', "
                "deleted_at = COALESCE(deleted_at, $2) WHERE actor_id = $1",
                actor_id,
                stamp,
            )
            await tx.execute("DELETE FROM media WHERE actor_id = $1", actor_id)
            await tx.execute("UPDATE booking_messages SET text = '' WHERE author_id = $1", actor_id)
            await tx.execute(
                "UPDATE bookings SET pickup = NULL, dropoff = NULL, message = '' "
                "WHERE rider_id = $1",
                actor_id,
            )
            await tx.execute("UPDATE rides SET exact = NULL WHERE actor_id = $1", actor_id)
            await tx.execute(
                "DELETE FROM follows WHERE follower_id = $1 OR followee_id = $1", actor_id
            )
            await tx.execute("DELETE FROM notifications WHERE account_id = $1", account_id)
            await tx.execute(
                "UPDATE actors SET display_name = '', summary = '', avatar_url = NULL, "
                "header_url = NULL, fields = '[]', private_key_pem = NULL, "
                "ed25519_private_key = NULL, updated_at = $2 WHERE id = $1",
                actor_id,
                stamp,
            )
            await tx.execute(
                "UPDATE accounts SET email = NULL, password_hash = '', erase_after = NULL, "
                "updated_at = $2 WHERE id = $1",
                account_id,
                stamp,
            )
        for item in media:
            path = files.path_of(str(item["file_name"]))
            if path is not None:
                path.unlink(missing_ok=True)
    return len(rows)


def install(federation: Federation) -> None:
    """Erase due accounts once an hour."""

    async def loop() -> None:
        while True:
            try:
                await erase_due(federation)
            except Exception:
                log.exception("erasing deleted accounts failed")
            await asyncio.sleep(ERASE_EVERY_SECONDS)

    federation.background.append(("account-erasure", loop))
