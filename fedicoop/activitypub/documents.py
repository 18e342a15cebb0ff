"""Local actors and collections as ActivityStreams documents (internal → AS)."""

import json
import mimetypes
from typing import Any

from fedicoop.activitypub.jsonld import (
    AS_CONTEXT,
    DEFAULT_CONTEXT,
    MULTIKEY_CONTEXT,
    SECURITY_CONTEXT,
)
from fedicoop.storage.actors import ActorRecord

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
ACTIVITY_JSON = "application/activity+json"
LD_JSON = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'

# Terms Mastodon-family servers read from actors that the AS2 context does not define.
_EXTENSION_TERMS: dict[str, Any] = {
    "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
    "toot": "http://joinmastodon.org/ns#",
    "featured": {"@id": "toot:featured", "@type": "@id"},
    "discoverable": "toot:discoverable",
    "indexable": "toot:indexable",
    "alsoKnownAs": {"@id": "as:alsoKnownAs", "@type": "@id"},
    "movedTo": {"@id": "as:movedTo", "@type": "@id"},
}
ACTOR_CONTEXT: list[Any] = [*DEFAULT_CONTEXT, MULTIKEY_CONTEXT, _EXTENSION_TERMS]
OBJECT_CONTEXT: list[Any] = list(DEFAULT_CONTEXT)
COLLECTION_CONTEXT = AS_CONTEXT


def dumps(document: dict[str, Any]) -> str:
    """Serialise a document the way we store and serve it (compact, UTF-8)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def actor_document(actor: ActorRecord) -> dict[str, Any]:
    """Return a local actor (Person, Group or Application) as served to other servers."""
    document: dict[str, Any] = {
        "@context": ACTOR_CONTEXT,
        "id": actor.uri,
        "type": actor.type,
        "preferredUsername": actor.username,
        "name": actor.display_name,
        "summary": actor.summary,
        "url": actor.url,
        "inbox": actor.inbox,
        "outbox": actor.outbox,
        "followers": actor.followers_uri,
        "following": actor.following_uri,
        "endpoints": {"sharedInbox": actor.shared_inbox},
        "manuallyApprovesFollowers": actor.locked,
        "discoverable": actor.type != "Application",
        "publicKey": {
            "id": actor.key_id,
            "owner": actor.uri,
            "publicKeyPem": actor.public_key_pem,
        },
        "published": actor.created_at[:19] + "Z" if actor.created_at else None,
    }
    if actor.type != "Application":
        document["featured"] = actor.featured_uri
    if actor.type == "Group":
        # The co-op's members (count and actor ids) for partner co-ops and verifiers.
        document["roster"] = f"{actor.uri}/roster"
    if actor.avatar_url:
        document["icon"] = _image(actor.avatar_url)
    if actor.header_url:
        document["image"] = _image(actor.header_url)
    if actor.fields:
        # Profile metadata as Mastodon publishes it: name in plain text, value in HTML.
        document["attachment"] = [
            {"type": "PropertyValue", "name": name, "value": value} for name, value in actor.fields
        ]
    if actor.ed25519_public_key:
        # FEP-8b32: the key our object integrity proofs (ballots, roster snapshots) verify with.
        document["assertionMethod"] = [
            {
                "id": f"{actor.uri}#ed25519-key",
                "type": "Multikey",
                "controller": actor.uri,
                "publicKeyMultibase": actor.ed25519_public_key,
            }
        ]
    if actor.also_known_as:
        document["alsoKnownAs"] = list(actor.also_known_as)
    if actor.moved_to:
        document["movedTo"] = actor.moved_to
    return {key: value for key, value in document.items() if value is not None}


def _image(url: str) -> dict[str, Any]:
    """Return an avatar or header as an Image with its media type (from our file names)."""
    image: dict[str, Any] = {"type": "Image", "url": url}
    media_type, _ = mimetypes.guess_type(url)
    if media_type and media_type.startswith("image/"):
        image["mediaType"] = media_type
    return image


def ordered_collection(uri: str, total: int, *, first: str | None = None) -> dict[str, Any]:
    """Return a collection summary pointing at its first page."""
    document: dict[str, Any] = {
        "@context": COLLECTION_CONTEXT,
        "id": uri,
        "type": "OrderedCollection",
        "totalItems": total,
    }
    if first:
        document["first"] = first
    return document


def ordered_page(
    uri: str, part_of: str, items: list[Any], *, next_page: str | None, total: int | None = None
) -> dict[str, Any]:
    """Return one page of an ordered collection."""
    document: dict[str, Any] = {
        "@context": [AS_CONTEXT, SECURITY_CONTEXT],
        "id": uri,
        "type": "OrderedCollectionPage",
        "partOf": part_of,
        "orderedItems": items,
    }
    if total is not None:
        document["totalItems"] = total
    if next_page:
        document["next"] = next_page
    return document


def tombstone(uri: str, deleted_at: str | None) -> dict[str, Any]:
    """Return what a deleted object's URL answers."""
    document: dict[str, Any] = {"@context": AS_CONTEXT, "id": uri, "type": "Tombstone"}
    if deleted_at:
        document["deleted"] = deleted_at[:19] + "Z"
    return document
