"""Export a member's archive: Mastodon's layout, its CSVs, their co-op records, signed.

What Mastodon's BackupService writes (`actor.json` with `outbox`, `likes` and `bookmarks`
pointing at the files beside it; `outbox.json` of Create and Announce activities without
their `@context`, attachments pointing at `media_attachments/…` inside the archive), the CSVs
its Export writes, then `fedicoop/*.json` and the signed `fedicoop/manifest.json`.
"""

import io
import json
import secrets
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fedicoop import clock
from fedicoop.activitypub.documents import PUBLIC, actor_document
from fedicoop.activitypub.runtime import Federation
from fedicoop.media.files import MediaFiles
from fedicoop.portability import archive_files as names
from fedicoop.portability.archive_files import CsvKind, write_csv
from fedicoop.portability.archive_signing import signed_manifest
from fedicoop.portability.coop_records import (
    ballot_to_archive,
    booking_to_archive,
    proposal_to_archive,
    ride_to_archive,
)
from fedicoop.social.notes import NOTE_TYPES
from fedicoop.storage.accounts import AccountRecord
from fedicoop.storage.actors import ActorRecord
from fedicoop.storage.database import Executor
from fedicoop.storage.objects import ObjectRecord, object_from_row
from fedicoop.storage.proposals import BallotRepository, ProposalRepository
from fedicoop.storage.rides import BookingRepository, RideRepository

Progress = Callable[[str], None]
BATCH = 500
MAX_RIDES = 100_000
# Mastodon's full_context (app/helpers/context_helper.rb), trimmed to what outbox items use.
OUTBOX_CONTEXT: list[Any] = [
    "https://www.w3.org/ns/activitystreams",
    {
        "ostatus": "http://ostatus.org#",
        "atomUri": "ostatus:atomUri",
        "sensitive": "as:sensitive",
        "Hashtag": "as:Hashtag",
        "toot": "http://joinmastodon.org/ns#",
        "focalPoint": {"@container": "@list", "@id": "toot:focalPoint"},
        "blurhash": "toot:blurhash",
        "previously": {"@id": "https://fedicoop.org/ns#previously", "@type": "@id"},
    },
]


@dataclass(frozen=True)
class Exported:
    """A finished archive: its bytes, the file name to offer, and what it holds."""

    data: bytes
    filename: str
    counts: dict[str, int]


def _json(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=1).encode()


def _collection(name: str, items: list[Any], *, total: bool = False) -> bytes:
    document: dict[str, Any] = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": name,
        "type": "OrderedCollection",
    }
    if total:
        document["totalItems"] = len(items)
    document["orderedItems"] = items
    return _json(document)


class _Exporter:
    """Collects one member's files."""

    def __init__(self, federation: Federation, actor: ActorRecord, account: AccountRecord) -> None:
        self.federation = federation
        self.db: Executor = federation.instance.db
        self.actor = actor
        self.account = account
        self.base = federation.instance.config.base_url
        self.media = MediaFiles(federation.instance.config.media_dir)
        self.files: dict[str, bytes] = {}
        self.counts: dict[str, int] = {}

    def _our_file(self, url: str | None) -> str | None:
        """Return the stored file name behind one of our media URLs."""
        prefix = f"{self.base}/media/"
        if not url or not url.startswith(prefix):
            return None
        name = url[len(prefix) :]
        return name if self.media.path_of(name) is not None else None

    def _add_media(self, file_name: str) -> str:
        path = self.media.path_of(file_name)
        archived = f"{names.MEDIA_PREFIX}files/{file_name}"
        if path is not None and archived not in self.files:
            self.files[archived] = path.read_bytes()
        return archived

    async def _create_item(self, record: ObjectRecord) -> dict[str, Any]:
        note: dict[str, Any] = json.loads(record.raw)
        note.pop("@context", None)
        for attachment in note.get("attachment") or []:
            if isinstance(attachment, dict) and (name := self._our_file(attachment.get("url"))):
                attachment["url"] = self._add_media(name)
        activity = await self.db.fetchval(
            "SELECT uri FROM activities WHERE object_uri = $1 AND type = 'Create' AND local = 1",
            record.uri,
        )
        return {
            "id": str(activity) if activity else f"{record.uri}/activity",
            "type": "Create",
            "actor": self.actor.uri,
            "published": note.get("published") or record.published,
            "to": note.get("to", []),
            "cc": note.get("cc", []),
            "object": note,
        }

    async def outbox(self, progress: Progress) -> None:
        items: list[dict[str, Any]] = []
        last = 0
        while rows := await self.db.fetch(
            "SELECT * FROM objects WHERE actor_id = $1 AND local = 1 AND deleted_at IS NULL "
            "AND id > $2 ORDER BY id LIMIT $3",
            self.actor.id,
            last,
            BATCH,
        ):
            last = int(rows[-1]["id"])
            for row in rows:
                record = object_from_row(row)
                if record.type in NOTE_TYPES:
                    items.append(await self._create_item(record))
            progress(f"  posts: {len(items)}")
        posts = len(items)
        for row in await self.db.fetch(
            "SELECT uri, object_uri, created_at FROM announces WHERE actor_id = $1 ORDER BY id",
            self.actor.id,
        ):
            items.append(
                {
                    "id": row["uri"],
                    "type": "Announce",
                    "actor": self.actor.uri,
                    "published": clock.as2_time(clock.from_text(row["created_at"])),
                    "to": [PUBLIC],
                    "cc": [self.actor.followers_uri],
                    "object": row["object_uri"],
                }
            )
        outbox = json.loads(_collection(names.OUTBOX, items, total=True))
        outbox["@context"] = OUTBOX_CONTEXT
        self.files[names.OUTBOX] = _json(outbox)
        self.counts["posts"] = posts
        self.counts["boosts"] = len(items) - posts

    async def marks(self) -> None:
        likes = [
            str(row["object_uri"])
            for row in await self.db.fetch(
                "SELECT object_uri FROM likes WHERE actor_id = $1 ORDER BY id", self.actor.id
            )
        ]
        bookmarks = [
            str(row["uri"])
            for row in await self.db.fetch(
                "SELECT o.uri FROM bookmarks b JOIN objects o ON o.id = b.object_id "
                "WHERE b.account_id = $1 ORDER BY b.created_at DESC",
                self.account.id,
            )
        ]
        self.files[names.LIKES] = _collection(names.LIKES, likes)
        self.files[names.BOOKMARKS] = _collection(names.BOOKMARKS, bookmarks)
        self.files[names.CSV_FILES[CsvKind.BOOKMARKS]] = write_csv(
            CsvKind.BOOKMARKS, [[uri] for uri in bookmarks]
        )
        self.counts["likes"] = len(likes)
        self.counts["bookmarks"] = len(bookmarks)

    async def _accts(self, sql: str, owner: int) -> list[str]:
        rows = await self.db.fetch(sql, owner)
        return [f"{row['username']}@{row['domain']}" for row in rows if row["username"]]

    async def relations(self) -> None:
        following = await self._accts(
            "SELECT a.username, a.domain FROM follows f JOIN actors a ON a.id = f.followee_id "
            "WHERE f.follower_id = $1 ORDER BY f.id DESC",
            self.actor.id,
        )
        blocked = await self._accts(
            "SELECT a.username, a.domain FROM blocks b JOIN actors a ON a.id = b.target_id "
            "WHERE b.actor_id = $1 ORDER BY b.id DESC",
            self.actor.id,
        )
        muted = await self._accts(
            "SELECT a.username, a.domain FROM mutes m JOIN actors a ON a.id = m.target_id "
            "WHERE m.account_id = $1 ORDER BY m.created_at DESC",
            self.account.id,
        )
        # Boosts are always shown and nobody is notified of new posts on fedicoop; mutes hide
        # notifications, as Mastodon's default mute does.
        files = {
            CsvKind.FOLLOWING: [[acct, "true", "false", ""] for acct in following],
            CsvKind.BLOCKING: [[acct] for acct in blocked],
            CsvKind.MUTING: [[acct, "true"] for acct in muted],
            CsvKind.DOMAIN_BLOCKING: [],  # members cannot block domains on fedicoop (yet)
        }
        for kind, rows in files.items():
            self.files[names.CSV_FILES[kind]] = write_csv(kind, rows)
        self.counts.update(following=len(following), blocks=len(blocked), mutes=len(muted))

    async def _actor_uri(self, actor_id: int) -> str:
        return str(await self.db.fetchval("SELECT uri FROM actors WHERE id = $1", actor_id))

    async def coop_records(self) -> None:
        rides = await RideRepository(self.db).by_actor([self.actor.id], limit=MAX_RIDES)
        self.files[names.RIDES] = _json([ride_to_archive(ride) for ride in rides if ride.local])
        repository = RideRepository(self.db)
        bookings = []
        for booking in await BookingRepository(self.db).for_actor(self.actor.id):
            ride = await repository.get(booking.ride_id)
            rider = await self._actor_uri(booking.rider_id)
            driver = await self._actor_uri(booking.driver_id)
            bookings.append(booking_to_archive(booking, ride.uri if ride else None, rider, driver))
        self.files[names.BOOKINGS] = _json(bookings)
        proposals = []
        for row in await self.db.fetch(
            "SELECT id FROM proposals WHERE proposer_uri = $1 ORDER BY id", self.actor.uri
        ):
            proposal = await ProposalRepository(self.db).get(int(row["id"]))
            if proposal is not None:
                group = await self._actor_uri(proposal.group_id)
                proposals.append(proposal_to_archive(proposal, group))
        self.files[names.PROPOSALS] = _json(proposals)
        ballots = []
        for row in await self.db.fetch(
            "SELECT b.uri, p.uri AS proposal FROM ballots b JOIN proposals p "
            "ON p.id = b.proposal_id WHERE b.voter_uri = $1 ORDER BY b.cast_at",
            self.actor.uri,
        ):
            ballot = await BallotRepository(self.db).by_uri(str(row["uri"]))
            if ballot is not None:
                ballots.append(ballot_to_archive(ballot, str(row["proposal"])))
        self.files[names.BALLOTS] = _json(ballots)
        self.counts.update(
            rides=len(rides), bookings=len(bookings), proposals=len(proposals), ballots=len(ballots)
        )

    def actor_file(self) -> None:
        document = actor_document(self.actor)
        document.update(outbox=names.OUTBOX, likes=names.LIKES, bookmarks=names.BOOKMARKS)
        for key, url, stem in (
            ("icon", self.actor.avatar_url, "avatar"),
            ("image", self.actor.header_url, "header"),
        ):
            name = self._our_file(url)
            path = self.media.path_of(name) if name else None
            if name and path is not None and isinstance(document.get(key), dict):
                archived = f"{stem}.{name.rsplit('.', 1)[-1]}"
                self.files[archived] = path.read_bytes()
                document[key]["url"] = archived
        self.files[names.ACTOR] = _json(document)


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name in sorted(files):
            bundle.writestr(name, files[name])
    return buffer.getvalue()


def archive_filename() -> str:
    """Name an archive the way Mastodon does: archive-YYYYmmddHHMMSS-<32 hex>.zip."""
    return f"archive-{clock.now().strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(16)}.zip"


async def export_account(
    federation: Federation,
    actor: ActorRecord,
    account: AccountRecord,
    *,
    progress: Progress = lambda _: None,
) -> Exported:
    """Build a member's signed archive."""
    exporter = _Exporter(federation, actor, account)
    progress(f"exporting @{actor.acct}")
    await exporter.outbox(progress)
    await exporter.marks()
    await exporter.relations()
    progress("  follows, blocks, mutes, likes and bookmarks")
    await exporter.coop_records()
    progress("  rides, bookings, proposals and ballots")
    exporter.actor_file()
    exporter.counts["media"] = sum(1 for n in exporter.files if n.startswith(names.MEDIA_PREFIX))
    signer = await federation.instance_actor()
    exporter.files[names.MANIFEST] = await signed_manifest(
        federation.instance.db, signer, actor, exporter.files
    )
    progress(f"  signed by {signer.uri}")
    return Exported(_zip(exporter.files), archive_filename(), exporter.counts)
