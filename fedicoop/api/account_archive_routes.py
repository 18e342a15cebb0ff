"""The member archive API: download your signed archive, import an archive or a Mastodon CSV."""

from aiohttp import BodyPartReader, web

from fedicoop.api.auth import require
from fedicoop.api.routing import route
from fedicoop.errors import FedicoopError, Invalid
from fedicoop.portability.account_import import import_file
from fedicoop.portability.archive import export_account
from fedicoop.portability.archive_files import CsvKind
from fedicoop.web.keys import FEDERATION

PREFIX = "/api/fedicoop/v1/account"
# Far above any CSV, and enough for years of posts with pictures; the body is read in chunks,
# so aiohttp's client_max_size (for ordinary requests) does not cap it.
MAX_IMPORT_BYTES = 512 * 1024 * 1024
CHUNK = 1024 * 1024


class PayloadTooLarge(FedicoopError):
    """An upload over the import limit (413)."""

    status = 413
    code = "payload_too_large"


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the file is over {MAX_IMPORT_BYTES >> 20} MB; an admin can import it with "
        "fedicoop import-account DIR USERNAME FILE"
    )


async def _read_part(part: BodyPartReader) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        data += chunk
        if len(data) > MAX_IMPORT_BYTES:
            raise _too_large()
    return bytes(data)


async def _upload(request: web.Request) -> tuple[bytes, str, str | None]:
    """Return (file bytes, file name, type) from a multipart form or a raw body."""
    if request.content_type.startswith("multipart/"):
        data, filename, kind = b"", "", None
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "file":
                filename = part.filename or ""
                data = await _read_part(part)
            elif part.name == "type":
                kind = (await part.text()).strip() or None
        if not data:
            raise Invalid("file is required: an archive (.zip) or a Mastodon CSV", field="file")
        return data, filename, kind
    body = bytearray()
    async for chunk in request.content.iter_chunked(CHUNK):
        body += chunk
        if len(body) > MAX_IMPORT_BYTES:
            raise _too_large()
    return bytes(body), request.query.get("filename", ""), request.query.get("type")


async def export_archive(request: web.Request) -> web.Response:
    """GET /api/fedicoop/v1/account/export: the caller's signed archive (a zip)."""
    account, actor = (await require(request, "read")).user()
    exported = await export_account(request.app[FEDERATION], actor, account)
    return web.Response(
        body=exported.data,
        content_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{exported.filename}"',
            "Cache-Control": "no-store",  # direct messages and exact addresses are inside
        },
    )


async def import_archive(request: web.Request) -> web.Response:
    """POST /api/fedicoop/v1/account/import: an archive or a Mastodon CSV (file, type)."""
    account, actor = (await require(request, "write")).user()
    data, filename, kind_text = await _upload(request)
    kinds = {kind.value: kind for kind in CsvKind}
    if kind_text is not None and kind_text not in kinds:
        raise Invalid(f"type must be one of {', '.join(kinds)}", field="type")
    report = await import_file(
        request.app[FEDERATION],
        actor,
        account,
        data,
        filename=filename,
        kind=kinds[kind_text] if kind_text else None,
    )
    return web.json_response(report.as_json())


def setup(app: web.Application) -> None:
    """Add the archive routes."""
    route(app, "GET", f"{PREFIX}/export", export_archive)
    route(app, "POST", f"{PREFIX}/import", import_archive)
