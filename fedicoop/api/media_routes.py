"""Media endpoints: upload, describe and delete attachments; serve /media and /static files."""

from pathlib import Path

from aiohttp import web

from fedicoop.api.auth import require
from fedicoop.api.entities import Presenter
from fedicoop.api.params import Params, read_params
from fedicoop.api.routing import route
from fedicoop.errors import Invalid, NotFound
from fedicoop.media import service
from fedicoop.media.files import content_type_of
from fedicoop.media.images import MAX_UPLOAD_BYTES
from fedicoop.media.repository import MediaRecord
from fedicoop.web.keys import INSTANCE

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
STATIC_FILES = frozenset({"avatar-missing.png", "header-missing.png"})
# Served files are pictures and nothing else: the browser must not sniff them into HTML, and
# should one ever hold markup, the sandbox keeps it from running on our origin.
FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Access-Control-Allow-Origin": "*",
    "Cache-Control": "public, max-age=31536000, immutable",
}


def _media_id(request: web.Request) -> int:
    text = request.match_info["media_id"]
    if not text.isdigit() or len(text) > 19:
        raise NotFound("Record not found")
    return int(text)


def _entity(request: web.Request, record: MediaRecord) -> dict[str, object]:
    return Presenter(request.app[INSTANCE]).media_entity(record.row())


def _upload_bytes(params: Params) -> bytes:
    upload = params.file("file")
    if upload is None:
        raise Invalid("file is required (multipart form data)", field="file")
    # The client's file name and content type are ignored: only decoding decides what it is.
    data: bytes = upload.file.read(MAX_UPLOAD_BYTES + 1)
    return data


async def create_media(request: web.Request) -> web.Response:
    """POST /api/v1/media and /api/v2/media: upload an image (processed at once: 200)."""
    auth = await require(request, "write:media")
    account, actor = auth.user()
    params = await read_params(request)
    record = await service.upload(
        request.app[INSTANCE],
        account.id,
        actor.id,
        _upload_bytes(params),
        description=params.text("description"),
        focus=params.text("focus"),
    )
    return web.json_response(_entity(request, record))


async def show_media(request: web.Request) -> web.Response:
    """GET /api/v1/media/:id: the owner's attachment."""
    account, _ = (await require(request, "write:media")).user()
    record = await service.own_media(request.app[INSTANCE], account.id, _media_id(request))
    return web.json_response(_entity(request, record))


async def update_media(request: web.Request) -> web.Response:
    """PUT /api/v1/media/:id: change description or focus before the media is posted."""
    account, _ = (await require(request, "write:media")).user()
    params = await read_params(request)
    record = await service.describe(
        request.app[INSTANCE],
        account.id,
        _media_id(request),
        description=params.text("description"),
        focus=params.text("focus"),
    )
    return web.json_response(_entity(request, record))


async def delete_media(request: web.Request) -> web.Response:
    """DELETE /api/v1/media/:id: remove an attachment no status carries."""
    account, _ = (await require(request, "write:media")).user()
    await service.delete(request.app[INSTANCE], account.id, _media_id(request))
    return web.json_response({})


def _file_response(path: Path, content_type: str) -> web.FileResponse:
    return web.FileResponse(path, headers={**FILE_HEADERS, "Content-Type": content_type})


async def media_file(request: web.Request) -> web.StreamResponse:
    """GET /media/{name}: a stored image, always as its image type (never ActivityStreams)."""
    name = request.match_info["name"]
    path = service.files_of(request.app[INSTANCE]).path_of(name)
    content_type = content_type_of(name)
    if path is None or content_type is None:
        raise NotFound("no such file")
    return _file_response(path, content_type)


async def static_file(request: web.Request) -> web.StreamResponse:
    """GET /static/{name}: the placeholder avatar and header."""
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise NotFound("no such file")
    return _file_response(STATIC_DIR / name, "image/png")


def setup(app: web.Application) -> None:
    """Add this module's routes."""
    for version in ("v1", "v2"):
        route(app, "POST", f"/api/{version}/media", create_media)
    route(app, "GET", "/api/v1/media/{media_id}", show_media)
    route(app, "PUT", "/api/v1/media/{media_id}", update_media)
    route(app, "DELETE", "/api/v1/media/{media_id}", delete_media)
    app.router.add_get("/media/{name}", media_file)
    app.router.add_get("/static/{name}", static_file)
