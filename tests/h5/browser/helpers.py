"""The steps of a person in the H5 browser tests (fixtures in conftest.py).

* `login(page, openid=, nickname=, next_path=)` — through the real login page (in sandbox
  mode: pick or create a test WeChat identity), the way a person does it; returns the user row.
* `pay_on_sheet(page, amount_fen=)` — confirm the sandbox's WeChat pay sheet (it sends the signed
  payment notification to our notify URL) and come back.
* `shot(page, name)` — with H5_SCREENSHOTS=1, a full-page PNG in docs/screenshots/<name>.png;
  otherwise nothing, so normal runs leave the tree alone.
* `picture(r, g, b)` — a small gradient PNG as a data: URL (fits Crowdfund.image), so product
  pages and screenshots show a picture without any network.
* `no_js_errors(page)` — the page raised no JavaScript error.
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from urllib.parse import quote, urlsplit

SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"


def picture(r: int, g: int, b: int) -> str:
    from PIL import Image

    im = Image.new("RGB", (12, 12))
    for x in range(12):
        for y in range(12):
            im.putpixel((x, y), (min(255, r + x * 5), min(255, g + y * 6), min(255, b + (x + y) * 3)))
    out = io.BytesIO()
    im.save(out, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def with_picture(sku, rgb: tuple[int, int, int]):
    """Give the SKU's product `picture(*rgb)` as its one image."""
    from mall.models import Product

    Product.objects.filter(pk=sku.product_id).update(images=[picture(*rgb)])
    sku.product.refresh_from_db()
    return sku


def no_js_errors(page) -> None:
    assert not page.js_errors, f"JavaScript errors on {page.url}: {page.js_errors}"


def login(page, *, openid: str, nickname: str = "", next_path: str | None = None):
    """Log in through the real login page: /h5/login sends the browser to WeChat's authorisation
    (the sandbox's identity picker), where the person picks `openid` if the sandbox knows it or
    creates it with `nickname`; WeChat comes back to /h5/login/callback, whose script trades the
    code for a token and goes on to `next_path`. Returns the user row."""

    page.goto(f"/h5/login?next={quote(next_path)}" if next_path else "/h5/login")
    user = pick_identity(page, openid=openid, nickname=nickname)
    if next_path:
        assert urlsplit(page.url).path == urlsplit(next_path).path, page.url
    return user


def pick_identity(page, *, openid: str, nickname: str = "", shot_name: str | None = None):
    """On the sandbox's WeChat authorisation page (where /h5/login, or a page that needs a login,
    sent the browser): pick `openid` if the sandbox knows it, else create it with `nickname`; wait
    until the callback page has the token and has gone on. Returns the user row."""
    from accounts.models import User

    page.wait_for_selector("[data-testid=sandbox-authorize]")
    if shot_name:
        shot(page, shot_name)
    known = page.locator(f"[data-testid=sandbox-identity][data-openid='{openid}']")
    if known.count():
        known.first.click()
    else:
        page.fill("[data-testid=sandbox-openid]", openid)
        page.fill("[data-testid=sandbox-nickname]", nickname)
        page.click("[data-testid=sandbox-allow]")
    page.wait_for_url(lambda url: "/h5/login" not in url and "/wechat-sandbox/" not in url)
    assert page.evaluate("() => window.localStorage.getItem('fx_token')"), "no token after the login"
    page.wait_for_load_state("networkidle")
    return User.objects.get(openid=openid)


def pay_on_sheet(page, *, amount_fen: int | None = None, shot_name: str | None = None) -> None:
    """On the sandbox's WeChat pay sheet: check the amount, confirm, and wait to be sent back."""
    page.wait_for_selector("[data-testid=pay-sheet]")
    if shot_name:
        shot(page, shot_name)
    if amount_fen is not None:
        assert page.get_attribute("[data-testid=pay-sheet-amount]", "data-fen") == str(amount_fen)
    page.click("[data-testid=pay-sheet-confirm]")
    page.wait_for_url(lambda url: "/wechat-sandbox/" not in url)
    page.wait_for_load_state("networkidle")


def shot(page, name: str) -> Path | None:
    """docs/screenshots/<name>.png of the whole page, only with H5_SCREENSHOTS=1."""
    if os.environ.get("H5_SCREENSHOTS") != "1":
        return None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.wait_for_load_state("networkidle")
    # A full-page shot draws fixed bars where the first screen ends, over the content: for the
    # shot the bottom navigation / buy bar go after the content and the message above it.
    page.add_style_tag(content=".nav, .bar, .flash { position: static !important; }")
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path
