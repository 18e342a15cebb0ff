"""OAuth 2 endpoints: apps, the login and consent page, tokens, revocation, metadata."""

import hashlib
import hmac
import html
import time
from urllib.parse import urlencode

from aiohttp import web

from fedicoop.api.auth import require
from fedicoop.api.params import read_params
from fedicoop.api.routing import route
from fedicoop.errors import FedicoopError, Invalid
from fedicoop.oauth import scopes as scope_rules
from fedicoop.oauth import service
from fedicoop.oauth.ratelimit import TooManyAttempts
from fedicoop.storage.oauth import AppRecord
from fedicoop.web.client_address import client_address
from fedicoop.web.keys import INSTANCE


def application_entity(app: AppRecord, *, with_secret: bool) -> dict[str, object]:
    """Return Mastodon's Application entity."""
    entity: dict[str, object] = {
        "id": str(app.id),
        "name": app.name,
        "website": app.website,
        "scopes": app.scopes.split(),
        "redirect_uri": app.redirect_uris.replace("\n", " "),
        "redirect_uris": app.redirect_uris.split("\n"),
        "vapid_key": "",
    }
    if with_secret:
        entity["client_id"] = app.client_id
        entity["client_secret"] = app.client_secret
        entity["client_secret_expires_at"] = 0
    return entity


async def create_app(request: web.Request) -> web.Response:
    """POST /api/v1/apps: register a client (form or JSON)."""
    params = await read_params(request)
    uris = params.items("redirect_uris")
    redirect = " ".join(str(u) for u in uris) if len(uris) > 1 else params.text("redirect_uris", "")
    app = await service.register_app(
        request.app[INSTANCE],
        params.text("client_name", "") or "",
        redirect or "",
        params.text("scopes"),
        params.text("website"),
    )
    return web.json_response(application_entity(app, with_secret=True))


async def verify_app(request: web.Request) -> web.Response:
    """GET /api/v1/apps/verify_credentials."""
    auth = await require(request, "read", user=False)
    return web.json_response(application_entity(auth.app, with_secret=False))


async def server_metadata(request: web.Request) -> web.Response:
    """RFC 8414 authorization server metadata."""
    base = request.app[INSTANCE].config.base_url
    return web.json_response(
        {
            "issuer": f"{base}/",
            "service_documentation": "https://docs.joinmastodon.org/",
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "app_registration_endpoint": f"{base}/api/v1/apps",
            "scopes_supported": sorted(scope_rules.ALL_SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": [
                "authorization_code",
                "password",
                "client_credentials",
                "refresh_token",
            ],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }
    )


def _form_token(secret: str, client_id: str, issued: int) -> str:
    """A CSRF token bound to this form: the app and when the page was served."""
    mac = hmac.new(secret.encode(), f"{client_id}:{issued}".encode(), hashlib.sha256)
    return f"{issued}.{mac.hexdigest()}"


def _check_form_token(secret: str, client_id: str, token: str) -> None:
    issued_text, _, _ = token.partition(".")
    if not issued_text.isdigit() or time.time() - int(issued_text) > 3600:
        raise Invalid("the login form expired; reload the page")
    if not hmac.compare_digest(_form_token(secret, client_id, int(issued_text)), token):
        raise Invalid("the login form is invalid; reload the page")


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Authorize {app_name} · {coop}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}}
label,input,button{{display:block;width:100%;margin:.4rem 0}}input{{padding:.5rem}}
button{{padding:.6rem;font-size:1rem}}.error{{color:#a00}}</style></head>
<body><main>
<h1>{coop}</h1>
<p><strong>{app_name}</strong> wants to use your account with these permissions:
<code>{scopes}</code></p>
{error}
<form method="post" action="/oauth/authorize">
<input type="hidden" name="client_id" value="{client_id}">
<input type="hidden" name="redirect_uri" value="{redirect_uri}">
<input type="hidden" name="scope" value="{scopes}">
<input type="hidden" name="state" value="{state}">
<input type="hidden" name="code_challenge" value="{challenge}">
<input type="hidden" name="code_challenge_method" value="{challenge_method}">
<input type="hidden" name="csrf" value="{csrf}">
<label for="username">Username or email</label>
<input id="username" name="username" autocomplete="username" required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Authorize</button>
</form></main></body></html>"""

CODE_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Authorization code</title>
</head><body><main><h1>Authorization code</h1>
<p>Copy this code into the app:</p><p><code id="code">{code}</code></p></main></body></html>"""


def _render(
    request: web.Request, values: dict[str, str], app: AppRecord, error: str = ""
) -> web.Response:
    instance = request.app[INSTANCE]
    issued = int(time.time())
    page = PAGE.format(
        coop=html.escape(instance.config.name),
        app_name=html.escape(app.name),
        scopes=html.escape(values.get("scope") or app.scopes),
        client_id=html.escape(app.client_id),
        redirect_uri=html.escape(values.get("redirect_uri", "")),
        state=html.escape(values.get("state", "")),
        challenge=html.escape(values.get("code_challenge", "")),
        challenge_method=html.escape(values.get("code_challenge_method", "")),
        csrf=_form_token(instance.config.secret, app.client_id, issued),
        error=f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "",
    )
    return web.Response(
        text=page,
        content_type="text/html",
        status=400 if error else 200,
        headers={"X-Frame-Options": "DENY", "Cache-Control": "no-store"},
    )


async def authorize_page(request: web.Request) -> web.Response:
    """GET /oauth/authorize: the login and consent page."""
    query = dict(request.query)
    if query.get("response_type", "code") != "code":
        raise Invalid("response_type must be code")
    app = await service.client(request.app[INSTANCE], query.get("client_id", ""))
    if query.get("redirect_uri", "") not in app.redirect_uris.split("\n"):
        raise Invalid("redirect_uri does not match a registered URI", field="redirect_uri")
    scope_rules.parse_scopes(query.get("scope"), default=app.scopes)
    return _render(request, query, app)


async def authorize_submit(request: web.Request) -> web.Response:
    """POST /oauth/authorize: check the password, issue a code, send the browser back."""
    instance = request.app[INSTANCE]
    form = {k: str(v) for k, v in (await request.post()).items()}
    app = await service.client(instance, form.get("client_id", ""))
    _check_form_token(instance.config.secret, app.client_id, form.get("csrf", ""))
    try:
        account = await service.check_password(
            instance, form.get("username", ""), form.get("password", ""), client_address(request)
        )
    except TooManyAttempts:
        raise
    except FedicoopError as error:
        return _render(request, form, app, error.message)
    code = await service.authorize(
        instance,
        app,
        account,
        form.get("redirect_uri", ""),
        form.get("scope") or None,
        form.get("code_challenge") or None,
        form.get("code_challenge_method") or None,
    )
    if form.get("redirect_uri") == service.OOB:
        return web.Response(text=CODE_PAGE.format(code=html.escape(code)), content_type="text/html")
    query = {"code": code, **({"state": form["state"]} if form.get("state") else {})}
    separator = "&" if "?" in form["redirect_uri"] else "?"
    raise web.HTTPFound(f"{form['redirect_uri']}{separator}{urlencode(query)}")


async def token(request: web.Request) -> web.Response:
    """POST /oauth/token: every grant type."""
    params = await read_params(request)
    values = {k: str(v) for k, v in params.values.items() if isinstance(v, str | int)}
    basic = request.headers.get("Authorization", "")
    if basic.lower().startswith("basic "):
        import base64

        decoded = base64.b64decode(basic[6:]).decode("utf-8", "replace")
        values.setdefault("client_id", decoded.partition(":")[0])
        values.setdefault("client_secret", decoded.partition(":")[2])
    try:
        grant = await service.exchange(
            request.app[INSTANCE], values.get("grant_type", ""), values, client_address(request)
        )
    except service.OAuthError as error:
        return web.json_response(
            {"error": error.code, "error_description": error.message}, status=error.status
        )
    body: dict[str, object] = {
        "access_token": grant.access_token,
        "token_type": "Bearer",
        "scope": grant.scopes,
        "created_at": grant.created_at,
    }
    if grant.refresh_token:
        body["refresh_token"] = grant.refresh_token
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def revoke(request: web.Request) -> web.Response:
    """POST /oauth/revoke."""
    params = await read_params(request)
    values = {k: str(v) for k, v in params.values.items() if isinstance(v, str)}
    await service.revoke(request.app[INSTANCE], values)
    return web.json_response({})


def setup(app: web.Application) -> None:
    """Add the OAuth routes."""
    route(app, "POST", "/api/v1/apps", create_app)
    route(app, "GET", "/api/v1/apps/verify_credentials", verify_app)
    route(app, "GET", "/.well-known/oauth-authorization-server", server_metadata)
    route(app, "GET", "/oauth/authorize", authorize_page)
    route(app, "POST", "/oauth/authorize", authorize_submit)
    route(app, "POST", "/oauth/token", token)
    route(app, "POST", "/oauth/revoke", revoke)
