"""My data pages in one process: download the archive, import, aliases, move, delete."""

import io
import zipfile

from aiohttp import FormData

from fedicoop.storage.accounts import AccountRepository
from fedicoop.storage.actors import ActorRepository
from tests.activitypub.remote import Coop
from tests.web.pages import MEMBER_PASSWORD, csrf, log_in, member


async def test_a_member_downloads_the_signed_archive(coop: Coop) -> None:
    # Given dora, logged in
    await member(coop, "dora")
    await log_in(coop, "dora", MEMBER_PASSWORD)
    token = await csrf(coop, "/app/account")
    # When she asks for her archive
    response = await coop.client.post("/app/account/export", data={"csrf_token": token})
    # Then she gets a zip, not kept by caches, with the co-op's signed manifest inside
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/zip"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="archive-')
    assert response.headers["Cache-Control"] == "no-store"
    names = zipfile.ZipFile(io.BytesIO(await response.read())).namelist()
    assert "actor.json" in names and any("manifest" in name for name in names)
    # And without the form's token nothing is exported
    response = await coop.client.post("/app/account/export", data={})
    assert response.status == 403


async def test_importing_a_mastodon_csv_shows_what_was_done_and_left_out(coop: Coop) -> None:
    await member(coop, "dora")
    await log_in(coop, "dora", MEMBER_PASSWORD)
    token = await csrf(coop, "/app/account")
    form = FormData()
    form.add_field("csrf_token", token)
    form.add_field("type", "domain_blocking")
    form.add_field(
        "file", b"spam.example\nads.example\n", filename="blocks.csv", content_type="text/csv"
    )
    response = await coop.client.post("/app/account/import", data=form)
    page = await response.text()
    assert response.status == 200, page
    assert "Import finished" in page and "A Mastodon CSV list" in page
    assert "2 blocked domains were not applied" in page


async def test_an_import_without_a_file_or_with_a_bad_type_is_refused_on_the_page(
    coop: Coop,
) -> None:
    await member(coop, "dora")
    await log_in(coop, "dora", MEMBER_PASSWORD)
    token = await csrf(coop, "/app/account")
    response = await coop.client.post("/app/account/import", data={"csrf_token": token})
    assert response.status == 422
    assert "choose a file" in await response.text()
    form = FormData()
    form.add_field("csrf_token", token)
    form.add_field("type", "everything")
    form.add_field("file", b"a,b\n", filename="x.csv", content_type="text/csv")
    response = await coop.client.post("/app/account/import", data=form)
    assert response.status == 422 and "type must be one of" in await response.text()


async def test_an_upload_over_the_size_limit_gets_an_html_413(coop: Coop) -> None:
    await member(coop, "dora")
    await log_in(coop, "dora", MEMBER_PASSWORD)
    token = await csrf(coop, "/app/account")
    form = FormData()
    form.add_field("csrf_token", token)
    form.add_field("file", b"x" * (17 * 1024 * 1024), filename="big.zip")
    response = await coop.client.post("/app/account/import", data=form)
    assert response.status == 413
    assert "text/html" in response.headers["Content-Type"]
    assert "too big for this form" in await response.text()


async def test_a_member_names_a_former_account_then_the_old_one_moves(coop: Coop) -> None:
    # Given rita (the new account) and dora (the old one), on the same co-op
    _, old = await member(coop, "dora")
    await member(coop, "rita")
    await log_in(coop, "rita", MEMBER_PASSWORD)
    token = await csrf(coop, "/app/account")
    # When rita names dora as her former account
    response = await coop.client.post(
        "/app/account/aliases",
        data={"csrf_token": token, "acct": f"dora@{coop.instance.domain}"},
        allow_redirects=False,
    )
    assert response.status == 303
    page = await (await coop.client.get(response.headers["Location"])).text()
    # Then the alias is listed
    assert "Alias added." in page and old.uri in page
    # When dora, logged in, moves to rita
    coop.client.session.cookie_jar.clear()
    await log_in(coop, "dora", MEMBER_PASSWORD)
    token = await csrf(coop, "/app/account")
    response = await coop.client.post(
        "/app/account/move",
        data={"csrf_token": token, "target": f"rita@{coop.instance.domain}"},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    # Then her account says where it went and offers no second move
    page = await (await coop.client.get(response.headers["Location"])).text()
    assert "Your account has moved." in page and "This account has moved to" in page
    assert 'action="/app/account/move"' not in page
    moved = await ActorRepository(coop.db).get(old.id or 0)
    assert moved is not None and moved.moved_to is not None


async def test_moving_to_an_account_that_does_not_list_me_is_refused_in_french(
    coop: Coop,
) -> None:
    await member(coop, "dora")
    await member(coop, "rita")
    await log_in(coop, "dora", MEMBER_PASSWORD)
    token = await csrf(coop, "/app/account?lang=fr")
    response = await coop.client.post(
        "/app/account/move", data={"csrf_token": token, "target": f"rita@{coop.instance.domain}"}
    )
    page = await response.text()
    assert response.status == 422
    assert "doit d&#39;abord indiquer ce compte" in page


async def test_deleting_my_account_needs_my_password_then_logs_me_out(coop: Coop) -> None:
    # Given dora logged in
    account, _ = await member(coop, "dora")
    await log_in(coop, "dora", MEMBER_PASSWORD)
    token = await csrf(coop, "/app/account")
    # When she confirms with a wrong password, Then nothing happens and the page says why
    response = await coop.client.post(
        "/app/account/delete", data={"csrf_token": token, "password": "not my password"}
    )
    assert response.status == 403
    assert "wrong password" in await response.text()
    # When she confirms with her password
    response = await coop.client.post(
        "/app/account/delete", data={"csrf_token": token, "password": MEMBER_PASSWORD}
    )
    # Then the account is deleted, the goodbye page shows no member menu, and she is out
    page = await response.text()
    assert response.status == 200 and "Account deleted" in page
    assert "@dora" not in page
    deleted = await AccountRepository(coop.db).get(account.id)
    assert deleted is not None and deleted.status == "deleted"
    response = await coop.client.get("/app/", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/app/login")


async def test_the_last_admin_cannot_delete_their_account(coop: Coop) -> None:
    await log_in(coop)
    token = await csrf(coop, "/app/account")
    response = await coop.client.post(
        "/app/account/delete",
        data={"csrf_token": token, "password": "correct horse battery staple"},
    )
    assert response.status == 409
    assert "the last admin cannot delete" in await response.text()
