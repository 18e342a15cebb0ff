"""Import a member's archive or CSV: re-follow, block, mute, bookmark, copy posts, re-offer rides.

Three inputs are accepted:

- a fedicoop archive: its signed manifest is checked first (`archive_signing.verify`); a file
  changed, added or removed, or a signature that does not verify, refuses the whole import;
- a Mastodon archive (zip, or .tar.gz before 4.2): Mastodon cannot sign it, so it is accepted
  as "unsigned, from Mastodon" only when it is recognisably Mastodon's layout and nothing else,
  and the report says it was not verified;
- one of Mastodon's CSV exports (following, blocked, muted accounts, blocked domains,
  bookmarks), recognised by its header or file name as Mastodon's importer does.

Following and blocking send Follow and Block as the member would; copied posts are never
sent anywhere (see `post_import`); open rides are published again through `RideService`.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fedicoop import clock
from fedicoop.activitypub.runtime import Federation
from fedicoop.errors import Conflict, FedicoopError, Invalid
from fedicoop.portability import archive_files as names
from fedicoop.portability.archive_files import (
    ArchiveFiles,
    CsvKind,
    CsvRow,
    guess_csv_kind,
    is_archive,
    parse_csv,
    read_archive,
)
from fedicoop.portability.archive_signing import verify
from fedicoop.portability.coop_records import ride_draft_from_archive
from fedicoop.portability.post_import import Source, copy_posts
from fedicoop.rides.service import RideService
from fedicoop.social import marks, publishing
from fedicoop.social.remote_posts import fetch_and_store
from fedicoop.storage.accounts import AccountRecord
from fedicoop.storage.actors import ActorRecord
from fedicoop.storage.migration_map import MigrationMapRepository
from fedicoop.storage.mutes import MuteRepository
from fedicoop.storage.objects import ObjectRepository

Progress = Callable[[str], None]
MAX_PROBLEMS = 50
_PROFILE_IMAGE = re.compile(r"(avatar|header)\.[A-Za-z0-9]{1,5}")
_MASTODON_FILES = frozenset({names.ACTOR, names.OUTBOX, names.LIKES, names.BOOKMARKS})


@dataclass
class ImportReport:
    """What an import did, what it left out and why."""

    source: str  # fedicoop, mastodon, csv
    verified: bool = False
    signed_by: str | None = None
    previous_account: str | None = None
    imported: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def count(self, name: str, amount: int = 1) -> None:
        """Add to what was imported."""
        if amount:
            self.imported[name] = self.imported.get(name, 0) + amount

    def skip(self, reason: str, amount: int = 1) -> None:
        """Add to what was left out, by reason."""
        if amount:
            self.skipped[reason] = self.skipped.get(reason, 0) + amount

    def problem(self, line: str) -> None:
        """Remember one thing that went wrong (the first few, then a count)."""
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(line)

    @property
    def origin(self) -> str:
        """Say where the data came from and whether it was checked."""
        if self.source == "fedicoop":
            return f"fedicoop archive of {self.previous_account}, signed by {self.signed_by}"
        if self.source == "mastodon":
            return f"Mastodon archive of {self.previous_account} (unsigned: not verified)"
        return "Mastodon CSV export"

    def as_json(self) -> dict[str, Any]:
        """Return the report as the API answers it."""
        return {
            "source": self.source,
            "verified": self.verified,
            "signed_by": self.signed_by,
            "previous_account": self.previous_account,
            "origin": self.origin,
            "imported": self.imported,
            "skipped": self.skipped,
            "problems": self.problems,
        }


def _json_member(archive: ArchiveFiles, name: str) -> Any:
    data = archive.get(name)
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        raise Invalid(f"{name} in the archive is not JSON") from None


def _check_mastodon_layout(archive: ArchiveFiles) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (actor, outbox) of an unsigned archive that is exactly Mastodon's layout."""
    for name in archive.names():
        if name.startswith(names.FEDICOOP_PREFIX):
            raise Invalid(
                f"the archive holds {name} but no signed {names.MANIFEST}: a fedicoop archive "
                "that was altered or is incomplete. Ask the old co-op for a fresh export"
            )
    for name in archive.names():
        if (
            name in _MASTODON_FILES
            or _PROFILE_IMAGE.fullmatch(name)
            or name.startswith(names.MEDIA_PREFIX)
            or f"/system/{names.MEDIA_PREFIX}" in f"/{name}"
        ):
            continue
        raise Invalid(
            f"the archive holds {name}, which Mastodon's archives never do: an unsigned archive "
            "is only accepted in Mastodon's exact layout"
        )
    actor, outbox = _json_member(archive, names.ACTOR), _json_member(archive, names.OUTBOX)
    if not isinstance(actor, dict) or not isinstance(outbox, dict):
        raise Invalid(
            "not an account archive: expected actor.json and outbox.json (Mastodon's layout)"
        )
    if (
        not isinstance(actor.get("id"), str)
        or actor.get("outbox") != names.OUTBOX
        or outbox.get("id") != names.OUTBOX
        or outbox.get("type") != "OrderedCollection"
        or not isinstance(outbox.get("orderedItems"), list)
    ):
        raise Invalid(
            "actor.json and outbox.json are not as Mastodon's backup writes them "
            "(actor.outbox and the outbox id must be outbox.json)"
        )
    return actor, outbox


def _collection_items(document: Any) -> list[str]:
    items = document.get("orderedItems") if isinstance(document, dict) else None
    return [item for item in items or [] if isinstance(item, str)]


class Importer:
    """Applies one archive or CSV to one member."""

    def __init__(
        self,
        federation: Federation,
        actor: ActorRecord,
        account: AccountRecord,
        report: ImportReport,
        progress: Progress,
    ) -> None:
        self.federation = federation
        self.db = federation.instance.db
        self.actor = actor
        self.account = account
        self.report = report
        self.progress = progress
        self._actors: dict[str, ActorRecord | str] = {}

    async def _resolve(self, acct: str) -> ActorRecord | None:
        if acct not in self._actors:
            try:
                self._actors[acct] = await self.federation.resolver.actor_by_handle(acct)
            except FedicoopError as error:  # unknown, unreachable, or not an actor
                self._actors[acct] = error.message
        found = self._actors[acct]
        if isinstance(found, str):
            self.report.problem(f"cannot find {acct}: {found}")
            return None
        return found

    async def accounts(self, kind: CsvKind, rows: list[CsvRow]) -> None:
        """Follow, block or mute every account of a CSV."""
        verb = {CsvKind.FOLLOWING: "following", CsvKind.BLOCKING: "blocks"}.get(kind, "mutes")
        for index, row in enumerate(rows, start=1):
            target = await self._resolve(row.value)
            if target is None:
                self.report.skip(f"{verb}: accounts not found")
            elif target.id == self.actor.id:
                self.report.skip(f"{verb}: yourself")
            else:
                try:
                    if kind is CsvKind.FOLLOWING:
                        await publishing.follow(self.federation, self.actor, target)
                    elif kind is CsvKind.BLOCKING:
                        await publishing.block(self.federation, self.actor, target)
                    else:
                        await MuteRepository(self.db).add(self.account.id, target.id)
                    self.report.count(verb)
                except FedicoopError as error:
                    self.report.skip(f"{verb}: refused")
                    self.report.problem(f"{verb} {row.value}: {error.message}")
            if index % 25 == 0 or index == len(rows):
                self.progress(f"  {verb}: {index}/{len(rows)}")

    async def bookmarks(self, uris: list[str]) -> None:
        """Bookmark every post still reachable (copies stand in for imported originals)."""
        moved = MigrationMapRepository(self.db)
        objects = ObjectRepository(self.db)
        for index, uri in enumerate(dict.fromkeys(uris), start=1):
            wanted = await moved.new_uri(uri) or uri
            record = await objects.by_uri(wanted)
            if record is None:
                try:
                    record = await fetch_and_store(self.federation, wanted)
                except FedicoopError:  # unreachable, or not a post (InvalidActivity)
                    record = None
            if record is None or record.deleted_at:
                self.report.skip("bookmarks: posts gone or unreachable")
                self.report.problem(f"cannot bookmark {uri}: the post is gone or unreachable")
            else:
                await marks.bookmark(self.db, self.account.id, record)
                self.report.count("bookmarks")
            if index % 25 == 0 or index == len(uris):
                self.progress(f"  bookmarks: {index}/{len(uris)}")

    def domain_blocks(self, rows: list[CsvRow]) -> None:
        """Say that domain blocks cannot be applied per member here."""
        if rows:
            self.report.skip("domain blocks (no per-member domain blocks on fedicoop)", len(rows))
            self.report.problem(
                f"{len(rows)} blocked domains were not applied: fedicoop has no per-member domain "
                "blocks; ask your co-op's admins to block a domain for everyone"
            )

    async def csv(self, kind: CsvKind, data: bytes) -> None:
        """Apply one CSV."""
        rows = parse_csv(kind, data)
        self.progress(f"{names.CSV_FILES[kind]}: {len(rows)} rows")
        if kind is CsvKind.DOMAIN_BLOCKING:
            self.domain_blocks(rows)
        elif kind is CsvKind.BOOKMARKS:
            await self.bookmarks([row.value for row in rows])
        else:
            await self.accounts(kind, rows)

    async def rides(self, records: Any) -> None:
        """Publish again the rides that are still open; count the rest."""
        if not isinstance(records, list):
            return
        service = RideService.of(self.federation)
        moved = MigrationMapRepository(self.db)
        for record in records:
            if not isinstance(record, dict) or not isinstance(record.get("url"), str):
                continue
            draft = ride_draft_from_archive(record, clock.now())
            if draft is None:
                self.report.skip("rides over, cancelled or past (kept in the archive)")
                continue
            if await moved.new_uri(record["url"]) is not None:
                self.report.skip("rides already imported")
                continue
            try:
                ride = await service.create(self.actor, draft)
            except FedicoopError as error:
                self.report.skip("rides this co-op refused")
                self.report.problem(f"ride {record['url']} not re-published: {error.message}")
                continue
            await moved.add(record["url"], ride.uri, "ride", self.actor.id)
            self.report.count("rides")
        self.progress(f"  rides: {self.report.imported.get('rides', 0)} re-published")

    async def archive(self, archive: ArchiveFiles, actor_doc: dict[str, Any]) -> None:
        """Apply an archive whose origin has been established."""
        source_uri = str(actor_doc["id"])
        if source_uri == self.actor.uri:
            raise Conflict(
                "this is your own account's archive: importing it here would copy every post "
                "twice. Import it on another co-op's account"
            )
        for kind, file_name in names.CSV_FILES.items():
            data = archive.get(file_name)
            if data is not None and kind is not CsvKind.BOOKMARKS:
                await self.csv(kind, data)
        outbox = _json_member(archive, names.OUTBOX)
        items = outbox.get("orderedItems") if isinstance(outbox, dict) else None
        if isinstance(items, list):
            self.progress(f"{names.OUTBOX}: {len(items)} items")
            followers = actor_doc.get("followers")
            source = Source(source_uri, followers if isinstance(followers, str) else None)
            counts = await copy_posts(
                self.federation, self.actor, self.account, archive, source, items, self.progress
            )
            self.report.count("posts", counts.copied)
            self.report.count("media", counts.media)
            self.report.skip("posts already imported", counts.already)
            for reason, amount in counts.skipped.items():
                self.report.skip(reason, amount)
        bookmarked = _collection_items(_json_member(archive, names.BOOKMARKS))
        csv_bookmarks = archive.get(names.CSV_FILES[CsvKind.BOOKMARKS])
        if csv_bookmarks is not None:
            bookmarked += [row.value for row in parse_csv(CsvKind.BOOKMARKS, csv_bookmarks)]
        if bookmarked:
            self.progress(f"bookmarks: {len(set(bookmarked))}")
            await self.bookmarks(bookmarked)
        liked = _collection_items(_json_member(archive, names.LIKES))
        self.report.skip("likes (kept in the archive, not re-sent)", len(liked))
        if self.report.verified:
            self.progress("rides")
            await self.rides(_json_member(archive, names.RIDES))
            for name, what in ((names.BOOKINGS, "bookings"), (names.PROPOSALS, "proposals")):
                kept = _json_member(archive, name)
                self.report.skip(
                    f"{what} (kept in the archive: they belong to the old co-op)",
                    len(kept) if isinstance(kept, list) else 0,
                )
            ballots = _json_member(archive, names.BALLOTS)
            self.report.skip(
                "ballots (kept in the archive, still verifiable: votes stay where they were cast)",
                len(ballots) if isinstance(ballots, list) else 0,
            )


async def import_archive(
    federation: Federation,
    actor: ActorRecord,
    account: AccountRecord,
    data: bytes,
    *,
    progress: Progress = lambda _: None,
) -> ImportReport:
    """Check an archive's origin, then apply it to a member."""
    archive = read_archive(data)
    progress(f"read {len(archive.files)} files ({archive.container})")
    if archive.get(names.MANIFEST) is not None:
        progress("checking the signature")
        vouched = await verify(federation.resolver, archive)
        actor_doc = _json_member(archive, names.ACTOR)
        if not isinstance(actor_doc, dict) or actor_doc.get("id") != vouched.account:
            raise Invalid(f"actor.json is not the signed account {vouched.account}")
        report = ImportReport(
            "fedicoop", verified=True, signed_by=vouched.signer, previous_account=vouched.acct
        )
        progress(f"signed by {vouched.signer}: every file checks out")
    else:
        actor_doc, _ = _check_mastodon_layout(archive)
        report = ImportReport("mastodon", previous_account=str(actor_doc["id"]))
        progress("unsigned archive in Mastodon's layout: importing it as not verified")
    await Importer(federation, actor, account, report, progress).archive(archive, actor_doc)
    return report


async def import_file(
    federation: Federation,
    actor: ActorRecord,
    account: AccountRecord,
    data: bytes,
    *,
    filename: str = "",
    kind: CsvKind | None = None,
    progress: Progress = lambda _: None,
) -> ImportReport:
    """Import an archive (zip, .tar.gz) or one of Mastodon's CSV exports."""
    if not data:
        raise Invalid("the file is empty: give an archive (.zip) or a Mastodon CSV export")
    if is_archive(data):
        return await import_archive(federation, actor, account, data, progress=progress)
    report = ImportReport("csv", previous_account=None)
    kind = kind or guess_csv_kind(filename, data)
    await Importer(federation, actor, account, report, progress).csv(kind, data)
    return report
