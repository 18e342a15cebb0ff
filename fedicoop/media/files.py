"""Media files on disk: written under names we generate, atomically, never half-stored."""

import contextlib
import errno
import os
import re
import secrets
from pathlib import Path

from fedicoop.errors import FedicoopError

# Our own names only: 32 hex digits and an extension we encoded. Nothing a client sent ever
# becomes part of a path, so `../` and friends have nowhere to go.
NAME_RE = re.compile(r"^[0-9a-f]{32}\.(jpg|png|webp)$")
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
_FULL_DISK = frozenset({errno.ENOSPC, errno.EDQUOT})


class InsufficientStorage(FedicoopError):
    """The disk (or quota) is full: nothing was stored (507)."""

    status = 507
    code = "insufficient_storage"


class MediaFiles:
    """The files of one instance's media directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def save(self, data: bytes, extension: str) -> str:
        """Write a file under a fresh random name and return the name (blocking)."""
        if extension not in CONTENT_TYPES:
            raise ValueError(f"not a media extension we write: {extension!r}")
        name = f"{secrets.token_hex(16)}.{extension}"
        partial = self.directory / f".{name}.part"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # Written aside, then renamed: a reader never sees half a file, and a failure
            # (full disk) leaves nothing behind.
            with open(partial, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, self.directory / name)
        except OSError as error:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            if error.errno in _FULL_DISK:
                raise InsufficientStorage(
                    "the server has no disk space left for this file; nothing was stored"
                ) from error
            raise FedicoopError(f"the file could not be stored: {error.strerror}") from error
        return name

    def path_of(self, name: str) -> Path | None:
        """Return the path of a stored file, or None for any name we did not generate."""
        if not NAME_RE.match(name):
            return None
        path = self.directory / name
        return path if path.is_file() else None

    def delete(self, name: str) -> None:
        """Remove a stored file (a missing one is not an error)."""
        path = self.path_of(name)
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def content_type_of(name: str) -> str | None:
    """Return the image type of a stored file from its (generated) extension."""
    match = NAME_RE.match(name)
    return CONTENT_TYPES[match.group(1)] if match else None
