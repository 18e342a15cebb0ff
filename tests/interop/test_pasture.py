"""fediverse-pasture's test actors follow and message co-op members; verify_actor checks us.

The pasture actors differ in what they demand: some are found by WebFinger and some are not,
some serve their actor document only to a signed GET, some accept only signed POSTs.
"""

import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from tests.interop.conftest import Coop
from tests.interop.peers import Pasture
from tests.servers import eventually, query

pytestmark = [pytest.mark.federation, pytest.mark.interop]

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def accepts_for(pasture: Pasture, follow_id: str) -> list[dict[str, Any]]:
    return [
        activity
        for activity in pasture.received()
        if activity.get("type") == "Accept"
        and (activity.get("object") == follow_id or _id(activity.get("object")) == follow_id)
    ]


def _id(value: Any) -> Any:
    return value.get("id") if isinstance(value, dict) else value


@pytest.mark.parametrize(
    ("name", "webfinger", "signed_get", "signed_post"),
    Pasture.ACTORS,
    ids=[actor[0] for actor in Pasture.ACTORS],
)
def test_pasture_actor_follows_and_messages_a_member(
    coop: Coop,
    pasture: Pasture,
    name: str,
    webfinger: bool,
    signed_get: bool,
    signed_post: bool,
) -> None:
    # Given a pasture actor that is (or is not) found by WebFinger and serves its actor document
    # to anyone (or only to a signed GET), as the pasture itself confirms
    host = pasture.actor_id(name).split("/")[2]
    finger = f"http://{host}/.well-known/webfinger?resource=acct:{name}@{host}"
    assert status_of(finger) == (200 if webfinger else 404)
    assert status_of(pasture.actor_id(name)) == (401 if signed_get else 200)
    # When it follows carol and sends her a message, Then both arrive and are answered (below)
    follow_and_message(coop, pasture, name)


def status_of(url: str) -> int:
    """The status of an unsigned GET."""
    request = urllib.request.Request(url, headers={"Accept": "application/activity+json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


def follow_and_message(coop: Coop, pasture: Pasture, name: str) -> None:
    """Pasture actor `name` follows carol, then mentions her in a public note; check both."""
    actor = pasture.actor_id(name)
    member = coop.uri("carol")
    # When it sends carol a signed Follow
    follow = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor}/follow/{uuid.uuid4()}",
        "type": "Follow",
        "actor": actor,
        "object": member,
    }
    assert pasture.send(name, f"{member}/inbox", follow) == 202
    # Then carol's follower is recorded, and the Accept reaches the actor's inbox (an inbox that
    # demands signatures records it only if our signature verified)
    eventually(
        lambda: query(
            coop.directory,
            "SELECT 1 FROM follows f JOIN actors a ON a.id = f.follower_id "
            "WHERE a.uri = ? AND f.state = 'accepted'",
            actor,
        ),
        what=f"{name} follows carol",
    )
    eventually(lambda: accepts_for(pasture, follow["id"]), what=f"Accept in {name}'s inbox")

    # When it sends carol a public message mentioning her
    note_id = f"{actor}/note/{uuid.uuid4()}"
    text = f"Hello carol, this is {name}"
    create = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{note_id}/activity",
        "type": "Create",
        "actor": actor,
        "to": [PUBLIC, member],
        "object": {
            "id": note_id,
            "type": "Note",
            "attributedTo": actor,
            "to": [PUBLIC, member],
            "content": f"<p>{text}</p>",
            "tag": [{"type": "Mention", "href": member, "name": f"@carol@{coop.domain}"}],
            "published": "2026-11-26T05:00:00Z",
        },
    }
    assert pasture.send(name, f"{member}/inbox", create) == 202
    # Then the note is stored under its author, and carol sees it in her notifications
    eventually(
        lambda: query(
            coop.directory,
            "SELECT 1 FROM objects o JOIN actors a ON a.id = o.actor_id "
            "WHERE o.uri = ? AND a.uri = ?",
            note_id,
            actor,
        ),
        what=f"{name}'s note stored",
    )
    notifications = coop.api("carol").get("/api/v1/notifications", types="mention")
    mention = next(n for n in notifications if n["status"]["uri"] == note_id)
    assert text in mention["status"]["content"]
    account = mention["account"]
    assert actor in (account.get("uri"), account["url"])


def test_actor_without_preferred_username_gets_a_readable_handle(
    coop: Coop, pasture: Pasture
) -> None:
    # Given dean (no WebFinger, no preferredUsername) has followed and written to carol
    follow_and_message(coop, pasture, "dean")
    # When carol's app shows his message, Then his handle is not the text "None"
    notifications = coop.api("carol").get("/api/v1/notifications", types="mention")
    account = next(
        n["account"] for n in notifications if n["account"]["url"] == pasture.actor_id("dean")
    )
    assert account["username"] == "dean" and account["acct"].startswith("dean@"), account


def test_unsigned_post_to_a_pasture_inbox_that_demands_signatures_is_refused(
    pasture: Pasture,
) -> None:
    # Given bob's inbox demands signed POSTs (so an Accept recorded there proves our signature)
    request = urllib.request.Request(
        f"{pasture.actor_id('bob')}/inbox",
        data=b'{"type": "Like"}',
        method="POST",
        headers={"Content-Type": "application/activity+json"},
    )
    # When an unsigned POST arrives, Then pasture refuses it
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 401


# What verify_actor should find on a correct server: every actor can read the member's actor
# document; only signed POSTs reach the inbox (alice and dean post unsigned); WebFinger
# resolves the actor's acct: URI back to the same id.
EXPECTED_VERIFY_ACTOR = {
    "alice": {"get_actor": True, "post_inbox": False},
    "bob": {"get_actor": True, "post_inbox": True},
    "claire": {"get_actor": True, "post_inbox": True},
    "dean": {"get_actor": True, "post_inbox": False},
    "emily": {"get_actor": True, "post_inbox": True},
    "frank": {"get_actor": True, "post_inbox": True},
    "webfinger": True,
}


@pytest.mark.parametrize("username", ["carol", "velo"])
def test_verify_actor_finds_member_and_group_correct(
    coop: Coop, pasture: Pasture, username: str
) -> None:
    # When verify_actor checks a member and the co-op Group
    result = pasture.verify_actor(coop.uri(username))
    # Then its whole result table is as it should be (its exit status would not tell)
    table = {
        key: value if key == "webfinger" else {k: value[k] for k in ("get_actor", "post_inbox")}
        for key, value in result.items()
    }
    assert table == EXPECTED_VERIFY_ACTOR


def test_verify_actor_resolves_an_acct_uri(coop: Coop, pasture: Pasture) -> None:
    # When verify_actor is given carol's acct: URI rather than her id
    result = pasture.verify_actor(f"acct:carol@{coop.domain}")
    # Then it resolves it with our WebFinger and reaches the same verdicts
    assert result["webfinger"] is True
    assert result["bob"]["get_actor"] and result["bob"]["post_inbox"]
