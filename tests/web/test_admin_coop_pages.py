"""Admins' co-op pages in one process: partnerships, moderation, settings, invitations."""

import shutil
from pathlib import Path

import pytest
from pytest_aiohttp import AiohttpClient, AiohttpServer

from fedicoop.config import load_config
from fedicoop.coops.partnership import PartnershipRepository, PartnerState
from fedicoop.storage.actors import ActorRepository
from fedicoop.storage.notifications import ReportRepository
from tests.activitypub.remote import Coop, start_coop
from tests.web.pages import MEMBER_PASSWORD, csrf, log_in, member

ADMIN_PAGES = (
    ("/app/admin/partners", "/app/admin/partners"),
    ("/app/admin/moderation", "/app/admin/moderation/blocks"),
    ("/app/admin/settings", "/app/admin/settings"),
)


@pytest.fixture
async def other_coop(
    tmp_path: Path,
    sqlite_template: Path,
    aiohttp_server: AiohttpServer,
    aiohttp_client: AiohttpClient,
) -> Coop:
    """A second co-op, on its own database, to partner with."""
    database = tmp_path / "other.db"
    shutil.copy(sqlite_template, database)
    return await start_coop(
        tmp_path / "other", f"sqlite:///{database}", aiohttp_server, aiohttp_client
    )


@pytest.mark.parametrize(("path", "form"), ADMIN_PAGES)
async def test_members_who_are_not_admins_do_not_see_the_coop_pages(
    coop: Coop, path: str, form: str
) -> None:
    await member(coop, "rita")
    await log_in(coop, "rita", MEMBER_PASSWORD)
    response = await coop.client.get(path)
    assert response.status == 403 and "text/html" in response.headers["Content-Type"]
    # Nor can they post to them, even with a valid token
    token = await csrf(coop, "/app/rides")
    response = await coop.client.post(form, data={"csrf_token": token, "domain": "x.example"})
    assert response.status == 403


async def _group_handle(other: Coop) -> str:
    group = await other.federation.group_actor()
    return group.acct


async def test_an_admin_offers_a_partnership_then_withdraws_it(
    coop: Coop, other_coop: Coop
) -> None:
    # Given the admin on the partners page, no partnership yet
    await log_in(coop)
    page = await (await coop.client.get("/app/admin/partners")).text()
    assert "Nothing yet." in page
    token = await csrf(coop, "/app/admin/partners")
    handle = await _group_handle(other_coop)
    # When they offer partnership to the other co-op by its handle
    response = await coop.client.post(
        "/app/admin/partners", data={"csrf_token": token, "handle": f"@{handle}"}
    )
    # Then it is listed as waiting for their answer
    page = await response.text()
    assert response.status == 200 and "Offer sent" in page
    assert handle in page and "waiting for their answer" in page
    # When they withdraw it, Then it is gone
    response = await coop.client.post(
        "/app/admin/partners/end", data={"csrf_token": token, "handle": handle}
    )
    page = await response.text()
    assert "Partnership ended." in page and "waiting for their answer" not in page


async def test_an_admin_approves_a_partnership_the_other_coop_asked_for(
    coop: Coop, other_coop: Coop
) -> None:
    # Given the other co-op's offer arrived (as its Offer activity would record it)
    handle = await _group_handle(other_coop)
    theirs = await coop.federation.resolver.actor_by_handle(handle)
    await PartnershipRepository(coop.federation).put(
        theirs.id or 0, PartnerState.REQUESTED, f"{other_coop.instance.config.base_url}/offer/1"
    )
    await log_in(coop)
    page = await (await coop.client.get("/app/admin/partners")).text()
    assert "asks to partner with us" in page
    # When the admin approves it
    token = await csrf(coop, "/app/admin/partners")
    response = await coop.client.post(
        "/app/admin/partners", data={"csrf_token": token, "handle": handle}
    )
    # Then the co-ops are partners
    page = await response.text()
    assert "You are partners now." in page
    assert await PartnershipRepository(coop.federation).get(theirs.id or 0) == (
        PartnerState.ACTIVE,
        f"{other_coop.instance.config.base_url}/offer/1",
    )


async def test_a_handle_that_names_no_partner_coop_is_said_on_the_page(coop: Coop) -> None:
    await log_in(coop)
    token = await csrf(coop, "/app/admin/partners")
    ours = await _group_handle(coop)
    for handle, said in (
        (ours, "a co-op cannot partner with itself"),
        (f"admin@{coop.instance.domain}", "is a Person, not a co-op Group"),
    ):
        response = await coop.client.post(
            "/app/admin/partners", data={"csrf_token": token, "handle": handle}
        )
        assert response.status == 422
        page = await response.text()
        assert 'role="alert"' in page and said in page
        assert f'value="{handle}"' in page  # what was typed stays in the field


async def test_an_admin_blocks_a_server_and_the_inbox_refuses_it_at_once(coop: Coop) -> None:
    await log_in(coop)
    token = await csrf(coop, "/app/admin/moderation")
    receiver = coop.federation.receiver
    assert not await receiver.is_blocked("spam.example")  # the blocks are now cached
    # When the admin blocks spam.example
    response = await coop.client.post(
        "/app/admin/moderation/blocks",
        data={"csrf_token": token, "domain": "Spam.Example", "reason": "ads"},
    )
    page = await response.text()
    # Then it is listed, and the inbox refuses it and its subdomains without a restart
    assert "Server blocked." in page and "spam.example" in page and "ads" in page
    assert await receiver.is_blocked("spam.example")
    assert await receiver.is_blocked("relay.spam.example")
    # When they lift the block, Then the server gets through again
    response = await coop.client.post(
        "/app/admin/moderation/blocks/remove", data={"csrf_token": token, "domain": "spam.example"}
    )
    assert "Server unblocked." in await response.text()
    assert not await receiver.is_blocked("spam.example")


@pytest.mark.parametrize("domain", ["not a domain", "", "a..b"])
async def test_a_bad_domain_is_not_blocked(coop: Coop, domain: str) -> None:
    await log_in(coop)
    token = await csrf(coop, "/app/admin/moderation")
    response = await coop.client.post(
        "/app/admin/moderation/blocks", data={"csrf_token": token, "domain": domain}
    )
    assert response.status == 422
    assert "No server is blocked." in await response.text()


async def test_an_admin_reads_a_report_and_marks_it_dealt_with(coop: Coop) -> None:
    # Given a report received via Flag from another server
    await ReportRepository(coop.db).add(
        "https://remote.example/flags/1",
        "https://remote.example/actor",
        ["https://remote.example/users/troll"],
        "Spam in <b>replies</b>",
    )
    await log_in(coop)
    page = await (await coop.client.get("/app/admin/moderation")).text()
    # Then the admin sees who reported whom and why (escaped), still to look at
    assert "From https://remote.example/actor" in page
    assert "Spam in &lt;b&gt;replies&lt;/b&gt;" in page and "to look at" in page
    report_id = (await ReportRepository(coop.db).received())[0].id
    # When they mark it dealt with
    token = await csrf(coop, "/app/admin/moderation")
    response = await coop.client.post(
        f"/app/admin/reports/{report_id}/resolve", data={"csrf_token": token}
    )
    page = await response.text()
    assert "Report marked as dealt with." in page and "to look at" not in page
    # And a second time is a 404: it is no longer open
    response = await coop.client.post(
        f"/app/admin/reports/{report_id}/resolve", data={"csrf_token": token}
    )
    assert response.status == 404


async def test_a_reported_address_that_is_not_http_is_not_a_link(coop: Coop) -> None:
    # Given a hostile server's Flag naming a javascript: "object"
    await ReportRepository(coop.db).add(
        "https://evil.example/flags/1",
        "https://evil.example/actor",
        ["javascript:alert(document.cookie)", "https://evil.example/users/x"],
        "",
    )
    await log_in(coop)
    page = await (await coop.client.get("/app/admin/moderation")).text()
    # Then it is shown as text, never as a link; the https one is a link
    assert "<li>javascript:alert(document.cookie)</li>" in page
    assert 'href="javascript:' not in page
    assert 'href="https://evil.example/users/x"' in page


async def test_an_admin_renames_the_coop_without_a_restart(coop: Coop) -> None:
    await log_in(coop)
    token = await csrf(coop, "/app/admin/settings")
    # When the admin saves a new name, description and language
    response = await coop.client.post(
        "/app/admin/settings",
        data={
            "csrf_token": token,
            "name": "  Boulangerie   Coop ",
            "description": "We bake bread together.",
            "language": "fr",
        },
        allow_redirects=False,
    )
    assert response.status == 303
    # Then the running co-op, its config file and its Group's profile say so
    assert coop.instance.config.name == "Boulangerie Coop"
    saved = load_config(coop.instance.config.directory)
    assert (saved.name, saved.language) == ("Boulangerie Coop", "fr")
    group = await coop.federation.group_actor()
    stored = await ActorRepository(coop.db).get(group.id or 0)
    assert stored is not None and stored.display_name == "Boulangerie Coop"
    assert "We bake bread together." in stored.summary
    # And the public page, with no language asked for, is French and shows them
    coop.client.session.cookie_jar.clear()
    page = await (await coop.client.get("/")).text()
    assert '<html lang="fr">' in page
    assert "Boulangerie Coop" in page and "We bake bread together." in page


async def test_settings_that_break_the_rules_are_refused(coop: Coop) -> None:
    await log_in(coop)
    token = await csrf(coop, "/app/admin/settings")
    for data in ({"name": "", "language": "en"}, {"name": "Ok", "language": "de"}):
        response = await coop.client.post(
            "/app/admin/settings", data={"csrf_token": token, "description": "", **data}
        )
        assert response.status == 422
    assert coop.instance.config.name == "Test Coop"


async def test_an_admin_makes_an_invitation_link_that_lets_someone_in(coop: Coop) -> None:
    await log_in(coop)
    token = await csrf(coop, "/app/admin/settings")
    response = await coop.client.post(
        "/app/admin/invites", data={"csrf_token": token, "max_uses": "2", "days": "7"}
    )
    page = await response.text()
    assert "Invitation link made." in page and "used 0 of 2 times" in page
    link = page.split(f"{coop.instance.config.base_url}/join?invite=", 1)[1].split('"', 1)[0]
    # When someone applies with it, Then they are a member at once
    coop.client.session.cookie_jar.clear()
    join = await coop.client.get(f"/join?invite={link}")
    assert "You have an invitation" in await join.text()
    token = await csrf(coop, f"/join?invite={link}")
    response = await coop.client.post(
        "/join",
        data={
            "csrf_token": token,
            "invite": link,
            "username": "ines",
            "password": MEMBER_PASSWORD,
        },
    )
    assert "Welcome! You are a member" in await response.text()
    # A number out of range is refused on the page
    await log_in(coop)
    token = await csrf(coop, "/app/admin/settings")
    response = await coop.client.post(
        "/app/admin/invites", data={"csrf_token": token, "max_uses": "0", "days": "7"}
    )
    assert response.status == 422
