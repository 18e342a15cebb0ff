"""A co-op's data moved to a new domain: its own URLs and handles rewritten, others' left alone.

Every local id starts with the instance's origin (`https://old.example/users/alice`), so a move
to a new domain rewrites that origin wherever it appears: ids, collection addresses, links in
post content, stored documents, and `@old.example` in handles. Two things are never rewritten:

- other servers' URLs (a prefix match on the whole origin, never on a bare host name, so
  `old.example.org` or `old.example:80012` stay as they are);
- documents signed by another server's actor (a partner's roster, a partner member's ballot):
  their proof covers every byte, and rewriting them would make them unverifiable forever.
  Documents signed by a local actor are rewritten and then signed again with the same key
  (`resign`), since the co-op holds its members' and its Group's keys.
"""

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# Tables whose rows belong to the old host's own running state, not to the co-op's data:
# pending deliveries are signed for the old ids and stay with the old host, which delivers them.
LEFT_BEHIND = frozenset({"deliveries"})
# Columns holding Data Integrity-signed documents (see `resign`).
SIGNED_COLUMNS = {"roster_snapshots": "document", "ballots": "document"}


@dataclass(frozen=True)
class Rebase:
    """The rewrite from one origin (scheme://host[:port]) to another."""

    old_origin: str
    new_origin: str

    @classmethod
    def between(cls, old_origin: str, new_origin: str) -> "Rebase":
        """Return the rewrite between two origins (no trailing slash)."""
        return cls(old_origin.rstrip("/"), new_origin.rstrip("/"))

    @property
    def old_domain(self) -> str:
        """Return the old host[:port]."""
        return urlsplit(self.old_origin).netloc

    @property
    def new_domain(self) -> str:
        """Return the new host[:port]."""
        return urlsplit(self.new_origin).netloc

    @property
    def reverse(self) -> "Rebase":
        """Return the rewrite back from the new origin to the old one."""
        return Rebase(self.new_origin, self.old_origin)

    def _patterns(self) -> tuple[re.Pattern[str], re.Pattern[str]]:
        # The origin must end where a URL's authority ends: `…:8001` never matches `…:80012`.
        origin = re.compile(re.escape(self.old_origin) + r"(?![\w.:-])")
        handle = re.compile("@" + re.escape(self.old_domain) + r"(?![\w.:-])")
        return origin, handle

    def text(self, value: str) -> str:
        """Rewrite the old origin and `@old-domain` handles in a string."""
        if value == self.old_domain:
            return self.new_domain
        if self.old_domain not in value:
            return value
        origin, handle = self._patterns()
        return handle.sub("@" + self.new_domain, origin.sub(self.new_origin, value))

    def is_local(self, uri: str) -> bool:
        """Return whether a URI is under the old origin."""
        return uri == self.old_origin or uri.startswith(self.old_origin + "/")

    def value(self, value: Any) -> Any:
        """Rewrite one column value, leaving documents other servers signed untouched."""
        if not isinstance(value, str) or self.old_domain not in value:
            return value
        signer = signed_by(value)
        if signer is not None and not self.is_local(signer):
            return value
        return self.text(value)

    def row(self, table: str, row: dict[str, Any]) -> dict[str, Any] | None:
        """Rewrite a row as it is restored on the new domain (None: the row stays behind)."""
        if table in LEFT_BEHIND:
            return None
        return {column: self.value(value) for column, value in row.items()}


def signed_by(text: str) -> str | None:
    """Return the actor whose key signed a JSON document held in a string, if it is one."""
    if not text.startswith("{") or '"proof"' not in text:
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    proof = document.get("proof") if isinstance(document, dict) else None
    method = proof.get("verificationMethod") if isinstance(proof, dict) else None
    return method.split("#", 1)[0] if isinstance(method, str) else None
