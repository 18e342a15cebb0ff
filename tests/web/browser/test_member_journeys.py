"""In a real browser, on two real co-ops: book across co-ops, vote across co-ops, approve.

A rider of A (Vélo Lyon) finds and books a ride a driver of B (Covoit Grenoble) offered from
B's pages, and the driver accepts it from B's pages; a member of A votes on a proposal B
opened with A, and B's page shows the tally per co-op; A's admin approves an applicant, who
can then log in; an admin blocks a server, invites, and has a closed vote recounted; a
member saves a search and downloads her archive. Every page visited passes the
accessibility and phone-width checks, and the main pages, the public profile and /join are
photographed in English and in French.
"""

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.servers import fedicoop
from tests.web.browser.conftest import (
    PASSWORD,
    Coop,
    check_page,
    log_in,
    new_context,
    reload_until,
)

pytestmark = [pytest.mark.federation, pytest.mark.timeout(600)]


def write(directory: Path, sql: str, *args: Any) -> None:
    """Change a running instance's SQLite database from a test (what time would do)."""
    connection = sqlite3.connect(directory / "fedicoop.db", timeout=10)
    try:
        connection.execute(sql, args)
        connection.commit()
    finally:
        connection.close()


def local_departure(days: int = 3) -> str:
    """A departure as a `datetime-local` field takes it: days from now, at 08:00."""
    day = (datetime.now() + timedelta(days=days)).date()
    return f"{day.isoformat()}T08:00"


def test_rider_on_a_books_a_ride_offered_on_b_and_the_driver_accepts(
    browser: Browser, network: dict[str, Coop]
) -> None:
    a, b = network["a"], network["b"]
    departure = local_departure()
    # Given dora, a driver on B, offers a ride from B's pages, picking the geocoded places
    driver = new_context(browser).new_page()
    log_in(driver, b, "dora")
    driver.goto(f"{b.base_url}/app/rides/new")
    check_page(driver, "ride-new")
    driver.locator("#origin").fill("Grenoble")
    driver.locator("#destination").fill("Lyon")
    driver.locator("#departure").fill(departure)
    driver.locator("#seats").fill("3")
    driver.locator("#price").fill("5")
    driver.get_by_role("button", name="Find the places").click()
    # Then the gazetteer's candidates are shown, the likeliest first and picked
    origin_pick = driver.locator("input[name=origin_pick]").first
    assert "Grenoble, FR" in (origin_pick.locator("xpath=..").inner_text())
    assert origin_pick.is_checked()
    check_page(driver, "ride-new-candidates")
    driver.get_by_role("button", name="Publish").click()
    driver.wait_for_url("**/app/rides/*?done=published")
    assert "Your ride is published." in driver.content()
    check_page(driver, "ride")

    # When rita, on A, searches from Grenoble to Lyon at that time
    rider = new_context(browser, "fr").new_page()
    log_in(rider, a, "rita")
    rider.goto(f"{a.base_url}/app/rides/search")
    rider.locator("#origin").fill("Grenoble")
    rider.locator("#destination").fill("Lyon")
    rider.locator("#departure").fill(departure)
    rider.get_by_role("button", name="Chercher", exact=True).click()
    # Then B's ride is among the results, saying which co-op it comes from
    reload_until(rider, lambda page: b.handle in page.content(), "B's ride found from A")
    result = rider.locator(".card", has_text=b.handle).first
    assert "Grenoble" in result.inner_text()
    check_page(rider, "ride-search")
    # When she opens it and asks for a seat
    result.locator("a").first.click()
    rider.locator("#message").fill("Bonjour, une place svp")
    rider.get_by_role("button", name="Demander ces places").click()
    rider.wait_for_url("**/app/rides?done=booked")
    assert "en attente du conducteur" in rider.content()
    check_page(rider, "rides")

    # Then dora sees the request on B's pages, and accepts it
    driver.goto(f"{b.base_url}/app/rides")
    reload_until(driver, lambda page: "Bonjour, une place svp" in page.content(), "request on B")
    check_page(driver, "rides-driver")
    driver.locator(".card", has_text="Bonjour, une place svp").get_by_role(
        "button", name="Accept"
    ).click()
    driver.wait_for_url("**/app/rides?done=accepted")
    assert "accepted" in driver.locator(".card", has_text="Bonjour").first.inner_text()
    # And rita's booking on A says accepted
    reload_until(
        rider,
        lambda page: "acceptée" in page.locator(".card", has_text="Bonjour").first.inner_text(),
        "booking accepted on A",
    )
    # When rita writes to dora from the booking's page, Then dora reads it on B
    rider.locator(".card", has_text="Bonjour").get_by_role("link", name="Messages").click()
    rider.locator("#text").fill("Je serai devant la gare.")
    rider.get_by_role("button", name="Envoyer").click()
    rider.wait_for_url("**?done=sent")
    check_page(rider, "booking")
    driver.locator(".card", has_text="Bonjour").get_by_role("link", name="Messages").click()
    reload_until(driver, lambda page: "Je serai devant la gare." in page.content(), "message on B")
    check_page(driver, "booking")


def test_a_member_of_a_votes_on_a_proposal_b_opened_with_a(
    browser: Browser, network: dict[str, Coop]
) -> None:
    a, b = network["a"], network["b"]
    # Given dora opens a proposal on B's pages, with A taking part
    host = new_context(browser).new_page()
    log_in(host, b, "dora")
    host.goto(f"{b.base_url}/app/proposals/new")
    check_page(host, "proposal-new")
    host.locator("#title").fill("Which evening for the general assembly?")
    host.locator("#body").fill("Both co-ops meet together this year.")
    host.locator("#kind").select_option("single")
    host.locator("#options").fill("Tuesday\nThursday")
    host.get_by_label(a.handle).check()
    host.get_by_role("button", name="Open the proposal").click()
    host.wait_for_url("**/app/proposals/*?done=opened")
    proposal_url = host.url.split("?")[0]

    # When rita, on A, finds it among her co-op's proposals and votes Thursday
    voter = new_context(browser, "fr").new_page()
    log_in(voter, a, "rita")
    voter.goto(f"{a.base_url}/app/proposals")
    reload_until(
        voter,
        lambda page: "Which evening for the general assembly?" in page.content(),
        "proposal reached A",
    )
    check_page(voter, "proposals")
    voter.get_by_role("link", name="Which evening for the general assembly?").click()
    voter.get_by_label("Thursday").check()
    check_page(voter, "proposal-vote")
    voter.get_by_role("button", name="Voter", exact=True).click()
    voter.wait_for_url("**?done=voted")
    assert "Votre vote :" in voter.content() and "Thursday" in voter.content()

    # Then B's page of the proposal shows A's ballot in A's own tally
    host.goto(proposal_url)
    reload_until(
        host,
        lambda page: "1 of 2 voted" in page.locator("h3", has_text=a.handle).inner_text(),
        "A's ballot counted on B",
    )
    tally = host.locator("h3", has_text=a.handle).locator("xpath=following-sibling::dl[1]")
    assert "Thursday\n1" in tally.inner_text().replace("\t", "\n")
    check_page(host, "proposal-results")


def test_an_admin_approves_an_application_and_the_new_member_logs_in(
    browser: Browser, network: dict[str, Coop]
) -> None:
    a = network["a"]
    # Given someone applies on A's join page
    applicant = new_context(browser).new_page()
    applicant.goto(f"{a.base_url}/join")
    applicant.locator("input[name=username]").fill("noor")
    applicant.locator("input[name=password]").fill(PASSWORD)
    applicant.locator("textarea[name=motivation]").fill("I cycle to work every day.")
    applicant.get_by_role("button", name="Apply").click()
    # When A's admin approves it from the members page
    admin = new_context(browser).new_page()
    log_in(admin, a, "admin", a.admin_password)
    admin.goto(f"{a.base_url}/app/admin/members")
    assert "I cycle to work every day." in admin.content()
    check_page(admin, "admin-members")
    admin.get_by_role("button", name="Approve @noor").click()
    admin.wait_for_url("**?done=approved")
    assert admin.locator(".card h3", has_text="@noor").count() == 1
    # Then noor logs in to the pages
    log_in(applicant, a, "noor")
    assert "Hello noor" in applicant.content()


def test_admin_pages_alerts_my_data_and_a_verified_count(
    browser: Browser, network: dict[str, Coop]
) -> None:
    a, b = network["a"], network["b"]
    admin = new_context(browser).new_page()
    log_in(admin, a, "admin", a.admin_password)
    # The partnership with B is listed as active
    admin.goto(f"{a.base_url}/app/admin/partners")
    card = admin.locator(".card", has_text=b.handle)
    assert "partner" in card.inner_text()
    check_page(admin, "admin-partners")
    # An admin blocks a server from the moderation page
    admin.goto(f"{a.base_url}/app/admin/moderation")
    admin.locator("#domain").fill("spam.example")
    admin.locator("#block-reason").fill("advertising")
    admin.get_by_role("button", name="Block", exact=True).click()
    admin.wait_for_url("**?done=blocked")
    assert admin.locator(".card h3", has_text="spam.example").count() == 1
    check_page(admin, "admin-moderation")
    # and makes an invitation link
    admin.goto(f"{a.base_url}/app/admin/settings")
    admin.get_by_role("button", name="Make an invitation link").click()
    admin.wait_for_url("**?done=invited")
    assert "/join?invite=" in admin.content()
    check_page(admin, "admin-settings")

    # A proposal voted, closed, then recounted from what A published
    admin.goto(f"{a.base_url}/app/proposals/new")
    admin.locator("#title").fill("New bike racks?")
    admin.locator("#body").fill("Two racks in the courtyard.")
    admin.locator("#kind").select_option("single")
    admin.locator("#options").fill("Yes\nNo")
    admin.get_by_role("button", name="Open the proposal").click()
    admin.wait_for_url("**/app/proposals/*?done=opened")
    admin.get_by_label("Yes").check()
    admin.get_by_role("button", name="Vote", exact=True).click()
    admin.wait_for_url("**?done=voted")
    admin.get_by_role("button", name="Close and count").click()
    admin.wait_for_url("**?done=closed")
    assert admin.locator(".bar.w100").count() >= 1
    admin.get_by_role("button", name="Check the count now").click()
    admin.wait_for_load_state("load")
    assert "Verified: every signature is valid" in admin.content()
    check_page(admin, "proposal-verified")

    # A member saves a search from the search page, then reads her data page
    rider = new_context(browser, "fr").new_page()
    log_in(rider, a, "rita")
    rider.goto(f"{a.base_url}/app/rides/search?origin=Annecy&destination=Chamb%C3%A9ry")
    rider.get_by_role("button", name="Enregistrer cette recherche").click()
    rider.wait_for_url("**/app/rides/alerts?done=saved")
    assert "Annecy" in rider.locator(".card", has_text="Annecy").first.inner_text()
    check_page(rider, "ride-alerts")
    rider.goto(f"{a.base_url}/app/account")
    with rider.expect_download() as download:
        rider.get_by_role("button", name="Télécharger mon archive").click()
    assert download.value.suggested_filename.startswith("archive-")
    check_page(rider, "account")


def test_after_a_trip_the_rider_and_driver_review_and_members_leave(
    browser: Browser, network: dict[str, Coop]
) -> None:
    a = network["a"]
    for username in ("paul", "leo", "lea"):
        fedicoop("user", "add", str(a.directory), username, "--password", PASSWORD)
    # Given paul offers a ride on A, rita books it and paul accepts
    driver = new_context(browser).new_page()
    log_in(driver, a, "paul")
    driver.goto(f"{a.base_url}/app/rides/new")
    driver.locator("#origin").fill("Annecy")
    driver.locator("#destination").fill("Chambéry")
    driver.locator("#departure").fill(local_departure(2))
    driver.get_by_role("button", name="Find the places").click()
    driver.get_by_role("button", name="Publish").click()
    driver.wait_for_url("**/app/rides/*?done=published")
    ride_id = driver.url.split("/app/rides/")[1].split("?")[0]
    rider = new_context(browser, "fr").new_page()
    log_in(rider, a, "rita")
    rider.goto(f"{a.base_url}/app/rides/{ride_id}")
    rider.locator("#message").fill("Pour Chambéry")
    rider.get_by_role("button", name="Demander ces places").click()
    rider.wait_for_url("**/app/rides?done=booked")
    driver.goto(f"{a.base_url}/app/rides")
    driver.locator(".card", has_text="Pour Chambéry").get_by_role("button", name="Accept").click()
    driver.wait_for_url("**?done=accepted")
    # And the trip has left (as if the day had come)
    left = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    write(a.directory, "UPDATE ride_occurrences SET departure = ? WHERE ride_id = ?", left, ride_id)
    # When rita says the trip happened, and reviews paul
    rider.goto(f"{a.base_url}/app/rides")
    rider.locator(".card", has_text="Pour Chambéry").get_by_role("link", name="Messages").click()
    booking_url = rider.url
    rider.get_by_role("button", name="Oui, nous avons voyagé").click()
    rider.wait_for_url("**?done=completed")
    check_page(rider, "booking-review")
    rider.get_by_label("5 sur 5 : très bien").check()
    rider.locator("#review-text").fill("Ponctuel et sympathique.")
    rider.get_by_role("button", name="Envoyer l'évaluation").click()
    rider.wait_for_url("**?done=reviewed")
    assert "Ponctuel et sympathique." in rider.content()
    check_page(rider, "booking-reviewed")
    # Then paul sees the trip completed, her review, and may review her in turn
    driver.goto(booking_url)
    assert "Ponctuel et sympathique." in driver.content()
    assert "completed" in driver.locator(".card .status").first.inner_text()
    check_page(driver, "booking-review")
    driver.get_by_label("4 of 5: well").check()
    driver.get_by_role("button", name="Send the review").click()
    driver.wait_for_url("**?done=reviewed")
    assert driver.get_by_role("button", name="Send the review").count() == 0
    check_page(driver, "booking-reviewed")

    # Members who leave confirm with their password and get a goodbye page, in each language
    for username, lang, button in (
        ("leo", "en", "Delete my account for good"),
        ("lea", "fr", "Supprimer définitivement mon compte"),
    ):
        page = new_context(browser, lang).new_page()
        log_in(page, a, username)
        page.goto(f"{a.base_url}/app/account")
        page.locator("#delete-password").fill(PASSWORD)
        page.get_by_role("button", name=button).click()
        page.wait_for_load_state("load")
        assert page.locator("header nav ul").count() == 0  # logged out: no member menu
        check_page(page, "account-deleted")


MAIN_PAGES = (
    ("home", "/app/"),
    ("rides", "/app/rides"),
    ("ride-new", "/app/rides/new"),
    ("ride-search", "/app/rides/search?origin=Grenoble&destination=Lyon"),
    ("proposals", "/app/proposals"),
    ("proposal-new", "/app/proposals/new"),
    ("admin-members", "/app/admin/members"),
    ("admin-partners", "/app/admin/partners"),
    ("admin-moderation", "/app/admin/moderation"),
    ("admin-settings", "/app/admin/settings"),
    ("ride-alerts", "/app/rides/alerts"),
    ("account", "/app/account"),
)
PUBLIC_PAGES = (("coop", "/"), ("join", "/join"), ("member-profile", "/users/admin"))


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_main_pages_in_both_languages(
    browser: Browser, network: dict[str, Coop], lang: str
) -> None:
    a = network["a"]
    page: Page = new_context(browser, lang).new_page()
    for name, path in PUBLIC_PAGES:
        page.goto(f"{a.base_url}{path}")
        assert page.evaluate("document.documentElement.lang") == lang
        check_page(page, name)
    page.goto(f"{a.base_url}/app/login")
    assert page.evaluate("document.documentElement.lang") == lang
    check_page(page, "login")
    log_in(page, a, "admin", a.admin_password)
    for name, path in MAIN_PAGES:
        page.goto(f"{a.base_url}{path}")
        assert page.evaluate("document.documentElement.lang") == lang
        check_page(page, name)
    # The switch changes the language and the choice sticks
    other = "fr" if lang == "en" else "en"
    page.goto(f"{a.base_url}/app/rides?lang={other}")
    page.goto(f"{a.base_url}/app/proposals")
    assert page.evaluate("document.documentElement.lang") == other
