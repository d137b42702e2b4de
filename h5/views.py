"""The H5 pages: home, product, login, recruitment, JS-SDK config; the 404 page.

Pages render only public data on the server (the catalog, reviews, a share link's public
target); anything that belongs to a user (orders, wallet, the distributor centre) is a page
shell whose script reads the JSON API with the user's Bearer token (h5/static/h5/h5.js).
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import pgettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from core.errors import DomainError, NotFound
from distributors.codes import code_normalise
from distributors.models import DistributorStatus
from distributors.selectors.links import share_link_get_by_code
from mall.selectors import catalog as catalog_selectors
from mall.selectors import reviews as review_selectors
from wechat import web as wechat_web

logger = logging.getLogger(__name__)

HOME_PAGE_SIZE = 20
REVIEWS_ON_PAGE = 10
LOGIN_STATE_SALT = "h5.login.state"
LOGIN_STATE_MAX_AGE = 600  # seconds from /h5/login to the callback


def page(request, template: str, context: dict | None = None, *, status: int = 200, nav: str = ""):
    return render(request, f"h5/{template}", {"nav": nav, **(context or {})}, status=status)


def not_found_page(request, message: str = ""):
    return page(
        request,
        "404.html",
        {"message": message or pgettext("h5", "This page does not exist or is no longer available.")},
        status=404,
    )


def unknown_page(request):
    return not_found_page(request)


def share_code_param(request) -> str:
    """The `sc` the short link appended (a normalised share code, or "")."""
    return code_normalise(request.GET.get("sc", "")) or ""


def _cover(images) -> str:
    if isinstance(images, list):
        return next((i for i in images if isinstance(i, str) and i), "")
    return ""


# --- catalog ------------------------------------------------------------------------------


@require_safe
def home(request):
    categories = list(catalog_selectors.category_list_public())
    category_id = None
    raw = request.GET.get("category", "")
    if raw:
        if not raw.isdigit() or not any(c.pk == int(raw) for c in categories):
            return not_found_page(request, pgettext("h5", "No such category."))
        category_id = int(raw)
    q = request.GET.get("q", "").strip()[:64]
    qs = catalog_selectors.product_list_public(category_id=category_id, q=q)
    paginator = Paginator(qs, HOME_PAGE_SIZE)
    number = request.GET.get("page", "1")
    if not number.isdigit() or int(number) < 1 or (int(number) > paginator.num_pages):
        return not_found_page(request, pgettext("h5", "No such page."))
    products = paginator.page(int(number))
    items = [{"product": p, "cover": _cover(p.images)} for p in products]

    def page_link(n: int) -> str:
        params = {k: v for k, v in (("category", raw), ("q", q), ("page", str(n))) if v}
        return f"?{urlencode(params)}"

    context = {
        "categories": categories,
        "category_id": category_id,
        "q": q,
        "items": items,
        "page_obj": products,
        "next_link": page_link(products.next_page_number()) if products.has_next() else "",
        "prev_link": page_link(products.previous_page_number()) if products.has_previous() else "",
        "sc": share_code_param(request),
        "share": {
            "title": getattr(settings, "SHOP_NAME", "") or pgettext("h5", "Micro-store"),
            "image": "",
            "target_type": "store",
        },
    }
    return page(request, "home.html", context, nav="home")


@require_safe
def product_detail(request, pk: int):
    try:
        product = catalog_selectors.product_get_public(product_id=pk)
    except NotFound:
        return not_found_page(request, pgettext("h5", "This product does not exist or is off the shelf."))
    reviews = list(review_selectors.review_list_visible(product_id=pk)[:REVIEWS_ON_PAGE])
    images = [i for i in product.images if isinstance(i, str) and i] if isinstance(product.images, list) else []
    skus = [{"id": s.pk, "name": s.name, "price_fen": s.price_fen, "stock": s.stock} for s in product.active_skus]
    rating = catalog_selectors.average_rating_text(rating_sum=product.rating_sum, review_count=product.review_count)
    context = {
        "product": product,
        "images": images,
        "skus": skus,
        "first_sku": next((s for s in skus if s["stock"] > 0), skus[0]),
        "reviews": reviews,
        "reviews_page": 1,  # the page shows the API's first page of REVIEWS_ON_PAGE; "more" asks for the next
        "reviews_page_size": REVIEWS_ON_PAGE,
        "rating": rating,
        "sc": share_code_param(request),
        "share": {
            "title": product.title,
            "image": _cover(images),
            "target_type": "product",
            "target_id": product.pk,
            "desc": (product.description or "")[:60],
        },
    }
    return page(request, "product.html", context, nav="home")


# --- login ------------------------------------------------------------------------------


def safe_next(request, raw: str | None) -> str:
    """A path on this site to go back to after login (the H5 home otherwise)."""
    home_path = reverse("h5:home")
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return home_path
    if not url_has_allowed_host_and_scheme(raw, allowed_hosts={request.get_host()}):
        return home_path
    return raw


@never_cache
@require_safe
def login(request):
    """Off to WeChat's authorisation (the sandbox's identity picker in sandbox mode); WeChat
    comes back to /h5/login/callback with `code` and our signed `state` (which holds `next`)."""
    next_path = safe_next(request, request.GET.get("next"))
    state = signing.dumps(next_path, salt=LOGIN_STATE_SALT, compress=True)
    if len(state) > wechat_web.MAX_STATE:  # a very long next: keep the user's way home short
        state = signing.dumps(reverse("h5:home"), salt=LOGIN_STATE_SALT)
    callback = request.build_absolute_uri(reverse("h5:login-callback"))
    return HttpResponseRedirect(wechat_web.oauth_authorize_url(redirect_uri=callback, state=state))


@never_cache
@require_safe
def login_callback(request):
    """WeChat came back: the page's script posts `code` to /api/v1/auth/wechat/, keeps the
    token and goes on to `next`. A missing code (the user declined) or a bad state says so."""
    code = request.GET.get("code", "")
    try:
        next_path = signing.loads(request.GET.get("state", ""), salt=LOGIN_STATE_SALT, max_age=LOGIN_STATE_MAX_AGE)
    except signing.BadSignature:
        return page(
            request,
            "login_callback.html",
            {
                "error": pgettext("h5", "This login link has expired. Please log in again."),
                "retry": reverse("h5:login"),
            },
            status=400,
        )
    next_path = safe_next(request, next_path)
    if not code:
        retry = f"{reverse('h5:login')}?{urlencode({'next': next_path})}"
        return page(
            request,
            "login_callback.html",
            {"error": pgettext("h5", "You did not allow the login."), "retry": retry},
            status=400,
        )
    return page(request, "login_callback.html", {"code": code, "next": next_path})


@require_safe
def jssdk(request):
    """The JS-SDK config for the page at ?url= (live mode's share to Moments): JSON."""
    url = request.GET.get("url", "")
    if not url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}) or not url.startswith("http"):
        return JsonResponse(
            {"code": "invalid_input", "message": pgettext("h5", "url must be a page of this site."), "extra": {}},
            status=400,
        )
    try:
        config = wechat_web.jssdk_config(url=url)
    except DomainError as exc:
        logger.warning("h5 jssdk: %s", exc.code)
        return JsonResponse({"code": exc.code, "message": str(exc.message), "extra": {}}, status=502)
    return JsonResponse(config)


# --- recruitment ----------------------------------------------------------------------


@require_safe
def recruit(request):
    """The recruitment page a recruit link lands on: who invites, and the apply form."""
    inviter_code = request.GET.get("inviter", "").strip().upper()[:12]
    inviter_name = ""
    sc = share_code_param(request)
    if sc:
        try:
            link = share_link_get_by_code(code=sc)
        except NotFound:
            link = None
        if link is not None and link.distributor.status == DistributorStatus.APPROVED:
            inviter_code = inviter_code or link.distributor.invite_code
            if link.distributor.invite_code == inviter_code:
                inviter_name = link.distributor.user.nickname
    context = {
        "inviter_code": inviter_code,
        "inviter_name": inviter_name,
        "sc": sc,
        "share": {
            "title": pgettext("h5", "Become a distributor: share and earn"),
            "image": "",
            "target_type": "recruit",
        },
    }
    return page(request, "distributor/apply.html", context, nav="distributor")
