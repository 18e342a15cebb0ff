"""Posts we hold that live on other servers: fetched on demand, deleted when their origin says.

`fetch_and_store` reads a post by its URL (a boosted post, a reply's parent, a search) and
keeps it; its own server vouches for it, so no one else can hand us a forged copy.
`apply_relayed_delete` and `apply_relayed_update` handle a group's relay of a member's Delete
or edit (FEP-1b12, as Lemmy sends them): each counts only as the post's own server confirms
it (gone; or the edited post, read from there).
"""

import logging
from typing import Any
from urllib.parse import urlsplit

from fedicoop.activitypub.as2 import id_of, parse_object
from fedicoop.activitypub.fetch import FetchError, HttpStatusError
from fedicoop.activitypub.resolver import before_fetch
from fedicoop.activitypub.runtime import Federation
from fedicoop.errors import FedicoopError
from fedicoop.social import polls, timelines
from fedicoop.social.notes import NOTE_TYPES, note_from_as
from fedicoop.social.remote_media import store_remote_attachments
from fedicoop.storage.actors import ActorRepository
from fedicoop.storage.objects import ObjectRepository

log = logging.getLogger(__name__)


async def fetch_and_store(federation: Federation, uri: str) -> Any:
    """Fetch a remote post by URL (its own origin vouches for it) and store it."""
    # A boost must not smuggle in posts from a domain this co-op blocks.
    if await federation.receiver.is_blocked(urlsplit(uri).netloc):
        return None
    before_fetch(uri)
    try:
        document = await federation.fetcher.get_activity(uri)
    except FetchError as error:
        log.info("cannot fetch object", extra={"uri": uri, "reason": error.reason})
        return None
    parsed = parse_object(document.data)
    if parsed.type not in NOTE_TYPES or not parsed.attributed_to:
        return None
    if await federation.receiver.is_blocked(urlsplit(parsed.attributed_to).netloc):
        return None
    author = await federation.resolver.actor(parsed.attributed_to)
    objects = ObjectRepository(federation.instance.db)
    if await objects.is_tombstoned(uri):
        return None
    try:
        record = await objects.insert(note_from_as(parsed, document.data, author))
    except FedicoopError:
        return await objects.by_uri(uri)
    await store_remote_attachments(federation.instance.db, parsed, author.id, record.id)
    if parsed.type == "Question":
        # A poll found by URL (search, a boost, a reply's parent) must still be votable.
        await polls.store_remote_question(federation.instance.db, author, document.data)
    return record


async def apply_relayed_delete(federation: Federation, delete: dict[str, Any]) -> None:
    """A group relays a member's Delete (FEP-1b12, as Lemmy does): confirm it with the origin.

    The group's signature vouches only for the group, so the relay alone deletes nothing: the
    post must be its claimed author's, and its own server must answer that it is gone (404,
    410 or a Tombstone). Otherwise anyone running a group could erase others' posts here.
    """
    target = id_of(delete.get("object"))
    if not target:
        return
    db = federation.instance.db
    objects = ObjectRepository(db)
    record = await objects.by_uri(target)
    if record is None or record.deleted_at:
        return
    author = await ActorRepository(db).get(record.actor_id)
    if author is None or author.local or author.uri != id_of(delete.get("actor")):
        return
    try:
        document = await federation.fetcher.get_activity(target)
        gone = document.data.get("type") == "Tombstone"
    except HttpStatusError as error:
        gone = error.status in (404, 410)
    except FetchError:
        gone = False
    if not gone:
        log.info("relayed Delete not confirmed by the origin", extra={"object": target})
        return
    await objects.add_tombstone(target, author.uri)
    await objects.mark_deleted(target)
    await timelines.remove_from_timelines(db, record.id, streams=federation.streams)


async def apply_relayed_update(federation: Federation, update: dict[str, Any]) -> None:
    """A group relays a member's edit (FEP-1b12): take the post as its own server serves it.

    The relayed copy is never stored: the edit is read from the post's origin, and only for
    the post of the Update's named author.
    """
    target = id_of(update.get("object"))
    if not target:
        return
    db = federation.instance.db
    objects = ObjectRepository(db)
    record = await objects.by_uri(target)
    if record is None or record.local or record.deleted_at:
        return
    author = await ActorRepository(db).get(record.actor_id)
    if author is None or author.uri != id_of(update.get("actor")):
        return
    try:
        document = await federation.fetcher.get_activity(target)
    except FetchError as error:
        log.info("relayed Update not confirmed", extra={"object": target, "reason": error.reason})
        return
    parsed = parse_object(document.data)
    if parsed.type not in NOTE_TYPES or parsed.attributed_to != author.uri:
        return
    await objects.replace_content(note_from_as(parsed, document.data, author))
