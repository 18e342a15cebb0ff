"""Rewriting a co-op's own URLs to a new domain, and nobody else's."""

import json

from fedicoop.portability.rebase import Rebase, signed_by

MOVE = Rebase.between("https://velo.example:8443", "https://velo.coop")


def test_the_origin_is_rewritten_in_ids_links_and_handles() -> None:
    # Given a post's stored text naming the co-op's own URLs and a member's handle
    text = (
        '{"id": "https://velo.example:8443/objects/1", "content": "<a href=\\"'
        'https://velo.example:8443/@alice\\">@alice@velo.example:8443</a>"}'
    )
    # When it is rebased, Then every own URL and handle names the new domain
    assert MOVE.text(text) == (
        '{"id": "https://velo.coop/objects/1", "content": "<a href=\\"'
        'https://velo.coop/@alice\\">@alice@velo.coop</a>"}'
    )
    # And a column holding just the domain takes the new one
    assert MOVE.text("velo.example:8443") == "velo.coop"


def test_other_servers_that_merely_look_alike_are_left_alone() -> None:
    for other in (
        "https://velo.example:84430/users/x",  # another port
        "https://velo.example:8443.evil/users/x",  # another host
        "https://velo.example/users/x",  # no port: another origin
        "http://velo.example:8443/users/x",  # another scheme
        "bob@velo.example:84430",
        "https://pain.example/users/bob",
    ):
        assert MOVE.text(other) == other


def test_documents_signed_by_others_keep_every_byte() -> None:
    # Given a partner member's ballot naming our proposal, signed by the partner's key
    theirs = json.dumps(
        {
            "id": "https://pain.example/ballots/1",
            "proposal": "https://velo.example:8443/proposals/7",
            "proof": {"verificationMethod": "https://pain.example/users/bob#ed25519-key"},
        }
    )
    # And one of our own member's ballots
    ours = theirs.replace("https://pain.example/users/bob", "https://velo.example:8443/users/a")
    # When rows holding them are rebased
    row = MOVE.row("ballots", {"document": theirs, "mine": ours})
    # Then the partner's document is untouched (its proof must keep verifying)
    assert row is not None and row["document"] == theirs
    assert signed_by(theirs) == "https://pain.example/users/bob"
    # And ours is rewritten, to be signed again by the importer
    assert "https://velo.coop/proposals/7" in row["mine"]


def test_the_old_hosts_pending_deliveries_stay_behind() -> None:
    assert MOVE.row("deliveries", {"id": 1}) is None
    assert MOVE.reverse.text("https://velo.coop/users/a") == "https://velo.example:8443/users/a"
