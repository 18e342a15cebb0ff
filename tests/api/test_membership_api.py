"""Joining a co-op: apply, be approved or refused, come by invitation, leave, change roles."""

import re
from typing import Any

from tests.api.conftest import PASSWORD, ApiApp, TokenFor, bearer

API = "/api/fedicoop/v1"
ADMIN_SCOPES = "read write follow push admin:read admin:write"
OOB = "urn:ietf:wg:oauth:2.0:oob"


async def admin_token(api_app: ApiApp) -> str:
    """The admin's token from an app registered with the admin scopes."""
    await api_app.member("admin")
    response = await api_app.client.post(
        "/api/v1/apps",
        json={"client_name": "admin tool", "redirect_uris": OOB, "scopes": ADMIN_SCOPES},
    )
    app = await response.json()
    response = await api_app.client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "username": "admin",
            "password": PASSWORD,
            "scope": ADMIN_SCOPES,
        },
    )
    assert response.status == 200, await response.text()
    return str((await response.json())["access_token"])


async def post(api_app: ApiApp, path: str, body: dict[str, Any], token: str | None = None) -> Any:
    headers = bearer(token) if token else {}
    return await api_app.client.post(f"{API}{path}", json=body, headers=headers)


async def test_apply_then_admin_approves_and_the_new_member_logs_in(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    admin = await admin_token(api_app)
    response = await post(
        api_app,
        "/applications",
        {"username": "zoe", "password": "a long password", "motivation": "I cycle to work"},
    )
    assert response.status == 201, await response.text()
    application = await response.json()
    assert application["state"] == "pending"
    # An applicant is not a member yet: no token works for her
    client_id, secret = await api_app.client_credentials()
    response = await api_app.client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "client_id": client_id,
            "client_secret": secret,
            "username": "zoe",
            "password": "a long password",
        },
    )
    assert response.status in (400, 401, 403)
    listed = await (await api_app.client.get(f"{API}/applications", headers=bearer(admin))).json()
    assert [a["username"] for a in listed] == ["zoe"]
    member = await token_for("mia")
    response = await post(api_app, f"/applications/{application['id']}/approve", {}, member)
    assert response.status == 403  # a member without admin scopes
    response = await post(api_app, f"/applications/{application['id']}/approve", {}, admin)
    assert response.status == 200, await response.text()
    assert (await response.json())["state"] == "approved"
    response = await post(api_app, f"/applications/{application['id']}/refuse", {}, admin)
    assert response.status == 409
    members = await (await api_app.client.get(f"{API}/members", headers=bearer(admin))).json()
    assert "zoe" in [m["username"] for m in members]


async def test_invitation_admits_at_once_and_members_may_leave(
    api_app: ApiApp, token_for: TokenFor
) -> None:
    admin = await admin_token(api_app)
    response = await post(api_app, "/invites", {"max_uses": 1}, admin)
    assert response.status == 201, await response.text()
    code = (await response.json())["code"]
    response = await post(
        api_app,
        "/applications",
        {"username": "ivan", "password": "a long password", "invite": code},
    )
    assert (await response.json())["state"] == "approved"
    response = await post(
        api_app, "/applications", {"username": "ivy", "password": "a long password", "invite": code}
    )
    assert response.status == 422  # used up
    assert (await response.json())["field"] == "invite"
    member = await token_for("mia")
    response = await post(api_app, "/membership/leave", {}, member)
    assert response.status == 200
    assert (await response.json())["status"] == "suspended"
    response = await post(api_app, "/membership/leave", {}, admin)
    assert response.status == 409  # the last admin stays


async def test_the_group_publishes_its_roster(api_app: ApiApp, token_for: TokenFor) -> None:
    await token_for("mia")
    group = await api_app.federation.group_actor()
    actor = await (
        await api_app.client.get(
            group.uri.replace(api_app.base_url, ""), headers={"Accept": "application/activity+json"}
        )
    ).json()
    roster = await (
        await api_app.client.get(
            actor["roster"].replace(api_app.base_url, ""),
            headers={"Accept": "application/activity+json"},
        )
    ).json()
    assert roster["totalItems"] == 2
    assert f"{api_app.base_url}/users/mia" in roster["orderedItems"]


async def test_the_join_page_applies_and_speaks_french(api_app: ApiApp) -> None:
    page = await api_app.client.get("/join", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert page.status == 200
    assert "Rejoindre" in await page.text()
    # The form carries the CSRF token of the cookie the page set (tests/web covers refusals).
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert token
    response = await api_app.client.post(
        "/join",
        data={
            "csrf_token": token.group(1),
            "username": "paul",
            "password": "a long password",
            "motivation": "Je livre du pain",
        },
        headers={"Accept-Language": "fr"},
    )
    assert response.status == 200
    assert "examiner votre candidature" in await response.text()
    response = await api_app.client.post(
        "/join",
        data={"csrf_token": token.group(1), "username": "paul", "password": "a long password"},
    )
    assert response.status == 409  # the name is taken: said on the page, nothing changes
    assert 'role="alert"' in await response.text()
