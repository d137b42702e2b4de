"""The H5 pages that belong to a user: checkout, orders, refunds and the distributor centre.

The server renders the page shell only (titles, forms, the hooks in docs/h5.md); the page's
script reads and writes through /api/v1/ with the user's Bearer token, so nothing private is
ever in the HTML. Ids that cannot exist answer the 404 page here; an existing order of another
user is a 404 of the API, which the page shows as "not found" (the server does not look).
"""

from __future__ import annotations

import re

from django.utils.translation import pgettext
from django.views.decorators.http import require_safe

from core.errors import NotFound
from distributors.codes import code_normalise
from distributors.selectors.stats import stats_today
from distributors.services.settings import distribution_settings_get
from mall.selectors import catalog as catalog_selectors
from mall.selectors import orders as order_selectors

from .views import not_found_page, page, share_code_param

ORDER_NO_RE = re.compile(r"^[A-Za-z0-9]{1,24}$")
STATS_DAYS = (7, 30, 90)
LINK_PRODUCTS = 100  # products offered in the "new link" form


def _order_or_404(request, no: str):
    """The 404 page for an order number that does not exist at all (nothing of the order is read
    into the page: the API answers its owner only)."""
    if not ORDER_NO_RE.fullmatch(no):
        return not_found_page(request, pgettext("h5", "No such order."))
    try:
        order_selectors.order_get(no=no)
    except NotFound:
        return not_found_page(request, pgettext("h5", "No such order."))
    return None


# --- buying -------------------------------------------------------------------------------


@require_safe
def checkout(request):
    """Buy one SKU: the product's public data, quantity, the address form; the script creates
    the order (POST /orders/ with the share code) and starts paying."""
    raw_sku, raw_qty = request.GET.get("sku", ""), request.GET.get("qty", "1")
    product_id = request.GET.get("product", "")
    if not product_id.isdigit() or not raw_sku.isdigit():
        return not_found_page(request, pgettext("h5", "No such product."))
    try:
        product = catalog_selectors.product_get_public(product_id=int(product_id))
    except NotFound:
        return not_found_page(request, pgettext("h5", "This product does not exist or is off the shelf."))
    sku = next((s for s in product.active_skus if s.pk == int(raw_sku)), None)
    if sku is None:
        return not_found_page(request, pgettext("h5", "This option of the product is not available."))
    quantity = int(raw_qty) if raw_qty.isdigit() and int(raw_qty) >= 1 else 1
    images = product.images if isinstance(product.images, list) else []
    context = {
        "product": product,
        "sku": sku,
        "quantity": quantity,
        "total_fen": sku.price_fen * quantity,
        "cover": next((i for i in images if isinstance(i, str) and i), ""),
        "sc": share_code_param(request),
    }
    return page(request, "checkout.html", context, nav="home")


@require_safe
def orders(request):
    return page(request, "orders.html", {"status": request.GET.get("status", "")}, nav="orders")


@require_safe
def order_detail(request, no: str):
    return _order_or_404(request, no) or page(request, "order.html", {"no": no}, nav="orders")


@require_safe
def order_paid(request, no: str):
    return _order_or_404(request, no) or page(request, "paid.html", {"no": no}, nav="orders")


@require_safe
def order_refund(request, no: str):
    return _order_or_404(request, no) or page(request, "refund.html", {"no": no}, nav="orders")


# --- the distributor centre --------------------------------------------------------------


def _shell(template: str, **context):
    @require_safe
    def view(request, **kwargs):
        return page(request, f"distributor/{template}", {**context, **kwargs}, nav="distributor")

    view.__name__ = template.replace(".html", "")
    return view


distributor_home = _shell("index.html")


@require_safe
def distributor_links(request):
    """My links; the form to make one offers the shop, the recruitment page and the on-shelf
    products (public data)."""
    products = [{"id": p.pk, "title": p.title} for p in catalog_selectors.product_list_public()[:LINK_PRODUCTS]]
    return page(request, "distributor/links.html", {"products": products}, nav="distributor")


@require_safe
def distributor_stats(request):
    """The stats page; its ranges end on the shop's today (settings.TIME_ZONE), not the phone's."""
    context = {"days_choices": STATS_DAYS, "today": stats_today().isoformat()}
    return page(request, "distributor/stats.html", context, nav="distributor")


distributor_team = _shell("team.html")
distributor_commissions = _shell("commissions.html")
distributor_wallet = _shell("wallet.html")


@require_safe
def distributor_withdraw(request):
    """The withdrawal form with the shop's rules (minimum, fee), which are public."""
    s = distribution_settings_get()
    rules = {"min_fen": s.withdrawal_min_fen, "fee_bps": s.withdrawal_fee_bps, "min_fee_fen": s.withdrawal_min_fee_fen}
    return page(
        request,
        "distributor/withdraw.html",
        {"rules": rules, "fee_percent": s.withdrawal_fee_bps / 100},
        nav="distributor",
    )


distributor_withdrawals = _shell("withdrawals.html")
distributor_withdrawal = _shell("withdrawal.html")


@require_safe
def distributor_link(request, code: str):
    normalised = code_normalise(code)
    if normalised is None:
        return not_found_page(request, pgettext("h5", "No such share link."))
    return page(request, "distributor/link.html", {"code": normalised}, nav="distributor")
