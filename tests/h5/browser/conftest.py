"""The H5 pages in a real browser: headless Chromium (Debian's /usr/bin/chromium, installed by
scripts/browser.sh) driven by Playwright for Python, against a live server that also serves the
WeChat sandbox. docs/h5-browser-tests.md describes the set.

* `h5` — the live server with the sandbox, PUBLIC_BASE_URL and H5_BASE_URL pointed at it (the
  short links, the pay sheet and the sandbox's payment notifications all come back to it).
* `phone()` — a new person: a browser context of its own (own localStorage, own cookies) at a
  phone's size (390 × 844, touch, a WeChat user agent with "MicroMessenger"), Chinese first.

The steps a person takes (log in through the login page, take a screenshot) are in helpers.py.

The tests are skipped, with the reason, only when the browser cannot start (no Chromium, no
Playwright): everything else that goes wrong fails them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
VIEWPORT = {"width": 390, "height": 844}
USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.49(0x18003137) NetType/WIFI Language/zh_CN"
)
TIMEOUT_MS = 15_000


@pytest.fixture(scope="package")
def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - requirements-dev.txt pins it
        pytest.skip(f"Playwright for Python is not installed ({exc}); pip install -r requirements-dev.txt")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM} (scripts/browser.sh installs Debian's chromium)")
    # Playwright's sync API keeps an asyncio loop on this thread while it runs (this package: it
    # stops, and the switch is put back, after the last browser test); the
    # tests' own ORM reads and writes (set-up, the database assertions) are plain synchronous
    # code between browser steps, which Django allows only with this switch.
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    pw = sync_playwright().start()
    try:
        yield pw
    finally:
        pw.stop()
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@pytest.fixture(scope="package")
def browser(_playwright):
    try:
        b = _playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
    except Exception as exc:  # noqa: BLE001 - any launch failure means "no browser here": skip with it
        pytest.skip(f"Chromium at {CHROMIUM} did not start: {exc}")
    yield b
    b.close()


@pytest.fixture
def h5(wechat_sandbox, settings):
    """The live server serving the pages, the API and the WeChat sandbox."""
    settings.H5_BASE_URL = f"{wechat_sandbox.url}/h5"
    settings.WECHAT_TEMPLATE_URL_BASE = settings.H5_BASE_URL
    return wechat_sandbox


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.h5_failed = report.failed
    return report


FAILURES = Path(os.environ.get("H5_FAILURES_DIR") or Path(tempfile.gettempdir()) / "h5-browser-failures")


@pytest.fixture
def phone(browser, h5, request):
    """`phone()` → a new page in a context of its own: one person with one phone."""
    contexts = []

    def new_phone(*, locale: str = "zh-CN"):
        ctx = browser.new_context(
            viewport=VIEWPORT,
            user_agent=USER_AGENT,
            is_mobile=True,
            has_touch=True,
            device_scale_factor=1,
            locale=locale,
            base_url=h5.url,
            extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9" if locale == "zh-CN" else f"{locale},en;q=0.8"},
        )
        ctx.set_default_timeout(TIMEOUT_MS)
        contexts.append(ctx)
        page = ctx.new_page()
        page.js_errors = []
        page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
        return page

    yield new_phone
    if getattr(request.node, "h5_failed", False):  # what each phone showed when the test failed
        FAILURES.mkdir(parents=True, exist_ok=True)
        for i, ctx in enumerate(contexts):
            for j, page in enumerate(ctx.pages):
                name = f"{request.node.name}-{i}-{j}.png"
                try:
                    page.screenshot(path=str(FAILURES / name), full_page=True)
                    print(f"h5 browser: {page.url} -> {FAILURES / name}")
                except Exception:  # noqa: BLE001,S110 - a page that cannot be drawn any more
                    pass
    for ctx in contexts:
        ctx.close()
