"""ActivityPub endpoints: actors, collections, objects, activities and inboxes."""

import html
import json
from typing import Any

from aiohttp import web

from fedicoop.accounts.model import Status
from fedicoop.activitypub.as2 import as_list
from fedicoop.activitypub.documents import (
    ACTIVITY_JSON,
    actor_document,
    dumps,
    ordered_collection,
    ordered_page,
    tombstone,
)
from fedicoop.activitypub.inbox import AcceptedAndIgnored, InboundRequest, PayloadTooLarge
from fedicoop.activitypub.runtime import PUBLIC_ALIASES
from fedicoop.activitypub.signatures import SignatureError
from fedicoop.errors import NotFound
from fedicoop.rides.federation import ride_to_as
from fedicoop.storage.accounts import AccountRepository
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.follows import FollowRepository
from fedicoop.storage.objects import ObjectRepository
from fedicoop.storage.rides import RideRepository
from fedicoop.web.keys import FEDERATION, INSTANCE
from fedicoop.web.public_pages import actor_page, post_page

PAGE_SIZE = 50
AP_TYPES = ("application/activity+json", "application/ld+json")


def wants_activity_json(request: web.Request) -> bool:
    """Return whether the client asked for ActivityStreams rather than a web page."""
    accept = request.headers.get("Accept", "")
    return any(kind in accept for kind in (*AP_TYPES, "application/json")) or not accept


def activity_response(body: str | dict[str, Any], status: int = 200) -> web.Response:
    """Serve a document as application/activity+json."""
    text = body if isinstance(body, str) else dumps(body)
    return web.Response(
        text=text,
        status=status,
        content_type=ACTIVITY_JSON,
        headers={"Vary": "Accept", "Access-Control-Allow-Origin": "*"},
    )


async def _local_actor(request: web.Request) -> ActorRecord:
    instance = request.app[INSTANCE]
    actor = await ActorRepository(instance.db).by_handle(
        request.match_info["username"], instance.domain
    )
    if actor is None or not actor.local:
        raise NotFound("no such actor")
    return actor


def _html_page(title: str, body: str) -> web.Response:
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head><body><main>{body}</main></body></html>"
    )
    return web.Response(text=page, content_type="text/html", headers={"Vary": "Accept"})


async def actor(request: web.Request) -> web.StreamResponse:
    """Serve a member or the Group: JSON to servers, a page to browsers."""
    record = await _local_actor(request)
    account = await AccountRepository(request.app[INSTANCE].db).by_actor(record.id)
    if account is not None and account.status == Status.DELETED:
        # The member left for good: servers that still ask learn it is gone.
        return activity_response(tombstone(record.uri, account.updated_at), status=410)
    if not wants_activity_json(request):
        await _redirect_if_moved(request, record)
        return await actor_page(request, record)
    return activity_response(actor_document(record))


async def profile_page(request: web.Request) -> web.StreamResponse:
    """Serve /@username: a page to browsers, the actor to servers."""
    record = await _local_actor(request)
    if wants_activity_json(request):
        return activity_response(actor_document(record))
    await _redirect_if_moved(request, record)
    return await actor_page(request, record)


async def _redirect_if_moved(request: web.Request, record: ActorRecord) -> None:
    """Send browsers on to the new account of a member who moved (servers read movedTo)."""
    if record.moved_to:
        target = await ActorRepository(request.app[INSTANCE].db).by_uri(record.moved_to)
        raise web.HTTPFound((target.url if target else None) or record.moved_to)


async def instance_actor(request: web.Request) -> web.Response:
    """Serve the instance actor (Application) that signs our fetches."""
    federation = request.app[FEDERATION]
    return activity_response(actor_document(await federation.instance_actor()))


async def followers(request: web.Request) -> web.Response:
    """Serve an actor's followers, paged (50 ids per page)."""
    return await _relation(request, "followers")


async def following(request: web.Request) -> web.Response:
    """Serve whom an actor follows, paged."""
    return await _relation(request, "following")


async def _relation(request: web.Request, name: str) -> web.Response:
    record = await _local_actor(request)
    instance = request.app[INSTANCE]
    follows = FollowRepository(instance.db)
    uri = f"{record.uri}/{name}"
    if name == "followers":
        total = await follows.count_followers(record.id)
    else:
        total = await follows.count_following(record.id)
    page = _page_number(request)
    if page is None:
        return activity_response(ordered_collection(uri, total, first=f"{uri}?page=1"))
    offset = (page - 1) * PAGE_SIZE
    if name == "followers":
        ids = await follows.follower_ids(record.id, limit=PAGE_SIZE, offset=offset)
    else:
        ids = await follows.following_ids(record.id, limit=PAGE_SIZE, offset=offset)
    actors = ActorRepository(instance.db)
    items = [a.uri for i in ids if (a := await actors.get(i)) is not None]
    more = offset + PAGE_SIZE < total
    return activity_response(
        ordered_page(
            f"{uri}?page={page}",
            uri,
            items,
            next_page=f"{uri}?page={page + 1}" if more else None,
            total=total,
        )
    )


def _page_number(request: web.Request) -> int | None:
    value = request.query.get("page")
    if value is None:
        return None
    return int(value) if value.isdigit() and 0 < int(value) < 100_000 else 1


async def outbox(request: web.Request) -> web.Response:
    """Serve an actor's public activities, newest first, paged by max_id."""
    record = await _local_actor(request)
    objects = ObjectRepository(request.app[INSTANCE].db)
    uri = f"{record.uri}/outbox"
    total = await objects.count_by_actor(record.id)
    if "page" not in request.query:
        return activity_response(ordered_collection(uri, total, first=f"{uri}?page=true"))
    max_id = request.query.get("max_id")
    activities = await objects.outbox(
        record.uri, limit=20, max_id=int(max_id) if max_id and max_id.isdigit() else None
    )
    items = [json.loads(a.raw) for a in activities]
    for item in items:
        item.pop("@context", None)
    next_page = f"{uri}?page=true&max_id={activities[-1].id}" if len(activities) == 20 else None
    page_id = f"{uri}?page=true" + (f"&max_id={max_id}" if max_id else "")
    return activity_response(ordered_page(page_id, uri, items, next_page=next_page))


async def featured(request: web.Request) -> web.Response:
    """Serve an actor's pinned public posts, embedded as Mastodon does."""
    from fedicoop.activitypub.documents import OBJECT_CONTEXT
    from fedicoop.social.marks import pinned_documents

    record = await _local_actor(request)
    items = await pinned_documents(request.app[INSTANCE].db, record.id)
    document = ordered_collection(f"{record.uri}/collections/featured", len(items))
    document["@context"] = OBJECT_CONTEXT  # the embedded notes use terms beyond AS2
    document["orderedItems"] = items
    return activity_response(document)


async def object_document(request: web.Request) -> web.StreamResponse:
    """Serve a local object exactly as it was first published (public and unlisted only)."""
    instance = request.app[INSTANCE]
    raw_id = request.match_info["object_id"]
    record = await ObjectRepository(instance.db).get(int(raw_id)) if raw_id.isdigit() else None
    if record is None or not record.local or record.visibility not in ("public", "unlisted"):
        raise NotFound("no such object")
    if record.deleted_at:
        return activity_response(tombstone(record.uri, record.deleted_at), status=410)
    if not wants_activity_json(request):
        return await post_page(request, record)
    return activity_response(record.raw)


async def ride_document(request: web.Request) -> web.Response:
    """Serve a local ride: its published document (never the exact places), or a page."""
    instance = request.app[INSTANCE]
    federation = request.app[FEDERATION]
    raw_id = request.match_info["ride_id"]
    ride = await RideRepository(instance.db).get(int(raw_id)) if raw_id.isdigit() else None
    if ride is None or not ride.local:
        raise NotFound("no such ride")
    author = await ActorRepository(instance.db).get(ride.actor_id)
    if author is None:
        raise NotFound("no such ride")
    group = await federation.group_actor()
    document = ride_to_as(ride, author, group, language=instance.config.language)
    if not wants_activity_json(request):
        return _html_page(document["name"], document["content"])
    return activity_response(document)


async def profile_object(request: web.Request) -> web.StreamResponse:
    """Serve /@username/ID, the `url` of a local post: the page, or the object for servers."""
    await _local_actor(request)
    return await object_document(request)


async def instance_collection(request: web.Request) -> web.Response:
    """The instance actor posts nothing and follows no one: empty collections."""
    federation = request.app[FEDERATION]
    actor = await federation.instance_actor()
    document = ordered_collection(f"{actor.uri}/{request.match_info['name']}", 0)
    document["orderedItems"] = []
    return activity_response(document)


async def hashtag_page(request: web.Request) -> web.Response:
    """Serve /tags/NAME: recent public local posts with that hashtag, as a page."""
    instance = request.app[INSTANCE]
    name = request.match_info["name"].lower()[:64]
    rows = await ObjectRepository(instance.db).with_hashtag(name, limit=20)
    items = "".join(f"<article>{row.content}</article>" for row in rows)
    return _html_page(f"#{name}", f"<h1>#{html.escape(name)}</h1>{items or '<p>No posts.</p>'}")


async def activity_document(request: web.Request) -> web.Response:
    """Serve a local activity whose object is public."""
    instance = request.app[INSTANCE]
    uri = instance.urls.activity(0).rsplit("/", 1)[0] + "/" + request.match_info["activity_id"]
    objects = ObjectRepository(instance.db)
    record = await objects.activity_by_uri(uri)
    if record is None or not record.local or record.type not in ("Create", "Announce", "Like"):
        raise NotFound("no such activity")
    target = await objects.by_uri(record.object_uri or "")
    if target is not None:
        if target.visibility not in ("public", "unlisted"):
            raise NotFound("no such activity")
    else:
        # Not a stored post (a booking message, a review, a ballot): only what was addressed
        # to the public is public.
        document = json.loads(record.raw)
        addressed = {*as_list(document.get("to")), *as_list(document.get("cc"))}
        if not addressed & PUBLIC_ALIASES:
            raise NotFound("no such activity")
    return activity_response(record.raw)


async def inbox(request: web.Request) -> web.Response:
    """Accept a signed activity (202) or say exactly why not."""
    instance = request.app[INSTANCE]
    if "username" in request.match_info:
        await _local_actor(request)
    limit = instance.config.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"body over {limit} bytes")
    body = await request.content.read(limit + 1)
    if len(body) > limit:
        raise PayloadTooLarge(f"body over {limit} bytes")
    if request.host.lower() != instance.domain:
        # Signed for another host: a replay of a request meant for someone else.
        raise SignatureError(f"request addressed to {request.host}, not {instance.domain}")
    inbound = InboundRequest(
        method=request.method,
        target=request.raw_path,
        headers=request.headers,
        body=body,
        content_type=request.headers.get("Content-Type", ""),
        scheme=instance.config.scheme,
    )
    try:
        await request.app[FEDERATION].receiver.receive(inbound)
    except AcceptedAndIgnored:
        pass
    # What json_response({}) sends, without encoding the same empty object every time.
    return web.Response(text="{}", status=202, content_type="application/json")


def setup(app: web.Application) -> None:
    """Add the ActivityPub routes."""
    router = app.router
    router.add_get("/actor", instance_actor)
    router.add_post("/actor/inbox", inbox)
    router.add_post("/inbox", inbox)
    router.add_get("/users/{username}", actor)
    router.add_get("/@{username}", profile_page)
    router.add_post("/users/{username}/inbox", inbox)
    router.add_get("/users/{username}/outbox", outbox)
    router.add_get("/users/{username}/followers", followers)
    router.add_get("/users/{username}/following", following)
    router.add_get("/users/{username}/collections/featured", featured)
    router.add_get("/objects/{object_id}", object_document)
    router.add_get("/@{username}/{object_id}", profile_object)
    router.add_get("/actor/{name:outbox|followers|following}", instance_collection)
    router.add_get("/tags/{name}", hashtag_page)
    router.add_get("/activities/{activity_id}", activity_document)
    router.add_get("/rides/{ride_id}", ride_document)
