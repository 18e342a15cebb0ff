"""A group's relayed Delete or Update (FEP-1b12, as Lemmy sends them) counts as the origin says.

An in-process co-op holds a remote member's post; the post's own server is a real aiohttp
server on loopback that either still serves the post or answers 410 Gone.
"""

import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from fedicoop import clock
from fedicoop.social.remote_posts import apply_relayed_delete, apply_relayed_update
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.objects import ObjectRecord, ObjectRepository
from tests.api.conftest import ApiApp


@pytest.fixture
async def origin(aiohttp_server: Any) -> Any:
    """The remote author's server: GET /notes/1 answers as `state["status"]` says."""
    state: dict[str, Any] = {"status": 200}

    async def note(request: web.Request) -> web.Response:
        if state["status"] != 200:
            return web.json_response({"error": "gone"}, status=state["status"])
        document = {
            "id": str(request.url),
            "type": "Note",
            "attributedTo": state["author"],
            "content": state.get("content", "still here"),
        }
        return web.Response(text=json.dumps(document), content_type="application/activity+json")

    app = web.Application()
    app.router.add_get("/notes/1", note)
    server: TestServer = await aiohttp_server(app)
    state["base"] = f"http://127.0.0.1:{server.port}"
    state["author"] = f"{state['base']}/users/ann"
    return state


async def stored_post(api_app: ApiApp, origin: dict[str, Any]) -> str:
    db = api_app.db
    author = await ActorRepository(db).insert(
        ActorRecord(uri=origin["author"], type="Person", domain="127.0.0.1", username="ann")
    )
    uri = f"{origin['base']}/notes/1"
    await ObjectRepository(db).insert(
        ObjectRecord(
            uri=uri, type="Note", actor_id=author.id, raw="{}", published=clock.now_text(),
            content="<p>hello</p>",
        )
    )  # fmt: skip
    return uri


def relayed(uri: str, actor: str) -> dict[str, Any]:
    return {"type": "Delete", "id": f"{uri}#delete", "actor": actor, "object": uri}


async def deleted(api_app: ApiApp, uri: str) -> bool:
    record = await ObjectRepository(api_app.db).by_uri(uri)
    return record is not None and record.deleted_at is not None


async def test_a_relayed_delete_the_origin_confirms_deletes_the_post(
    api_app: ApiApp, origin: dict[str, Any]
) -> None:
    uri = await stored_post(api_app, origin)
    origin["status"] = 410
    await apply_relayed_delete(api_app.federation, relayed(uri, origin["author"]))
    assert await deleted(api_app, uri)


async def test_a_relayed_delete_of_a_post_still_served_deletes_nothing(
    api_app: ApiApp, origin: dict[str, Any]
) -> None:
    # Given a group relays a "Delete" of a post its author's server still serves
    uri = await stored_post(api_app, origin)
    await apply_relayed_delete(api_app.federation, relayed(uri, origin["author"]))
    # Then the post stays: a group cannot erase others' posts by saying so
    assert not await deleted(api_app, uri)


async def test_a_relayed_delete_naming_another_author_deletes_nothing(
    api_app: ApiApp, origin: dict[str, Any]
) -> None:
    uri = await stored_post(api_app, origin)
    origin["status"] = 410
    await apply_relayed_delete(api_app.federation, relayed(uri, "http://127.0.0.1:9/users/mallory"))
    assert not await deleted(api_app, uri)


async def test_a_relayed_update_takes_the_post_as_its_origin_serves_it(
    api_app: ApiApp, origin: dict[str, Any]
) -> None:
    # Given the author edited the post on their server, and a group relays the Update with
    # other content than the origin has
    uri = await stored_post(api_app, origin)
    origin["content"] = "edited at home"
    update = {
        "type": "Update",
        "actor": origin["author"],
        "object": {"id": uri, "type": "Note", "content": "words put in the author's mouth"},
    }
    await apply_relayed_update(api_app.federation, update)
    # Then the stored post is what the origin serves, never the relayed copy
    record = await ObjectRepository(api_app.db).by_uri(uri)
    assert record is not None and "edited at home" in record.content


async def test_a_relayed_update_naming_another_author_changes_nothing(
    api_app: ApiApp, origin: dict[str, Any]
) -> None:
    uri = await stored_post(api_app, origin)
    origin["content"] = "edited at home"
    update = {"type": "Update", "actor": "http://127.0.0.1:9/users/mallory", "object": uri}
    await apply_relayed_update(api_app.federation, update)
    record = await ObjectRepository(api_app.db).by_uri(uri)
    assert record is not None and record.content == "<p>hello</p>"
