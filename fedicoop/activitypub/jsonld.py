"""JSON-LD contexts bundled with fedicoop, and PyLD wrappers that never touch the network.

The hot path reads compacted AS2 with pydantic (`as2.py`); full JSON-LD processing here is for
cold paths only (signature canonicalisation, migrations, debugging). Every context document PyLD
may need is shipped under `contexts/`:

- `activitystreams.jsonld`: the document served at https://www.w3.org/ns/activitystreams
  (identical copies are bundled by Fedify's `@fedify/vocab-runtime` and stored in public repos);
- `security-v1.jsonld`: https://w3id.org/security/v1, from the `security-context` npm package
  (w3c-ccg security vocabulary);
- `data-integrity-v2.jsonld`, `multikey-v1.jsonld`: https://w3id.org/security/data-integrity/v2
  and https://w3id.org/security/multikey/v1, from Digital Bazaar's `@digitalbazaar/*-context`
  npm packages (the same documents Fedify bundles). Data-integrity v1 is left out on purpose:
  published copies of it disagree, and FEP-8b32 eddsa-jcs-2022 proofs need no RDF processing;
- `fedicoop.jsonld`: our own context, served by every instance at `/ns`. Its term IRIs live in
  the fixed namespace https://fedicoop.org/ns# whatever the host, so a co-op that moves domain
  keeps the meaning of everything it published. It also carries the Mastodon-family terms the
  AS2 context lacks (`sensitive`, `Hashtag`, `Emoji`, `votersCount`, `movedTo`, …) so that one
  inline object makes our documents readable by Mastodon, GoToSocial and friends.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any, Final

__all__ = [
    "AS_CONTEXT",
    "DATA_INTEGRITY_CONTEXT",
    "DEFAULT_CONTEXT",
    "FEDICOOP_NS",
    "MULTIKEY_CONTEXT",
    "SECURITY_CONTEXT",
    "ContextRefused",
    "JsonLdProcessingError",
    "bundled_context",
    "compact",
    "expand",
    "fedicoop_context",
    "offline_loader",
]

AS_CONTEXT: Final = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT: Final = "https://w3id.org/security/v1"
DATA_INTEGRITY_CONTEXT: Final = "https://w3id.org/security/data-integrity/v2"
MULTIKEY_CONTEXT: Final = "https://w3id.org/security/multikey/v1"
FEDICOOP_NS: Final = "https://fedicoop.org/ns#"

_PACKAGE: Final = "fedicoop.activitypub"

_BUNDLED_FILES: Final = {
    AS_CONTEXT: "activitystreams.jsonld",
    SECURITY_CONTEXT: "security-v1.jsonld",
    DATA_INTEGRITY_CONTEXT: "data-integrity-v2.jsonld",
    MULTIKEY_CONTEXT: "multikey-v1.jsonld",
    # Documents that point at the namespace itself rather than at an instance's `/ns`.
    FEDICOOP_NS.rstrip("#"): "fedicoop.jsonld",
}

# Spellings of the same documents seen in the wild: `http:` variants, the `.jsonld` file the
# W3C also serves, and a trailing `#`. They all resolve to the same bytes upstream.
_ALIASES: Final = {
    "http://www.w3.org/ns/activitystreams": AS_CONTEXT,
    "https://www.w3.org/ns/activitystreams.jsonld": AS_CONTEXT,
    "http://www.w3.org/ns/activitystreams.jsonld": AS_CONTEXT,
    "http://w3id.org/security/v1": SECURITY_CONTEXT,
}


class ContextRefused(ValueError):
    """A JSON-LD document referenced a context we do not bundle; we never fetch one."""


class JsonLdProcessingError(ValueError):
    """PyLD could not expand or compact a document (bad JSON-LD or an unbundled context)."""


def _canonical_url(url: str) -> str:
    bare = url.strip().rstrip("#")
    return _ALIASES.get(bare, bare)


@cache
def _load_bundled(filename: str) -> dict[str, Any]:
    text = resources.files(_PACKAGE).joinpath("contexts", filename).read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def bundled_context(url: str) -> dict[str, Any] | None:
    """Return a fresh copy of the bundled context document for `url`, or None if not bundled."""
    filename = _BUNDLED_FILES.get(_canonical_url(url))
    if filename is None:
        return None
    return copy.deepcopy(_load_bundled(filename))


def fedicoop_context() -> dict[str, Any]:
    """Return the `@context` object of our own context document, for inline use in messages."""
    context: dict[str, Any] = copy.deepcopy(_load_bundled("fedicoop.jsonld")["@context"])
    return context


# The context of every document we send: Mastodon-family servers only read the compacted form,
# and they recognise these two URLs; the inline object spares a JSON-LD consumer a fetch of /ns.
DEFAULT_CONTEXT: Final[list[str | dict[str, Any]]] = [
    AS_CONTEXT,
    SECURITY_CONTEXT,
    fedicoop_context(),
]


def offline_loader(url: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """PyLD document loader serving bundled contexts only; anything else raises ContextRefused.

    A remote `@context` is attacker-chosen: fetching it would let any sender make us issue
    requests to arbitrary hosts (SSRF) and stall the worker, and would change the meaning of a
    document after its signature was checked.
    """
    document = bundled_context(url)
    if document is None:
        raise ContextRefused(f"JSON-LD context {url!r} is not bundled and is never fetched")
    return {"contextUrl": None, "documentUrl": url, "document": document}


@cache
def _pyld() -> Any:
    """Import PyLD on first use: it is for cold paths only and costs ~11 MB resident."""
    from pyld import jsonld as pyld_jsonld

    # Belt and braces: any PyLD call made without our wrappers is offline too.
    pyld_jsonld.set_document_loader(offline_loader)
    return pyld_jsonld


def expand(doc: dict[str, Any]) -> list[Any]:
    """Expand a JSON-LD document using bundled contexts only (cold paths)."""
    pyld_jsonld = _pyld()
    try:
        expanded: list[Any] = pyld_jsonld.expand(
            copy.deepcopy(doc), {"documentLoader": offline_loader}
        )
    except pyld_jsonld.JsonLdError as error:
        raise JsonLdProcessingError(f"cannot expand document: {_describe(error)}") from error
    return expanded


def compact(doc: dict[str, Any] | list[Any], context: Any) -> dict[str, Any]:
    """Compact a JSON-LD document (or an expanded list) against `context`, offline (cold paths)."""
    pyld_jsonld = _pyld()
    try:
        compacted: dict[str, Any] = pyld_jsonld.compact(
            copy.deepcopy(doc), copy.deepcopy(context), {"documentLoader": offline_loader}
        )
    except pyld_jsonld.JsonLdError as error:
        raise JsonLdProcessingError(f"cannot compact document: {_describe(error)}") from error
    return compacted


def _describe(error: BaseException) -> str:
    """Name the innermost cause: PyLD wraps a refused context in two generic errors."""
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    cause = error.__cause__
    while cause is not None:
        if isinstance(cause, ContextRefused):
            return str(cause)
        cause = cause.__cause__
    return message
