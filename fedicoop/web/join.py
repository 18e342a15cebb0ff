"""`/join`: apply to become a member (or come in with an invitation), in French or English."""

import html

from aiohttp import web

from fedicoop.errors import FedicoopError
from fedicoop.governance import membership
from fedicoop.web.keys import INSTANCE

PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;
line-height:1.5}}label{{display:block;margin-top:1rem}}input,textarea{{width:100%;
padding:.4rem;font:inherit}}button{{margin-top:1rem;padding:.5rem 1rem;font:inherit}}
.error{{color:#a00}}.done{{color:#060}}</style></head>
<body><main><h1>{title}</h1>{message}
<form method="post" action="/join">
<input type="hidden" name="invite" value="{invite}">
<label>{username_label}<input name="username" required autocomplete="username"
 pattern="[a-z0-9_]{{1,30}}" value="{username}"></label>
<label>{password_label}<input name="password" type="password" required minlength="10"
 autocomplete="new-password"></label>
<label>{email_label}<input name="email" type="email" autocomplete="email"></label>
<label>{motivation_label}
<textarea name="motivation" rows="4" maxlength="2000">{motivation}</textarea></label>
<button type="submit">{submit}</button>
</form></main></body></html>"""

TEXT = {
    "en": {
        "title": "Join {name}",
        "username": "Username (lowercase letters, digits, _)",
        "password": "Password (at least 10 characters)",
        "email": "Email (optional)",
        "motivation": "Why would you like to join?",
        "submit": "Apply",
        "invited": "You have an invitation: you will be a member at once.",
        "pending": "Thank you! An admin will look at your application; you can log in once "
        "it is approved.",
        "approved": "Welcome! You are a member: log in from any Mastodon app at {url}.",
    },
    "fr": {
        "title": "Rejoindre {name}",
        "username": "Nom d'utilisateur (minuscules, chiffres, _)",
        "password": "Mot de passe (au moins 10 caractères)",
        "email": "Courriel (facultatif)",
        "motivation": "Pourquoi voulez-vous nous rejoindre ?",
        "submit": "Envoyer ma candidature",
        "invited": "Vous avez une invitation : vous serez membre tout de suite.",
        "pending": "Merci ! Une personne de l'administration va examiner votre candidature ; "
        "vous pourrez vous connecter une fois acceptée.",
        "approved": "Bienvenue ! Vous êtes membre : connectez-vous depuis toute appli Mastodon "
        "à l'adresse {url}.",
    },
}


def _language(request: web.Request, default: str) -> str:
    wanted = request.query.get("lang") or request.headers.get("Accept-Language") or default
    return "fr" if wanted.lower().startswith("fr") else "en"


def _page(
    request: web.Request, *, message: str = "", status: int = 200, values: dict[str, str]
) -> web.Response:
    instance = request.app[INSTANCE]
    lang = _language(request, instance.config.language)
    text = TEXT[lang]
    page = PAGE.format(
        lang=lang,
        title=html.escape(text["title"].format(name=instance.config.name)),
        message=message,
        invite=html.escape(values.get("invite", "")),
        username=html.escape(values.get("username", "")),
        motivation=html.escape(values.get("motivation", "")),
        username_label=html.escape(text["username"]),
        password_label=html.escape(text["password"]),
        email_label=html.escape(text["email"]),
        motivation_label=html.escape(text["motivation"]),
        submit=html.escape(text["submit"]),
    )
    return web.Response(text=page, content_type="text/html", status=status)


async def join_page(request: web.Request) -> web.Response:
    """GET /join[?invite=CODE]: the application form."""
    invite = request.query.get("invite", "")
    lang = _language(request, request.app[INSTANCE].config.language)
    message = f"<p>{html.escape(TEXT[lang]['invited'])}</p>" if invite else ""
    return _page(request, message=message, values={"invite": invite})


async def apply(request: web.Request) -> web.Response:
    """POST /join: apply (a plain form post; no script needed)."""
    instance = request.app[INSTANCE]
    form = await request.post()
    values = {k: str(form.get(k, "")) for k in ("username", "email", "motivation", "invite")}
    lang = _language(request, instance.config.language)
    try:
        _, application = await membership.apply(
            instance,
            username=values["username"],
            password=str(form.get("password", "")),
            motivation=values["motivation"],
            email=values["email"] or None,
            invite=values["invite"] or None,
        )
    except FedicoopError as error:
        message = f'<p class="error" role="alert">{html.escape(error.message)}</p>'
        return _page(request, message=message, status=error.status, values=values)
    key = "approved" if application.state == "approved" else "pending"
    done = TEXT[lang][key].format(url=instance.config.base_url)
    return _page(request, message=f'<p class="done">{html.escape(done)}</p>', values={})


def setup(app: web.Application) -> None:
    """Add the join page."""
    app.router.add_get("/join", join_page)
    app.router.add_post("/join", apply)
