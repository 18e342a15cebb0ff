"""Debian's chromium driven by Playwright, two real co-ops, and the checks every page passes.

Chromium is launched by its path (`make test` installs the Debian package when missing);
Playwright never downloads a browser. Every page a test visits is checked the same way:
axe-core finds no serious or critical violation, the page fits a 375 px wide phone without
horizontal scrolling, and a screenshot is saved under test-artifacts/screenshots/.
"""

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.servers import ServerProcess, eventually, fedicoop, init_instance, query

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags chromium's own connections are refused on this
# closed network, and the page loads wait on them.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 375, "height": 812}
PASSWORD = "long enough pw"
SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"
BLOCKING_IMPACTS = ("serious", "critical")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless; missing it fails under CI and skips elsewhere.

    Module-scoped: Playwright's sync API runs an event loop in this thread while it is
    started, and the async tests that follow need the thread free of it.
    """
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
        pytest.skip("chromium is not installed (make test installs it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Coop:
    """One co-op served by a real `fedicoop serve` process."""

    key: str
    directory: Path
    base_url: str
    handle: str
    admin_password: str


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Coop]]:
    """Co-ops A (Vélo Lyon: rita) and B (Covoit Grenoble: dora), partnered."""
    base = tmp_path_factory.mktemp("pages")
    coops: dict[str, Coop] = {}
    servers = []
    for key, name, handle, user in (
        ("a", "Vélo Lyon", "velo", "rita"),
        ("b", "Covoit Grenoble", "covoit", "dora"),
    ):
        directory = base / key
        port, admin_password = init_instance(directory, name, "--handle", handle)
        fedicoop("user", "add", str(directory), user, "--password", PASSWORD)
        coops[key] = Coop(
            key, directory, f"http://127.0.0.1:{port}", f"{handle}@127.0.0.1:{port}", admin_password
        )
        servers.append(ServerProcess(directory, port).start())
    fedicoop("partner", "add", str(coops["a"].directory), coops["b"].handle)
    fedicoop("partner", "add", str(coops["b"].directory), coops["a"].handle)
    for coop in coops.values():
        eventually(
            lambda coop=coop: query(
                coop.directory, "SELECT 1 FROM partnerships WHERE state = 'active'"
            ),
            what=f"partnership active on {coop.key}",
        )
    yield coops
    for server in servers:
        server.stop()


def new_context(browser: Browser, lang: str = "en") -> BrowserContext:
    """A fresh browser profile (cookies are per host, not per port: one profile per login)."""
    return browser.new_context(
        viewport=PHONE, locale="fr-FR" if lang == "fr" else "en-GB", timezone_id="Europe/Paris"
    )


def check_page(page: Page, name: str) -> None:
    """Accessibility (axe-core), 375 px without horizontal scroll, and a screenshot."""
    page.wait_for_load_state("load")
    results = Axe().run(page)
    blocking = [
        f"{violation['id']} ({violation['impact']}): {violation['help']} — "
        f"{[node['target'] for node in violation['nodes']][:3]}"
        for violation in results.response["violations"]
        if violation.get("impact") in BLOCKING_IMPACTS
    ]
    assert not blocking, f"{name} ({page.url}): {blocking}"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{name} scrolls sideways at 375 px: {width} px wide"
    lang = page.evaluate("document.documentElement.lang")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.{lang}.png"), full_page=True)


def log_in(page: Page, coop: Coop, username: str, password: str = PASSWORD) -> None:
    """Log in through the login form, as a member would."""
    page.goto(f"{coop.base_url}/app/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(f"{coop.base_url}/app/")


def reload_until(page: Page, ready: Any, what: str, timeout: float = 45.0) -> None:
    """Reload a page until `ready(page)` holds (federation between servers takes a moment)."""

    def check() -> bool:
        page.reload()
        return bool(ready(page))

    eventually(check, what=what, timeout=timeout)
