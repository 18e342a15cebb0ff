"""Mastodon API instance metadata, preferences, markers, reports and the empty features."""

import asyncio
import json
from typing import Any

import pytest
from mastodon import Mastodon

from fedicoop import __version__
from fedicoop.social.publishing import post_note
from fedicoop.storage.accounts import SettingsRepository
from tests.activitypub.remote import Coop
from tests.api.test_accounts import deliveries, expect, fixture, member, remote, token_headers


@pytest.fixture
def coop(api_app: Any) -> Coop:
    """The co-op served by the shared `api_app` fixture (tests/api/conftest.py)."""
    coop: Coop = api_app.coop
    return coop


async def get(coop: Coop, path: str, status: int = 200, **options: Any) -> Any:
    return await expect(await coop.client.get(path, **options), status)


# Instance -------------------------------------------------------------------------------------


async def test_instance_v1_has_mastodons_shape(coop: Coop) -> None:
    await remote(coop, "rita")
    body = await get(coop, "/api/v1/instance")
    assert set(fixture("V1_Instance.json")) <= set(body)
    assert body["uri"] == coop.domain
    assert body["version"] == f"4.3.0 (compatible; fedicoop {__version__})"
    assert body["urls"]["streaming_api"] == f"ws://{coop.domain}"  # dev instance: no TLS
    assert body["stats"] == {"user_count": 1, "status_count": 0, "domain_count": 1}
    assert body["configuration"]["statuses"]["max_characters"] == 5000
    assert body["contact_account"]["username"] == "admin"
    assert body["registrations"] is False


async def test_instance_v2_announces_the_limits(coop: Coop) -> None:
    body = await get(coop, "/api/v2/instance")
    assert set(fixture("Instance.json")) <= set(body)
    config = body["configuration"]
    assert set(fixture("Instance.json")["configuration"]) - {"timelines_access"} <= set(config)
    assert config["urls"]["streaming"] == f"ws://{coop.domain}"
    assert config["statuses"]["max_characters"] == 5000
    assert config["statuses"]["max_media_attachments"] == 4
    media = config["media_attachments"]
    assert set(media["supported_mime_types"]) == {
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
    }
    assert media["image_size_limit"] == 16 * 1024 * 1024
    assert config["polls"] == {
        "max_options": 4,
        "max_characters_per_option": 50,
        "min_expiration": 300,
        "max_expiration": 2629746,
    }
    assert config["accounts"]["max_profile_fields"] == 4
    assert body["contact"]["account"]["acct"] == "admin"
    assert body["thumbnail"]["url"].endswith("/static/header-missing.png")


async def test_peers_rules_activity_and_emojis(coop: Coop) -> None:
    await remote(coop, "rita")
    await remote(coop, "sam")
    assert await get(coop, "/api/v1/instance/peers") == ["remote.test"]
    assert await get(coop, "/api/v1/instance/rules") == []
    await SettingsRepository(coop.db).put(
        "instance.rules", json.dumps(["Be kind", {"text": "No ads", "hint": "none at all"}])
    )
    rules = await get(coop, "/api/v1/instance/rules")
    assert set(fixture("Rule.json")) <= set(rules[0])
    assert [(r["id"], r["text"], r["hint"]) for r in rules] == [
        ("1", "Be kind", ""),
        ("2", "No ads", "none at all"),
    ]
    assert (await get(coop, "/api/v1/instance"))["rules"] == rules
    assert await get(coop, "/api/v1/instance/activity") == []
    assert await get(coop, "/api/v1/custom_emojis") == []


async def test_mastodon_py_reads_the_instance_and_the_account(coop: Coop) -> None:
    token = (await token_headers(coop))["Authorization"].split()[1]

    def use_client() -> tuple[Any, Any, str]:
        client = Mastodon(
            access_token=token, api_base_url=coop.base_url, version_check_mode="created"
        )
        return (
            client.instance(),
            client.account_verify_credentials(),
            client.retrieve_mastodon_version(),
        )

    instance, account, version = await asyncio.to_thread(use_client)
    assert version == "4.3.0"
    assert instance.configuration.statuses.max_characters == 5000
    assert account.username == "admin" and account.source.privacy == "public"


# Preferences and empty features ---------------------------------------------------------------


async def test_preferences(coop: Coop) -> None:
    body = await get(coop, "/api/v1/preferences", headers=await token_headers(coop))
    assert body == {
        "posting:default:visibility": "public",
        "posting:default:sensitive": False,
        "posting:default:language": None,
        "reading:expand:media": "default",
        "reading:expand:spoilers": False,
    }
    assert set(body) == set(fixture("Preferences.json"))
    await get(coop, "/api/v1/preferences", status=401)


@pytest.mark.parametrize(
    ("path", "needs_token"),
    [
        ("/api/v1/lists", True),
        ("/api/v1/filters", True),
        ("/api/v2/filters", True),
        ("/api/v1/announcements", True),
        ("/api/v1/conversations", True),
        ("/api/v1/followed_tags", True),
        ("/api/v1/domain_blocks", True),
        ("/api/v1/trends", False),
        ("/api/v1/trends/tags", False),
        ("/api/v1/trends/statuses", False),
        ("/api/v1/trends/links", False),
    ],
)
async def test_features_fedicoop_does_not_keep_answer_empty(
    coop: Coop, path: str, needs_token: bool
) -> None:
    assert await get(coop, path, headers=await token_headers(coop)) == []
    if needs_token:
        await get(coop, path, status=401)
    else:
        assert await get(coop, path) == []


# Markers --------------------------------------------------------------------------------------


async def test_markers_are_saved_and_versioned(coop: Coop) -> None:
    headers = await token_headers(coop)
    path = "/api/v1/markers"
    params = [("timeline[]", "home"), ("timeline[]", "notifications")]
    assert await get(coop, path, params=params, headers=headers) == {}
    saved = await expect(
        await coop.client.post(path, data={"home[last_read_id]": "1234"}, headers=headers), 200
    )
    assert set(saved) == {"home"}
    assert set(saved["home"]) == set(fixture("Marker.json"))
    assert saved["home"]["last_read_id"] == "1234" and saved["home"]["version"] == 0
    # JSON bodies work too; each save bumps the version
    again = await expect(
        await coop.client.post(
            path,
            json={"home": {"last_read_id": "1300"}, "notifications": {"last_read_id": "9"}},
            headers=headers,
        ),
        200,
    )
    assert again["home"]["version"] == 1 and again["notifications"]["version"] == 0
    both = await get(coop, path, params=params, headers=headers)
    assert both["home"]["last_read_id"] == "1300"
    assert both["notifications"]["last_read_id"] == "9"
    # Another member has their own markers
    await member(coop, "bob")
    bob = await token_headers(coop, "bob")
    assert await get(coop, path, params=params, headers=bob) == {}


async def test_markers_refuse_bad_input_and_missing_scope(coop: Coop) -> None:
    headers = await token_headers(coop)
    response = await coop.client.post(
        "/api/v1/markers", data={"home[last_read_id]": "../x"}, headers=headers
    )
    await expect(response, 422)
    read_only = await token_headers(coop, scopes="read")
    response = await coop.client.post(
        "/api/v1/markers", data={"home[last_read_id]": "1"}, headers=read_only
    )
    await expect(response, 403)
    await get(coop, "/api/v1/markers", status=401)


# Reports --------------------------------------------------------------------------------------


async def test_report_of_a_member_reaches_the_admins_only(coop: Coop) -> None:
    bob = await member(coop, "bob")
    admin = await coop.local_actor("admin")
    bobs = await post_note(coop.federation, bob, "spam spam")
    mine = await post_note(coop.federation, admin, "not bob's")
    headers = await token_headers(coop)
    form = [
        ("account_id", str(bob.id)),
        ("status_ids[]", str(bobs.object.id)),
        ("status_ids[]", str(mine.object.id)),
        ("comment", "Spam account"),
        ("category", "spam"),
        ("forward", "true"),
    ]
    body = await expect(await coop.client.post("/api/v1/reports", data=form, headers=headers), 200)
    assert set(fixture("Report.json")) <= set(body)
    assert body["category"] == "spam" and body["comment"] == "Spam account"
    assert body["status_ids"] == [str(bobs.object.id)]  # only the reported account's posts
    assert body["forwarded"] is False
    assert body["target_account"]["acct"] == "bob"
    row = await coop.db.fetchrow("SELECT reporter_uri, targets, content FROM reports")
    assert row["reporter_uri"] == admin.uri and row["content"] == "Spam account"
    assert json.loads(row["targets"]) == [bob.uri, bobs.object.uri]
    assert await deliveries(coop, "Flag") == []


async def test_report_of_a_remote_account_is_forwarded_when_asked(coop: Coop) -> None:
    rita = await remote(coop, "rita")
    headers = await token_headers(coop)
    form = {"account_id": str(rita.record.id), "comment": "abuse", "forward": "true"}
    body = await expect(await coop.client.post("/api/v1/reports", data=form, headers=headers), 200)
    assert body["forwarded"] is True
    [flag] = await deliveries(coop, "Flag")
    assert flag["object"] == [rita.uri] and flag["content"] == "abuse"
    assert flag["inbox"] == rita.record.inbox
    assert await coop.count("reports") == 1
    # Without `forward`, only this co-op's admins hear of it
    form = {"account_id": str(rita.record.id), "comment": "again"}
    body = await expect(await coop.client.post("/api/v1/reports", data=form, headers=headers), 200)
    assert body["forwarded"] is False
    assert len(await deliveries(coop, "Flag")) == 1


async def test_report_refuses_bad_input_and_scopes(coop: Coop) -> None:
    admin = await coop.local_actor("admin")
    bob = await member(coop, "bob")
    headers = await token_headers(coop)

    async def report(form: dict[str, str], status: int, auth: dict[str, str] = headers) -> Any:
        return await expect(
            await coop.client.post("/api/v1/reports", data=form, headers=auth), status
        )

    await report({"account_id": str(admin.id)}, 422)
    await report({"account_id": "999999"}, 404)
    await report({"account_id": str(bob.id), "comment": "x" * 1001}, 422)
    await report({"account_id": str(bob.id), "category": "boredom"}, 422)
    await report({"account_id": str(bob.id), "rule_ids[]": "7"}, 422)
    await report({"account_id": str(bob.id)}, 403, await token_headers(coop, scopes="read"))
    await report({"account_id": str(bob.id)}, 401, {})
    assert await coop.count("reports") == 0
