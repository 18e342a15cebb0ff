"""A member's or a post's address opened in a browser shows a page, in French or English."""

from tests.api.conftest import ApiApp

HTML = {"Accept": "text/html"}


async def test_a_member_address_shows_who_they_are_and_their_public_posts(
    api_app: ApiApp,
) -> None:
    # Given alice posted in public and in private
    token = await api_app.token("alice")
    auth = {"Authorization": f"Bearer {token}"}
    for text, visibility in (("Bonjour <b>tous</b>", "public"), ("entre nous", "private")):
        response = await api_app.client.post(
            "/api/v1/statuses", json={"status": text, "visibility": visibility}, headers=auth
        )
        assert response.status == 200
    # When a browser opens her address, in French
    response = await api_app.client.get("/users/alice?lang=fr", headers=HTML)
    page = await response.text()
    # Then it shows her handle and her public post, escaped, and not the private one
    assert response.status == 200 and response.content_type == "text/html"
    assert "@alice@" in page and "Membre" in page
    assert "Bonjour &lt;b&gt;tous&lt;/b&gt;" in page and "entre nous" not in page
    # And servers asking the same address still get the actor
    response = await api_app.client.get(
        "/users/alice", headers={"Accept": "application/activity+json"}
    )
    assert (await response.json())["type"] == "Person"


async def test_a_post_address_shows_the_post(api_app: ApiApp) -> None:
    token = await api_app.token("alice")
    response = await api_app.client.post(
        "/api/v1/statuses",
        json={"status": "<script>alert(1)</script> vélo"},
        headers={"Authorization": f"Bearer {token}"},
    )
    status = await response.json()
    response = await api_app.client.get(
        status["uri"].split("/", 3)[3].join(["/", ""]), headers=HTML
    )
    page = await response.text()
    assert response.status == 200
    assert "vélo" in page and "<script>alert" not in page
