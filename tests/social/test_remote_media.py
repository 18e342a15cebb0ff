"""A remote post's attachments become media rows: media only, web URLs only, in order, capped."""

from typing import Any

from fedicoop.activitypub.as2 import parse_object
from fedicoop.social.remote_media import MAX_ATTACHMENTS, attachments_from_as


def note_with(attachments: list[Any]) -> dict[str, Any]:
    return {
        "id": "https://remote.example/notes/1",
        "type": "Note",
        "attributedTo": "https://remote.example/users/ann",
        "content": "<p>look</p>",
        "attachment": attachments,
    }


def test_media_attachments_keep_order_alt_text_size_and_kind() -> None:
    # Given a post with an image, a video by media type, and a Document that is audio
    parsed = parse_object(
        note_with(
            [
                {"type": "Image", "url": "https://cdn.example/a.png", "name": "a cat",
                 "mediaType": "image/png", "width": 640, "height": 480},
                {"type": "Document", "url": "https://cdn.example/b.mp4", "mediaType": "video/mp4"},
                {"type": "Document", "url": "https://cdn.example/c.ogg", "mediaType": "audio/ogg"},
            ]
        )
    )  # fmt: skip
    # When it is turned into media rows
    rows = attachments_from_as(parsed, actor_id=7, object_id=9)
    # Then each keeps its URL, alt text, size and kind, in the author's order
    assert [(r.kind, r.remote_url, r.position) for r in rows] == [
        ("image", "https://cdn.example/a.png", 0),
        ("video", "https://cdn.example/b.mp4", 1),
        ("audio", "https://cdn.example/c.ogg", 2),
    ]
    assert (rows[0].description, rows[0].width, rows[0].height) == ("a cat", 640, 480)
    assert all(r.actor_id == 7 and r.object_id == 9 and r.file_name is None for r in rows)


def test_links_and_non_web_urls_are_not_media() -> None:
    # Given a link to a web page and attachments whose URL is not http(s)
    parsed = parse_object(
        note_with(
            [
                {"type": "Link", "href": "https://lemmy.example/post/1", "mediaType": "text/html"},
                {"type": "Image", "url": "javascript:alert(1)"},
                {"type": "Image", "url": "data:image/png;base64,AAAA"},
            ]
        )
    )
    # Then none becomes a media row (an app would put the URL in <img src> or a link)
    assert attachments_from_as(parsed, actor_id=1, object_id=2) == []


def test_a_post_cannot_make_us_store_unbounded_media() -> None:
    many = [{"type": "Image", "url": f"https://cdn.example/{n}.png"} for n in range(100)]
    rows = attachments_from_as(parse_object(note_with(many)), actor_id=1, object_id=2)
    assert len(rows) == MAX_ATTACHMENTS
