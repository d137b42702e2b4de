"""The steps of a person in the H5 browser tests (fixtures in conftest.py).

* `login(page, openid=, nickname=, next_path=)` — through the real login page (in sandbox
  mode: pick or create a test WeChat identity), the way a person does it; returns the user row.
* `shot(page, name)` — with H5_SCREENSHOTS=1, a full-page PNG in docs/screenshots/<name>.png;
  otherwise nothing, so normal runs leave the tree alone.
* `no_js_errors(page)` — the page raised no JavaScript error.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"


def no_js_errors(page) -> None:
    assert not page.js_errors, f"JavaScript errors on {page.url}: {page.js_errors}"


def login(page, *, openid: str, nickname: str, next_path: str | None = None):
    """Log in through the real login page as the sandbox identity `openid` (created with
    `nickname` the first time), then land on `next_path` (or where the login page sends one)."""
    from accounts.models import User

    target = f"/h5/login?next={next_path}" if next_path else "/h5/login"
    page.goto(target)
    page.fill("#sandbox-openid", openid)
    page.fill("#sandbox-nickname", nickname)
    page.click("#sandbox-login")
    page.wait_for_function("() => !!window.localStorage.getItem('fx_token')")
    if next_path:
        page.wait_for_url(re.compile(re.escape(next_path.split("?")[0]) + r"(\?|$)"))
    page.wait_for_load_state("networkidle")
    return User.objects.get(openid=openid)


def shot(page, name: str) -> Path | None:
    """docs/screenshots/<name>.png of the whole page, only with H5_SCREENSHOTS=1."""
    if os.environ.get("H5_SCREENSHOTS") != "1":
        return None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path
