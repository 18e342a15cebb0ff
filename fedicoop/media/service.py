"""Media rules: members upload images, describe them, and use them as avatar or header."""

import asyncio
import contextlib
import math

from fedicoop.errors import Invalid, NotFound
from fedicoop.instance import Instance
from fedicoop.media.files import MediaFiles
from fedicoop.media.images import AVATAR_SIZE, HEADER_SIZE, process_image
from fedicoop.media.repository import MediaRecord, MediaRepository

DESCRIPTION_LIMIT = 1500
MAX_ATTACHMENTS = 4


def files_of(instance: Instance) -> MediaFiles:
    """Return the media files of an instance."""
    return MediaFiles(instance.config.media_dir)


def media_url(instance: Instance, file_name: str) -> str:
    """Return the public URL of a stored file."""
    return f"{instance.config.base_url}/media/{file_name}"


def parse_focus(text: str | None) -> str | None:
    """Return a focal point "x,y" (each in [-1, 1]) normalised, or None when not given."""
    if text is None or not text.strip():
        return None
    try:
        x, y = (float(part) for part in text.split(","))
    except ValueError:  # not numbers, or not two of them
        x = y = math.nan
    if not (-1.0 <= x <= 1.0 and -1.0 <= y <= 1.0):  # NaN fails both
        raise Invalid("focus must be two numbers x,y between -1.0 and 1.0", field="focus")
    return f"{x:g},{y:g}"


def check_description(text: str | None) -> str:
    """Return an alt text within the limit."""
    description = (text or "").strip()
    if len(description) > DESCRIPTION_LIMIT:
        raise Invalid(
            f"the description holds at most {DESCRIPTION_LIMIT} characters", field="description"
        )
    return description


async def upload(
    instance: Instance,
    account_id: int,
    actor_id: int,
    data: bytes,
    *,
    description: str | None = None,
    focus: str | None = None,
) -> MediaRecord:
    """Decode, clean and store an uploaded image, and record it for a later status."""
    text = check_description(description)
    point = parse_focus(focus)
    image = await asyncio.to_thread(process_image, data)
    files = files_of(instance)
    name = await asyncio.to_thread(files.save, image.data, image.extension)
    try:
        return await MediaRepository(instance.db).insert(
            MediaRecord(
                actor_id=actor_id,
                account_id=account_id,
                content_type=image.content_type,
                file_name=name,
                description=text,
                focus=point,
                width=image.width,
                height=image.height,
                size=len(image.data),
            )
        )
    except BaseException:
        files.delete(name)  # no file without its row
        raise


async def own_media(instance: Instance, account_id: int, media_id: int) -> MediaRecord:
    """Return an attachment its owner asks for; anyone else's is NotFound (no probing)."""
    record = await MediaRepository(instance.db).get(media_id)
    if record is None or record.account_id != account_id:
        raise NotFound("Record not found")
    return record


async def describe(
    instance: Instance,
    account_id: int,
    media_id: int,
    *,
    description: str | None,
    focus: str | None,
) -> MediaRecord:
    """Change alt text and focal point while no status carries the attachment yet."""
    record = await own_media(instance, account_id, media_id)
    if record.object_id is not None:
        raise Invalid("this media is already attached to a status: edit the status instead")
    text = record.description if description is None else check_description(description)
    point = record.focus if focus is None else parse_focus(focus)
    await MediaRepository(instance.db).describe(media_id, text, point)
    return await own_media(instance, account_id, media_id)


async def delete(instance: Instance, account_id: int, media_id: int) -> None:
    """Remove an attachment that no status carries, and its file."""
    record = await own_media(instance, account_id, media_id)
    if not await MediaRepository(instance.db).delete_unattached(media_id):
        raise Invalid("this media is attached to a status: delete the status instead")
    if record.file_name:
        files_of(instance).delete(record.file_name)


async def store_profile_image(instance: Instance, data: bytes, kind: str) -> str:
    """Crop an avatar (square) or header (3:1), store it, and return its URL."""
    size = {"avatar": AVATAR_SIZE, "header": HEADER_SIZE}[kind]
    try:
        image = await asyncio.to_thread(process_image, data, fit=size)
    except Invalid as error:
        raise Invalid(error.message, field=kind) from error
    name = await asyncio.to_thread(files_of(instance).save, image.data, image.extension)
    return media_url(instance, name)


def forget_profile_image(instance: Instance, url: str | None) -> None:
    """Delete a replaced avatar or header when it is one of our files."""
    prefix = f"{instance.config.base_url}/media/"
    if url and url.startswith(prefix):
        with contextlib.suppress(OSError):
            files_of(instance).delete(url[len(prefix) :])
