"""as2 reads every captured payload under tests/fixtures/activitypub, and survives odd shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fedicoop.activitypub.as2 import (
    Activity,
    Actor,
    InvalidActivity,
    ObjectDoc,
    as_list,
    first_str,
    id_of,
    ids_of,
    is_public,
    localized,
    origin_of,
    parse_activity,
    parse_actor,
    parse_any,
    parse_object,
    same_origin,
)
from fedicoop.errors import Invalid

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "activitypub"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"

# Files that are not AS2 documents, so have nothing for as2 to read.
NOT_AS2 = {
    "webfinger": "WebFinger JRD (RFC 7033), not an AS2 document",
    "nodeinfo": "NodeInfo server metadata, not an AS2 document",
    "lemmy/context-2023.json": "Lemmy's JSON-LD @context array, not an AS2 document",
}

# Written out here rather than imported, so the test states the expectation independently.
ACTOR_TYPES = {"Person", "Group", "Service", "Application", "Organization"}
ACTIVITY_TYPES = {
    "Accept", "Add", "Announce", "Block", "Create", "Delete", "Dislike", "EmojiReact", "Flag",
    "Follow", "Join", "Leave", "Like", "LikeRequest", "Lock", "Move", "Reject", "Undo", "Update",
}  # fmt: skip
OBJECT_TYPES = {
    "Article", "Audio", "ChatMessage", "Event", "LikeAuthorization", "Note", "Page", "Question",
    "Tombstone", "Video",
}  # fmt: skip
COLLECTION_TYPES = {"Collection", "OrderedCollection", "CollectionPage", "OrderedCollectionPage"}
TEXT_TYPES = {"Note", "Article", "Page", "ChatMessage", "Question", "Event", "Video", "Audio"}


def load(relative: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / relative).read_text("utf-8"))
    return document


def _fixture_params() -> list[Any]:
    params = []
    for path in sorted(FIXTURES.rglob("*.json")):
        relative = path.relative_to(FIXTURES).as_posix()
        # Non-AS2 files (NOT_AS2 says why) are left out rather than skipped: a skip proves nothing.
        if NOT_AS2.get(relative) or NOT_AS2.get(relative.split("/", 1)[0]):
            continue
        params.append(pytest.param(relative, id=relative))
    return params


def test_every_fixture_listed_in_sources_is_present() -> None:
    # SOURCES.md names each file in the first column of its table; all must have been copied.
    rows = (FIXTURES / "SOURCES.md").read_text("utf-8").splitlines()
    listed = {row.split("|")[1].strip() for row in rows if row.startswith("| ") and ".json" in row}
    present = {path.relative_to(FIXTURES).as_posix() for path in FIXTURES.rglob("*.json")}
    assert listed and listed == present


# --- every fixture -------------------------------------------------------------------------


@pytest.mark.parametrize("relative", _fixture_params())
def test_fixture_parses_as_the_right_model(relative: str) -> None:
    # Given a payload captured from a real server (or its docs)
    raw = load(relative)
    kind = raw["type"]
    assert kind in ACTOR_TYPES | ACTIVITY_TYPES | OBJECT_TYPES | COLLECTION_TYPES, (
        f"{relative}: classify the new type {kind!r} in this test"
    )
    # When it is read, Then it becomes the model its type calls for, with what matters intact
    parsed = parse_any(raw)
    check_document(parsed, raw)


def check_document(parsed: Actor | Activity | ObjectDoc, raw: dict[str, Any]) -> None:
    kind = raw["type"]
    if kind in ACTOR_TYPES:
        assert isinstance(parsed, Actor)
        check_actor(parsed, raw)
    elif kind in ACTIVITY_TYPES:
        assert isinstance(parsed, Activity)
        check_activity(parsed, raw)
    else:
        assert isinstance(parsed, ObjectDoc)
        check_object(parsed, raw)


def check_actor(actor: Actor, raw: dict[str, Any]) -> None:
    assert actor.id == raw["id"]
    assert actor.type == raw["type"]
    for name, value in (
        ("inbox", actor.inbox),
        ("outbox", actor.outbox),
        ("followers", actor.followers),
        ("preferredUsername", actor.preferred_username),
    ):
        if isinstance(raw.get(name), str):
            assert value == raw[name]
    endpoints = raw.get("endpoints")
    if isinstance(endpoints, dict) and "sharedInbox" in endpoints:
        assert actor.shared_inbox == endpoints["sharedInbox"]
    key = raw.get("publicKey")
    if isinstance(key, dict) and "publicKeyPem" in key:
        assert actor.public_key is not None
        assert actor.public_key.id == key["id"]
        assert actor.public_key.owner == actor.id  # every captured actor owns its key
        assert (actor.public_key.public_key_pem or "").startswith("-----BEGIN")
        assert actor.key(key["id"]) == actor.public_key
    if raw.get("movedTo"):
        assert actor.moved_to == id_of(raw["movedTo"])
    if raw.get("alsoKnownAs"):
        assert actor.also_known_as == ids_of(raw["alsoKnownAs"])
    property_values = [
        item
        for item in as_list(raw.get("attachment"))
        if isinstance(item, dict) and item.get("type") == "PropertyValue"
    ]
    assert len(actor.profile_fields) == len(property_values)
    if raw.get("icon"):
        assert (actor.icon_url or "").startswith("http")
    assert actor.manually_approves_followers is (raw.get("manuallyApprovesFollowers") is True)


def check_object(obj: ObjectDoc, raw: dict[str, Any]) -> None:
    assert obj.type == raw["type"]
    assert obj.id == raw.get("id")
    if raw.get("attributedTo"):
        assert obj.attributed_to in ids_of(raw["attributedTo"])
    if raw["type"] in TEXT_TYPES and (raw.get("content") or raw.get("contentMap")):
        assert obj.content
    if raw["type"] == "Question":
        options = as_list(raw.get("oneOf")) or as_list(raw.get("anyOf"))
        assert [option.name for option in obj.poll_options] == [o["name"] for o in options]
        assert [option.votes for option in obj.poll_options] == [
            o.get("replies", {}).get("totalItems") for o in options
        ]
    media = [
        item
        for item in as_list(raw.get("attachment"))
        if isinstance(item, dict) and item.get("type") != "PropertyValue"
    ]
    assert len(obj.attachments) == len(media)
    assert all(attachment.url.startswith("http") for attachment in obj.attachments)
    tags = [tag for tag in as_list(raw.get("tag")) if isinstance(tag, dict)]
    assert len(obj.mentions) == sum(tag.get("type") == "Mention" for tag in tags)
    assert len(obj.hashtags) == sum(tag.get("type") == "Hashtag" for tag in tags)
    assert len(obj.emojis) == sum(tag.get("type") == "Emoji" for tag in tags)
    assert all(emoji.icon_url for emoji in obj.emojis)
    if raw.get("audience"):
        assert obj.audience == ids_of(raw["audience"])
    if isinstance(raw.get("published"), str):
        assert obj.published is not None and obj.published.tzinfo is not None
    assert obj.sensitive is (raw.get("sensitive") is True)
    assert obj.is_public is is_public(raw.get("to"), raw.get("cc"))
    if raw["type"] in COLLECTION_TYPES:
        check_collection_items(raw)


def check_activity(activity: Activity, raw: dict[str, Any]) -> None:
    assert activity.type == raw["type"]
    assert activity.id == raw.get("id")
    assert activity.actor == id_of(raw["actor"])
    assert activity.object_ids == ids_of(raw.get("object"))
    inner = raw.get("object")
    if isinstance(inner, str):
        assert activity.object_id == inner
        assert activity.object is None and activity.object_dict is None
    elif isinstance(inner, dict):
        assert activity.object_dict == inner
        assert activity.object is not None
        check_document(activity.object, inner)
    if raw.get("target"):
        assert activity.target_id == id_of(raw["target"])
    if raw.get("audience"):
        assert activity.audience == ids_of(raw["audience"])
    assert activity.is_public is is_public(raw.get("to"), raw.get("cc"))


def check_collection_items(raw: dict[str, Any]) -> None:
    first = raw.get("first")
    pages = [raw, first] if isinstance(first, dict) else [raw]
    for page in pages:
        for item in as_list(page.get("orderedItems")) + as_list(page.get("items")):
            if isinstance(item, dict) and "type" in item:
                check_document(parse_any(item), item)


# --- hand-written checks on specific payloads ----------------------------------------------


def test_mastodon_actor_shared_inbox_and_key() -> None:
    actor = parse_actor(load("mastodon/actor-person.json"))
    assert actor.type == "Person"
    assert actor.preferred_username == "mastodon"
    assert actor.inbox == "https://masto.qa.urbanwildlife.biz/users/mastodon/inbox"
    assert actor.shared_inbox == "https://masto.qa.urbanwildlife.biz/inbox"
    assert (
        actor.featured == "https://masto.qa.urbanwildlife.biz/users/mastodon/collections/featured"
    )
    assert actor.public_key is not None
    assert actor.public_key.id == "https://masto.qa.urbanwildlife.biz/users/mastodon#main-key"
    assert actor.public_key.owner == "https://masto.qa.urbanwildlife.biz/users/mastodon"
    assert actor.published == datetime(2022, 10, 3, tzinfo=UTC)
    assert actor.discoverable is False
    assert (actor.icon_url or "").endswith("/original/2cf61ff96e94cb1d.png")
    # Extension properties stay readable under their AS2 names.
    assert actor.model_extra is not None
    assert actor.model_extra["featuredTags"].endswith("/collections/tags")


def test_lemmy_announce_carries_the_page_and_its_community() -> None:
    # Given a Lemmy community announcing a member's Create(Page)
    announce = parse_activity(load("lemmy/announce-create-page.json"))
    # Then the group is the actor, the inner Create is by the member, the Page names its audience
    assert announce.type == "Announce"
    assert announce.actor == "http://enterprise.lemmy.ml/c/main"
    assert announce.is_public
    create = announce.object
    assert isinstance(create, Activity) and create.type == "Create"
    assert create.actor == "http://enterprise.lemmy.ml/u/lemmy_beta"
    page = create.object
    assert isinstance(page, ObjectDoc) and page.type == "Page"
    assert page.name == "post 4"
    assert page.audience == ["http://enterprise.lemmy.ml/u/main"]
    assert page.attributed_to == "http://enterprise.lemmy.ml/u/lemmy_beta"


def test_mastodon_question_options_and_votes() -> None:
    question = parse_activity(load("mastodon/create-question.json")).object
    assert isinstance(question, ObjectDoc) and question.type == "Question"
    assert [(option.name, option.votes) for option in question.poll_options] == [
        ("Dunno", 0),
        ("Everyone knows that!", 1),
        ("25 char limit is dumb", 0),
        ("I can't even fit a funny", 1),
    ]
    assert not question.multiple_choice
    assert question.end_time == datetime(2019, 5, 11, 9, 3, 36, tzinfo=UTC)
    assert question.language == "en"


def test_mastodon_multiple_choice_question_and_voters() -> None:
    question = parse_object(load("mastodon/docs-question.json"))
    assert question.multiple_choice
    assert [option.votes for option in question.poll_options] == [3, 7, 6]
    assert question.voters_count == 7


def test_mastodon_poll_vote_is_a_named_note_replying_to_the_question() -> None:
    vote = parse_activity(load("mastodon/docs-poll-vote-1.json")).object
    assert isinstance(vote, ObjectDoc)
    assert vote.name == "orange" and vote.content is None
    assert vote.in_reply_to == "https://mastodon.example/users/alice/statuses/1009947848598745"


def test_pleroma_poll_end_from_naive_closed_timestamp() -> None:
    question = parse_object(load("pleroma/question.json"))
    assert question.end_time is None
    assert question.poll_end == datetime(2019, 9, 19, 0, 32, 36, 785333, tzinfo=UTC)
    assert question.closed is False  # a time, not `true`: compare with now to know


def test_misskey_note_content_and_source() -> None:
    note = parse_activity(load("misskey/create-note.json")).object
    assert isinstance(note, ObjectDoc)
    assert note.content == "<p><span>meow</span></p>"
    assert note.attributed_to == "https://mk.absturztau.be/users/8ozbzjs3o8"
    assert note.model_extra is not None and note.model_extra["_misskey_content"] == "meow"


def test_content_from_content_map_only() -> None:
    note = parse_activity(load("mastodon/create-note-contentmap.json")).object
    assert isinstance(note, ObjectDoc)
    assert note.content and note.content.startswith("<p>")
    assert note.language == "en"
    assert set(note.content_map) == {"en"}


def test_mastodon_attachment_alt_blurhash_and_size() -> None:
    note = parse_object(load("mastodon/note-attachment-blurhash-mention.json"))
    [image] = note.attachments
    assert image.type == "Document" and image.media_type == "image/jpeg"
    assert (image.name or "").startswith("The KDE dragons")
    assert image.blurhash == "USQv:h-W-qI-^,W;RPs=^-R%NZxbo#sDobSc"
    assert (image.width, image.height) == (1500, 1095)
    assert len(note.mentions) == 1


def test_gotosocial_moved_actor() -> None:
    actor = parse_actor(load("gotosocial/actor-person-moved.json"))
    assert actor.moved_to == "http://localhost:8080/users/1happyturtle"
    assert actor.also_known_as == ["http://localhost:8080/users/1happyturtle"]


def test_move_activity_names_old_and_new_account() -> None:
    move = parse_activity(load("mastodon/docs-move.json"))
    assert move.object_id == "https://mastodon.example/users/alice"
    assert move.target_id == "https://alice.com/users/109835986274379"


def test_peertube_video_author_is_the_person_not_the_channel() -> None:
    video = parse_object(load("peertube/video.json"))
    assert video.attributed_to == "https://tilvids.com/accounts/thelinuxexperiment"
    assert video.attributed_to_ids == [
        "https://tilvids.com/accounts/thelinuxexperiment",
        "https://tilvids.com/video-channels/thelinuxexperiment_channel",
    ]
    assert video.url == "https://tilvids.com/videos/watch/e7946124-7b72-4ad7-9d22-844a84bb2de1"


def test_peertube_avatar_list_gives_the_largest() -> None:
    actor = parse_actor(load("peertube/actor-person.json"))
    assert actor.icon_url == (
        "https://tilvids.com/lazy-static/avatars/bdaa7218-ba3c-43ba-abd3-cfd081394c18.jpg"
    )


def test_misskey_actor_shared_inbox() -> None:
    assert parse_actor(load("misskey/actor-person.json")).shared_inbox == "https://misskey.io/inbox"


def test_kroeg_single_tag_object_and_inline_actor() -> None:
    create = parse_activity(load("other/kroeg-array-less-emoji.json"))
    assert create.actor == "https://puckipedia.com/"
    assert isinstance(create.object, ObjectDoc) and len(create.object.emojis) == 1


def test_hubzilla_actor_given_as_object() -> None:
    assert parse_activity(load("other/hubzilla-follow.json")).actor == (
        "https://hubzilla.example.org/channel/kaniini"
    )


def test_flag_lists_every_reported_object() -> None:
    flag = parse_activity(load("mastodon/docs-flag.json"))
    assert len(flag.object_ids) == 3
    assert flag.content and flag.content.startswith("Please take a look")


@pytest.mark.parametrize(
    ("relative", "quoted"),
    [
        ("misskey/note-quote.json", "https://misskey.io/notes/8vs6wxufd0"),
        ("other/fedibird-quote-note.json", "https://misskey.io/notes/8vsn2izjwh"),
        ("other/fep-e232-quote-tag.json", "https://server.example/objects/123"),
    ],
)
def test_quote_posts(relative: str, quoted: str) -> None:
    assert parse_object(load(relative)).quote_url == quoted


def test_http_spelling_of_public_counts_as_public() -> None:
    undo = parse_activity(load("mastodon/undo-announce.json"))
    assert isinstance(undo.object, Activity) and undo.object.is_public


def test_gotosocial_delete_without_id() -> None:
    delete = parse_activity(load("gotosocial/delete-note.json"))
    assert delete.id is None
    assert (
        delete.object_id == "http://localhost:8080/users/admin/statuses/01F8MH75CBF9JFX4ZAD54N0W0R"
    )


# --- helpers -------------------------------------------------------------------------------


def test_as_list_and_id_helpers() -> None:
    assert as_list(None) == []
    assert as_list("a") == ["a"]
    assert as_list(["a", "b"]) == ["a", "b"]
    assert id_of("https://a.example/x") == "https://a.example/x"
    assert id_of({"id": "https://a.example/x", "type": "Note"}) == "https://a.example/x"
    assert id_of({"type": "Note"}) is None
    assert id_of("") is None and id_of(5) is None and id_of(["https://a.example/x"]) is None
    assert ids_of(["https://a/1", {"id": "https://a/2"}, None, 3, {}]) == [
        "https://a/1",
        "https://a/2",
    ]
    assert first_str(["x", "y"]) == "x"
    assert first_str({"@value": "v"}) == "v"
    assert first_str(5) is None


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://Coop.Example/users/a", "https://coop.example"),
        ("https://coop.example:443/a", "https://coop.example"),
        ("http://coop.example:80/a", "http://coop.example"),
        ("http://coop.example:8080/a", "http://coop.example:8080"),
        ("HTTPS://coop.example./a", "https://coop.example"),
        ("https://user:pw@coop.example/a", "https://coop.example"),
        ("https://bücher.example/", "https://xn--bcher-kva.example"),
        ("https://[::1]:8443/a", "https://[::1]:8443"),
        ("https://coop.example:99999/", ""),
        ("mailto:a@coop.example", ""),
        ("/users/a", ""),
        ("", ""),
    ],
)
def test_origin_of(url: str, origin: str) -> None:
    assert origin_of(url) == origin


def test_same_origin() -> None:
    assert same_origin("https://coop.example/a", "https://COOP.example:443/b")
    assert not same_origin("https://coop.example/a", "http://coop.example/a")
    assert not same_origin("https://coop.example/a", "https://coop.example.evil/a")
    assert not same_origin("https://coop.example/a", "https://evil.example/@coop.example")
    assert not same_origin("/a", "/b")
    assert not same_origin(None, None)


@pytest.mark.parametrize(
    "public", [PUBLIC, "http://www.w3.org/ns/activitystreams#Public", "as:Public", "Public"]
)
def test_is_public_spellings(public: str) -> None:
    assert is_public([public], None)
    assert is_public(None, public)
    assert is_public([], [{"id": public}])


def test_is_public_false_for_followers_only() -> None:
    assert not is_public(["https://a.example/users/x/followers"], [])
    assert not is_public(None, None)


def test_language_map_selection() -> None:
    doc = {"contentMap": {"en": "hello", "fr-CA": "bonjour", "und": "?"}}
    assert localized(doc, "content", ("fr",))[:2] == ("bonjour", "fr-CA")
    assert localized(doc, "content", ("de",))[:2] == ("?", "und")
    assert localized({"nameMap": {"de": "Hallo"}}, "name", ("fr",))[:2] == ("Hallo", "de")
    assert localized({"content": "hi", "contentMap": {"en": "hi"}}, "content")[:2] == ("hi", "en")
    assert localized({}, "content") == (None, None, {})


# --- hostile and odd shapes ----------------------------------------------------------------


def test_odd_object_shapes_are_read_without_crashing() -> None:
    obj = parse_object(
        {
            "type": ["Note", "https://fedicoop.org/ns#Ride"],
            "id": 5,
            "content": ["<p>first</p>", "<p>second</p>"],
            "contentMap": "not a map",
            "tag": "not a tag",
            "attachment": [None, 1, {"url": 5}, "https://media.example/a.png"],
            "to": "https://a.example/users/x/followers",
            "cc": {"id": PUBLIC},
            "published": "yesterday",
            "attributedTo": [{"type": "Group", "id": "https://a.example/g"}, "https://a.example/p"],
            "oneOf": [{"name": None}, "x", {"name": "yes", "replies": {"totalItems": -3}}],
            "sensitive": "true",
            "votersCount": True,
            "inReplyTo": [{"id": "https://b.example/1"}],
            "seats": 3,
        }
    )
    assert obj.type == "Note" and obj.types == ["Note", "https://fedicoop.org/ns#Ride"]
    assert obj.id is None
    assert obj.content == "<p>first</p>"
    assert [a.url for a in obj.attachments] == ["https://media.example/a.png"]
    assert obj.to == ["https://a.example/users/x/followers"] and obj.is_public
    assert obj.published is None
    assert obj.attributed_to == "https://a.example/g"
    assert [(o.name, o.votes) for o in obj.poll_options] == [("yes", None)]
    assert obj.sensitive is False and obj.voters_count is None
    assert obj.in_reply_to == "https://b.example/1"
    assert obj.model_extra is not None and obj.model_extra["seats"] == 3


def test_odd_actor_shapes_are_read_without_crashing() -> None:
    actor = parse_actor(
        {
            "type": "Person",
            "id": "https://a.example/u",
            "publicKey": "https://a.example/u#key",
            "icon": ["https://a.example/small.png", None],
            "image": {"type": "Image", "url": {"type": "Link", "href": "https://a.example/h.png"}},
            "endpoints": "https://a.example/endpoints",
            "attachment": [{"type": "PropertyValue", "name": "web", "value": None}],
            "manuallyApprovesFollowers": "yes",
            "alsoKnownAs": "https://b.example/u",
            "tag": {"type": "Emoji", "name": ":coop:", "icon": {"url": "https://a.example/e.png"}},
        }
    )
    assert actor.public_key is not None and actor.public_key.public_key_pem is None
    assert actor.icon_url == "https://a.example/small.png"
    assert actor.image_url == "https://a.example/h.png"
    assert actor.shared_inbox is None and actor.profile_fields == []
    assert actor.manually_approves_followers is False
    assert actor.also_known_as == ["https://b.example/u"]
    assert [emoji.icon_url for emoji in actor.emojis] == ["https://a.example/e.png"]


def test_a_sender_cannot_set_normalised_fields_directly() -> None:
    # Given raw keys spelled like our snake_case fields
    actor = parse_actor(
        {
            "type": "Person",
            "id": "https://a.example/u",
            "shared_inbox": "https://evil.example/inbox",
            "public_keys": [{"id": "https://evil.example/key", "public_key_pem": "x"}],
        }
    )
    # Then they are ignored: only the AS2 properties feed the model
    assert actor.shared_inbox is None
    assert actor.public_keys == []


@pytest.mark.parametrize(
    ("parse", "doc", "message"),
    [
        (parse_any, ["not", "an", "object"], "must be a JSON object"),
        (parse_actor, None, "must be a JSON object"),
        (parse_actor, {"type": "Person"}, "has no id"),
        (parse_actor, {"type": "Note", "id": "https://a.example/n"}, "not an actor type"),
        (parse_object, {"id": "https://a.example/n"}, "has no type"),
        (parse_activity, {"type": "Follow", "object": "https://b.example/u"}, "has no actor"),
        (parse_activity, {"actor": "https://a.example/u"}, "has no type"),
        (
            parse_activity,
            {"type": "Update", "actor": "https://a.example/u", "object": {"type": "Person"}},
            "object: actor has no id",
        ),
    ],
)
def test_unusable_documents_raise_invalid_activity(parse: Any, doc: Any, message: str) -> None:
    with pytest.raises(InvalidActivity, match=message):
        parse(doc)


def test_nesting_is_bounded() -> None:
    # Given an Announce of an Announce of … 50 deep
    doc: dict[str, Any] = {"type": "Note", "id": "https://a.example/n"}
    for depth in range(50):
        doc = {
            "type": "Announce",
            "id": f"https://a.example/{depth}",
            "actor": "https://a/u",
            "object": doc,
        }
    # Then reading it fails cleanly instead of exhausting the stack
    with pytest.raises(InvalidActivity, match="nested"):
        parse_activity(doc)


def test_invalid_activity_is_a_value_error_and_maps_to_422() -> None:
    assert issubclass(InvalidActivity, ValueError)
    assert issubclass(InvalidActivity, Invalid) and Invalid.status == 422
    assert str(InvalidActivity("actor has no id")) == "actor has no id"
