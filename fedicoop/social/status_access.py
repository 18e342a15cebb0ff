"""Who may see a status, and the part of its thread a viewer may see (Mastodon's rules)."""

from fedicoop.social.addressing import Visibility
from fedicoop.storage.actors import ActorRecord
from fedicoop.storage.database import Executor
from fedicoop.storage.follows import FollowRepository
from fedicoop.storage.notifications import ReactionRepository
from fedicoop.storage.objects import ObjectRecord, ObjectRepository

# Mastodon's context limits: anonymous callers see less of a long thread.
ANONYMOUS_ANCESTORS, ANONYMOUS_DESCENDANTS, ANONYMOUS_DEPTH = 40, 60, 20
MEMBER_THREAD_LIMIT = 4096


async def may_view(db: Executor, record: ObjectRecord, viewer: ActorRecord | None) -> bool:
    """Return whether a viewer (None: anonymous) may see a status.

    Public and unlisted: anyone the author has not blocked. Followers-only: the author's
    accepted followers and whoever it mentions. Direct: the mentioned and addressed only.
    """
    if record.deleted_at:
        return False
    if viewer is not None and viewer.id == record.actor_id:
        return True
    if viewer is not None and await ReactionRepository(db).is_blocked(record.actor_id, viewer.id):
        return False
    if record.visibility in (Visibility.PUBLIC, Visibility.UNLISTED):
        return True
    if viewer is None:
        return False
    if viewer.uri in record.addressed:
        return True
    mentioned = await db.fetchval(
        "SELECT 1 FROM mentions WHERE object_id = $1 AND actor_id = $2", record.id, viewer.id
    )
    if mentioned is not None:
        return True
    if record.visibility == Visibility.PRIVATE:
        follow = await FollowRepository(db).get(viewer.id, record.actor_id)
        return follow is not None and follow.state == "accepted"
    return False


async def ancestors(
    db: Executor, record: ObjectRecord, viewer: ActorRecord | None, *, limit: int
) -> list[ObjectRecord]:
    """Return the posts a status replies to, oldest first, that the viewer may see."""
    objects = ObjectRepository(db)
    seen = {record.uri}
    chain: list[ObjectRecord] = []
    current = record
    steps = 0
    while current.in_reply_to and steps < limit:
        parent = await objects.by_uri(current.in_reply_to)
        if parent is None or parent.uri in seen:  # a missing parent or a reply loop ends it
            break
        seen.add(parent.uri)
        steps += 1
        if await may_view(db, parent, viewer):
            chain.append(parent)
        current = parent
    chain.reverse()
    return chain


async def descendants(
    db: Executor, record: ObjectRecord, viewer: ActorRecord | None, *, limit: int, depth: int
) -> list[ObjectRecord]:
    """Return the replies below a status in thread order (depth first), visible ones only."""
    objects = ObjectRepository(db)
    seen = {record.uri}
    found: list[ObjectRecord] = []
    stack = [(reply, 1) for reply in reversed(await objects.replies(record.uri))]
    while stack and len(found) < limit:
        reply, level = stack.pop()
        if reply.uri in seen:
            continue
        seen.add(reply.uri)
        if await may_view(db, reply, viewer):
            found.append(reply)
        if level < depth:
            children = await objects.replies(reply.uri)
            stack.extend((child, level + 1) for child in reversed(children))
    return found
