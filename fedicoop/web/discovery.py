"""Discovery: WebFinger (RFC 7033), host-meta, NodeInfo 2.0/2.1, and our JSON-LD context."""

import json
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from fedicoop import __version__
from fedicoop.activitypub.jsonld import bundled_context, fedicoop_context
from fedicoop.errors import NotFound
from fedicoop.storage.accounts import AccountRepository
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.objects import ObjectRepository
from fedicoop.web.keys import INSTANCE

CORS = {"Access-Control-Allow-Origin": "*"}
NODEINFO_SCHEMAS = {
    "2.0": "http://nodeinfo.diaspora.software/ns/schema/2.0",
    "2.1": "http://nodeinfo.diaspora.software/ns/schema/2.1",
}
FEATURES = [
    "social",
    "coop-group",
    "partnerships",
    "rides",
    "governance",
    "object-integrity-proofs",
]


async def _actor_for_resource(request: web.Request, resource: str) -> ActorRecord:
    instance = request.app[INSTANCE]
    actors = ActorRepository(instance.db)
    if resource.startswith(("http://", "https://")):
        # Only URLs on our own origin name our accounts (not https://evil.example/@alice).
        if not resource.startswith(instance.config.base_url + "/"):
            raise NotFound(f"{resource} is not on {instance.domain}")
        actor = await actors.by_uri(resource)
        if actor is None:
            # A profile URL (/@name) names the same actor as its id.
            name = resource.rsplit("/@", 1)[-1] if "/@" in resource else None
            actor = await actors.by_handle(name, instance.domain) if name else None
    else:
        handle = resource.removeprefix("acct:").lstrip("@")
        username, _, host = handle.rpartition("@")
        if not username or host.lower() != instance.domain:
            raise NotFound(f"{resource} is not an account on {instance.domain}")
        actor = await actors.by_handle(username, instance.domain)
    if actor is None or not actor.local:
        raise NotFound(f"no account {resource} here")
    return actor


async def webfinger(request: web.Request) -> web.Response:
    """Answer `?resource=acct:user@host` (or an actor URL) with a JRD."""
    resource = unquote(request.query.get("resource", "")).strip()
    if not resource:
        # RFC 7033 §4.2: a missing resource is a 400, and every answer carries CORS (§5).
        return web.json_response(
            {"error": "the resource parameter is required"}, status=400, headers=CORS
        )
    try:
        actor = await _actor_for_resource(request, resource)
    except NotFound as error:
        return web.json_response({"error": error.message}, status=404, headers=CORS)
    body: dict[str, Any] = {
        "subject": f"acct:{actor.username}@{actor.domain}",
        "aliases": [actor.uri, *([actor.url] if actor.url else [])],
        "links": [
            {"rel": "self", "type": "application/activity+json", "href": actor.uri},
            {
                "rel": "http://webfinger.net/rel/profile-page",
                "type": "text/html",
                "href": actor.url or actor.uri,
            },
        ],
    }
    return web.json_response(body, content_type="application/jrd+json", headers=CORS)


async def host_meta(request: web.Request) -> web.Response:
    """Point old clients at WebFinger (XRD)."""
    base = request.app[INSTANCE].config.base_url
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" template="{base}/.well-known/webfinger?resource={{uri}}"/>\n'
        "</XRD>\n"
    )
    return web.Response(text=xml, content_type="application/xrd+xml", headers=CORS)


async def nodeinfo_links(request: web.Request) -> web.Response:
    """List the NodeInfo documents we serve."""
    base = request.app[INSTANCE].config.base_url
    links = [
        {"rel": schema, "href": f"{base}/nodeinfo/{v}"} for v, schema in NODEINFO_SCHEMAS.items()
    ]
    return web.json_response({"links": links}, headers=CORS)


async def nodeinfo(request: web.Request) -> web.Response:
    """Describe the software, protocols, usage and fedicoop features of this instance."""
    version = request.match_info["version"]
    if version not in NODEINFO_SCHEMAS:
        raise NotFound(f"no NodeInfo {version}")
    instance = request.app[INSTANCE]
    users = await AccountRepository(instance.db).count("active")
    software: dict[str, Any] = {"name": "fedicoop", "version": __version__}
    if version == "2.1":
        software["repository"] = "https://fedicoop.org/source"
        software["homepage"] = "https://fedicoop.org"
    body = {
        "version": version,
        "software": software,
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": False,
        "usage": {
            "users": {"total": users, "activeMonth": users, "activeHalfyear": users},
            "localPosts": await ObjectRepository(instance.db).count_local(),
        },
        "metadata": {
            "nodeName": instance.config.name,
            "coop": f"{instance.config.handle}@{instance.domain}",
            "fedicoop": {"features": FEATURES, "namespace": "https://fedicoop.org/ns#"},
        },
    }
    content_type = f'application/json; profile="{NODEINFO_SCHEMAS[version]}#"'
    # Bytes, so aiohttp keeps the quoted profile parameter exactly as written.
    return web.Response(
        body=json.dumps(body).encode(), headers={**CORS, "Content-Type": content_type}
    )


async def context_document(request: web.Request) -> web.Response:
    """Serve the fedicoop JSON-LD context (the same IRIs on every instance)."""
    document = bundled_context("https://fedicoop.org/ns") or {"@context": fedicoop_context()}
    return web.json_response(document, content_type="application/ld+json", headers=CORS)


def setup(app: web.Application) -> None:
    """Add the discovery routes."""
    app.router.add_get("/.well-known/webfinger", webfinger)
    app.router.add_get("/.well-known/host-meta", host_meta)
    app.router.add_get("/.well-known/nodeinfo", nodeinfo_links)
    app.router.add_get("/nodeinfo/{version}", nodeinfo)
    app.router.add_get("/ns", context_document)
