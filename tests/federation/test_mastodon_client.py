"""Mastodon.py, a real client library, drives two real fedicoop processes end to end."""

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from mastodon import Mastodon, StreamListener
from PIL import Image

from tests.servers import ServerProcess, eventually, fedicoop, init_instance

pytestmark = pytest.mark.federation

OOB = "urn:ietf:wg:oauth:2.0:oob"
SCOPES = ["read", "write", "follow", "push"]
PASSWORD = "a long password"


@pytest.fixture(scope="module")
def two_coops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("masto")
    a_dir, b_dir = base / "a", base / "b"
    a_port, _ = init_instance(a_dir, "Vélo Lyon", "--handle", "velo")
    b_port, _ = init_instance(b_dir, "Bakery", "--handle", "bread")
    fedicoop("user", "add", str(a_dir), "alice", "--password", PASSWORD)
    fedicoop(
        "user", "add", str(b_dir), "bob", "--password", PASSWORD, "--email", "bob@bakery.example"
    )
    servers = [ServerProcess(a_dir, a_port).start(), ServerProcess(b_dir, b_port).start()]
    yield {
        "a": f"http://127.0.0.1:{a_port}",
        "b": f"http://127.0.0.1:{b_port}",
        "b_domain": f"127.0.0.1:{b_port}",
        "dirs": (a_dir, b_dir),
    }
    for server in servers:
        server.stop()


def register(base: str) -> tuple[str, str]:
    return Mastodon.create_app(
        "fedicoop tests", api_base_url=base, scopes=SCOPES, redirect_uris=OOB
    )


def login_with_password(base: str, login: str) -> Mastodon:
    client_id, secret = register(base)
    client = Mastodon(client_id=client_id, client_secret=secret, api_base_url=base)
    client.log_in(username=login, password=PASSWORD, scopes=SCOPES, allow_http=True)
    return client


def login_with_code(base: str, username: str) -> Mastodon:
    """Walk the authorization-code flow as a browser would: load the page, submit the form."""
    client_id, secret = register(base)
    client = Mastodon(client_id=client_id, client_secret=secret, api_base_url=base)
    url = client.auth_request_url(scopes=SCOPES, redirect_uris=OOB, allow_http=True)
    page = requests.get(url, timeout=10)
    assert page.status_code == 200 and "<form" in page.text
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    fields.update(username=username, password=PASSWORD)
    answer = requests.post(f"{base}/oauth/authorize", data=fields, timeout=10)
    code = re.search(r'<code id="code">([^<]+)</code>', answer.text)
    assert code, answer.text
    client.log_in(code=code.group(1), redirect_uri=OOB, scopes=SCOPES, allow_http=True)
    return client


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


class Collector(StreamListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.updates: list[Any] = []

    def on_update(self, status: Any) -> None:
        self.updates.append(status)


def test_mastodon_py_end_to_end(two_coops: dict[str, Any]) -> None:
    # Given alice on A (authorization-code flow) and bob on B (password grant, by email)
    alice = login_with_code(two_coops["a"], "alice")
    bob = login_with_password(two_coops["b"], "bob@bakery.example")
    assert alice.account_verify_credentials()["username"] == "alice"
    assert bob.account_verify_credentials()["username"] == "bob"

    # When bob posts an image, and a poll (Mastodon allows one or the other per post)
    media = bob.media_post(png_bytes(), mime_type="image/png", description="a loaf")
    pictured = bob.status_post("Today's loaf", media_ids=[media])
    assert pictured["media_attachments"][0]["description"] == "a loaf"
    poll = bob.make_poll(["sourdough", "rye"], expires_in=3600)
    posted = bob.status_post("Which bread tomorrow?", poll=poll)
    assert posted["poll"]["options"][0]["title"] == "sourdough"

    # And alice finds bob through search-resolve and follows him
    found = alice.search_v2(f"bob@{two_coops['b_domain']}", resolve=True)["accounts"]
    assert found and found[0]["acct"] == f"bob@{two_coops['b_domain']}"
    alice.account_follow(found[0]["id"])
    eventually(
        lambda: alice.account_relationships(found[0]["id"])[0]["following"], "follow accepted"
    )

    # And alice listens to her user stream
    collector = Collector()
    stream = alice.stream_user(collector, run_async=True, reconnect_async=False)
    try:
        # When bob posts again, Then it is in alice's home timeline and her stream
        second = bob.status_post("Ovens are hot, come by!")
        eventually(
            lambda: any(s["uri"] == second["uri"] for s in alice.timeline_home()), "home timeline"
        )
        eventually(lambda: any(s["uri"] == second["uri"] for s in collector.updates), "stream")
    finally:
        stream.close()

    # When alice replies, Then bob gets a notification
    remote_second = next(s for s in alice.timeline_home() if s["uri"] == second["uri"])
    alice.status_post("On my way!", in_reply_to_id=remote_second["id"])
    eventually(
        lambda: any(n["type"] == "mention" for n in bob.notifications()), "reply notification"
    )

    # When alice votes in bob's poll (resolved by its URL), Then bob's poll counts it
    remote_poll = alice.search_v2(posted["uri"], resolve=True)["statuses"]
    assert remote_poll and remote_poll[0]["poll"]
    alice.poll_vote(remote_poll[0]["poll"]["id"], [0])
    eventually(lambda: bob.poll(posted["poll"]["id"])["votes_count"] == 1, "vote counted on B")
