"""Browser tests: chatd in a subprocess, Debian's Chromium driven by Python playwright.

The browser is the system one (`/usr/bin/chromium`, from the `chromium` apt package
that scripts/test installs); playwright never downloads a browser of its own. One
server and one browser serve a test module; every test signs up fresh users (unique
names), each in its own browser context (separate cookies and storage).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.fixtures.http import answers_200
from tests.fixtures.ports import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "correct horse battery"
DESKTOP = {"width": 1280, "height": 800}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every browser test is `slow` (`-m "not slow"` skips them); a `pytestmark`
    in a conftest would mark nothing."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module")
def chatd_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real chatd process on a free loopback port with a throwaway data dir."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("chatd-e2e")
    env = {
        **os.environ,
        "CHATD_DATA_DIR": str(data_dir),
        "CHATD_BCRYPT_ROUNDS": "4",
        "CHATD_SECRET_KEY": "e2e-secret-that-is-at-least-32-bytes-long!",
        # Tests type fast and reconnect often; keep the per-user limits out of the way.
        "CHATD_MESSAGE_RATE": "1000",
        # Every test signs up its own users from 127.0.0.1.
        "CHATD_REGISTER_LIMIT": "100000",
    }
    for name in ("MONGODB_URI", "REDIS_URL", "S3_BUCKET"):
        env.pop(name, None)
    log = (data_dir / "chatd.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatd", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    if not answers_200(url + "healthz", proc, timeout=20):
        proc.kill()
        raise RuntimeError(f"chatd did not start; see {data_dir / 'chatd.log'}")
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


#: Module scope, not session: playwright's sync API keeps an event loop running on this
#: thread while it is open, which would break every async test collected after these.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (scripts/test does)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session", autouse=True)
def _expect_timeout() -> None:
    expect.set_options(timeout=8000)


_counter = itertools.count(1)


def unique_name(prefix: str) -> str:
    return f"{prefix}{next(_counter)}{uuid.uuid4().hex[:4]}"


class Browsers:
    """Opens users' browser contexts and closes them after the test."""

    def __init__(self, browser: Browser, url: str) -> None:
        self.browser = browser
        self.url = url
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []

    def context(self, **options: object) -> BrowserContext:
        # Reduced motion: no smooth scrolling or drawer slides mid-screenshot (and the
        # client's prefers-reduced-motion path gets exercised).
        options.setdefault("reduced_motion", "reduce")
        ctx = self.browser.new_context(viewport=options.pop("viewport", DESKTOP), **options)  # type: ignore[arg-type]
        self.contexts.append(ctx)
        return ctx

    def page(self, **options: object) -> Page:
        page = self.context(**options).new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc}"))

        def console(msg) -> None:  # type: ignore[no-untyped-def]
            # Anything the CSP blocked would be a broken feature (inline style or script).
            if "Content Security Policy" in msg.text:
                self.errors.append(f"CSP: {msg.text}")

        page.on("console", console)
        page.goto(self.url)
        return page

    def signup(self, prefix: str, **options: object) -> tuple[Page, str]:
        """A new user signed up and looking at #general."""
        name = unique_name(prefix)
        page = self.page(**options)
        page.get_by_label("Username").fill(name)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign up").click()
        expect(page.get_by_role("textbox", name="Message", exact=True)).to_be_visible()
        expect(page.locator(".room-title")).to_contain_text("general")
        expect(page.locator(".conn-banner")).to_be_hidden()
        return page, name

    def close(self) -> None:
        for ctx in self.contexts:
            ctx.close()


@pytest.fixture
def users(browser: Browser, chatd_url: str) -> Iterator[Browsers]:
    b = Browsers(browser, chatd_url)
    try:
        yield b
    finally:
        b.close()
    assert not b.errors, f"uncaught errors in the page: {b.errors}"


@pytest.fixture(scope="session")
def shot() -> Callable[[Page, str], None]:
    """Save a screenshot under test-artifacts/ (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)

    def take(page: Page, name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

    return take


def composer(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_role("textbox", name="Message", exact=True)


def send(page: Page, text: str) -> None:
    box = composer(page)
    box.fill(text)
    box.press("Enter")


def enter_room(page: Page, room: str) -> None:
    """Open (and join, creating it if new) a public room by its URL."""
    page.evaluate("room => { location.hash = '#/room/' + room; }", room)
    expect(page.locator(".room-title")).to_contain_text(room)
    expect(page.locator(f'.room-link.active[data-room="{room}"]')).to_be_visible()


def message_texts(page: Page) -> list[str]:
    return page.locator(".message-pane li.message .message-text").all_inner_texts()


def wait_for_message(page: Page, text: str) -> None:
    expect(page.locator(".message-pane li.message .message-text", has_text=text)).to_have_count(1)
