"""The H5 campaign pages: friend crowdfunds (好友众筹) and red envelopes (红包).

Server-rendered from the campaigns' selectors (reads only): what anyone may see of a crowdfund
or an envelope is on the page as it arrives, so a friend opening a share link in WeChat sees
the item, the progress, the contributors and the top three at once. What a person does —
chip in, pay the rest, cancel, start a crowdfund, grab, create, top up, open — is done by
h5/static/h5/campaigns.js through the same /api/v1/ endpoints every client uses (the Bearer
token lives in the browser), and the page is read again afterwards.

Paths (h5/urls_campaigns.py, under /h5/) are the ones share links redirect to
(campaigns/targets.py: /crowdfunds/<id>, /red-envelopes/<id>) and template messages link to
(campaigns/notifications.py, WECHAT_TEMPLATE_URL_BASE + the same paths).
"""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import pgettext_lazy
from django.views.decorators.http import require_GET

from campaigns.models import CrowdfundStatus, EnvelopeStatus
from campaigns.selectors import crowdfunds as cf_selectors
from campaigns.selectors import envelopes as env_selectors
from core.errors import NotFound
from mall.selectors.catalog import product_get_public, product_list_public

CROWDFUND_STATUS = {
    CrowdfundStatus.OPEN: pgettext_lazy("campaigns", "Raising"),
    CrowdfundStatus.FUNDED: pgettext_lazy("campaigns", "Funded"),
    CrowdfundStatus.ORDERED: pgettext_lazy("campaigns", "Funded, order placed"),
    CrowdfundStatus.EXPIRED: pgettext_lazy("campaigns", "Ended before the goal: being refunded"),
    CrowdfundStatus.CANCELLED: pgettext_lazy("campaigns", "Cancelled: being refunded"),
    CrowdfundStatus.REFUNDED: pgettext_lazy("campaigns", "Ended: every contribution refunded"),
}

ENVELOPE_STATUS = {
    EnvelopeStatus.PENDING_PAYMENT: pgettext_lazy("campaigns", "Waiting for payment"),
    EnvelopeStatus.FUNDING: pgettext_lazy("campaigns", "Not opened yet: friends can top it up"),
    EnvelopeStatus.ACTIVE: pgettext_lazy("campaigns", "Open: grab a share"),
    EnvelopeStatus.EMPTY: pgettext_lazy("campaigns", "All shares grabbed"),
    EnvelopeStatus.EXPIRED: pgettext_lazy("campaigns", "Expired: the rest went back to the sender"),
    EnvelopeStatus.CANCELLED: pgettext_lazy("campaigns", "Cancelled: every backer refunded"),
}

# Preset amounts (fen) on the "chip in" form; the friend may type any other.
CHIP_IN_PRESETS = (500, 1000, 2000, 5000)
# Products offered on /h5/crowdfunds/new when no product is named.
PICKER_PRODUCTS = 50


def _js_messages() -> dict[str, str]:
    """The strings campaigns.js shows, in the request's language."""
    return {
        "bad_amount": str(pgettext_lazy("campaigns", "Enter an amount in yuan, e.g. 10 or 12.50.")),
        "confirm_cancel": str(pgettext_lazy("campaigns", "Cancel the crowdfund? Every friend gets their money back.")),
        "copied": str(pgettext_lazy("campaigns", "The link is copied.")),
        "paid_thanks": str(pgettext_lazy("campaigns", "Paid. Thank you!")),
        "days": str(pgettext_lazy("campaigns", "d")),
    }


def _page(request, template: str, context: dict):
    return render(request, template, {**context, "campaigns_js": _js_messages()})


def _int_or_404(value) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) <= 18:
        return int(value)
    raise Http404


@require_GET
def crowdfund_page(request, pk: int):
    try:
        cf = cf_selectors.crowdfund_get(crowdfund_id=pk)
    except NotFound:
        raise Http404 from None
    backers = cf_selectors.crowdfund_backers(cf=cf)
    open_now = cf.status == CrowdfundStatus.OPEN and cf.deadline > timezone.now()
    seconds_left = max(int((cf.deadline - timezone.now()).total_seconds()), 0) if open_now else 0
    presets = [p for p in CHIP_IN_PRESETS if p <= cf.missing_fen]
    share_url = cf_selectors.crowdfund_share_url(cf)
    context = {
        "cf": cf,
        # Past its deadline but not yet expired by the job (campaigns.expire_crowdfunds, every minute).
        "status_label": CROWDFUND_STATUS.get(cf.status, cf.status)
        if open_now or cf.status != CrowdfundStatus.OPEN
        else pgettext_lazy("campaigns", "The deadline has passed"),
        "progress_pct": min(cf_selectors.progress_bps(cf), 10000) / 100,
        "open_now": open_now,
        "seconds_left": seconds_left,
        "recent": backers["recent"],
        "top": backers["top"],
        "presets": presets,
        "share_url": share_url,
        "share": {
            "title": f"帮我众筹：{cf.title}",
            "link": share_url,
            "image": cf.image,
            "desc": cf.message or cf.sku_name,
        },
        "nav": "home",
    }
    return _page(request, "h5/campaigns/crowdfund.html", context)


@require_GET
def crowdfund_list(request):
    """The initiator's own crowdfunds (/h5/crowdfunds): campaigns.js reads GET /api/v1/crowdfunds/
    with the person's token (the page itself knows nobody)."""
    labels = {str(k): str(v) for k, v in CROWDFUND_STATUS.items()}
    return _page(request, "h5/campaigns/crowdfund_list.html", {"status_labels": labels, "nav": "home"})


@require_GET
def crowdfund_new(request):
    """Start a crowdfund for one of a product's SKUs: /h5/crowdfunds/new?product=<id>[&sku=<id>];
    without a product, the products to choose from."""
    if not request.GET.get("product"):
        products = []
        for p in product_list_public()[:PICKER_PRODUCTS]:
            images = p.images if isinstance(p.images, list) else []
            products.append({"product": p, "image": next((i for i in images if isinstance(i, str) and i), "")})
        return _page(request, "h5/campaigns/crowdfund_pick.html", {"products": products, "nav": "home"})
    product_id = _int_or_404(request.GET.get("product", ""))
    try:
        product = product_get_public(product_id=product_id)
    except NotFound:
        raise Http404 from None
    skus = list(product.active_skus)
    chosen = request.GET.get("sku", "")
    chosen_id = int(chosen) if chosen.isdigit() and any(s.pk == int(chosen) for s in skus) else skus[0].pk
    images = product.images if isinstance(product.images, list) else []
    context = {
        "product": product,
        "skus": skus,
        "chosen_id": chosen_id,
        "image": next((i for i in images if isinstance(i, str) and i), ""),
        "share_code": request.GET.get("sc", "")[:32],
        "nav": "home",
    }
    return _page(request, "h5/campaigns/crowdfund_new.html", context)


def _envelope_context(env) -> dict:
    ids = [env.pk]
    top = env_selectors.envelopes_top_backers(envelope_ids=ids).get(env.pk, [])
    if env.status in (EnvelopeStatus.PENDING_PAYMENT, EnvelopeStatus.FUNDING):
        remaining = env.count
    else:
        remaining = env_selectors.envelopes_remaining(envelope_ids=ids).get(env.pk, 0)
    grabs = env_selectors.envelope_grabs(env=env)
    best = next((g for g in grabs if g["is_best"]), None)
    return {
        "env": env,
        "top": top,
        "remaining": remaining,
        "grabs": grabs,
        "best": best,
        "grabbed_count": env.count - remaining if env.status != EnvelopeStatus.FUNDING else 0,
        "status_label": ENVELOPE_STATUS.get(env.status, env.status),
    }


@require_GET
def envelope_page(request, pk: int):
    try:
        env = env_selectors.envelope_get(envelope_id=pk)
    except NotFound:
        raise Http404 from None
    # The owner's own short link when the owner is a distributor (counted, binding), else this
    # page (campaigns.selectors.envelopes.envelope_share_url, as the API's share_url).
    share_url = env_selectors.envelope_share_url(env)
    context = {
        **_envelope_context(env),
        "can_grab": env.status == EnvelopeStatus.ACTIVE,
        "share_url": share_url,
        "share": {
            "title": env.greeting or "恭喜发财，大吉大利",
            "link": share_url,
            "image": env.owner.avatar_url or "",
            "desc": f"{env.owner.nickname or ''}的红包",
        },
        "nav": "home",
    }
    return _page(request, "h5/campaigns/envelope.html", context)


@require_GET
def envelope_new(request):
    """Send a red envelope: /h5/red-envelopes/new."""
    return _page(request, "h5/campaigns/envelope_new.html", {"nav": "home"})


@require_GET
def user_envelopes(request, pk: int):
    """A person's red envelopes with their top three backers (/h5/users/<id>/red-envelopes)."""
    envs = list(env_selectors.envelope_list_for_owner(owner_id=pk)[:50])
    ids = [e.pk for e in envs]
    top = env_selectors.envelopes_top_backers(envelope_ids=ids)
    remaining = env_selectors.envelopes_remaining(envelope_ids=ids)
    rows = [
        {
            "env": e,
            "top": top.get(e.pk, []),
            "status_label": ENVELOPE_STATUS.get(e.status, e.status),
            "remaining": e.count if e.status == EnvelopeStatus.FUNDING else remaining.get(e.pk, 0),
        }
        for e in envs
    ]
    owner = envs[0].owner if envs else None  # nobody's page lists a stranger's name: none without envelopes
    return _page(request, "h5/campaigns/user_envelopes.html", {"owner": owner, "rows": rows, "nav": "home"})
