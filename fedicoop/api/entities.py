"""Mastodon API entities (internal → frontend): Account, Status, MediaAttachment, Poll.

A `Presenter` renders a whole page at once: it loads everything the entities need in a few
batch queries (storage/views.py) instead of a handful of queries per status.
"""

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from fedicoop import clock
from fedicoop.activitypub.sanitize import html_to_text
from fedicoop.instance import Instance
from fedicoop.storage.actors import ActorRecord
from fedicoop.storage.database import Row
from fedicoop.storage.objects import ObjectRecord
from fedicoop.storage.views import ViewRepository


def api_time(text: str | None) -> str | None:
    """Format a stored time as Mastodon does: ISO 8601 with milliseconds and Z."""
    if not text:
        return None
    return (
        clock.from_text(text).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{clock.from_text(text).microsecond // 1000:03d}Z"
    )


async def _nothing() -> set[Any]:
    return set()


def acct_of(actor: ActorRecord) -> str:
    """Return `username` for local accounts, `username@domain` for remote ones."""
    return str(actor.username) if actor.local else actor.acct


@dataclass
class Viewer:
    """Who is looking: decides favourited/reblogged/bookmarked flags."""

    account_id: int | None = None
    actor_id: int | None = None


@dataclass
class Boost:
    """A reblog as it appears in a timeline: who boosted what, and when."""

    id: int
    actor_id: int
    object_id: int
    uri: str
    created_at: str


@dataclass
class Presenter:
    """Renders accounts and statuses for one request."""

    instance: Instance
    viewer: Viewer = field(default_factory=Viewer)

    def __post_init__(self) -> None:
        self.views = ViewRepository(self.instance.db)

    async def _together(self, *lookups: Awaitable[Any]) -> list[Any]:
        """Run read-only lookups concurrently on PostgreSQL's pool, one after another else.

        Inside a transaction they must share its one connection, so they take turns; SQLite
        has one connection anyway and answers each in microseconds.
        """
        db = self.instance.db
        if db.dialect != "postgresql" or db.joined() is not None:
            return [await lookup for lookup in lookups]
        return list(await asyncio.gather(*lookups))

    # Accounts -------------------------------------------------------------------------------

    async def accounts(self, actors: list[ActorRecord]) -> list[dict[str, Any]]:
        """Render Account entities with their counts."""
        stats = await self.views.account_stats(a.id for a in actors)
        followers = {k: max(0, int(v["followers_count"])) for k, v in stats.items()}
        following = {k: max(0, int(v["following_count"])) for k, v in stats.items()}
        statuses = {k: max(0, int(v["statuses_count"])) for k, v in stats.items()}
        last = {k: str(v["last_status_at"]) for k, v in stats.items() if v["last_status_at"]}
        moved_uris = [a.moved_to for a in actors if a.moved_to]
        moved: dict[str, dict[str, Any]] = {}
        if moved_uris:
            from fedicoop.storage.actors import ActorRepository

            for uri in moved_uris:
                target = await ActorRepository(self.instance.db).by_uri(uri)
                if target is not None:
                    moved[uri] = self._account(target, {}, {}, {}, {})
        return [
            self._account(
                actor, followers, following, statuses, last, moved.get(actor.moved_to or "")
            )
            for actor in actors
        ]

    async def account(self, actor: ActorRecord) -> dict[str, Any]:
        """Render one Account."""
        return (await self.accounts([actor]))[0]

    def _account(
        self,
        actor: ActorRecord,
        followers: dict[Any, int],
        following: dict[Any, int],
        statuses: dict[Any, int],
        last: dict[int, str],
        moved: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        base = self.instance.config.base_url
        avatar = actor.avatar_url or f"{base}/static/avatar-missing.png"
        header = actor.header_url or f"{base}/static/header-missing.png"
        last_at = last.get(actor.id)
        return {
            "id": str(actor.id),
            "username": actor.handle_name,
            "acct": acct_of(actor),
            "display_name": actor.display_name or "",
            "locked": actor.locked,
            "bot": actor.type in ("Service", "Application"),
            "group": actor.type == "Group",
            "discoverable": True,
            "indexable": True,
            "noindex": False,
            "created_at": api_time(actor.created_at),
            "note": actor.summary,
            "url": actor.url or actor.uri,
            "uri": actor.uri,
            "avatar": avatar,
            "avatar_static": avatar,
            "header": header,
            "header_static": header,
            "followers_count": followers.get(actor.id, 0),
            "following_count": following.get(actor.id, 0),
            "statuses_count": statuses.get(actor.id, 0),
            "last_status_at": last_at[:10] if last_at else None,
            "hide_collections": False,
            "emojis": [],
            "roles": [],
            "fields": [{"name": n, "value": v, "verified_at": None} for n, v in actor.fields],
            "moved": moved,
        }

    # Statuses -------------------------------------------------------------------------------

    async def statuses(
        self, objects: list[ObjectRecord], boosts: dict[int, Boost] | None = None
    ) -> list[dict[str, Any]]:
        """Render Status entities; `boosts` maps a timeline entry id to the boost it shows."""
        boosts = boosts or {}
        wanted = {o.id: o for o in objects}
        extra = await self.views.objects(
            b.object_id for b in boosts.values() if b.object_id not in wanted
        )
        wanted.update(extra)
        items = list(wanted.values())
        uris = [o.uri for o in items]
        ids = [o.id for o in items]
        actor_ids = {o.actor_id for o in items} | {b.actor_id for b in boosts.values()}
        views = self.views
        viewer_actor, viewer_account = self.viewer.actor_id or 0, self.viewer.account_id or 0
        signed_in = self.viewer.actor_id is not None and self.viewer.account_id is not None
        # Independent lookups: on PostgreSQL each is a round trip, so they go together.
        (
            mentions,
            parents,
            likes,
            reblogs,
            replies,
            tags,
            media,
            polls,
            liked,
            boosted,
            bookmarked,
            pinned,
        ) = await self._together(
            views.mentions(ids),
            views.objects_by_uri(o.in_reply_to for o in items if o.in_reply_to),
            views.counts("likes", "object_uri", uris),
            views.counts("announces", "object_uri", uris),
            views.counts("objects", "in_reply_to", uris),
            views.hashtags(ids),
            views.media(ids),
            views.polls(ids),
            *(
                (
                    views.viewer_set("liked", viewer_actor, uris),
                    views.viewer_set("boosted", viewer_actor, uris),
                    views.viewer_set("bookmarked", viewer_account, ids),
                    views.viewer_set("pinned", viewer_account, ids),
                )
                if signed_in
                else (_nothing(), _nothing(), _nothing(), _nothing())
            ),
        )
        for mentioned in mentions.values():
            actor_ids.update(a.id for a in mentioned)
        votes: dict[int, list[int]] = {}
        if signed_in and polls:
            actors, votes = await self._together(
                views.actors(actor_ids), views.own_votes(viewer_actor, polls.keys())
            )
        else:
            actors = await views.actors(actor_ids)
        accounts = {a["id"]: a for a in await self.accounts(list(actors.values()))}
        rendered: dict[int, dict[str, Any]] = {}
        for obj in items:
            parent = parents.get(obj.in_reply_to or "")
            rendered[obj.id] = {
                "id": str(obj.id),
                "uri": obj.uri,
                "url": obj.url or obj.uri,
                "created_at": api_time(obj.published),
                "edited_at": api_time(obj.edited_at),
                "account": accounts[str(obj.actor_id)],
                "content": obj.content,
                "text": None,
                "visibility": obj.visibility,
                "sensitive": obj.sensitive,
                "spoiler_text": html_to_text(obj.summary) if obj.summary else "",
                "language": obj.language,
                "in_reply_to_id": str(parent[0]) if parent else None,
                "in_reply_to_account_id": str(parent[1]) if parent else None,
                "replies_count": replies.get(obj.uri, 0),
                "reblogs_count": reblogs.get(obj.uri, 0),
                "favourites_count": likes.get(obj.uri, 0),
                "favourited": obj.uri in liked,
                "reblogged": obj.uri in boosted,
                "muted": False,
                "bookmarked": obj.id in bookmarked,
                "pinned": obj.id in pinned,
                "reblog": None,
                "application": {"name": "fedicoop", "website": None} if obj.local else None,
                "media_attachments": [self.media_entity(row) for row in media.get(obj.id, [])],
                "mentions": [
                    {
                        "id": str(a.id),
                        "username": a.handle_name,
                        "url": a.url or a.uri,
                        "acct": acct_of(a),
                    }
                    for a in mentions.get(obj.id, [])
                ],
                "tags": [
                    {"name": t, "url": f"{self.instance.config.base_url}/tags/{t}"}
                    for t in tags.get(obj.id, [])
                ],
                "emojis": [],
                "card": None,
                "poll": self.poll_entity(obj, polls[obj.id], votes.get(obj.id))
                if obj.id in polls
                else None,
                "filtered": [],
            }
        result = []
        for obj in objects:
            result.append(rendered[obj.id])
        for boost_id, boost in boosts.items():
            inner = rendered.get(boost.object_id)
            booster = accounts.get(str(boost.actor_id))
            if inner is None or booster is None:
                continue
            result.append(
                {
                    **inner,
                    "id": str(boost_id),
                    "uri": boost.uri,
                    "url": boost.uri,
                    "created_at": api_time(boost.created_at),
                    "account": booster,
                    "content": "",
                    "reblog": inner,
                    "media_attachments": [],
                    "mentions": [],
                    "tags": [],
                    "poll": None,
                    "application": None,
                }
            )
        return result

    async def status(self, obj: ObjectRecord) -> dict[str, Any]:
        """Render one Status."""
        return (await self.statuses([obj]))[0]

    def media_entity(self, row: Row) -> dict[str, Any]:
        """Render a MediaAttachment."""
        base = self.instance.config.base_url
        url = row["remote_url"] or f"{base}/media/{row['file_name']}"
        meta: dict[str, Any] = {}
        if row["width"] and row["height"]:
            width, height = int(row["width"]), int(row["height"])
            size = {"width": width, "height": height, "size": f"{width}x{height}"}
            size["aspect"] = width / height
            meta = {"original": size, "small": size}
        if row["focus"]:
            x, _, y = str(row["focus"]).partition(",")
            meta["focus"] = {"x": float(x or 0), "y": float(y or 0)}
        return {
            "id": str(row["id"]),
            "type": row["kind"],
            "url": url,
            "preview_url": url,
            "remote_url": row["remote_url"],
            "preview_remote_url": None,
            "text_url": None,
            "meta": meta,
            "description": row["description"] or None,
            "blurhash": None,
        }

    def poll_entity(self, obj: ObjectRecord, poll: Row, own: list[int] | None) -> dict[str, Any]:
        """Render a Poll."""
        options = poll["options"]
        expires = poll["expires_at"]
        expired = bool(expires) and clock.from_text(expires) < clock.now()
        votes_count = sum(int(option.get("votes", 0)) for option in options)
        return {
            "id": str(obj.id),
            "expires_at": api_time(expires),
            "expired": expired,
            "multiple": bool(poll["multiple"]),
            "votes_count": votes_count,
            "voters_count": poll["voters_count"],
            "options": [
                {"title": o["title"], "votes_count": int(o.get("votes", 0))} for o in options
            ],
            "emojis": [],
            # Mastodon counts the author as having voted (authors cannot vote).
            "voted": bool(own) or obj.actor_id == self.viewer.actor_id,
            "own_votes": own or [],
        }
