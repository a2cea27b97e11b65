"""Browser tests: Playwright driving Debian's Chromium against the real server.

Fixtures are package-scoped, not session-scoped: Playwright's sync API keeps an event loop
running in the main thread while it is open, which would break later tests that call
`asyncio.run()`; so Chromium and the servers go away after the last browser test.

The server is started as `make run` starts it (gunicorn with the uvicorn worker, so SSE streams
work) on a database of its own (an SQLite file, or a PostgreSQL database created and dropped
here), with collected static files and DEBUG off. One Chromium for all browser tests; each test
gets a fresh browser context (cookies, storage) and page.

Fixtures:
- `browser`: one Chromium for all browser tests (never downloaded: /usr/bin/chromium, or
  $CHROMIUM_PATH).
- `live_site`: a `Site` for all browser tests, with the staff user `STAFF_USERNAME` /
  `STAFF_PASSWORD` and the setup completed; tests share its database, so use names of their own.
- `fresh_site`: a `Site` per test module on a brand-new database (no user, setup not done).
- `page`: a new page at 1280 × 900, signed out. `staff_page`: the same, signed in as the staff
  user of `live_site` (the login is done once and its cookies reused).
- `screenshot(page, name)`: with SCREENSHOTS=1, saves `bench/screenshots/<name>-1280.png` and
  `<name>-390.png` (full page); otherwise does nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from playwright.sync_api import sync_playwright

from tests.live.server import (
    ROOT,
    LiveServer,
    _postgres_admin_connect,
    free_port,
    issue_token,
    run_manage,
    server_env,
)

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
SCREENSHOT_DIR = ROOT / "bench" / "screenshots"
STAFF_USERNAME = "admin"
STAFF_PASSWORD = "browser-tests-passphrase-42"
SETUP_CODE_RE = re.compile(r"tokenfleet setup code: ([A-Z0-9-]+)")
# Playwright's default is 30 s; on a busy 2-core machine a page still answers in well under 10.
TIMEOUT_MS = 10_000


@dataclass
class Site:
    """A running server of the browser tests, with helpers to set up its data."""

    server: LiveServer
    env: dict[str, str]

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def url(self, path: str) -> str:
        return self.base_url + path

    def manage(self, *args: str, timeout: float = 120.0) -> str:
        """`manage.py <args>` against this server's database; returns stdout."""
        return run_manage(self.env, *args, timeout=timeout)

    def issue_token(self, *, user: str, scope: str) -> str:
        return issue_token(self.env, user=user, scope=scope)

    def create_user(self, username: str, password: str, *, staff: bool = True) -> None:
        flags = "is_staff=True, is_superuser=True" if staff else "is_staff=False"
        self.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model; "
            f"get_user_model().objects.create_user({username!r}, password={password!r}, {flags})",
        )

    def json(self, method: str, path: str, **kwargs) -> dict:
        """An HTTP call outside the browser (e.g. the JSON API to compare a page with)."""
        return self.server.json(method, path, **kwargs)

    def log(self) -> str:
        return self.server.log_tail(size=200_000)

    def setup_code(self, timeout: float = 10.0) -> str:
        """The latest setup code the server printed to its log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            codes = SETUP_CODE_RE.findall(self.log())
            if codes:
                return codes[-1]
            time.sleep(0.1)
        raise AssertionError(f"no setup code in the server log:\n{self.log()[-3000:]}")


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://", "pgsql://"))


def _database_name(suffix: str) -> str:
    # tests/live uses `<TEST_DB_NAME>_servers`: these names never collide with it.
    return f"{os.environ.get('TEST_DB_NAME') or 'test_live'}_{suffix}"


def _drop(url: str, name: str) -> None:
    with _postgres_admin_connect(url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class Template:
    """A migrated database and collected static files, made once per session: each site starts
    from a copy instead of migrating and collecting again (seconds each on a busy machine)."""

    database_url: str
    static_root: Path
    tmp: Path

    @contextlib.contextmanager
    def database_copy(self, name: str) -> Iterator[str]:
        if not _is_postgres(self.database_url):
            target = self.tmp / f"{name}.sqlite3"
            source = sqlite3.connect(urlsplit(self.database_url).path)
            copy = sqlite3.connect(target)
            with source, copy:
                source.backup(copy)
            source.close()
            copy.close()
            yield f"sqlite:///{target}"
            return
        template = urlsplit(self.database_url).path.lstrip("/")
        database = _database_name(name)
        _drop(self.database_url, database)
        with _postgres_admin_connect(self.database_url) as admin:
            admin.execute(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
        try:
            yield urlunsplit(urlsplit(self.database_url)._replace(path=f"/{database}"))
        finally:
            _drop(self.database_url, database)


@pytest.fixture(scope="package")
def site_template(tmp_path_factory) -> Iterator[Template]:
    tmp = tmp_path_factory.mktemp("site-template")
    url = os.environ.get("DATABASE_URL", "")
    if _is_postgres(url):
        name = _database_name("browser_template")
        _drop(url, name)
        with _postgres_admin_connect(url) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        database_url = urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    else:
        name = ""
        database_url = f"sqlite:///{tmp / 'template.sqlite3'}"
    try:
        env = server_env(tmp, database_url, STATIC_ROOT=str(tmp / "static"))
        run_manage(env, "migrate", "--noinput")
        run_manage(env, "collectstatic", "--noinput", "-v", "0")
        yield Template(database_url=database_url, static_root=tmp / "static", tmp=tmp)
    finally:
        if name:
            _drop(url, name)


@contextlib.contextmanager
def running_site(template: Template, tmp: Path, name: str, **settings: str) -> Iterator[Site]:
    """Start gunicorn + uvicorn (as `make run`) on a copy of the template database."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with template.database_copy(name) as database_url:
        env = server_env(
            tmp,
            database_url,
            PUBLIC_BASE_URL=base_url,
            STATIC_ROOT=str(template.static_root),
            SSE_MIN_INTERVAL_MS="200",
            **settings,
        )
        env["CACHE_KEY_PREFIX"] += f"-{name}"
        server = LiveServer(env=env, log_path=tmp / "server.log", port=port, workers=1)
        server.start()
        try:
            yield Site(server=server, env=env)
        finally:
            server.stop()


@pytest.fixture(scope="package")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="package")
def live_site(site_template, tmp_path_factory) -> Iterator[Site]:
    with running_site(site_template, tmp_path_factory.mktemp("site"), "browser") as site:
        # One process for the seed: each `manage.py` start costs a second or more.
        site.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model; "
            "from setupwizard.services import setup_complete; "
            f"get_user_model().objects.create_superuser({STAFF_USERNAME!r}, "
            f"password={STAFF_PASSWORD!r}); "
            "setup_complete(scenario='team', infra='single-node', actor='test')",
        )
        yield site


@pytest.fixture(scope="module")
def fresh_site(site_template, tmp_path_factory) -> Iterator[Site]:
    with running_site(site_template, tmp_path_factory.mktemp("fresh"), "browser_fresh") as site:
        yield site


def _new_page(browser, **context_options):
    context = browser.new_context(viewport=DESKTOP, **context_options)
    context.set_default_timeout(TIMEOUT_MS)
    return context, context.new_page()


@pytest.fixture
def page(browser):
    context, new = _new_page(browser, permissions=["clipboard-read", "clipboard-write"])
    yield new
    context.close()


@pytest.fixture(scope="package")
def staff_storage(browser, live_site, tmp_path_factory) -> str:
    """Cookies of a staff session on `live_site`, made once through the login form."""
    context, login_page = _new_page(browser)
    try:
        login_page.goto(live_site.url("/login/"))
        login_page.fill("#id_username", STAFF_USERNAME)
        login_page.fill("#id_password", STAFF_PASSWORD)
        login_page.click("button[type=submit]")
        login_page.wait_for_url(live_site.url("/"))
        path = tmp_path_factory.mktemp("auth") / "staff.json"
        context.storage_state(path=str(path))
        return str(path)
    finally:
        context.close()


@pytest.fixture
def staff_page(browser, staff_storage):
    context, new = _new_page(
        browser,
        storage_state=staff_storage,
        permissions=["clipboard-read", "clipboard-write"],
    )
    yield new
    context.close()


@pytest.fixture
def screenshot() -> Callable[..., None]:
    """`screenshot(page, "overview")`: both widths under bench/screenshots/ when SCREENSHOTS=1."""

    def take(page, name: str) -> None:
        if os.environ.get("SCREENSHOTS", "") not in ("1", "true", "yes"):
            return
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        original = page.viewport_size or DESKTOP
        try:
            for viewport in (DESKTOP, PHONE):
                page.set_viewport_size(viewport)
                page.screenshot(
                    path=str(SCREENSHOT_DIR / f"{name}-{viewport['width']}.png"), full_page=True
                )
        finally:
            page.set_viewport_size(original)

    return take
