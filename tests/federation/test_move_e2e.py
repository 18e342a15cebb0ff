"""End to end: a member moves between co-ops and her followers on a third one follow her there."""

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import ApiClient, ServerProcess, eventually, fedicoop, init_instance, query

# Three co-ops start (init, keys, argon2 at production cost): slow on a busy machine.
pytestmark = [pytest.mark.federation, pytest.mark.timeout(360)]

API = "/api/fedicoop/v1"


def follow_state(directory: Path, follower_uri: str, followee_uri: str) -> str | None:
    rows = query(
        directory,
        "SELECT f.state FROM follows f JOIN actors a ON a.id = f.follower_id "
        "JOIN actors b ON b.id = f.followee_id WHERE a.uri = ? AND b.uri = ?",
        follower_uri,
        followee_uri,
    )
    return str(rows[0][0]) if rows else None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def browse(url: str) -> tuple[int, str | None]:
    """GET a page as a browser would, without following a redirect: (status, Location)."""
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, headers={"Accept": "text/html"})
    try:
        with opener.open(request, timeout=10) as answer:
            return answer.status, answer.headers.get("Location")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location")


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Three co-ops: alice on A, her new account alice2 on B, bob (her follower) on C."""
    base = tmp_path_factory.mktemp("move")
    dirs = {name: base / name for name in ("a", "b", "c")}
    ports = {
        name: init_instance(directory, f"Coop {name.upper()}", "--handle", f"coop{name}")[0]
        for name, directory in dirs.items()
    }
    for name, user in (("a", "alice"), ("b", "alice2"), ("c", "bob")):
        fedicoop("user", "add", str(dirs[name]), user, "--password", "long enough pw")
    servers = [ServerProcess(dirs[name], ports[name]).start() for name in dirs]
    yield {
        **dirs,
        **{f"{name}_domain": f"127.0.0.1:{port}" for name, port in ports.items()},
        **{f"{name}_url": f"http://127.0.0.1:{port}" for name, port in ports.items()},
    }
    for server in servers:
        server.stop()


def test_followers_move_with_the_account(network: dict[str, Any]) -> None:
    a, c = network["a"], network["c"]
    alice_acct, alice2_acct = f"alice@{network['a_domain']}", f"alice2@{network['b_domain']}"
    alice_uri = f"{network['a_url']}/users/alice"
    alice2_uri = f"{network['b_url']}/users/alice2"
    bob_uri = f"{network['c_url']}/users/bob"

    # Given bob on C follows alice on A
    fedicoop("act", str(c), "bob", "follow", alice_acct)
    eventually(lambda: follow_state(c, bob_uri, alice_uri) == "accepted", what="bob follows alice")
    eventually(lambda: follow_state(a, bob_uri, alice_uri) == "accepted", what="A counts bob")

    # And alice's new account on B names the old one as an alias
    alice2 = ApiClient(network["b_url"], "alice2")
    status, body = alice2.call("POST", f"{API}/account/aliases", {"acct": alice_acct})
    assert status == 200, body
    assert body["aliases"] == [alice_uri]

    # When alice moves from A to B
    alice = ApiClient(network["a_url"], "alice")
    status, body = alice.call("POST", f"{API}/account/move", {"target": alice2_acct})
    assert status == 200, body
    assert body["moved"]["uri"] == alice2_uri

    # Then bob on C follows alice2 on B (accepted by B) and no longer follows the old account
    eventually(
        lambda: follow_state(c, bob_uri, alice2_uri) == "accepted", what="bob follows alice2"
    )
    eventually(
        lambda: follow_state(network["b"], bob_uri, alice2_uri) == "accepted",
        what="B counts bob as alice2's follower",
    )
    eventually(lambda: follow_state(c, bob_uri, alice_uri) is None, what="bob left alice")
    eventually(lambda: follow_state(a, bob_uri, alice_uri) is None, what="A dropped bob")

    # And the Mastodon API on C shows alice@A as moved to alice2
    bob = ApiClient(network["c_url"], "bob")
    shown = bob.get("/api/v1/accounts/lookup", acct=alice_acct)
    assert shown["moved"]["acct"] == alice2_acct

    # And A sends browsers on from alice's profile, while servers still read her actor
    status_code, location = browse(f"{network['a_url']}/@alice")
    assert status_code == 302 and location is not None and "alice2" in location
    document = alice.get("/users/alice")
    assert document["movedTo"] == alice2_uri

    # And alice can no longer post from the old account
    status, body = alice.call("POST", "/api/v1/statuses", {"status": "am I still here?"})
    assert status == 422, body
