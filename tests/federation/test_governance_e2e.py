"""End to end: a cross-co-op proposal voted on from three real instances, then verified.

A opens a proposal with its partner B. Members of A and B vote from their own instances (one
from Mastodon.py, as a poll); a member of C, which follows A but is not taking part, is
refused; a member changes their vote; at close the tallies agree on A and B and
`fedicoop proposal verify` says OK; tampering with one stored ballot makes it name that ballot.
"""

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mastodon import Mastodon

from tests.servers import ApiClient, ServerProcess, eventually, fedicoop, init_instance, query

# Three server processes, their partnerships and a whole vote: minutes on a busy machine.
pytestmark = [pytest.mark.federation, pytest.mark.timeout(360)]

API = "/api/fedicoop/v1"
PASSWORD = "long enough pw"


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Co-ops A (hosts), B (takes part) and C (partner of A, not taking part)."""
    base = tmp_path_factory.mktemp("votes")
    coops = {
        "a": ("Vélo Lyon", "velo", "alice"),
        "b": ("Boulangerie", "pain", "bob"),
        "c": ("Habitat", "habitat", "carl"),
    }
    info: dict[str, Any] = {}
    servers = []
    for key, (name, handle, user) in coops.items():
        directory = base / key
        port, admin_password = init_instance(directory, name, "--handle", handle)
        fedicoop("user", "add", str(directory), user, "--password", PASSWORD)
        info[key] = {
            "dir": directory,
            "domain": f"127.0.0.1:{port}",
            "base": f"http://127.0.0.1:{port}",
            "handle": f"{handle}@127.0.0.1:{port}",
            "user": user,
            "admin_password": admin_password,
        }
        servers.append(ServerProcess(directory, port).start())
    for one, other in (("a", "b"), ("b", "a"), ("a", "c"), ("c", "a")):
        fedicoop("partner", "add", str(info[one]["dir"]), info[other]["handle"])
    for key, expected in (("a", 2), ("b", 1), ("c", 1)):
        eventually(
            lambda key=key, expected=expected: (
                len(query(info[key]["dir"], "SELECT 1 FROM partnerships WHERE state = 'active'"))
                == expected
            ),
            what=f"partnerships active on {key}",
        )
    # carl on C follows A's co-op, so C hears of A's proposals (C's members may not vote).
    fedicoop("act", str(info["c"]["dir"]), "carl", "follow", info["a"]["handle"])
    for key in info:
        info[key]["client"] = ApiClient(info[key]["base"], info[key]["user"], PASSWORD)
    info["a"]["admin"] = ApiClient(info["a"]["base"], "admin", info["a"]["admin_password"])
    yield info
    for server in servers:
        server.stop()


def mastodon_for(base: str, username: str) -> Mastodon:
    client_id, secret = Mastodon.create_app(
        "governance e2e",
        api_base_url=base,
        scopes=["read", "write"],
        redirect_uris="urn:ietf:wg:oauth:2.0:oob",
    )
    client = Mastodon(client_id=client_id, client_secret=secret, api_base_url=base)
    client.log_in(username=username, password=PASSWORD, scopes=["read", "write"], allow_http=True)
    return client


def poll_status(client: Mastodon, url: str) -> Any:
    def found() -> Any:
        results = client.search_v2(url, resolve=True)
        return next((s for s in results["statuses"] if s["poll"]), None)

    return eventually(found, what=f"the proposal as a poll on {client.api_base_url}")


def test_cross_coop_proposal_is_voted_counted_and_verified(network: dict[str, Any]) -> None:
    a, b, c = network["a"], network["b"], network["c"]
    eventually(
        lambda: query(c["dir"], "SELECT 1 FROM follows WHERE state = 'accepted'"),
        what="carl follows A",
    )
    # Given alice on A opens a proposal with B
    closes = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    status, proposal = a["client"].call(
        "POST",
        f"{API}/proposals",
        {
            "title": "Share a delivery van",
            "body": "Bakery and bikes, one van, costs split.",
            "kind": "single",
            "options": ["Yes", "No"],
            "closes_at": closes,
            "coops": [f"acct:{b['handle']}"],
        },
    )
    assert status == 201, proposal
    assert proposal["coops"] == [a["handle"], b["handle"]]
    url = proposal["url"]
    # Then B hears of it, signs its roster and sends it to A
    on_b = eventually(
        lambda: next((p for p in b["client"].get(f"{API}/proposals") if p["url"] == url), None),
        what="proposal on B",
    )
    eventually(
        lambda: len(query(a["dir"], "SELECT 1 FROM roster_snapshots")) == 2,
        what="B's signed roster on A",
    )
    # When alice votes on A, and bob votes Yes from Mastodon.py on B
    status, ballot = a["client"].call(
        "POST", f"{API}/proposals/{proposal['id']}/ballots", {"choices": ["o1"]}
    )
    assert status == 201, ballot
    bob = mastodon_for(b["base"], "bob")
    poll = poll_status(bob, url)["poll"]
    bob.poll_vote(poll["id"], [0])
    eventually(
        lambda: query(
            a["dir"],
            "SELECT 1 FROM ballots WHERE voter_uri LIKE ? AND state = 'counted'",
            f"%{b['domain']}/users/bob",
        ),
        what="bob's ballot counted on A",
    )
    # And bob changes his mind through B's own API
    status, changed = b["client"].call(
        "POST", f"{API}/proposals/{on_b['id']}/ballots", {"choices": ["o2"]}
    )
    assert status == 201, changed
    eventually(
        lambda: query(
            a["dir"],
            "SELECT 1 FROM ballots WHERE uri = ? AND state = 'counted'",
            changed["url"],
        ),
        what="bob's new ballot counted on A",
    )
    # When carl on C, whose co-op does not take part, votes in the poll, Then A refuses it
    carl = mastodon_for(c["base"], "carl")
    carl.poll_vote(poll_status(carl, url)["poll"]["id"], [0])
    eventually(
        lambda: query(
            c["dir"], "SELECT 1 FROM inbox WHERE raw LIKE '%\"Reject\"%' AND raw LIKE '%inReplyTo%'"
        ),
        what="carl's vote refused",
    )
    assert not query(a["dir"], "SELECT 1 FROM ballots WHERE voter_uri LIKE '%/users/carl'")
    # And carl cannot vote through C's API either: C is not taking part
    assert not [p for p in c["client"].get(f"{API}/proposals") if p["url"] == url]

    # When A's admin closes the vote
    status, closed = a["admin"].call(
        "POST", f"{API}/proposals/{proposal['id']}/close", {"outcome": "A tie: we talk again."}
    )
    assert status == 200, closed
    assert closed["tallies"]["total"] == {"o1": 1, "o2": 1}
    assert closed["tallies"]["by_coop"] == {
        a["handle"]: {"o1": 1, "o2": 0},
        b["handle"]: {"o1": 0, "o2": 1},
    }
    # Then B shows the same tallies
    on_b_closed = eventually(
        lambda: (p := b["client"].get(f"{API}/proposals/{on_b['id']}"))["status"] == "closed" and p,
        what="closed on B",
    )
    assert on_b_closed["tallies"] == closed["tallies"]
    assert on_b_closed["outcome"] == "A tie: we talk again."
    # And anyone can verify the count
    verified = fedicoop("proposal", "verify", url, "--dev", check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "OK" in verified.stdout

    # When someone edits a stored ballot on A, Then verify names it
    connection = sqlite3.connect(a["dir"] / "fedicoop.db", timeout=10)
    try:
        row = connection.execute(
            "SELECT id, document FROM ballots WHERE uri = ?", (changed["url"],)
        ).fetchone()
        document = json.loads(row[1])
        document["choices"] = ["o1"]
        connection.execute(
            "UPDATE ballots SET document = ? WHERE id = ?", (json.dumps(document), row[0])
        )
        connection.commit()
    finally:
        connection.close()
    tampered = fedicoop("proposal", "verify", url, "--dev", check=False)
    assert tampered.returncode == 1
    assert f"ballot {changed['url']}" in tampered.stdout, tampered.stdout
