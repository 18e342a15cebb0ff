"""`/migration-map`: the published map from a moved co-op's (or member's) old ids to new ones.

Each item says "this object, previously that one" (`previously`, our term, in the spirit of
FEP-1580's copied objects), so any server or archive holding an old id can find the copy.
A move also redirects the old addresses, but the map outlives the old host.
"""

from typing import Any

from aiohttp import web

from fedicoop.activitypub.documents import COLLECTION_CONTEXT
from fedicoop.storage.migration_map import MigrationMapRepository
from fedicoop.web.activitypub_routes import activity_response
from fedicoop.web.keys import INSTANCE

PAGE_SIZE = 200
PREVIOUSLY = {"previously": {"@id": "https://fedicoop.org/ns#previously", "@type": "@id"}}
CONTEXT: list[Any] = [COLLECTION_CONTEXT, PREVIOUSLY]


async def migration_map(request: web.Request) -> web.Response:
    """GET /migration-map[?after=OLD_ID]: the collection, or one page of it."""
    instance = request.app[INSTANCE]
    entries = MigrationMapRepository(instance.db)
    uri = instance.urls.base + "/migration-map"
    if "after" not in request.query:
        return activity_response(
            {
                "@context": CONTEXT,
                "id": uri,
                "type": "OrderedCollection",
                "totalItems": await entries.count(),
                "first": f"{uri}?after=",
            }
        )
    after = request.query["after"]
    page = await entries.page(after, PAGE_SIZE)
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "id": f"{uri}?after={after}",
        "type": "OrderedCollectionPage",
        "partOf": uri,
        "orderedItems": [{"id": e.new_uri, "previously": e.old_uri} for e in page],
    }
    if len(page) == PAGE_SIZE:
        document["next"] = f"{uri}?after={page[-1].old_uri}"
    return activity_response(document)


def setup(app: web.Application) -> None:
    """Add the route."""
    app.router.add_get("/migration-map", migration_map)
