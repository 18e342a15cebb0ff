"""What other servers and browsers find: WebFinger, host-meta, NodeInfo, actors, collections."""

from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from pytest_aiohttp import AiohttpClient, AiohttpServer

from fedicoop.accounts.model import Status
from fedicoop.accounts.service import add_account
from fedicoop.activitypub.signatures import load_public_key
from fedicoop.social.addressing import Visibility
from fedicoop.social.publishing import post_note
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.follows import FollowRecord, FollowRepository
from tests.activitypub.remote import COOP_HANDLE, COOP_NAME, Coop, start_coop

AP_ACCEPT = "application/activity+json"
LD_ACCEPT = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
NODEINFO_20 = "http://nodeinfo.diaspora.software/ns/schema/2.0"
NODEINFO_21 = "http://nodeinfo.diaspora.software/ns/schema/2.1"


@pytest.fixture
async def coop(
    tmp_path: Path,
    database_url: str,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
) -> Coop:
    return await start_coop(tmp_path / "coop", database_url, aiohttp_server, aiohttp_client)


async def get_json(
    coop: Coop, path: str, accept: str = AP_ACCEPT, *, status: int = 200, **params: str
) -> Any:
    response = await coop.client.get(path, headers={"Accept": accept}, params=params)
    assert response.status == status, await response.text()
    return await response.json(content_type=None)


async def get_ap(coop: Coop, path: str, accept: str = AP_ACCEPT, **params: str) -> Any:
    """GET an ActivityStreams document and check it is served as one."""
    response = await coop.client.get(path, headers={"Accept": accept}, params=params)
    assert response.status == 200, await response.text()
    assert response.content_type == "application/activity+json"
    return await response.json(content_type=None)


async def json_error(response: ClientResponse, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body: dict[str, Any] = await response.json()
    assert isinstance(body.get("error"), str)
    return body


async def remote_actor(coop: Coop, name: str) -> ActorRecord:
    """Store a key-less remote actor (enough to appear in collections)."""
    uri = f"http://remote.test/users/{name}"
    return await ActorRepository(coop.db).insert(
        ActorRecord(uri=uri, type="Person", domain="remote.test", username=name, inbox=uri + "/in")
    )


# --- WebFinger (RFC 7033) -------------------------------------------------------------------


async def webfinger(coop: Coop, resource: str) -> ClientResponse:
    return await coop.client.get("/.well-known/webfinger", params={"resource": resource})


async def test_webfinger_finds_a_member_by_acct_with_host_and_port(coop: Coop) -> None:
    # Given the admin member of a co-op served on host:port
    admin = await coop.local_actor("admin")
    # When a server asks for acct:admin@host:port
    response = await webfinger(coop, f"acct:admin@{coop.domain}")
    # Then a JRD names the subject and links the ActivityPub actor, readable cross-origin
    assert response.status == 200
    assert response.content_type == "application/jrd+json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    jrd = await response.json(content_type=None)
    assert jrd["subject"] == f"acct:admin@{coop.domain}"
    assert admin.uri in jrd["aliases"]
    self_links = [link for link in jrd["links"] if link["rel"] == "self"]
    assert self_links == [{"rel": "self", "type": "application/activity+json", "href": admin.uri}]
    profile = [link for link in jrd["links"] if link["rel"].endswith("/rel/profile-page")]
    assert profile and profile[0]["href"] == f"{coop.base_url}/@admin"


async def test_webfinger_finds_the_group(coop: Coop) -> None:
    group = await coop.group()
    jrd = await (await webfinger(coop, f"acct:{COOP_HANDLE}@{coop.domain}")).json(content_type=None)
    assert jrd["subject"] == f"acct:{COOP_HANDLE}@{coop.domain}"
    assert {"rel": "self", "type": "application/activity+json", "href": group.uri} in jrd["links"]


async def test_webfinger_accepts_a_handle_without_the_acct_scheme(coop: Coop) -> None:
    response = await webfinger(coop, f"admin@{coop.domain}")
    assert response.status == 200
    assert (await response.json(content_type=None))["subject"] == f"acct:admin@{coop.domain}"


@pytest.mark.parametrize("path", ["/users/admin", "/@admin"])
async def test_webfinger_finds_a_member_by_actor_or_profile_url(coop: Coop, path: str) -> None:
    # Given the actor id or the profile URL instead of an acct: URI
    response = await webfinger(coop, coop.base_url + path)
    # Then the same account is described
    assert response.status == 200
    assert (await response.json(content_type=None))["subject"] == f"acct:admin@{coop.domain}"


async def test_webfinger_finds_the_instance_actor_by_url(coop: Coop) -> None:
    jrd = await (await webfinger(coop, f"{coop.base_url}/actor")).json(content_type=None)
    assert {
        "rel": "self",
        "type": "application/activity+json",
        "href": f"{coop.base_url}/actor",
    } in jrd["links"]


@pytest.mark.parametrize(
    "resource",
    [
        "acct:nobody@{domain}",
        "acct:admin@elsewhere.example",
        "acct:admin@127.0.0.1",  # right host, wrong port
        "http://remote.test/users/admin",
        "acct:@{domain}",
    ],
)
async def test_webfinger_unknown_resource_is_404_json_with_cors(coop: Coop, resource: str) -> None:
    # When a server asks for an account this co-op does not have
    response = await webfinger(coop, resource.format(domain=coop.domain))
    # Then it gets a JSON 404 it may read cross-origin
    await json_error(response, 404)
    assert response.headers["Access-Control-Allow-Origin"] == "*"


async def test_webfinger_without_resource_is_400_with_cors(coop: Coop) -> None:
    # When the resource parameter is missing
    response = await coop.client.get("/.well-known/webfinger")
    # Then RFC 7033 §4.2 asks for 400 Bad Request, and §5 for the CORS header on every answer
    await json_error(response, 400)
    assert response.headers.get("Access-Control-Allow-Origin") == "*"


async def test_webfinger_does_not_describe_remote_actors(coop: Coop) -> None:
    # Given a remote actor the co-op knows, When asked for it by its acct
    await remote_actor(coop, "carol")
    response = await webfinger(coop, "acct:carol@remote.test")
    # Then this server does not speak for another
    await json_error(response, 404)


# --- host-meta ------------------------------------------------------------------------------


async def test_host_meta_points_at_webfinger(coop: Coop) -> None:
    response = await coop.client.get("/.well-known/host-meta")
    assert response.status == 200
    assert response.content_type == "application/xrd+xml"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    text = await response.text()
    assert 'rel="lrdd"' in text
    assert f'template="{coop.base_url}/.well-known/webfinger?resource={{uri}}"' in text


# --- NodeInfo -------------------------------------------------------------------------------


async def test_nodeinfo_well_known_lists_both_versions(coop: Coop) -> None:
    links = (await get_json(coop, "/.well-known/nodeinfo", "application/json"))["links"]
    assert {"rel": NODEINFO_20, "href": f"{coop.base_url}/nodeinfo/2.0"} in links
    assert {"rel": NODEINFO_21, "href": f"{coop.base_url}/nodeinfo/2.1"} in links


@pytest.mark.parametrize(("version", "schema"), [("2.0", NODEINFO_20), ("2.1", NODEINFO_21)])
async def test_nodeinfo_is_served_with_the_schema_profile(
    coop: Coop, version: str, schema: str
) -> None:
    # When a crawler fetches NodeInfo
    response = await coop.client.get(f"/nodeinfo/{version}")
    # Then the media type names the schema as the NodeInfo protocol spells it: a quoted
    # parameter, since ':' and '/' may not appear in an unquoted one (RFC 9110 §5.6.6)
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Content-Type"].startswith("application/json;")
    assert f'profile="{schema}#"' in response.headers["Content-Type"]


@pytest.mark.parametrize("version", ["2.0", "2.1"])
async def test_nodeinfo_describes_fedicoop(coop: Coop, version: str) -> None:
    # When a crawler fetches NodeInfo
    response = await coop.client.get(f"/nodeinfo/{version}")
    assert response.status == 200
    document = await response.json(content_type=None)
    # Then it has the shape the schema requires
    assert document["version"] == version
    assert document["software"]["name"] == "fedicoop"
    assert isinstance(document["software"]["version"], str) and document["software"]["version"]
    if version == "2.0":  # 2.0 allows only name and version under software
        assert set(document["software"]) == {"name", "version"}
    assert document["protocols"] == ["activitypub"]
    assert document["services"] == {"inbound": [], "outbound": []}
    assert isinstance(document["openRegistrations"], bool)
    assert document["usage"]["users"]["total"] == 1  # the admin made by init
    assert document["usage"]["localPosts"] == 0
    metadata = document["metadata"]
    assert metadata["nodeName"] == COOP_NAME
    assert metadata["coop"] == f"{COOP_HANDLE}@{coop.domain}"
    features = metadata["fedicoop"]["features"]
    assert isinstance(features, list) and "social" in features and "coop-group" in features


async def test_nodeinfo_usage_counts_active_members_and_live_local_posts(coop: Coop) -> None:
    # Given one more active member, one applicant, and two posts of which one is deleted
    await add_account(coop.instance, "bea", password="long enough password")
    await add_account(
        coop.instance, "cyd", password="long enough password", status=Status.APPLICANT
    )
    admin = await coop.local_actor("admin")
    await post_note(coop.federation, admin, "first")
    second = await post_note(coop.federation, admin, "second")
    await coop.db.execute(
        "UPDATE objects SET deleted_at = '2024-01-01' WHERE id = $1", second.object.id
    )
    # When NodeInfo is fetched
    usage = (await get_json(coop, "/nodeinfo/2.1", "application/json"))["usage"]
    # Then it counts active members and live local posts only
    assert usage["users"]["total"] == 2
    assert usage["localPosts"] == 1


async def test_nodeinfo_unknown_version_is_404_json(coop: Coop) -> None:
    await json_error(await coop.client.get("/nodeinfo/9.9"), 404)


# --- actors ---------------------------------------------------------------------------------


def check_actor(document: dict[str, Any], record: ActorRecord) -> None:
    """Check an actor document against its stored record: ids, endpoints, key."""
    assert document["id"] == record.uri
    assert document["type"] == record.type
    assert document["inbox"] == record.inbox
    assert document["outbox"] == record.outbox
    assert document["endpoints"]["sharedInbox"] == record.shared_inbox
    key = document["publicKey"]
    assert key["owner"] == record.uri
    assert key["id"] == record.key_id and key["id"].startswith(record.uri + "#")
    assert key["publicKeyPem"] == record.public_key_pem
    load_public_key(key["publicKeyPem"])
    assert "PRIVATE" not in str(document)


@pytest.mark.parametrize("accept", [AP_ACCEPT, LD_ACCEPT])
async def test_member_actor_is_served_as_activity_json(coop: Coop, accept: str) -> None:
    # Given the admin member, When a server asks for the actor (either AS2 media type)
    admin = await coop.local_actor("admin")
    document = await get_ap(coop, "/users/admin", accept)
    # Then it gets a Person whose key belongs to it
    check_actor(document, admin)
    assert document["type"] == "Person"
    assert document["preferredUsername"] == "admin"
    assert document["followers"] == f"{admin.uri}/followers"
    assert document["following"] == f"{admin.uri}/following"
    assert document["featured"] == f"{admin.uri}/collections/featured"
    assert "https://www.w3.org/ns/activitystreams" in document["@context"]


async def test_group_actor_is_served_as_activity_json(coop: Coop) -> None:
    group = await coop.group()
    document = await get_ap(coop, f"/users/{COOP_HANDLE}")
    check_actor(document, group)
    assert document["type"] == "Group"
    assert document["name"] == COOP_NAME
    assert document["manuallyApprovesFollowers"] is False


async def test_instance_actor_is_served_as_activity_json(coop: Coop) -> None:
    document = await get_ap(coop, "/actor")
    instance_actor = await coop.federation.instance_actor()
    check_actor(document, instance_actor)
    assert document["id"] == f"{coop.base_url}/actor"
    assert document["type"] == "Application"


async def test_actor_answers_vary_on_accept(coop: Coop) -> None:
    response = await coop.client.get("/users/admin", headers={"Accept": AP_ACCEPT})
    assert "Accept" in response.headers.get("Vary", "")


@pytest.mark.parametrize("path", ["/users/admin", "/@admin"])
async def test_a_browser_gets_the_actor_as_html(coop: Coop, path: str) -> None:
    # When a browser opens the actor id or the profile URL
    response = await coop.client.get(path, headers={"Accept": BROWSER_ACCEPT})
    # Then it gets a page, not JSON
    assert response.status == 200
    assert response.content_type == "text/html"
    page = await response.text()
    assert page.startswith("<!doctype html>")
    assert f"@admin@{coop.domain}" in page


async def test_profile_url_gives_servers_the_actor(coop: Coop) -> None:
    document = await get_ap(coop, "/@admin")
    assert document["id"] == f"{coop.base_url}/users/admin"


async def test_group_page_says_it_is_a_coop(coop: Coop) -> None:
    response = await coop.client.get(f"/@{COOP_HANDLE}", headers={"Accept": "text/html"})
    page = await response.text()
    assert COOP_NAME in page and "Co-op" in page


@pytest.mark.parametrize(
    "path",
    [
        "/users/nobody",
        "/users/nobody/followers",
        "/users/nobody/outbox",
        "/users/nobody/collections/featured",
        "/objects/123",
        "/objects/not-a-number",
    ],
)
async def test_unknown_actor_or_object_is_404_json(coop: Coop, path: str) -> None:
    await json_error(await coop.client.get(path, headers={"Accept": AP_ACCEPT}), 404)


async def test_remote_actor_is_not_served_as_local(coop: Coop) -> None:
    # Given a remote actor whose username the co-op does not have locally
    await remote_actor(coop, "carol")
    await json_error(await coop.client.get("/users/carol", headers={"Accept": AP_ACCEPT}), 404)


# --- followers / following ------------------------------------------------------------------


async def test_followers_collection_pages_by_fifty(coop: Coop) -> None:
    # Given 51 accepted remote followers of the admin and one pending
    admin = await coop.local_actor("admin")
    follows = FollowRepository(coop.db)
    uris = []
    for n in range(51):
        follower = await remote_actor(coop, f"f{n:02d}")
        await follows.put(FollowRecord(follower.id, admin.id, f"{follower.uri}#f", "accepted"))
        uris.append(follower.uri)
    pending = await remote_actor(coop, "waiting")
    await follows.put(FollowRecord(pending.id, admin.id, f"{pending.uri}#f", "pending"))
    collection_uri = f"{admin.uri}/followers"
    # When the collection is fetched
    collection = await get_ap(coop, "/users/admin/followers")
    # Then it counts the accepted followers and points at the first page
    assert collection["type"] == "OrderedCollection"
    assert collection["id"] == collection_uri
    assert collection["totalItems"] == 51
    assert collection["first"] == f"{collection_uri}?page=1"
    # And the first page holds fifty, oldest first, and links the next one
    first = await get_ap(coop, "/users/admin/followers", page="1")
    assert first["type"] == "OrderedCollectionPage"
    assert first["partOf"] == collection_uri
    assert first["orderedItems"] == uris[:50]
    assert first["next"] == f"{collection_uri}?page=2"
    # And the second page holds the last one and ends the collection
    second = await get_ap(coop, "/users/admin/followers", page="2")
    assert second["orderedItems"] == uris[50:]
    assert "next" not in second
    assert pending.uri not in first["orderedItems"] + second["orderedItems"]


async def test_following_collection_lists_whom_a_member_follows(coop: Coop) -> None:
    # Given the admin follows the Group and a remote actor (accepted), and another (pending)
    admin = await coop.local_actor("admin")
    group = await coop.group()
    carol = await remote_actor(coop, "carol")
    dan = await remote_actor(coop, "dan")
    follows = FollowRepository(coop.db)
    await follows.put(FollowRecord(admin.id, group.id, f"{admin.uri}#f1", "accepted"))
    await follows.put(FollowRecord(admin.id, carol.id, f"{admin.uri}#f2", "accepted"))
    await follows.put(FollowRecord(admin.id, dan.id, f"{admin.uri}#f3", "pending"))
    # When the following collection is read
    collection = await get_ap(coop, "/users/admin/following")
    page = await get_ap(coop, "/users/admin/following", page="1")
    # Then the accepted follows are listed
    assert collection["totalItems"] == 2
    assert page["orderedItems"] == [group.uri, carol.uri]
    assert "next" not in page


async def test_empty_followers_collection(coop: Coop) -> None:
    collection = await get_ap(coop, f"/users/{COOP_HANDLE}/followers")
    assert collection["totalItems"] == 0
    assert (await get_ap(coop, f"/users/{COOP_HANDLE}/followers", page="1"))["orderedItems"] == []


@pytest.mark.parametrize("page", ["0", "-1", "abc", "99999999999"])
async def test_odd_page_numbers_read_as_the_first_page(coop: Coop, page: str) -> None:
    document = await get_ap(coop, "/users/admin/followers", page=page)
    assert document["id"].endswith("?page=1")


# --- outbox, featured, objects ---------------------------------------------------------------


async def test_outbox_pages_public_creates_newest_first(coop: Coop) -> None:
    # Given 21 public posts and one for followers only
    admin = await coop.local_actor("admin")
    posted = [await post_note(coop.federation, admin, f"post {n}") for n in range(21)]
    await post_note(coop.federation, admin, "followers only", visibility=Visibility.PRIVATE)
    outbox_uri = f"{admin.uri}/outbox"
    # When the outbox is read
    outbox = await get_ap(coop, "/users/admin/outbox")
    # Then it counts the public posts and points at its first page
    assert outbox["type"] == "OrderedCollection"
    assert outbox["totalItems"] == 21
    first = await get_ap(coop, outbox["first"].removeprefix(coop.base_url))
    # And the first page holds the 20 newest Creates, with their notes
    items = first["orderedItems"]
    assert len(items) == 20
    assert all(item["type"] == "Create" and item["actor"] == admin.uri for item in items)
    assert [item["object"]["id"] for item in items] == [p.object.uri for p in posted[:0:-1]]
    assert items[0]["object"]["content"] == "<p>post 20</p>"
    assert first["partOf"] == outbox_uri
    # And the next page holds the oldest one and ends the outbox
    second = await get_ap(coop, first["next"].removeprefix(coop.base_url))
    assert [item["object"]["id"] for item in second["orderedItems"]] == [posted[0].object.uri]
    assert "next" not in second


async def test_featured_collection_is_an_empty_ordered_collection(coop: Coop) -> None:
    admin = await coop.local_actor("admin")
    featured = await get_ap(coop, "/users/admin/collections/featured")
    assert featured["id"] == f"{admin.uri}/collections/featured"
    assert featured["type"] == "OrderedCollection"
    assert featured["totalItems"] == 0 and featured["orderedItems"] == []


async def test_public_note_is_served_and_private_note_is_not(coop: Coop) -> None:
    # Given a public and a followers-only post
    admin = await coop.local_actor("admin")
    public = await post_note(coop.federation, admin, "for everyone")
    private = await post_note(
        coop.federation, admin, "for followers", visibility=Visibility.PRIVATE
    )
    # When their URLs are fetched
    note = await get_ap(coop, f"/objects/{public.object.id}")
    # Then the public note is served as published, the private one not at all
    assert note["id"] == public.object.uri
    assert note["attributedTo"] == admin.uri
    response = await coop.client.get(f"/objects/{private.object.id}", headers={"Accept": AP_ACCEPT})
    await json_error(response, 404)


# --- the fedicoop JSON-LD context -----------------------------------------------------------


async def test_ns_serves_the_fedicoop_context(coop: Coop) -> None:
    response = await coop.client.get("/ns")
    assert response.status == 200
    assert response.content_type == "application/ld+json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    document = await response.json(content_type=None)
    assert isinstance(document["@context"], dict) and document["@context"]


async def test_front_page_names_the_coop_in_the_browser_language(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    from fedicoop.bootstrap import init_instance
    from fedicoop.instance import open_instance
    from fedicoop.web.app import create_app

    await init_instance(tmp_path / "c", domain="coop.example", name="Vélo Lyon", handle="velo")
    client = await aiohttp_client(create_app(await open_instance(tmp_path / "c"), background=False))
    french = await client.get("/", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert french.status == 200 and "Vélo Lyon" in await french.text()
    assert "coopérative" in await french.text() and "@velo@coop.example" in await french.text()
    english = await client.get("/", headers={"Accept-Language": "en"})
    assert "co-operative" in await english.text()
