"""The public profile and /join, results as bars, and recounting a closed vote."""

import re
from datetime import UTC, datetime, timedelta

from fedicoop.governance.service import GovernanceService
from fedicoop.rides.service import RideService
from fedicoop.social.addressing import Visibility
from fedicoop.social.publishing import post_note
from fedicoop.web.pages.error_words import in_french
from fedicoop.web.pages.proposals import bar_width
from tests.activitypub.remote import Coop
from tests.web.pages import MEMBER_PASSWORD, csrf, log_in, member


def _closes() -> str:
    return (datetime.now(UTC) + timedelta(days=3)).isoformat()


async def test_the_public_profile_shows_the_coop_in_the_visitors_language(coop: Coop) -> None:
    # Given a member's public post, an open ride and an open proposal
    admin_account, admin = await member(coop, "admin")
    _, dora = await member(coop, "dora")
    await post_note(coop.federation, dora, "Fresh <b>bread</b> on Friday")
    await post_note(coop.federation, dora, "Only for followers", visibility=Visibility.PRIVATE)
    departure = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0).isoformat()
    await RideService.of(coop.federation).create(
        dora,
        {
            "role": "driver",
            "origin": {"lat": 45.19, "lon": 5.72, "label": "Grenoble"},
            "destination": {"lat": 45.76, "lon": 4.84, "label": "Lyon"},
            "departure": departure,
            "seats": 3,
        },
    )
    await GovernanceService.of(coop.federation).create(
        admin_account, admin, {"title": "Buy an oven", "kind": "consent", "closes_at": _closes()}
    )
    # When a visitor opens the front page in French
    response = await coop.client.get("/", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    page = await response.text()
    # Then it shows the co-op, in French, with what is public and nothing else
    assert response.status == 200 and '<html lang="fr">' in page
    assert "2 membres" in page and "Test Coop" in page
    assert "Fresh &lt;b&gt;bread&lt;/b&gt; on Friday" in page  # plain text, escaped
    assert "Only for followers" not in page
    assert "Grenoble" in page and "Lyon" in page
    assert "Buy an oven" in page and "Propositions ouvertes" in page
    assert 'href="/join"' in page
    assert "Content-Security-Policy" in response.headers
    # And the language switch works there too
    english = await (await coop.client.get("/?lang=en")).text()
    assert "Open rides" in english and "2 members" in english
    # And a logged-in member gets the member menu and a way back to their start page
    await log_in(coop, "dora", MEMBER_PASSWORD)
    page = await (await coop.client.get("/")).text()
    assert "@dora" in page and 'href="/app/">Start</a>' in page and 'href="/join"' not in page
    assert 'href="/app/proposals/' in page  # members may open the proposal


async def test_join_refuses_a_form_without_the_csrf_token(coop: Coop) -> None:
    # Given a visitor who opened the join page (so has the CSRF cookie)
    await coop.client.get("/join")
    # When a form arrives without the token, or with a forged one, Then 403 and no application
    for extra in ({}, {"csrf_token": "forged"}):
        response = await coop.client.post(
            "/join", data={**extra, "username": "eve", "password": MEMBER_PASSWORD}
        )
        assert response.status == 403
    assert await coop.count("accounts", "username = $1", "eve") == 0


async def test_join_with_the_token_files_the_application(coop: Coop) -> None:
    token = await csrf(coop, "/join")
    response = await coop.client.post(
        "/join",
        data={
            "csrf_token": token,
            "username": "noor",
            "password": MEMBER_PASSWORD,
            "motivation": "I <3 bikes",
        },
    )
    assert response.status == 200
    assert "An admin will look at your application" in await response.text()
    assert await coop.count("accounts", "username = $1", "noor") == 1
    # And a taken name is said on the form, in French for a French page
    response = await coop.client.post(
        "/join?lang=fr",
        data={"csrf_token": token, "username": "admin", "password": MEMBER_PASSWORD},
    )
    assert response.status == 409
    page = await response.text()
    assert 'role="alert"' in page and "est déjà pris" in page


def test_bars_are_as_wide_as_their_share_of_the_leading_option() -> None:
    tally = {"o1": 3, "o2": 1, "o3": 0}
    assert [bar_width(n, tally) for n in tally.values()] == [100, 35, 0]
    assert bar_width(0, {"o1": 0}) == 0
    assert bar_width(2.5, {"o1": 2.5, "o2": 5.0}) == 50


def test_known_service_errors_are_said_in_french_and_others_left_as_they_are() -> None:
    assert in_french("not enough seats left (1 left)") == "pas assez de places (1 restantes)"
    assert in_french("rank names 'o1' twice") == "rank cite « o1 » deux fois"
    assert in_french("something nobody translated") == "something nobody translated"


async def test_a_closed_proposal_shows_bars_and_verifies_on_demand(coop: Coop) -> None:
    # Given a single-choice proposal where admin and rita voted, then closed
    admin_account, admin = await member(coop, "admin")
    rita_account, rita = await member(coop, "rita")
    service = GovernanceService.of(coop.federation)
    proposal = await service.create(
        admin_account,
        admin,
        {"title": "Colour", "kind": "single", "options": ["Red", "Blue"], "closes_at": _closes()},
    )
    await service.vote(admin_account, admin, proposal.id, {"choices": ["o2"]})
    await service.vote(rita_account, rita, proposal.id, {"choices": ["o2"]})
    await service.close(await service.get(proposal.id), by=admin)
    await log_in(coop, "rita", MEMBER_PASSWORD)
    page = await (await coop.client.get(f"/app/proposals/{proposal.id}")).text()
    # Then each option has a bar, and the number beside it as text
    assert re.search(
        r"<dt>Blue</dt><dd><span class=\"track\" aria-hidden=\"true\">"
        r"<span class=\"bar w100\"></span></span><span class=\"count\">2</span>",
        page,
    )
    assert re.search(r"<dt>Red</dt><dd>.*?bar w0\".*?count\">0<", page)
    assert "Check the count now" in page
    # When she asks to check the count
    token = await csrf(coop, f"/app/proposals/{proposal.id}")
    response = await coop.client.post(
        f"/app/proposals/{proposal.id}/verify", data={"csrf_token": token}
    )
    page = await response.text()
    # Then the ballots are fetched, checked and recounted, and the page says it matches
    assert response.status == 200
    assert "Verified: every signature is valid" in page, page
    assert re.search(r"Signed ballots checked</dt><dd>2</dd>", page)


async def test_an_open_proposal_offers_no_verification(coop: Coop) -> None:
    admin_account, admin = await member(coop, "admin")
    proposal = await GovernanceService.of(coop.federation).create(
        admin_account, admin, {"title": "Later", "kind": "consent", "closes_at": _closes()}
    )
    await log_in(coop)
    page = await (await coop.client.get(f"/app/proposals/{proposal.id}")).text()
    assert "Check the count" not in page
