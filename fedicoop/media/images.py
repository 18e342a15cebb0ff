"""Uploaded images, decoded in full and re-encoded by Pillow with their metadata left behind.

What we store and serve is always a picture we encoded ourselves, never the client's bytes:
a polyglot file or a script named `.png` does not decode, EXIF (the GPS position where a
member took a photo of their home) is not copied over, and an image whose header promises
billions of pixels is refused before it is decompressed.
"""

import io
import math
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from fedicoop.errors import Invalid

MAX_UPLOAD_BYTES = 16 * 1024 * 1024
# Decoded size limit, checked from the header before decoding: 40 MP of RGBA is 160 MB.
MAX_PIXELS = 40_000_000
# Larger pictures are scaled down to this (3840 × 2160, Mastodon's limit for stored images).
MAX_STORED_PIXELS = 3840 * 2160
SUPPORTED_MIME_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")
AVATAR_SIZE = (400, 400)
HEADER_SIZE = (1500, 500)

# Only these decoders ever see an upload: Pillow's rarer plugins (EPS through Ghostscript,
# old TIFF codecs…) are where its memory-safety bugs have been.
_DECODERS = ("JPEG", "PNG", "WEBP", "GIF")
# What we write for each decoded format: a GIF becomes a PNG of its first frame.
_ENCODINGS = {
    "JPEG": ("JPEG", "image/jpeg", "jpg"),
    "PNG": ("PNG", "image/png", "png"),
    "WEBP": ("WEBP", "image/webp", "webp"),
    "GIF": ("PNG", "image/png", "png"),
}
NOT_AN_IMAGE = "the file is not a supported image (JPEG, PNG, WebP or GIF)"


@dataclass(frozen=True)
class EncodedImage:
    """A picture as we store it."""

    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


def process_image(data: bytes, *, fit: tuple[int, int] | None = None) -> EncodedImage:
    """Decode an upload, orient it, optionally crop it to `fit`, and re-encode it cleanly.

    Blocking (CPU-bound): run it in a worker thread.
    """
    if not data:
        raise Invalid("the file is empty", field="file")
    if len(data) > MAX_UPLOAD_BYTES:
        raise Invalid(
            f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB", field="file"
        )
    try:
        with Image.open(io.BytesIO(data), formats=_DECODERS) as image:
            source_format = str(image.format)
            width, height = image.size
            # A decompression bomb: a few kilobytes that claim a huge canvas. Refuse it from
            # the header, before a single pixel is decompressed.
            if width * height > MAX_PIXELS:
                raise Invalid(
                    f"the image is {width}×{height} pixels; at most {MAX_PIXELS:,} are accepted",
                    field="file",
                )
            image.seek(0)  # the first frame of an animation
            image.load()
            picture = ImageOps.exif_transpose(image)
    except Image.DecompressionBombError as error:
        raise Invalid(f"the image is too large to decode: {error}", field="file") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        raise Invalid(NOT_AN_IMAGE, field="file") from error
    encoder, content_type, extension = _ENCODINGS[source_format]
    icc_profile = picture.info.get("icc_profile")
    picture = _without_metadata(_output_mode(picture, encoder))
    if fit is not None:
        picture = ImageOps.fit(picture, fit, Image.Resampling.LANCZOS)
    elif picture.width * picture.height > MAX_STORED_PIXELS:
        scale = math.sqrt(MAX_STORED_PIXELS / (picture.width * picture.height))
        size = (max(1, int(picture.width * scale)), max(1, int(picture.height * scale)))
        picture = picture.resize(size, Image.Resampling.LANCZOS)
    output = io.BytesIO()
    options: dict[str, Any] = {}
    if icc_profile:
        options["icc_profile"] = icc_profile  # colour, not a secret: keep it
    if encoder in ("JPEG", "WEBP"):
        options["quality"] = 90
    picture.save(output, format=encoder, **options)
    return EncodedImage(output.getvalue(), content_type, extension, picture.width, picture.height)


def _output_mode(picture: Image.Image, encoder: str) -> Image.Image:
    """Convert to a mode the encoder writes: RGB(A) or L(A); JPEG has no alpha."""
    mode = picture.mode
    has_alpha = mode in ("RGBA", "LA", "PA") or "transparency" in picture.info
    if mode == "1":
        target = "L"
    elif mode in ("L", "LA") and encoder != "WEBP":
        target = mode
    else:
        target = "RGBA" if has_alpha else "RGB"
    if encoder == "JPEG":
        target = {"RGBA": "RGB", "LA": "L"}.get(target, target)
    if target == mode:
        return picture
    try:
        return picture.convert(target)
    except ValueError as error:
        raise Invalid(NOT_AN_IMAGE, field="file") from error


def _without_metadata(picture: Image.Image) -> Image.Image:
    """Return the same pixels in a fresh image: no EXIF, XMP, comments or text chunks."""
    return Image.frombytes(picture.mode, picture.size, picture.tobytes())
