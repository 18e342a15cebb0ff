"""End to end: a whole co-op moves to a new domain, and its partner co-op barely notices.

Co-op A (members alice and anna, posts, an open ride of alice's with a booking by bob of
partner co-op B, a closed cross-co-op proposal both co-ops voted on) is exported, imported
under a new domain (A2), and moved with `move-coop`. Afterwards bob follows the new accounts,
B's partnership is with A2's Group, the booking is intact on both sides, the proposal still
verifies (from its new and from its old address), the old host redirects and says `movedTo`,
and the inventory (count and domain-independent hash of every kind of data) is the same
before and after.
"""

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.servers import (
    ApiClient,
    ServerProcess,
    eventually,
    fedicoop,
    free_port,
    init_instance,
    query,
)

# Three server processes, a ride, a vote and a move: minutes on a busy machine.
pytestmark = [pytest.mark.federation, pytest.mark.timeout(420)]

API = "/api/fedicoop/v1"
PASSWORD = "long enough pw"


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A (velo: alice, anna) and B (pain: bob), partners; A2's directory and port reserved."""
    base = tmp_path_factory.mktemp("coopmove")
    info: dict[str, Any] = {"base_dir": base}
    servers = []
    for key, name, handle, users in (
        ("a", "Vélo Lyon", "velo", ("alice", "anna")),
        ("b", "Boulangerie", "pain", ("bob", "bea")),
    ):
        directory = base / key
        port, admin_password = init_instance(directory, name, "--handle", handle)
        for user in users:
            fedicoop("user", "add", str(directory), user, "--password", PASSWORD)
        info[key] = {
            "dir": directory,
            "domain": f"127.0.0.1:{port}",
            "base": f"http://127.0.0.1:{port}",
            "handle": f"{handle}@127.0.0.1:{port}",
            "admin_password": admin_password,
        }
        servers.append(ServerProcess(directory, port).start())
    for one, other in (("a", "b"), ("b", "a")):
        fedicoop("partner", "add", str(info[one]["dir"]), info[other]["handle"])
    for key in ("a", "b"):
        eventually(
            lambda key=key: query(
                info[key]["dir"], "SELECT 1 FROM partnerships WHERE state = ?", "active"
            ),
            what=f"partnership active on {key}",
        )
    port = free_port()
    info["a2"] = {
        "dir": base / "a2",
        "port": port,
        "domain": f"127.0.0.1:{port}",
        "base": f"http://127.0.0.1:{port}",
    }
    info["servers"] = servers
    yield info
    for server in info["servers"]:
        server.stop()


def departure_in(days: int, hour: int = 8) -> str:
    day = (datetime.now(UTC) + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=UTC).isoformat()


def fetch_json(url: str) -> tuple[int, dict[str, Any], str | None]:
    """GET an ActivityPub document without following redirects: (status, body, Location)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers={"Accept": "application/activity+json"})
    try:
        with opener.open(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read()), None
    except urllib.error.HTTPError as error:
        return error.code, {}, error.headers.get("Location")


def inventory(directory: Path, *former: str) -> dict[str, Any]:
    args = ["inventory", str(directory), "--json"]
    for origin in former:
        args += ["--former-origin", origin]
    return dict(json.loads(fedicoop(*args).stdout))


def follows(directory: Path, follower: str, followee: str) -> bool:
    return bool(
        query(
            directory,
            "SELECT 1 FROM follows f JOIN actors a ON a.id = f.follower_id "
            "JOIN actors b ON b.id = f.followee_id WHERE a.uri = ? AND b.uri = ? "
            "AND f.state = 'accepted'",
            follower,
            followee,
        )
    )


def build_coop_life(network: dict[str, Any]) -> dict[str, Any]:
    """Posts, follows, a booked ride and a closed cross-co-op proposal, as real members do."""
    a, b = network["a"], network["b"]
    alice = ApiClient(a["base"], "alice", PASSWORD)
    anna = ApiClient(a["base"], "anna", PASSWORD)
    bob = ApiClient(b["base"], "bob", PASSWORD)
    admin = ApiClient(a["base"], "admin", a["admin_password"])
    alice_uri, group_uri = f"{a['base']}/users/alice", f"{a['base']}/users/velo"
    bob_uri = f"{b['base']}/users/bob"
    # bob on B follows alice and the co-op
    fedicoop("act", str(b["dir"]), "bob", "follow", f"alice@{a['domain']}")
    fedicoop("act", str(b["dir"]), "bob", "follow", a["handle"])
    eventually(lambda: follows(b["dir"], bob_uri, alice_uri), what="bob follows alice")
    eventually(lambda: follows(b["dir"], bob_uri, group_uri), what="bob follows A's Group")
    # alice and anna post
    for client, text in ((alice, "Nouvelle piste cyclable !"), (anna, "Atelier vélo samedi")):
        status, posted = client.call(
            "POST", "/api/v1/statuses", {"status": text, "visibility": "public"}
        )
        assert status == 200, posted
    # alice offers a ride; bob finds it on B and books a seat; alice accepts
    status, ride = alice.call(
        "POST",
        f"{API}/rides",
        {
            "role": "driver",
            "origin": {"lat": 45.7578, "lon": 4.8320, "label": "Part-Dieu"},
            "destination": {"lat": 45.1885, "lon": 5.7245, "label": "Gare de Grenoble"},
            "departure": departure_in(4),
            "seats": 3,
            "price": {"kind": "fixed", "amount": "6", "currency": "EUR"},
        },
    )
    assert status == 201, ride

    def search() -> Any:
        results = bob.get(
            f"{API}/rides/search",
            origin="45.76,4.83",
            destination="45.19,5.72",
            departure=departure_in(4),
            seats="1",
        )
        return next((r for r in results if r["url"] == ride["url"]), None)

    found = eventually(search, what="alice's ride found from B")
    status, booking = bob.call("POST", f"{API}/rides/{found['id']}/bookings", {"seats": 1})
    assert status == 201, booking
    request = eventually(
        lambda: next(iter(alice.get(f"{API}/bookings", **{"as": "driver"})), None),
        what="booking request on A",
    )
    status, accepted = alice.call("POST", f"{API}/bookings/{request['id']}/accept")
    assert status == 200 and accepted["status"] == "accepted", accepted
    eventually(
        lambda: bob.get(f"{API}/bookings/{booking['id']}")["status"] == "accepted",
        what="booking accepted on B",
    )
    # alice opens a proposal with B; alice and bob vote; A's admin closes it
    status, proposal = alice.call(
        "POST",
        f"{API}/proposals",
        {
            "title": "Un local partagé",
            "body": "Vélos et pain sous le même toit.",
            "kind": "single",
            "options": ["Oui", "Non"],
            "closes_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
            "coops": [f"acct:{b['handle']}"],
        },
    )
    assert status == 201, proposal
    eventually(
        lambda: len(query(a["dir"], "SELECT 1 FROM roster_snapshots")) == 2,
        what="B's signed roster on A",
    )
    on_b = eventually(
        lambda: next((p for p in bob.get(f"{API}/proposals") if p["url"] == proposal["url"]), None),
        what="proposal on B",
    )
    status, _ = alice.call("POST", f"{API}/proposals/{proposal['id']}/ballots", {"choices": ["o1"]})
    assert status == 201
    status, _ = bob.call("POST", f"{API}/proposals/{on_b['id']}/ballots", {"choices": ["o2"]})
    assert status == 201
    eventually(
        lambda: len(query(a["dir"], "SELECT 1 FROM ballots WHERE state = 'counted'")) == 2,
        what="both ballots counted on A",
    )
    status, closed = admin.call("POST", f"{API}/proposals/{proposal['id']}/close", {})
    assert status == 200, closed
    assert closed["tallies"]["total"] == {"o1": 1, "o2": 1}
    verified = fedicoop("proposal", "verify", proposal["url"], "--dev", check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    return {
        "alice_uri": alice_uri,
        "group_uri": group_uri,
        "bob_uri": bob_uri,
        "ride": ride,
        "booking": booking,
        "proposal": proposal,
        "bob": bob,
    }


def test_a_coop_moves_to_a_new_domain_with_everything(network: dict[str, Any]) -> None:
    a, b, a2 = network["a"], network["b"], network["a2"]
    # Given a co-op with members, posts, a booked ride and a closed cross-co-op proposal
    life = build_coop_life(network)
    before = inventory(a["dir"])
    # When A exports itself, and the new host imports it under a new domain
    archive = network["base_dir"] / "velo.coop"
    exported = fedicoop("export-coop", str(a["dir"]), str(archive))
    assert "signed by this instance" in exported.stdout
    assert archive.stat().st_mode & 0o777 == 0o600
    imported = fedicoop(
        "import-coop", str(archive), str(a2["dir"]), "--domain", a2["domain"], "--dev"
    )
    # Then the import's own count-and-hash comparison finds nothing lost
    assert "every kind of data matches the export" in imported.stdout, imported.stdout
    after_import = inventory(a2["dir"], a["base"])
    assert after_import == before, {
        k: (before.get(k), after_import.get(k))
        for k in set(before) | set(after_import)
        if before.get(k) != after_import.get(k)
    }
    assert before["objects"]["count"] >= 2 and before["ballots"]["count"] == 2
    network["servers"].append(ServerProcess(a2["dir"], a2["port"]).start())

    # When the old host moves every account to the new domain
    moved = fedicoop("move-coop", str(a["dir"]), "--to", a2["domain"])
    assert "4 accounts sent Move" in moved.stdout, moved.stdout  # admin, alice, anna, Group
    new_alice = f"{a2['base']}/users/alice"
    new_group = f"{a2['base']}/users/velo"
    # Then bob on B follows alice's and the co-op's new accounts, and no longer the old ones
    eventually(lambda: follows(b["dir"], life["bob_uri"], new_alice), what="bob follows alice2")
    eventually(lambda: follows(b["dir"], life["bob_uri"], new_group), what="bob follows A2")
    eventually(
        lambda: not follows(b["dir"], life["bob_uri"], life["alice_uri"]),
        what="bob left old alice",
    )
    assert follows(a2["dir"], life["bob_uri"], new_alice)
    # And B's partnership is now with A2's Group
    assert query(
        b["dir"],
        "SELECT 1 FROM partnerships p JOIN actors g ON g.id = p.group_id "
        "WHERE g.uri = ? AND p.state = 'active'",
        new_group,
    )
    # And the booking is intact on both sides
    assert life["bob"].get(f"{API}/bookings/{life['booking']['id']}")["status"] == "accepted"
    alice2 = ApiClient(a2["base"], "alice", PASSWORD)
    driver_view = alice2.get(f"{API}/bookings", **{"as": "driver"})
    assert [(x["url"], x["status"]) for x in driver_view] == [(life["booking"]["url"], "accepted")]
    # And the open ride is served from the new domain, and B holds it under its new id
    new_ride = life["ride"]["url"].replace(a["base"], a2["base"])
    status, document, _ = fetch_json(new_ride)
    assert status == 200 and document["id"] == new_ride
    bea = ApiClient(b["base"], "bea", PASSWORD)

    def search() -> Any:
        results = bea.get(
            f"{API}/rides/search",
            origin="45.76,4.83",
            destination="45.19,5.72",
            departure=departure_in(4),
            seats="1",
        )
        return next((r for r in results if r["url"] == new_ride), None)

    found = eventually(search, what="the ride under its new id on B")
    assert found["coop"] == f"velo@{a2['domain']}"
    # And it is still bookable: bea on B books a seat, alice accepts on the new host
    status, booking = bea.call("POST", f"{API}/rides/{found['id']}/bookings", {"seats": 1})
    assert status == 201, booking
    request = eventually(
        lambda: next(
            (
                x
                for x in alice2.get(f"{API}/bookings", **{"as": "driver"})
                if x["url"] == booking["url"]
            ),
            None,
        ),
        what="bea's request on A2",
    )
    status, accepted = alice2.call("POST", f"{API}/bookings/{request['id']}/accept")
    assert status == 200 and accepted["status"] == "accepted", accepted
    eventually(
        lambda: bea.get(f"{API}/bookings/{booking['id']}")["status"] == "accepted",
        what="bea's booking accepted on B",
    )
    # And the proposal still verifies, from its new address and from its old one
    new_proposal = life["proposal"]["url"].replace(a["base"], a2["base"])
    for url in (new_proposal, life["proposal"]["url"]):
        verified = fedicoop("proposal", "verify", url, "--dev", check=False)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    # And the old host says where alice went, and redirects her posts' and ride's addresses
    status, old_alice, _ = fetch_json(life["alice_uri"])
    assert status == 200 and old_alice["movedTo"] == new_alice
    status, _, location = fetch_json(life["ride"]["url"])
    assert status == 308 and location == new_ride
    # And the new host publishes the map from old ids to new
    status, page, _ = fetch_json(f"{a2['base']}/migration-map?after=")
    mapped = {item["previously"]: item["id"] for item in page["orderedItems"]}
    assert mapped[life["alice_uri"]] == new_alice
    assert mapped[life["proposal"]["url"]] == new_proposal
    # And nothing was lost on the way: every kind of data counts the same on A2
    settled = inventory(a2["dir"], a["base"])
    for kind in ("objects", "rides", "proposals", "ballots", "roster_snapshots"):
        assert settled[kind]["count"] == before[kind]["count"], kind
    assert settled["bookings"]["count"] == before["bookings"]["count"] + 1  # bea's
