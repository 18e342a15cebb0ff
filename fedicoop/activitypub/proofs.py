"""Object integrity proofs for our actors: their Ed25519 keys, signing, checking others'.

Keys are made on first use for actors created before keys existed, and then published on the
actor (`assertionMethod`). Verifying a remote proof reads the key from the signer's actor
document, fetched from the signer's own server: the proof names its verification method, and
that method must belong to the actor it claims (`integrity.find_multikey`).
"""

import json
from dataclasses import replace
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fedicoop.activitypub import integrity
from fedicoop.activitypub.resolver import Resolver
from fedicoop.storage.actors import ActorRecord, ActorRepository
from fedicoop.storage.database import Executor

IntegrityError = integrity.IntegrityError


def verification_method(actor: ActorRecord) -> str:
    """Return the id of a local actor's Ed25519 key."""
    return f"{actor.uri}#ed25519-key"


async def ensure_key(db: Executor, actor: ActorRecord) -> tuple[ActorRecord, Ed25519PrivateKey]:
    """Return a local actor (with its key stored) and its Ed25519 private key."""
    if actor.ed25519_private_key:
        return actor, integrity.private_key_from_text(actor.ed25519_private_key)
    key = integrity.generate_key()
    updated = replace(
        actor,
        ed25519_private_key=integrity.private_key_to_text(key),
        ed25519_public_key=integrity.public_multikey(key.public_key()),
    )
    await db.execute(
        "UPDATE actors SET ed25519_private_key = $2, ed25519_public_key = $3 "
        "WHERE id = $1 AND ed25519_private_key IS NULL",
        actor.id,
        updated.ed25519_private_key,
        updated.ed25519_public_key,
    )
    stored = await ActorRepository(db).get(actor.id)
    if stored is None or not stored.ed25519_private_key:
        raise IntegrityError("could not store an Ed25519 key")
    return stored, integrity.private_key_from_text(stored.ed25519_private_key)


async def sign(
    db: Executor, actor: ActorRecord, document: dict[str, Any], *, created: datetime | None = None
) -> dict[str, Any]:
    """Return a copy of `document` with a proof by the local actor's key."""
    actor, key = await ensure_key(db, actor)
    return integrity.sign_object(document, key, verification_method(actor), created=created)


async def signer_key(resolver: Resolver, document: dict[str, Any]) -> tuple[str, Ed25519PublicKey]:
    """Return who signed a document (the key's controller) and the public key to check it with."""
    method = integrity.verification_method_of(document)
    owner = method.split("#", 1)[0]
    actor = await resolver.actor(owner)
    if actor.local:
        if not actor.ed25519_public_key:
            raise IntegrityError(f"{owner} has no Ed25519 key")
        if method != verification_method(actor):
            raise IntegrityError(f"{method} is not a key of {owner}")
        return owner, integrity.public_key_from_multikey(actor.ed25519_public_key)
    if not actor.raw:
        raise IntegrityError(f"the actor document of {owner} is not available")
    try:
        return owner, integrity.find_multikey(json.loads(actor.raw), method)
    except IntegrityError:
        # A key added (or rotated) since we cached the actor: read it again, once.
        actor = await resolver.actor(owner, refresh=True)
        return owner, integrity.find_multikey(json.loads(actor.raw or "{}"), method)


async def verify(resolver: Resolver, document: dict[str, Any]) -> str:
    """Check a document's proof against its signer's published key; return the signer's id."""
    owner, key = await signer_key(resolver, document)
    integrity.verify_object(document, key)
    return owner
