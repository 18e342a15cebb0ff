"""A member's archive: exported signed from one co-op, imported on another; Mastodon's too.

Two co-ops run in-process on loopback. A member of the first exports an archive through the
API; a member of the second imports it, and the second co-op fetches the first's instance
actor to check the signature. Copies of old posts keep their dates, link to the originals and
are never sent out. An archive changed in any way is refused with a message saying so.
Mastodon's own exports (`tests/fixtures/mastodon-archive`, see its SOURCES.md) import too.
"""

import asyncio
import io
import json
import shutil
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient, AiohttpServer

from fedicoop.errors import Invalid
from fedicoop.media import service as media_service
from fedicoop.portability.archive_files import CsvKind, parse_csv, read_archive
from fedicoop.rides.service import RideService
from fedicoop.social import marks, publishing
from fedicoop.social.addressing import Visibility
from fedicoop.storage.migration_map import MigrationMapRepository
from fedicoop.storage.mutes import MuteRepository
from fedicoop.storage.objects import ObjectRecord, ObjectRepository
from tests.activitypub.remote import add_remote_actor, start_coop
from tests.api.conftest import ApiApp, bearer
from tests.api.test_openapi_document import conforms

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mastodon-archive"
API = "/api/fedicoop/v1/account"
LYON = {"lat": 45.7578, "lon": 4.8320, "label": "12 rue de la République, Lyon"}
GRENOBLE = {"lat": 45.1885, "lon": 5.7245, "label": "Gare de Grenoble"}
# The accounts Mastodon's CSV fixtures name, stored as known remote actors (no network).
MASTODON_ACCOUNTS = (
    "https://mastodon.social/users/alice",
    "https://fosstodon.org/users/bob",
    "https://spam.example/users/troll",
    "https://mastodon.social/users/loud",
)
BOOKMARKED = "https://mastodon.social/users/alice/statuses/110499998877665544"


@dataclass
class Pair:
    """Two co-ops: the one a member leaves and the one they join."""

    old: ApiApp
    new: ApiApp


@pytest.fixture
async def pair(
    tmp_path: Path,
    sqlite_template: Path,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
) -> Pair:
    """Serve two fresh co-ops, each on its own SQLite database."""
    coops = []
    for name in ("old", "new"):
        database = tmp_path / f"{name}.db"
        shutil.copy(sqlite_template, database)
        coops.append(
            ApiApp(
                await start_coop(
                    tmp_path / name, f"sqlite:///{database}", aiohttp_server, aiohttp_client
                )
            )
        )
    return Pair(*coops)


def openapi_document() -> dict[str, Any]:
    from importlib.resources import files

    return dict(json.loads((files("fedicoop.api") / "openapi" / "fedicoop-v1.json").read_text()))


def png(color: tuple[int, int, int] = (10, 120, 200)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (6, 4), color).save(buffer, "PNG")
    return buffer.getvalue()


def in_two_days(hour: int) -> str:
    day = (datetime.now(UTC) + timedelta(days=2)).date()
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=UTC).isoformat()


def ride_offer() -> dict[str, Any]:
    return {
        "role": "driver",
        "origin": LYON,
        "destination": GRENOBLE,
        "departure": in_two_days(8),
        "seats": 3,
        "price": {"kind": "fixed", "amount": "6", "currency": "EUR"},
    }


def rezip(data: bytes, change: Any) -> bytes:
    """Return the archive with its files passed through `change(files) -> files`."""
    with zipfile.ZipFile(io.BytesIO(data)) as bundle:
        files = {name: bundle.read(name) for name in bundle.namelist()}
    files = change(files)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, content in files.items():
            bundle.writestr(name, content)
    return buffer.getvalue()


def mastodon_archive(container: str = "zip", extra: dict[str, bytes] | None = None) -> bytes:
    """Pack the fixture directory as Mastodon's BackupService does (zip; .tar.gz before 4.2)."""
    root = FIXTURES / "archive"
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    files.update(extra or {})
    buffer = io.BytesIO()
    if container == "zip":
        with zipfile.ZipFile(buffer, "w") as bundle:
            for name, content in files.items():
                bundle.writestr(name, content)
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
            for name, content in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(content)
                bundle.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


async def upload(app: ApiApp, token: str, data: bytes, filename: str) -> tuple[int, Any]:
    form = {"file": io.BytesIO(data)}
    response = await app.client.post(
        f"{API}/import", data=_form(form, filename), headers=bearer(token)
    )
    return response.status, await response.json()


def _form(fields: dict[str, io.BytesIO], filename: str) -> Any:
    from aiohttp import FormData

    form = FormData()
    form.add_field("file", fields["file"], filename=filename)
    return form


async def store_mastodon_world(app: ApiApp) -> None:
    """Make the accounts and the bookmarked post of the Mastodon fixtures known to a co-op."""
    actors = {uri: await add_remote_actor(app.db, uri) for uri in MASTODON_ACCOUNTS}
    alice = actors[MASTODON_ACCOUNTS[0]].record
    await ObjectRepository(app.db).insert(
        ObjectRecord(
            uri=BOOKMARKED,
            type="Note",
            actor_id=alice.id,
            raw=json.dumps({"id": BOOKMARKED, "type": "Note", "content": "<p>hi</p>"}),
            published="2023-06-06T09:00:00.000000Z",
            content="<p>hi</p>",
        )
    )


async def give_alice_a_life(app: ApiApp) -> dict[str, Any]:
    """Posts (one with a picture, a reply, a followers-only one), relations, a ride, marks."""
    account, alice = await app.member("alice")
    federation = app.federation
    picture = await media_service.upload(
        app.instance, account.id, alice.id, png(), description="a blue square"
    )
    first = await publishing.post_note(
        federation, alice, "Vélotaf this morning #velotaf", media_ids=[picture.id]
    )
    reply = await publishing.post_note(
        federation, alice, "and back in the rain", in_reply_to=first.object.uri
    )
    private = await publishing.post_note(
        federation, alice, "coop meeting thursday", visibility=Visibility.PRIVATE
    )
    remi = await add_remote_actor(app.db, "http://remote.test/users/remi")
    troll = await add_remote_actor(app.db, "http://remote.test/users/troll")
    loud = await add_remote_actor(app.db, "http://remote.test/users/loud")
    await publishing.follow(federation, alice, remi.record)
    await publishing.block(federation, alice, troll.record)
    await MuteRepository(app.db).add(account.id, loud.record.id)
    await marks.bookmark(app.db, account.id, reply.object)
    rides = RideService.of(federation)
    ride = await rides.create(alice, ride_offer())
    cancelled = await rides.create(alice, ride_offer() | {"departure": in_two_days(17)})
    await rides.cancel(alice, cancelled.id)
    return {
        "posts": [first.object, reply.object, private.object],
        "ride": ride,
        "cancelled": cancelled,
    }


async def test_round_trip_copies_posts_relations_and_rides_without_sending_posts(
    pair: Pair,
) -> None:
    # Given alice on the old co-op with posts, relations, a bookmark and rides
    life = await give_alice_a_life(pair.old)
    token = await pair.old.token("alice")
    # When she downloads her archive
    response = await pair.old.client.get(f"{API}/export", headers=bearer(token))
    assert response.status == 200, await response.text()
    assert response.content_type == "application/zip"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="archive-')
    archive = await response.read()
    with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
        names = set(bundle.namelist())
        following = bundle.read("following_accounts.csv").decode()
        outbox = json.loads(bundle.read("outbox.json"))
    # Then it is Mastodon's layout plus the CSVs, fedicoop's records and a signed manifest
    for name in (
        "actor.json", "outbox.json", "likes.json", "bookmarks.json", "following_accounts.csv",
        "blocked_accounts.csv", "muted_accounts.csv", "blocked_domains.csv", "bookmarks.csv",
        "fedicoop/rides.json", "fedicoop/bookings.json", "fedicoop/proposals.json",
        "fedicoop/ballots.json", "fedicoop/manifest.json",
    ):  # fmt: skip
        assert name in names, name
    assert any(name.startswith("media_attachments/files/") for name in names)
    assert following.splitlines() == [
        "Account address,Show boosts,Notify on new posts,Languages",
        "remi@remote.test,true,false,",
    ]
    assert outbox["id"] == "outbox.json" and outbox["totalItems"] == 3
    assert {item["type"] for item in outbox["orderedItems"]} == {"Create"}

    # When bea, on the new co-op, who knows the same remote people, imports it
    for uri in ("http://remote.test/users/remi", "http://remote.test/users/troll"):
        await add_remote_actor(pair.new.db, uri)
    await add_remote_actor(pair.new.db, "http://remote.test/users/loud")
    account, bea = await pair.new.member("bea")
    status, report = await upload(pair.new, await pair.new.token("bea"), archive, "archive.zip")
    # Then the signature was checked against the old co-op's instance actor
    assert status == 200, report
    old_instance_actor = f"{pair.old.base_url}/actor"
    assert report["verified"] is True and report["signed_by"] == old_instance_actor
    conforms(openapi_document(), "ImportReport", report)
    assert report["imported"] == {
        "following": 1, "blocks": 1, "mutes": 1, "posts": 3, "media": 1, "bookmarks": 1,
        "rides": 1,
    }  # fmt: skip
    # And the posts are bea's, with their dates, a link to the original and a map entry
    moved = MigrationMapRepository(pair.new.db)
    copies = {}
    for original in life["posts"]:
        new_uri = await moved.new_uri(original.uri)
        assert new_uri is not None and new_uri.startswith(pair.new.base_url)
        copy = await ObjectRepository(pair.new.db).by_uri(new_uri)
        assert copy is not None and copy.actor_id == bea.id and copy.local
        assert copy.published[:19] == original.published[:19]
        assert f'Originally posted at <a href="{original.url}"' in copy.content
        assert json.loads(copy.raw)["previously"] == original.uri
        copies[original.uri] = copy
    first, reply, private = (copies[p.uri] for p in life["posts"])
    assert reply.in_reply_to == first.uri
    assert private.visibility == "private"
    assert json.loads(first.raw)["attachment"][0]["mediaType"] == "image/png"
    assert await pair.new.coop.count("bookmarks", "account_id = $1", account.id) == 1
    # And not one copy went out as a Create, nor is queued for anyone
    for copy in copies.values():
        assert await pair.new.coop.count("activities", "object_uri = $1", copy.uri) == 0
        assert await pair.new.coop.count("deliveries", "body LIKE $1", f"%{copy.uri}%") == 0
    # And relations were applied: a Follow and a Block went out, the mute stayed home
    assert await pair.new.coop.count("follows", "follower_id = $1", bea.id) == 1
    assert await pair.new.coop.count("blocks", "actor_id = $1", bea.id) == 1
    assert await pair.new.coop.count("mutes", "account_id = $1", account.id) == 1
    # And the open ride was published again (the cancelled one was not)
    new_ride = await moved.new_uri(life["ride"].uri)
    assert new_ride is not None and await moved.new_uri(life["cancelled"].uri) is None
    assert await pair.new.coop.count("rides", "uri = $1 AND actor_id = $2", new_ride, bea.id) == 1
    # When the same archive is imported again, Then nothing is copied twice
    status, again = await upload(pair.new, await pair.new.token("bea"), archive, "archive.zip")
    assert status == 200 and "posts" not in again["imported"], again
    assert again["skipped"]["posts already imported"] == 3


async def test_an_altered_or_forged_archive_is_refused(pair: Pair) -> None:
    # Given alice's signed archive
    _, alice = await pair.old.member("alice")
    await publishing.post_note(pair.old.federation, alice, "the original words")
    token = await pair.old.token("alice")
    archive = await (await pair.old.client.get(f"{API}/export", headers=bearer(token))).read()
    bea_token = await pair.new.token("bea")
    before = await pair.new.coop.count("objects")

    def reword(files: dict[str, bytes]) -> dict[str, bytes]:
        files["outbox.json"] = files["outbox.json"].replace(b"original words", b"forged words!")
        return files

    def add_file(files: dict[str, bytes]) -> dict[str, bytes]:
        return files | {"following_accounts.csv": files["following_accounts.csv"] + b"x@y.z\n"}

    def smuggle(files: dict[str, bytes]) -> dict[str, bytes]:
        return files | {"extra.json": b"{}"}

    def resign(files: dict[str, bytes]) -> dict[str, bytes]:
        manifest = json.loads(files["fedicoop/manifest.json"])
        manifest["account"] = manifest["account"].replace("alice", "admin")
        return files | {"fedicoop/manifest.json": json.dumps(manifest).encode()}

    def unsign(files: dict[str, bytes]) -> dict[str, bytes]:
        return {name: data for name, data in files.items() if name != "fedicoop/manifest.json"}

    cases = {
        reword: "outbox.json was altered after",
        add_file: "following_accounts.csv was altered after",
        smuggle: "which its signed manifest does not list",
        resign: "signature does not verify",
        unsign: "no signed fedicoop/manifest.json",
    }
    for change, message in cases.items():
        # When a changed copy is imported, Then it is refused saying what is wrong
        status, body = await upload(pair.new, bea_token, rezip(archive, change), "archive.zip")
        assert status == 422, (change.__name__, body)
        assert message in body["error"], (change.__name__, body["error"])
    # And nothing of it was imported
    assert await pair.new.coop.count("objects") == before
    assert await pair.new.coop.count("migration_map") == 0


async def test_mastodon_csv_exports_import(pair: Pair) -> None:
    # Given a co-op that knows the accounts Mastodon's CSV exports name
    app = pair.new
    await store_mastodon_world(app)
    account, bea = await app.member("bea")
    token = await app.token("bea")
    expected = {
        "following_accounts.csv": {"following": 2},
        "blocked_accounts.csv": {"blocks": 1},
        "muted_accounts.csv": {"mutes": 1},
        "bookmarks.csv": {"bookmarks": 1},
        "blocked_domains.csv": {},
    }
    reports = {}
    for name, imported in expected.items():
        # When each CSV is uploaded as Mastodon exported it
        status, report = await upload(app, token, (FIXTURES / name).read_bytes(), name)
        # Then it is recognised and applied
        assert status == 200, (name, report)
        assert report["source"] == "csv" and report["imported"] == imported, (name, report)
        reports[name] = report
    assert await app.coop.count("follows", "follower_id = $1", bea.id) == 2
    assert await app.coop.count("blocks", "actor_id = $1", bea.id) == 1
    assert await app.coop.count("mutes", "account_id = $1", account.id) == 1
    assert await app.coop.count("bookmarks", "account_id = $1", account.id) == 1
    # And a domain block, which members cannot set here, is reported with what to do
    assert "ask your co-op's admins" in reports["blocked_domains.csv"]["problems"][0]
    # And an account nobody can find is reported, the rest still applied
    status, report = await upload(
        app, token, b"nobody@127.0.0.1:1\nalice@mastodon.social\n", "blocked_accounts.csv"
    )
    assert status == 200 and report["imported"] == {"blocks": 1}
    assert report["problems"][0].startswith("cannot find nobody@127.0.0.1:1")
    # And a CSV that does not say what it holds is refused with what to do
    status, report = await upload(app, token, b"x@y.z\n", "export.csv")
    assert status == 422 and "name it like Mastodon's exports" in report["error"]


@pytest.mark.parametrize("container", ["zip", "tar.gz"])
async def test_mastodon_archive_imports_unsigned(pair: Pair, container: str) -> None:
    # Given Mastodon's archive of camille@social.example
    app = pair.new
    await store_mastodon_world(app)
    _, bea = await app.member("bea")
    token = await app.token("bea")
    # When bea imports it
    status, report = await upload(app, token, mastodon_archive(container), f"a.{container}")
    # Then it is taken as unsigned, from Mastodon, and says so
    assert status == 200, report
    assert report["source"] == "mastodon" and report["verified"] is False
    assert "unsigned" in report["origin"]
    assert report["imported"] == {"posts": 3, "media": 1, "bookmarks": 1}
    assert report["skipped"]["direct messages (kept private: not copied)"] == 1
    assert report["skipped"]["boosts (not re-sent: a boost would be news)"] == 1
    assert report["skipped"]["likes (kept in the archive, not re-sent)"] == 1
    # And the copies keep their 2023 dates, in order, and the reply points at its copied parent
    moved = MigrationMapRepository(app.db)
    base = "https://social.example/users/camille/statuses/"
    first_uri = await moved.new_uri(base + "110164225993520438")
    reply_uri = await moved.new_uri(base + "110164240125372011")
    assert first_uri and reply_uri
    first = await ObjectRepository(app.db).by_uri(first_uri)
    reply = await ObjectRepository(app.db).by_uri(reply_uri)
    assert first is not None and reply is not None
    assert first.published.startswith("2023-04-08T07:41:12")
    assert first.id < reply.id  # ids sort by original date
    assert reply.in_reply_to == first.uri and reply.visibility == "unlisted"
    assert "https://social.example/@camille/110164225993520438" in first.content
    assert await app.coop.count("hashtags", "object_id = $1 AND name = 'velotaf'", first.id) == 1
    assert await app.coop.count("media", "object_id = $1", first.id) == 1
    assert await app.coop.count("activities", "object_uri = $1", first.uri) == 0
    assert await app.coop.count("objects", "actor_id = $1", bea.id) == 3


async def test_an_unsigned_archive_must_be_exactly_mastodons_layout(pair: Pair) -> None:
    app = pair.new
    token = await app.token("bea")
    for extra, message in (
        ({"fedicoop/rides.json": b"[]"}, "no signed fedicoop/manifest.json"),
        ({"notes.txt": b"hello"}, "which Mastodon's archives never do"),
    ):
        status, body = await upload(app, token, mastodon_archive(extra=extra), "archive.zip")
        assert status == 422 and message in body["error"], body
    status, body = await upload(app, token, b"PK\x03\x04 not really", "archive.zip")
    assert status == 422 and "not a readable zip" in body["error"]


async def _cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fedicoop",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.federation  # runs the CLI in processes of its own (slow)
async def test_cli_exports_and_imports_with_progress_and_one_line_errors(
    pair: Pair, tmp_path: Path
) -> None:
    # Given alice with a post on the old co-op, and bea on the new one
    _, alice = await pair.old.member("alice")
    await publishing.post_note(pair.old.federation, alice, "words to keep")
    await pair.new.member("bea")
    old_dir = str(pair.old.instance.config.directory)
    new_dir = str(pair.new.instance.config.directory)
    target = tmp_path / "alice.zip"
    # When the admin exports her account, Then progress goes to stderr and a summary to stdout
    code, out, err = await _cli("export-account", old_dir, "alice", str(target))
    assert code == 0, err
    assert "exporting @alice@" in err and "signed by" in err
    assert out.startswith(f"exported @alice@{pair.old.domain} to {target}: 1 posts")
    assert target.stat().st_mode & 0o777 == 0o600
    # When it is imported on the new co-op (which checks the old co-op's signature live)
    code, out, err = await _cli("import-account", new_dir, "bea", str(target))
    assert code == 0, err
    assert "checking the signature" in err and "every file checks out" in err
    assert "posts: 1/1 read, 1 copied" in err
    assert out.splitlines()[0].startswith("imported from fedicoop archive of alice@")
    assert "1 posts" in out.splitlines()[1]
    # When things go wrong, Then each error is one line saying what to do
    altered = tmp_path / "altered.zip"
    altered.write_bytes(
        rezip(target.read_bytes(), lambda f: f | {"outbox.json": f["outbox.json"] + b" "})
    )
    for args, message in (
        (("export-account", old_dir, "alice", str(target)), "give a new file name"),
        (("import-account", new_dir, "bea", str(altered)), "ask for a fresh export"),
        (("import-account", new_dir, "bea", str(tmp_path / "none.zip")), "cannot read"),
        (("import-account", new_dir, "nobody", str(target)), "no user 'nobody'"),
    ):
        code, out, err = await _cli(*args)
        assert code == 1, (args, out, err)
        # Progress lines may come first; the error itself is the one last line
        last = err.splitlines()[-1]
        assert last.startswith("fedicoop: error: ") and err.count("fedicoop: error") == 1, err
        assert message in last and "Traceback" not in err, err


def test_mastodon_csvs_read_with_or_without_their_header() -> None:
    # Given the CSVs as Mastodon writes them, Then each reads as Form::Import reads it
    following = parse_csv(CsvKind.FOLLOWING, (FIXTURES / "following_accounts.csv").read_bytes())
    assert [(r.value, r.show_boosts) for r in following] == [
        ("alice@mastodon.social", True),
        ("bob@fosstodon.org", False),
    ]
    muted = parse_csv(CsvKind.MUTING, (FIXTURES / "muted_accounts.csv").read_bytes())
    assert [(r.value, r.hide_notifications) for r in muted] == [("loud@mastodon.social", True)]
    # And a hand-made list with an @, a blank line and a byte-order mark reads the same way
    blocked = parse_csv(CsvKind.BLOCKING, "\ufeff@troll@spam.example\n\n".encode())
    assert [r.value for r in blocked] == ["troll@spam.example"]
    domains = parse_csv(CsvKind.DOMAIN_BLOCKING, b"#domain\nSpam.Example\n")
    assert [r.value for r in domains] == ["spam.example"]


def test_an_archive_naming_files_outside_itself_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("../../etc/passwd", b"x")
    with pytest.raises(Invalid, match="outside itself"):
        read_archive(buffer.getvalue())
