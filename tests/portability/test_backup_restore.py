"""Backup and restore: the restored instance serves every ActivityPub document byte for byte.

A co-op with members, posts, a follow and a ride is backed up while it runs, then restored
into a new directory on SQLite and into a PostgreSQL database; each copy, served on the same
address, answers every document exactly as the original did.
"""

import json
import os
import stat
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.servers import ApiClient, ServerProcess, fedicoop, init_instance

# Servers started and restored three times over: minutes on a busy machine.
pytestmark = [pytest.mark.federation, pytest.mark.timeout(360)]

PASSWORD = "long enough pw"
AP = {"Accept": "application/activity+json"}


def get(url: str) -> bytes:
    request = urllib.request.Request(url, headers=AP)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return bytes(answer.read())


def documents(base: str, urls: list[str]) -> dict[str, bytes]:
    return {url: get(url) for url in urls}


def served_urls(base: str, directory: Path) -> list[str]:
    """Every actor, its collections and their first pages, every post and the ride."""
    urls = [f"{base}/actor"]
    for user in ("admin", "alice", "bob", "demo"):
        actor = f"{base}/users/{user}"
        urls.append(actor)
        for name in ("outbox", "followers", "following", "collections/featured"):
            urls += [f"{actor}/{name}", f"{actor}/{name}?page=1"]
    outbox = json.loads(get(f"{base}/users/alice/outbox?page=1"))
    for item in outbox.get("orderedItems", []):
        urls.append(item["object"]["id"] if isinstance(item["object"], dict) else item["object"])
    return urls


def test_backup_while_running_restores_byte_for_byte(tmp_path: Path, pg_database: str) -> None:
    directory = tmp_path / "coop"
    port, admin_password = init_instance(directory, "Demo", "--handle", "demo")
    for user in ("alice", "bob"):
        fedicoop("user", "add", str(directory), user, "--password", PASSWORD)
    server = ServerProcess(directory, port).start()
    base = server.base_url
    try:
        for text in ("First post", "Second post #bikes", "Third, with an émoji 🚲"):
            fedicoop("act", str(directory), "alice", "post", text)
        fedicoop("act", str(directory), "bob", "follow", f"alice@127.0.0.1:{port}")
        alice = ApiClient(base, "alice", PASSWORD)
        status, ride = alice.call(
            "POST",
            "/api/fedicoop/v1/rides",
            {
                "role": "driver",
                "origin": {"lat": 45.76, "lon": 4.83},
                "destination": {"lat": 45.19, "lon": 5.72},
                "departure": "2099-06-01T08:00:00+02:00",
                "seats": 3,
            },
        )
        assert status == 201, ride
        # A closed, signed vote: its proposal, roster and ballots must come back verifiable.
        closes = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
        status, proposal = alice.call(
            "POST",
            "/api/fedicoop/v1/proposals",
            {"title": "Paint the bikes", "kind": "single", "options": ["Red", "Blue"],
             "closes_at": closes},
        )  # fmt: skip
        assert status == 201, proposal
        status, _ = alice.call(
            "POST", f"/api/fedicoop/v1/proposals/{proposal['id']}/ballots", {"choices": ["o2"]}
        )
        assert status == 201
        admin = ApiClient(base, "admin", admin_password)
        status, _ = admin.call("POST", f"/api/fedicoop/v1/proposals/{proposal['id']}/close", {})
        assert status == 200
        vote = proposal["url"]
        urls = [
            *served_urls(base, directory),
            ride["url"],
            vote,
            f"{vote}/roster",
            f"{vote}/ballots",
        ]
        before = documents(base, urls)
        # The backup is taken while the server runs.
        archive = tmp_path / "coop.backup"
        result = fedicoop("backup", str(directory), str(archive))
        assert "NOT encrypted" in result.stdout
        assert stat.S_IMODE(os.stat(archive).st_mode) == 0o600
    finally:
        server.stop()

    for name, extra in (("sqlite", ()), ("postgresql", ("--database", pg_database))):
        restored = tmp_path / f"restored-{name}"
        fedicoop("restore", str(archive), str(restored), *extra)
        copy = ServerProcess(restored, port).start()
        try:
            after = documents(base, urls)
            # And the restored co-op's vote still verifies, proofs and recount alike.
            verified = fedicoop("proposal", "verify", vote, "--dev", check=False)
            assert verified.returncode == 0, verified.stdout + verified.stderr
        finally:
            copy.stop()
        changed = [url for url in urls if before[url] != after[url]]
        assert not changed, f"{name}: served differently after restore: {changed}"


def test_encrypted_backup_needs_its_passphrase(tmp_path: Path) -> None:
    directory = tmp_path / "coop"
    init_instance(directory, "Demo", "--handle", "demo")
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse battery staple\n")
    archive = tmp_path / "coop.backup"
    result = fedicoop("backup", str(directory), str(archive), "--passphrase-file", str(secret))
    assert "encrypted with your passphrase" in result.stdout
    assert b"fedicoop" not in archive.read_bytes()[64:4096].lower()
    refused = fedicoop("restore", str(archive), str(tmp_path / "nope"), check=False)
    assert refused.returncode == 1 and "encrypted" in refused.stderr
    wrong = tmp_path / "wrong"
    wrong.write_text("not it")
    refused = fedicoop(
        "restore",
        str(archive),
        str(tmp_path / "nope2"),
        "--passphrase-file",
        str(wrong),
        check=False,
    )
    assert refused.returncode == 1 and "wrong passphrase" in refused.stderr
    fedicoop("restore", str(archive), str(tmp_path / "ok"), "--passphrase-file", str(secret))
    assert (tmp_path / "ok" / "fedicoop.toml").exists()
    again = fedicoop("backup", str(directory), str(archive), check=False)
    assert again.returncode == 1 and "refusing to overwrite" in again.stderr
