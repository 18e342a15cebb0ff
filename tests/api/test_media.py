"""Mastodon API media: uploads decoded and re-encoded, metadata stripped, hostile files refused."""

import asyncio
import errno
import io
import os
import random
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from mastodon import Mastodon
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from fedicoop.media import files
from fedicoop.social.publishing import post_note
from tests.activitypub.remote import Coop
from tests.api.test_accounts import expect, fixture, member, token_headers


@pytest.fixture
def coop(api_app: Any) -> Coop:
    """The co-op served by the shared `api_app` fixture (tests/api/conftest.py)."""
    coop: Coop = api_app.coop
    return coop


GPS_IFD = 0x8825
ORIENTATION = 0x0112


def noise(size: tuple[int, int], seed: int, mode: str = "RGB") -> Image.Image:
    rng = random.Random(seed)
    image = Image.new("RGB", size)
    image.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(size[0] * size[1])])
    return image.convert(mode)


def encoded(image: Image.Image, fmt: str, **options: Any) -> bytes:
    output = io.BytesIO()
    image.save(output, format=fmt, **options)
    return output.getvalue()


def jpeg_with_gps(size: tuple[int, int] = (40, 20), orientation: int = 1) -> bytes:
    """A JPEG as a phone writes it: camera make, GPS position, orientation."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[ORIENTATION] = orientation
    exif[GPS_IFD] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    return encoded(noise(size, seed=3), "JPEG", exif=exif.tobytes(), quality=95)


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge canvas: a decompression bomb's calling card."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    header = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    body = zlib.compress(b"\x00" * 1024)
    idat = b"IDAT" + body
    return (
        b"\x89PNG\r\n\x1a\n"
        + header
        + struct.pack(">I", len(body))
        + idat
        + struct.pack(">I", zlib.crc32(idat))
    )


def upload_form(
    data: bytes,
    filename: str = "photo.png",
    content_type: str = "image/png",
    **fields: str,
) -> FormData:
    form = FormData()
    form.add_field("file", data, filename=filename, content_type=content_type)
    for key, value in fields.items():
        form.add_field(key, value)
    return form


async def upload(coop: Coop, form: FormData, status: int = 200, version: str = "v2") -> Any:
    headers = await token_headers(coop)
    return await expect(
        await coop.client.post(f"/api/{version}/media", data=form, headers=headers), status
    )


def media_files(coop: Coop) -> list[Path]:
    directory = coop.instance.config.media_dir
    return sorted(directory.iterdir()) if directory.exists() else []


async def stored_image(coop: Coop, url: str) -> Image.Image:
    response = await coop.client.get(url.removeprefix(coop.base_url))
    assert response.status == 200
    return Image.open(io.BytesIO(await response.read()))


# Uploads ------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_upload_png_returns_a_media_attachment(coop: Coop, version: str) -> None:
    # When a member uploads a PNG with alt text and a focal point
    form = upload_form(
        encoded(noise((64, 48), seed=1), "PNG"), description="A bike", focus="-0.5,0.25"
    )
    body = await upload(coop, form, version=version)
    # Then Mastodon's MediaAttachment comes back, processed at once
    assert set(fixture("MediaAttachment.json")) <= set(body)
    assert body["type"] == "image" and body["description"] == "A bike"
    assert body["meta"]["original"] == {"width": 64, "height": 48, "size": "64x48", "aspect": 4 / 3}
    assert body["meta"]["focus"] == {"x": -0.5, "y": 0.25}
    assert body["url"].startswith(f"{coop.base_url}/media/")
    # And the file is served as a PNG that must not be sniffed into anything else
    response = await coop.client.get(body["url"].removeprefix(coop.base_url))
    assert response.content_type == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    picture = Image.open(io.BytesIO(await response.read()))
    assert picture.format == "PNG" and picture.size == (64, 48)


async def test_media_is_never_served_as_activitystreams(coop: Coop) -> None:
    body = await upload(coop, upload_form(encoded(noise((8, 8), seed=2), "PNG")))
    response = await coop.client.get(
        body["url"].removeprefix(coop.base_url), headers={"Accept": "application/activity+json"}
    )
    assert response.status == 200 and response.content_type == "image/png"


async def test_exif_and_gps_are_stripped_and_orientation_applied(coop: Coop) -> None:
    # Given a phone photo, 40×20 as stored but meant to be turned (orientation 6), with GPS
    original = jpeg_with_gps(orientation=6)
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD)
    # When it is uploaded
    body = await upload(coop, upload_form(original, "IMG_0001.jpg", "image/jpeg"))
    # Then the stored file is a JPEG turned upright with no EXIF at all, GPS included
    [path] = media_files(coop)
    with Image.open(path) as stored:
        assert stored.format == "JPEG"
        assert stored.size == (20, 40)
        assert "exif" not in stored.info
        assert len(stored.getexif()) == 0
    assert b"PhoneMaker" not in path.read_bytes()
    assert body["meta"]["original"]["width"] == 20


async def test_png_text_and_exif_chunks_are_stripped(coop: Coop) -> None:
    info = PngInfo()
    info.add_text("Comment", "home: 12 rue des Vélos")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    data = encoded(noise((16, 16), seed=10), "PNG", pnginfo=info, exif=exif.tobytes())
    assert b"rue des" in data and b"PhoneMaker" in data
    await upload(coop, upload_form(data))
    [path] = media_files(coop)
    stored = path.read_bytes()
    assert b"rue des" not in stored and b"PhoneMaker" not in stored
    with Image.open(path) as picture:
        assert "Comment" not in picture.info and len(picture.getexif()) == 0


@pytest.mark.parametrize(
    ("fmt", "stored_type"),
    [("WEBP", "image/webp"), ("GIF", "image/png"), ("JPEG", "image/jpeg")],
)
async def test_accepted_formats(coop: Coop, fmt: str, stored_type: str) -> None:
    body = await upload(coop, upload_form(encoded(noise((16, 16), seed=4), fmt), "x.bin"))
    response = await coop.client.get(body["url"].removeprefix(coop.base_url))
    assert response.content_type == stored_type


async def test_animated_gif_keeps_its_first_frame(coop: Coop) -> None:
    frames = [Image.new("RGB", (12, 12), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    body = await upload(coop, upload_form(data, "anim.gif", "image/gif"))
    picture = await stored_image(coop, body["url"])
    assert picture.format == "PNG"
    assert picture.convert("RGB").getpixel((5, 5)) == (255, 0, 0)


async def test_a_text_file_named_png_is_refused(coop: Coop) -> None:
    form = upload_form(b"<html><script>alert(1)</script></html>", "cat.png", "image/png")
    body = await upload(coop, form, status=422)
    assert body["field"] == "file"
    assert media_files(coop) == []


async def test_an_svg_is_refused(coop: Coop) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    await upload(coop, upload_form(svg, "x.svg", "image/svg+xml"), status=422)


async def test_a_truncated_image_is_refused(coop: Coop) -> None:
    data = encoded(noise((64, 64), seed=5), "PNG")
    await upload(coop, upload_form(data[: len(data) // 2]), status=422)
    assert media_files(coop) == []


@pytest.mark.parametrize(
    "size",
    [
        (8000, 8000),  # 64 MP: over our limit, under Pillow's own warning threshold
        (30000, 30000),  # 900 MP: Pillow's DecompressionBombError
    ],
)
async def test_decompression_bombs_are_refused(coop: Coop, size: tuple[int, int]) -> None:
    data = png_claiming(*size)
    assert len(data) < 200
    body = await upload(coop, upload_form(data), status=422)
    assert "pixels" in body["error"] or "too large" in body["error"]
    assert media_files(coop) == []


async def test_client_file_names_never_reach_the_disk(coop: Coop) -> None:
    # Given an upload whose name tries to climb out of the media directory
    form = upload_form(encoded(noise((8, 8), seed=6), "PNG"), "../../../evil.png")
    body = await upload(coop, form)
    # Then the stored name is ours, inside the media directory
    [path] = media_files(coop)
    assert files.NAME_RE.match(path.name)
    assert body["url"].endswith("/media/" + path.name)
    assert not (coop.instance.config.directory.parent / "evil.png").exists()
    # And only names we generate are ever served
    for probe in ("/media/..%2Ffedicoop.toml", "/media/evil.png", "/media/.%2E%2Ffedicoop.db"):
        assert (await coop.client.get(probe)).status == 404


async def test_bad_description_and_focus_are_refused(coop: Coop) -> None:
    data = encoded(noise((8, 8), seed=6), "PNG")
    await upload(coop, upload_form(data, description="x" * 1501), status=422)
    for focus in ("2,0", "a,b", "0.5", "nan,0"):
        body = await upload(coop, upload_form(data, focus=focus), status=422)
        assert body["field"] == "focus"
    await upload(coop, FormData({"description": "no file"}), status=422)


async def test_upload_needs_a_user_token_with_write_media(coop: Coop) -> None:
    form = upload_form(encoded(noise((8, 8), seed=6), "PNG"))
    await expect(await coop.client.post("/api/v2/media", data=form), 401)
    read_only = await token_headers(coop, scopes="read")
    form = upload_form(encoded(noise((8, 8), seed=6), "PNG"))
    await expect(await coop.client.post("/api/v2/media", data=form, headers=read_only), 403)
    assert media_files(coop) == []


async def test_a_full_disk_is_a_clear_error_and_leaves_no_file(
    coop: Coop, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fsync", disk_full)
    body = await upload(coop, upload_form(encoded(noise((8, 8), seed=6), "PNG")), status=507)
    assert "disk" in body["error"]
    assert media_files(coop) == []
    assert await coop.count("media") == 0


# Reading, describing, deleting --------------------------------------------------------------


async def test_owner_reads_and_describes_media_before_posting(coop: Coop) -> None:
    body = await upload(coop, upload_form(encoded(noise((8, 8), seed=6), "PNG")))
    path = f"/api/v1/media/{body['id']}"
    headers = await token_headers(coop)
    shown = await expect(await coop.client.get(path, headers=headers), 200)
    assert shown["id"] == body["id"]
    form = {"description": "Updated", "focus": "0.1,-0.2"}
    updated = await expect(await coop.client.put(path, data=form, headers=headers), 200)
    assert updated["description"] == "Updated"
    assert updated["meta"]["focus"] == {"x": 0.1, "y": -0.2}
    # Someone else sees nothing there, not even that it exists
    await member(coop, "bob")
    bob = await token_headers(coop, "bob")
    await expect(await coop.client.get(path, headers=bob), 404)
    await expect(await coop.client.put(path, data=form, headers=bob), 404)
    await expect(await coop.client.get("/api/v1/media/424242", headers=headers), 404)
    await expect(await coop.client.get("/api/v1/media/abc", headers=headers), 404)


async def test_attached_media_can_no_longer_be_edited_or_deleted(coop: Coop) -> None:
    body = await upload(coop, upload_form(encoded(noise((8, 8), seed=6), "PNG")))
    admin = await coop.local_actor("admin")
    posted = await post_note(coop.federation, admin, "with a picture")
    await coop.db.execute(
        "UPDATE media SET object_id = $1 WHERE id = $2", posted.object.id, int(body["id"])
    )
    headers = await token_headers(coop)
    path = f"/api/v1/media/{body['id']}"
    await expect(await coop.client.put(path, data={"description": "x"}, headers=headers), 422)
    await expect(await coop.client.delete(path, headers=headers), 422)


async def test_delete_unattached_media_removes_the_file(coop: Coop) -> None:
    body = await upload(coop, upload_form(encoded(noise((8, 8), seed=6), "PNG")))
    headers = await token_headers(coop)
    await expect(await coop.client.delete(f"/api/v1/media/{body['id']}", headers=headers), 200)
    assert media_files(coop) == []
    assert (await coop.client.get(body["url"].removeprefix(coop.base_url))).status == 404


# Static placeholders and real clients -------------------------------------------------------


async def test_placeholder_images_are_served(coop: Coop) -> None:
    for name in ("avatar-missing.png", "header-missing.png"):
        response = await coop.client.get(f"/static/{name}")
        assert response.status == 200 and response.content_type == "image/png"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert Image.open(io.BytesIO(await response.read())).format == "PNG"
    for probe in ("/static/..%2F__init__.py", "/static/nothing.png"):
        assert (await coop.client.get(probe)).status == 404


async def test_mastodon_py_uploads_and_describes_media(coop: Coop) -> None:
    # Given Mastodon.py, the reference Python client, pointed at the co-op
    token = (await token_headers(coop))["Authorization"].split()[1]
    client = Mastodon(access_token=token, api_base_url=coop.base_url)
    data = encoded(noise((20, 10), seed=9), "JPEG")

    def use_client() -> tuple[Any, Any]:
        media = client.media_post(io.BytesIO(data), mime_type="image/jpeg", description="alt")
        return media, client.media_update(media, description="better alt", focus=(0.5, 0.5))

    # When it uploads and updates an image (blocking calls, off the event loop)
    media, updated = await asyncio.to_thread(use_client)
    # Then it reads our answers as Mastodon's
    assert media.type == "image" and media.meta.original.width == 20
    assert updated.description == "better alt"
    assert updated.meta.focus.x == 0.5
