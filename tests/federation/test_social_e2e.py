"""End to end: real fedicoop server processes on loopback follow, post and talk to each other."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import ServerProcess, eventually, fedicoop, init_instance, query

pytestmark = pytest.mark.federation


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two co-ops, A (Lyon) and B (a bakery), each with members, served by real processes."""
    base = tmp_path_factory.mktemp("net")
    a_dir, b_dir = base / "a", base / "b"
    a_port, _ = init_instance(a_dir, "Vélo Lyon", "--handle", "velo")
    b_port, _ = init_instance(b_dir, "Bakery", "--handle", "bread")
    for directory, users in ((a_dir, ("alice", "carol")), (b_dir, ("bob",))):
        for user in users:
            fedicoop("user", "add", str(directory), user, "--password", "long enough pw")
    servers = [ServerProcess(a_dir, a_port).start(), ServerProcess(b_dir, b_port).start()]
    yield {
        "a": a_dir,
        "b": b_dir,
        "a_domain": f"127.0.0.1:{a_port}",
        "b_domain": f"127.0.0.1:{b_port}",
    }
    for server in servers:
        server.stop()


def act(directory: Path, user: str, *args: str) -> str:
    return fedicoop("act", str(directory), user, *args).stdout.strip()


def test_follow_post_reply_like_boost_delete_unfollow(network: dict[str, Any]) -> None:
    a, b = network["a"], network["b"]
    bob = f"bob@{network['b_domain']}"
    alice_uri = f"http://{network['a_domain']}/users/alice"
    bob_uri = f"http://{network['b_domain']}/users/bob"

    # Given alice on A follows bob on B
    act(a, "alice", "follow", bob)
    # Then B records an accepted follower, and A learns of the Accept
    eventually(
        lambda: query(
            b,
            "SELECT 1 FROM follows f JOIN actors x ON x.id = f.follower_id "
            "WHERE x.uri = ? AND f.state = 'accepted'",
            alice_uri,
        ),
        what="follow accepted on B",
    )
    eventually(
        lambda: query(
            a,
            "SELECT 1 FROM follows f JOIN actors x ON x.id = f.followee_id "
            "WHERE x.uri = ? AND f.state = 'accepted'",
            bob_uri,
        ),
        what="Accept received on A",
    )

    # When bob posts, Then the post reaches A
    post = act(b, "bob", "post", "Fresh bread at 7 #bakery")
    eventually(lambda: query(a, "SELECT 1 FROM objects WHERE uri = ?", post), what="post on A")

    # When alice replies, Then B stores the reply and notifies bob
    reply = act(a, "alice", "post", "Save me a loaf!", "--reply-to", post)
    eventually(
        lambda: query(b, "SELECT 1 FROM objects WHERE uri = ? AND in_reply_to = ?", reply, post),
        what="reply on B",
    )
    eventually(
        lambda: query(
            b, "SELECT 1 FROM notifications WHERE type = 'mention' AND object_uri = ?", reply
        ),
        what="bob notified of the reply",
    )

    # When alice likes and boosts the post, Then B counts both and notifies bob
    act(a, "alice", "like", post)
    act(a, "alice", "boost", post)
    eventually(lambda: query(b, "SELECT 1 FROM likes WHERE object_uri = ?", post), what="like")
    eventually(lambda: query(b, "SELECT 1 FROM announces WHERE object_uri = ?", post), what="boost")
    eventually(
        lambda: query(b, "SELECT 1 FROM notifications WHERE type = 'favourite'"), what="fav notif"
    )

    # When alice takes the like back, Then B forgets it
    act(a, "alice", "unlike", post)
    eventually(
        lambda: not query(b, "SELECT 1 FROM likes WHERE object_uri = ?", post), what="unlike"
    )

    # When bob deletes the post, Then A shows it deleted
    act(b, "bob", "delete", post)
    eventually(
        lambda: query(a, "SELECT 1 FROM objects WHERE uri = ? AND deleted_at IS NOT NULL", post),
        what="delete on A",
    )

    # When alice unfollows, Then B no longer counts her
    act(a, "alice", "unfollow", bob)
    eventually(
        lambda: (
            not query(
                b,
                "SELECT 1 FROM follows f JOIN actors x ON x.id = f.follower_id WHERE x.uri = ?",
                alice_uri,
            )
        ),
        what="unfollow on B",
    )
    # And every delivery on both sides arrived
    for directory in (a, b):
        eventually(
            lambda d=directory: not query(d, "SELECT 1 FROM deliveries WHERE state <> 'delivered'"),
            what="all deliveries delivered",
        )


def test_group_announces_members_posts_to_remote_followers(network: dict[str, Any]) -> None:
    a, b = network["a"], network["b"]
    group = f"velo@{network['a_domain']}"
    # Given bob on B follows co-op A's Group
    act(b, "bob", "follow", group)
    eventually(
        lambda: query(b, "SELECT 1 FROM follows WHERE state = 'accepted' AND uri LIKE ?", "%"),
        what="group follow accepted",
    )
    # When carol, a member of A, addresses a post to the Group
    post = act(a, "carol", "post", f"Ride to Grenoble on Friday @{group}")
    # Then the Group announces it and B receives the announce and the post
    group_uri = f"http://{network['a_domain']}/users/velo"
    eventually(
        lambda: query(
            b,
            "SELECT 1 FROM announces n JOIN actors x ON x.id = n.actor_id "
            "WHERE x.uri = ? AND n.object_uri = ?",
            group_uri,
            post,
        ),
        what="group announce on B",
    )
    eventually(lambda: query(b, "SELECT 1 FROM objects WHERE uri = ?", post), what="post on B")


def test_remote_follower_cannot_use_group_as_megaphone(network: dict[str, Any]) -> None:
    a, b = network["a"], network["b"]
    group = f"velo@{network['a_domain']}"
    act(b, "bob", "follow", group)
    # When bob (a follower, not a member) addresses the Group
    post = act(b, "bob", "post", f"Buy my stuff @{group}")
    # Then A stores the post but the Group never announces it
    eventually(lambda: query(a, "SELECT 1 FROM objects WHERE uri = ?", post), what="post on A")
    time.sleep(1.5)
    assert not query(a, "SELECT 1 FROM announces WHERE object_uri = ?", post)


def test_partnership_needs_both_admins(network: dict[str, Any]) -> None:
    a, b = network["a"], network["b"]
    a_group, b_group = f"velo@{network['a_domain']}", f"bread@{network['b_domain']}"
    # When only A's admin adds B, Then the partnership is offered, not active
    fedicoop("partner", "add", str(a), b_group)
    eventually(lambda: "requested" in fedicoop("partner", "list", str(b)).stdout, what="offer on B")
    assert "offered" in fedicoop("partner", "list", str(a)).stdout
    # When B's admin adds A, Then it is active on both sides
    fedicoop("partner", "add", str(b), a_group)
    eventually(lambda: "active" in fedicoop("partner", "list", str(a)).stdout, what="active on A")
    assert "active" in fedicoop("partner", "list", str(b)).stdout
    # When A removes it, Then it is gone on both sides
    fedicoop("partner", "remove", str(a), b_group)
    eventually(
        lambda: (
            b_group.split("@")[0] not in fedicoop("partner", "list", str(b)).stdout
            or "No partnerships" in fedicoop("partner", "list", str(b)).stdout
        ),
        what="removed on B",
    )
