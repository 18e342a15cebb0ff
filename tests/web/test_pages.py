"""The member pages in one process: login, CSRF, cookies, languages, the ride and vote forms."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from multidict import MultiDict

from fedicoop.accounts.service import add_account
from fedicoop.governance import membership
from fedicoop.governance.service import GovernanceService
from fedicoop.rides.service import RideService
from fedicoop.storage.accounts import AccountRepository
from fedicoop.storage.actors import ActorRepository
from fedicoop.web.pages.proposals import ballot_from_form
from tests.activitypub.remote import Coop
from tests.web.pages import ADMIN_PASSWORD, TOKEN, csrf, log_in


async def test_login_page_speaks_the_browsers_language_and_switches(coop: Coop) -> None:
    # Given a browser asking for French
    response = await coop.client.get("/app/login", headers={"Accept-Language": "fr-FR,en;q=0.5"})
    # Then the page is French
    assert response.status == 200
    assert '<html lang="fr">' in await response.text()
    assert "Connexion" in await response.text()
    # When the member switches to English, Then the choice is remembered in a cookie
    response = await coop.client.get("/app/login?lang=en", headers={"Accept-Language": "fr"})
    assert "Log in" in await response.text()
    assert response.cookies["lang"].value == "en"
    response = await coop.client.get("/app/login", headers={"Accept-Language": "fr"})
    assert '<html lang="en">' in await response.text()


async def test_a_post_without_a_valid_csrf_token_is_refused(coop: Coop) -> None:
    # Given a browser that has the CSRF cookie
    await csrf(coop)
    # When a form arrives without the token, or with a forged one, Then 403 and no login
    for data in ({}, {"csrf_token": "forged"}):
        response = await coop.client.post(
            "/app/login",
            data={**data, "username": "admin", "password": ADMIN_PASSWORD},
            allow_redirects=False,
        )
        assert response.status == 403
        assert "fc_session" not in response.cookies


async def test_login_sets_an_httponly_samesite_session_and_logout_clears_it(coop: Coop) -> None:
    # Given the admin's password, When they log in
    token = await csrf(coop)
    response = await coop.client.post(
        "/app/login",
        data={"csrf_token": token, "username": "admin", "password": ADMIN_PASSWORD},
        allow_redirects=False,
    )
    # Then a session cookie is set: HttpOnly, SameSite=Lax (not Secure: this is --dev)
    assert response.status == 303
    cookie = response.cookies["fc_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"]
    home = await coop.client.get("/app/")
    assert home.status == 200 and "@admin" in await home.text()
    assert home.headers["Cache-Control"] == "private, no-store"
    # When they log out, Then member pages send them to the login page
    token = TOKEN.search(await home.text())
    assert token
    await coop.client.post("/app/logout", data={"csrf_token": token.group(1)})
    response = await coop.client.get("/app/rides", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/app/login?next=%2Fapp%2Frides"


async def test_a_wrong_password_shows_the_form_again(coop: Coop) -> None:
    token = await csrf(coop)
    response = await coop.client.post(
        "/app/login", data={"csrf_token": token, "username": "admin", "password": "nope"}
    )
    assert response.status == 400
    assert "Invalid username or password" in await response.text()


async def test_a_forged_session_cookie_is_ignored(coop: Coop) -> None:
    account, _ = await add_account(coop.instance, "mallory", password="long enough pw")
    coop.client.session.cookie_jar.update_cookies({"fc_session": f"{account.id}.9999999999.x"})
    response = await coop.client.get("/app/", allow_redirects=False)
    assert response.status == 303


async def test_members_do_not_see_the_admin_pages(coop: Coop) -> None:
    await add_account(coop.instance, "rita", password="long enough pw")
    await log_in(coop, "rita", "long enough pw")
    response = await coop.client.get("/app/admin/members")
    assert response.status == 403
    assert "text/html" in response.headers["Content-Type"]


async def test_the_ride_form_shows_the_geocoders_candidates_then_publishes(coop: Coop) -> None:
    # Given a logged-in member typing town names
    await log_in(coop)
    token = await csrf(coop, "/app/rides/new")
    departure = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT08:00")
    form = {
        "csrf_token": token,
        "role": "driver",
        "origin": "Grenoble",
        "destination": "Lyon",
        "departure": departure,
        "tz_offset": "0",
        "seats": "3",
        "price": "5",
    }
    # When they look the places up, Then the gazetteer's candidates are shown to pick from
    response = await coop.client.post("/app/rides/new", data={**form, "action": "check"})
    page = await response.text()
    assert response.status == 200
    picks = re.findall(r'name="(origin|destination)_pick" value="([^"]+)"', page)
    assert "Grenoble, FR" in page and "Lyon, FR" in page
    origin = next(value for name, value in picks if name == "origin")
    destination = next(value for name, value in picks if name == "destination")
    # When they publish with the picks, Then the ride exists and its page shows it
    response = await coop.client.post(
        "/app/rides/new",
        data={**form, "action": "publish", "origin_pick": origin, "destination_pick": destination},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    ride_page = await coop.client.get(response.headers["Location"])
    assert ride_page.status == 200
    assert "Grenoble" in await ride_page.text()


async def test_a_price_over_the_cap_is_shown_on_the_form(coop: Coop) -> None:
    await log_in(coop)
    token = await csrf(coop, "/app/rides/new")
    departure = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT08:00")
    response = await coop.client.post(
        "/app/rides/new",
        data={
            "csrf_token": token,
            "origin": "45.19,5.72",
            "destination": "45.76,4.84",
            "origin_pick": "45.19000,5.72000",
            "destination_pick": "45.76000,4.84000",
            "departure": departure,
            "seats": "3",
            "price": "500",
            "action": "publish",
        },
    )
    assert response.status == 422
    assert 'role="alert"' in await response.text()


@pytest.mark.parametrize(
    ("kind", "form", "ballot"),
    [
        ("consent", {"choice": "agree"}, {"choices": ["agree"]}),
        ("single", {"choice": "o2"}, {"choices": ["o2"]}),
        ("multiple", [("choices", "o1"), ("choices", "o3")], {"choices": ["o1", "o3"]}),
        ("ranked", {"rank1": "o3", "rank2": "o1", "rank3": ""}, {"ranking": ["o3", "o1"]}),
        (
            "score",
            {"score_o1": "4", "score_o2": "", "score_o3": "0"},
            {"scores": {"o1": 4, "o3": 0}},
        ),
    ],
)
def test_each_kind_of_vote_form_becomes_the_apis_ballot(
    kind: str, form: object, ballot: dict[str, object]
) -> None:
    submitted: MultiDict[str] = MultiDict(form)  # type: ignore[arg-type]
    assert ballot_from_form(kind, ["o1", "o2", "o3"], submitted) == ballot


VOTE_FORMS = {
    "consent": ({}, {"choice": "agree"}, "Agree"),
    "single": ({"options": ["Red", "Blue"]}, {"choice": "o2"}, "Blue"),
    "multiple": ({"options": ["Red", "Blue", "Green"]}, {"choices": ["o1", "o3"]}, "Green"),
    "ranked": ({"options": ["Red", "Blue"]}, {"rank1": "o2", "rank2": "o1"}, "1. Blue; 2. Red"),
    "score": ({"options": ["Red", "Blue"]}, {"score_o1": "3", "score_o2": "5"}, "Blue: 5"),
}


@pytest.mark.parametrize("kind", list(VOTE_FORMS))
async def test_a_member_votes_from_the_proposal_page_for_every_kind(coop: Coop, kind: str) -> None:
    # Given an open proposal of this kind
    extra, vote_form, shown = VOTE_FORMS[kind]
    account = await AccountRepository(coop.db).by_username("admin")
    assert account is not None
    actor = await ActorRepository(coop.db).get(account.actor_id)
    assert actor is not None
    closes = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    proposal = await GovernanceService.of(coop.federation).create(
        account, actor, {"title": f"A {kind} vote", "kind": kind, "closes_at": closes, **extra}
    )
    await log_in(coop)
    # When the member fills in the page's vote form
    token = await csrf(coop, f"/app/proposals/{proposal.id}")
    form: MultiDict[str] = MultiDict({"csrf_token": token})
    for name, value in vote_form.items():
        for one in value if isinstance(value, list) else [value]:
            form.add(name, one)
    response = await coop.client.post(
        f"/app/proposals/{proposal.id}/vote", data=form, allow_redirects=False
    )
    # Then the ballot is counted and the page shows it, with the live tally of our co-op
    assert response.status == 303, await response.text()
    page = await (await coop.client.get(response.headers["Location"])).text()
    assert "Your vote is recorded." in page and shown in page
    assert "Change my vote" in page
    assert "test_coop@" in page


async def test_a_bad_ballot_is_shown_on_the_page(coop: Coop) -> None:
    account = await AccountRepository(coop.db).by_username("admin")
    assert account is not None
    actor = await ActorRepository(coop.db).get(account.actor_id)
    assert actor is not None
    closes = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    proposal = await GovernanceService.of(coop.federation).create(
        account,
        actor,
        {"title": "Rank", "kind": "ranked", "options": ["A", "B"], "closes_at": closes},
    )
    await log_in(coop)
    token = await csrf(coop, f"/app/proposals/{proposal.id}")
    response = await coop.client.post(
        f"/app/proposals/{proposal.id}/vote",
        data={"csrf_token": token, "rank1": "o1", "rank2": "o1"},
    )
    assert response.status == 422
    assert "twice" in await response.text()


async def test_an_admin_approves_and_removes_members(coop: Coop) -> None:
    # Given an application waiting
    _, application = await membership.apply(
        coop.instance, username="noor", password="long enough pw", motivation="Hi", email=None
    )
    await log_in(coop)
    token = await csrf(coop, "/app/admin/members")
    # When the admin approves it, Then noor is a member
    response = await coop.client.post(
        f"/app/admin/applications/{application.id}/approve",
        data={"csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303
    page = await (await coop.client.get("/app/admin/members?done=approved")).text()
    assert "@noor" in page
    # When the admin removes noor, Then noor is no longer listed and cannot log in
    response = await coop.client.post(
        "/app/admin/members/noor/remove", data={"csrf_token": token}, allow_redirects=False
    )
    assert response.status == 303
    page = await (await coop.client.get("/app/admin/members")).text()
    assert "@noor" not in page
    # And an admin cannot remove themselves
    response = await coop.client.post("/app/admin/members/admin/remove", data={"csrf_token": token})
    assert response.status == 409


async def test_an_unknown_page_is_an_html_404(coop: Coop) -> None:
    response = await coop.client.get("/app/nowhere", headers={"Accept-Language": "fr"})
    assert response.status == 404
    assert "text/html" in response.headers["Content-Type"]
    assert "Cette page n&#39;existe pas." in await response.text()


async def test_a_rider_books_then_writes_to_the_driver(coop: Coop) -> None:
    # Given dora's ride on this co-op, and rita logged in
    dora, _ = await add_account(coop.instance, "dora", password="long enough pw")
    await add_account(coop.instance, "rita", password="long enough pw")
    driver = await ActorRepository(coop.db).get(dora.actor_id)
    assert driver is not None
    departure = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0).isoformat()
    ride = await RideService.of(coop.federation).create(
        driver,
        {
            "role": "driver",
            "origin": {"lat": 45.19, "lon": 5.72},
            "destination": {"lat": 45.76, "lon": 4.84},
            "departure": departure,
            "seats": 2,
        },
    )
    await log_in(coop, "rita", "long enough pw")
    # When she books a seat from the ride's page
    token = await csrf(coop, f"/app/rides/{ride.id}")
    response = await coop.client.post(
        f"/app/rides/{ride.id}/book", data={"csrf_token": token, "seats": "1", "message": "Hi"}
    )
    assert response.status == 200 and "Your request is sent" in await response.text()
    booking_id = re.search(r'/app/bookings/(\d+)"', await response.text())
    assert booking_id
    # And writes to the driver from the booking's page
    response = await coop.client.post(
        f"/app/bookings/{booking_id.group(1)}/messages",
        data={"csrf_token": token, "text": "I'll wait at the <b>station</b>"},
    )
    # Then the thread shows her message, escaped
    page = await response.text()
    assert response.status == 200 and "Message sent." in page
    assert "I&#39;ll wait at the &lt;b&gt;station&lt;/b&gt;" in page


async def test_an_admin_closes_a_proposal_early_and_the_result_is_shown(coop: Coop) -> None:
    account = await AccountRepository(coop.db).by_username("admin")
    assert account is not None
    actor = await ActorRepository(coop.db).get(account.actor_id)
    assert actor is not None
    closes = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    proposal = await GovernanceService.of(coop.federation).create(
        account, actor, {"title": "Paint it", "kind": "consent", "closes_at": closes}
    )
    await log_in(coop)
    token = await csrf(coop, f"/app/proposals/{proposal.id}")
    await coop.client.post(
        f"/app/proposals/{proposal.id}/vote", data={"csrf_token": token, "choice": "agree"}
    )
    response = await coop.client.post(
        f"/app/proposals/{proposal.id}/close",
        data={"csrf_token": token, "outcome": "We paint in May."},
    )
    page = await response.text()
    assert response.status == 200 and "Voting is closed" in page
    assert "passed" in page and "We paint in May." in page
    # And the language switch keeps the page
    assert f'href="/app/proposals/{proposal.id}?done=closed&amp;lang=fr"' in page
