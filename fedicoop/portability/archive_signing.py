"""Signed manifests: an exporting instance vouches for every file of a member's archive.

The manifest lists the sha256 of every other file in the archive and carries an
eddsa-jcs-2022 proof (FEP-8b32) by the exporting instance's actor. An importing instance
checks the proof against that actor's published key — fetched from its own server — then
every hash, and refuses an archive with a file changed, added or removed. Only then does it
believe what the archive says: whose posts these are, and that the instance vouches for them.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fedicoop import clock
from fedicoop.activitypub import integrity, proofs
from fedicoop.activitypub.as2 import same_origin
from fedicoop.activitypub.jsonld import AS_CONTEXT, FEDICOOP_NS
from fedicoop.activitypub.resolver import Resolver
from fedicoop.errors import FedicoopError, Invalid, Unavailable
from fedicoop.portability.archive_files import MANIFEST, ArchiveFiles
from fedicoop.storage.actors import ActorRecord
from fedicoop.storage.database import Executor

FORMAT = "fedicoop-account-archive/1"
CONTEXT: list[Any] = [AS_CONTEXT, {"fedicoop": FEDICOOP_NS}]


@dataclass(frozen=True)
class Vouched:
    """Who signed an archive and whose account it holds (both checked)."""

    signer: str
    account: str
    acct: str
    created: str


def digest(data: bytes) -> str:
    """Return the hex sha256 of a file."""
    return hashlib.sha256(data).hexdigest()


async def signed_manifest(
    db: Executor, signer: ActorRecord, member: ActorRecord, files: dict[str, bytes]
) -> bytes:
    """Return the manifest of `files`, signed with the instance actor's Ed25519 key."""
    document = {
        "@context": CONTEXT,
        "type": "fedicoop:AccountArchive",
        "format": FORMAT,
        "attributedTo": signer.uri,
        "account": member.uri,
        "acct": member.acct,
        "published": clock.as2_time(clock.now()),
        "files": {name: digest(data) for name, data in sorted(files.items())},
    }
    signed = await proofs.sign(db, signer, document)
    return json.dumps(signed, indent=2, ensure_ascii=False).encode()


def _host(uri: str) -> str:
    return urlsplit(uri).netloc or uri


async def _check_proof(resolver: Resolver, document: dict[str, Any], signer: str) -> None:
    try:
        method = integrity.verification_method_of(document)
    except integrity.IntegrityError as error:
        raise Invalid(f"the archive's manifest is not signed ({error}); it was altered") from None
    if method.split("#", 1)[0] != signer:
        raise Invalid(f"the archive's manifest is signed by {method}, not by {signer}: forged")
    host = _host(signer)
    problem = ""
    for refresh in (False, True):
        try:
            if refresh:  # our copy of the signer may predate its Ed25519 key: ask again
                await resolver.actor(signer, refresh=True)
            await proofs.verify(resolver, document)
            return
        except integrity.IntegrityError as error:
            problem = str(error)
        except FedicoopError as error:
            raise Unavailable(
                f"cannot check the archive's signature: {host} did not answer ({error.message}); "
                "try again when it is reachable"
            ) from error
    raise Invalid(
        f"the archive's signature does not verify ({problem}): it was altered after {host} "
        f"signed it, or forged. Ask {host} for a fresh export"
    )


async def verify(resolver: Resolver, archive: ArchiveFiles) -> Vouched:
    """Check the manifest's proof and every file's hash; return who vouches for the archive."""
    data = archive.get(MANIFEST)
    if data is None:
        raise Invalid(f"the archive has no {MANIFEST}: not a signed fedicoop archive")
    try:
        document = json.loads(data)
    except ValueError:
        raise Invalid(f"the archive's {MANIFEST} is not JSON: the archive was altered") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise Invalid(f"unknown archive format {document.get('format')!r}; expected {FORMAT}")
    signer, account = document.get("attributedTo"), document.get("account")
    files, acct = document.get("files"), document.get("acct")
    if not (isinstance(signer, str) and isinstance(account, str) and isinstance(files, dict)):
        raise Invalid("the archive's manifest lacks its signer, account or file list")
    await _check_proof(resolver, document, signer)
    # An instance vouches for its own members only: a signature of server A on an account of
    # server B would let A put words in B's members' mouths.
    if not same_origin(signer, account):
        raise Invalid(f"{_host(signer)} signed an archive of {account}, not one of its members")
    present = {name for name in archive.names() if name != MANIFEST}
    listed = set(files)
    if present - listed:
        added = sorted(present - listed)[0]
        raise Invalid(f"the archive holds {added}, which its signed manifest does not list")
    if listed - present:
        missing = sorted(listed - present)[0]
        raise Invalid(f"the archive lacks {missing}, which its signed manifest lists")
    for name in sorted(listed):
        if digest(archive.files[name]) != files[name]:
            raise Invalid(
                f"{name} was altered after {_host(signer)} signed the archive "
                "(sha256 mismatch); ask for a fresh export"
            )
    return Vouched(
        signer=signer,
        account=account,
        acct=acct if isinstance(acct, str) else account,
        created=str(document.get("published") or ""),
    )
