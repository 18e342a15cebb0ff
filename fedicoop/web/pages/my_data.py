"""My data: download my archive, import one (or a Mastodon CSV), aliases, move, delete.

The work is the portability services' (the same the API calls); these handlers read the form,
call them and say what happened. Uploads come through the pages' form reader, so they are
held to the server's request size (`client_max_size`); bigger archives go through the API,
which streams, or `fedicoop import-account`.
"""

from dataclasses import replace

from aiohttp import web
from multidict import MultiMapping

from fedicoop.errors import FedicoopError, Invalid
from fedicoop.portability import deletion, move
from fedicoop.portability.account_import import ImportReport, import_file
from fedicoop.portability.archive import export_account
from fedicoop.portability.archive_files import CsvKind
from fedicoop.web.pages.rendering import (
    PAGE_STATE,
    PREFIX,
    federation_of,
    render,
    require_member,
    see_other,
)
from fedicoop.web.pages.sessions import Member, log_out

DONE = ("alias", "moved")
CSV_KINDS = tuple(kind.value for kind in CsvKind)


def _page(
    request: web.Request,
    member: Member,
    *,
    error: FedicoopError | None = None,
    report: ImportReport | None = None,
    done: str | None = None,
) -> web.Response:
    return render(
        request,
        "my_data.html",
        status=error.status if error else 200,
        error=error,
        report=report,
        done=done,
        aliases=list(member.actor.also_known_as),
        moved_to=member.actor.moved_to,
        csv_kinds=CSV_KINDS,
    )


async def my_data_page(request: web.Request) -> web.Response:
    """GET /app/account: my archive, imports, aliases, moving and leaving."""
    member = require_member(request)
    done = request.query.get("done")
    return _page(request, member, done=done if done in DONE else None)


async def download_archive(request: web.Request) -> web.Response:
    """POST /app/account/export: my signed archive, as the API gives it (a POST: it is costly)."""
    member = require_member(request)
    exported = await export_account(federation_of(request), member.actor, member.account)
    return web.Response(
        body=exported.data,
        content_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{exported.filename}"',
            "Cache-Control": "no-store",  # direct messages and exact addresses are inside
        },
    )


def _upload(form: MultiMapping[object]) -> tuple[bytes, str, CsvKind | None]:
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        raise Invalid("choose a file: an archive (.zip) or a Mastodon CSV", field="file")
    data = upload.file.read()
    kind_text = str(form.get("type", "") or "")
    if kind_text and kind_text not in CSV_KINDS:
        raise Invalid(f"type must be one of {', '.join(CSV_KINDS)}", field="type")
    return data, upload.filename or "", CsvKind(kind_text) if kind_text else None


async def import_data(request: web.Request) -> web.Response:
    """POST /app/account/import (multipart): an archive or a Mastodon CSV; show the report."""
    member = require_member(request)
    form = await request.post()
    try:
        data, filename, kind = _upload(form)
        report = await import_file(
            federation_of(request),
            member.actor,
            member.account,
            data,
            filename=filename,
            kind=kind,
        )
    except Invalid as error:
        return _page(request, member, error=error)
    return _page(request, member, report=report)


async def add_alias(request: web.Request) -> web.Response:
    """POST /app/account/aliases {acct}: name my former account before it moves here."""
    member = require_member(request)
    form = await request.post()
    try:
        await move.add_alias(federation_of(request), member.actor, str(form.get("acct", "")))
    except Invalid as error:
        return _page(request, member, error=error)
    return see_other(f"{PREFIX}/account?done=alias")


async def move_account(request: web.Request) -> web.Response:
    """POST /app/account/move {target}: move to an account that lists this one as an alias."""
    member = require_member(request)
    form = await request.post()
    try:
        await move.move_account(federation_of(request), member.actor, str(form.get("target", "")))
    except Invalid as error:
        return _page(request, member, error=error)
    return see_other(f"{PREFIX}/account?done=moved")


async def delete_account(request: web.Request) -> web.Response:
    """POST /app/account/delete {password}: leave for good (erased after the grace period)."""
    member = require_member(request)
    form = await request.post()
    try:
        await deletion.delete_account(
            federation_of(request), member.account, member.actor, str(form.get("password", ""))
        )
    except FedicoopError as error:  # a wrong password (403) or the last admin (409)
        return _page(request, member, error=error)
    # The page that says goodbye is shown logged out: the account can no longer log in.
    request[PAGE_STATE] = replace(request[PAGE_STATE], member=None)
    response = render(request, "account_deleted.html", days=deletion.GRACE.days)
    log_out(response)
    return response


def routes(app: web.Application) -> None:
    """Add the my-data routes."""
    app.router.add_get("/account", my_data_page)
    app.router.add_post("/account/export", download_archive)
    app.router.add_post("/account/import", import_data)
    app.router.add_post("/account/aliases", add_alias)
    app.router.add_post("/account/move", move_account)
    app.router.add_post("/account/delete", delete_account)
