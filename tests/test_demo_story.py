"""`manage.py demo_story` against a live server (the WeChat sandbox over real HTTP): its report's
figures are what the database holds, the books balance, the settings it changed are put back,
and bad input stops it before anything changes."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Sum

from accounts.models import User
from campaigns.models import Crowdfund, EnvelopeShare, RedEnvelope
from commissions.models import Commission, Withdrawal
from distributors.models import CustomerBinding, DistributionSettings, Distributor, LinkDailyStat, ShareLink
from ledger.selectors import ledger_audit
from mall.models import Order, Product
from tests.factories import UserFactory
from wechat.models import WechatTransfer
from wechat.sandbox.models.v3 import SandboxTransferBill

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "story-Pass-2026"


@pytest.fixture(autouse=True)
def _console_over_http(settings):
    """The live server speaks plain http; the console's cookies are Secure unless DEBUG (as in make run)."""
    settings.CSRF_COOKIE_SECURE = settings.SESSION_COOKIE_SECURE = False


@pytest.fixture
def story_operator(db):
    operator = UserFactory(username="story-operator", is_staff=True, is_superuser=True)
    operator.set_password(PASSWORD)
    operator.save()
    return operator


def _story(server, tmp_path, *args):
    out = io.StringIO()
    path = tmp_path / "report.json"
    call_command(
        "demo_story",
        "--base",
        server.url,
        "--username",
        "story-operator",
        "--password",
        PASSWORD,
        "--run",
        "t1",
        "--json",
        str(path),
        *args,
        stdout=out,
    )
    return out.getvalue(), json.loads(path.read_text())


@pytest.mark.parametrize("payout_api", ["v2", "v3_transfer_bills"])
def test_the_story_told_over_http_matches_the_database(wechat_sandbox, story_operator, tmp_path, settings,
                                                        payout_api):
    settings.WECHAT_PAYOUT_API = payout_api
    before = DistributionSettings.objects.get_or_create(pk=1)[0]
    text, report = _story(wechat_sandbox, tmp_path, "--distributors", "3", "--friends", "3")

    # people: 3 distributors, 2 on level 1, 1 invited by the first on level 2; 9 friends
    distributors = list(Distributor.objects.filter(user__openid__startswith="o-story-t1-d").order_by("pk"))
    assert len(distributors) == 3 and all(d.status == "approved" for d in distributors)
    assert distributors[2].inviter_id == distributors[0].pk
    assert distributors[0].inviter_id is None and distributors[1].inviter_id is None
    assert report["friends"] == 9
    # every friend is bound to the distributor whose link they opened (o-story-t1-d{i}-f{j})
    bindings = CustomerBinding.objects.filter(customer__openid__regex=r"^o-story-t1-d[0-9]+-f[0-9]+$")
    assert bindings.count() == 9
    for binding in bindings.select_related("customer", "distributor__user"):
        assert binding.customer.openid.rsplit("-f", 1)[0] == binding.distributor.user.openid

    # orders: 2 of every 3 friends bought (6) plus the crowdfund's order; the first one refunded
    orders = Order.objects.filter(no__in=report["orders"]["nos"])
    assert orders.count() == report["orders"]["placed"] == 7
    assert report["orders"]["crowdfunded"] == 1
    assert (
        dict(orders.values_list("status").annotate(n=Count("pk")))
        == report["orders"]["by_status"]
        == {"completed": 6, "refunded": 1}
    )
    assert orders.aggregate(s=Sum("paid_fen"))["s"] == report["orders"]["gmv_fen"] == 7 * 19_900
    assert orders.aggregate(s=Sum("refunded_fen"))["s"] == report["orders"]["refunded_fen"] == 19_900
    product = Product.objects.get(pk=report["product_id"])
    assert set(Order.objects.filter(items__sku__product=product).values_list("no", flat=True)) == set(
        report["orders"]["nos"]
    )

    # commissions by level and status, as the database has them
    rows = (
        Commission.objects.filter(order__in=orders)
        .values_list("level", "status")
        .annotate(n=Count("pk"), fen=Sum("amount_fen"))
    )
    from_db = {}
    for level, status, n, fen in rows:
        from_db.setdefault(f"level_{level}", {})[status] = {"count": n, "amount_fen": fen}
    assert report["commissions"] == from_db
    assert from_db == {
        "level_1": {"settled": {"count": 6, "amount_fen": 6 * 1990}, "reversed": {"count": 1, "amount_fen": 1990}},
        "level_2": {"settled": {"count": 2, "amount_fen": 2 * 995}},
    }

    # payouts: every distributor withdrew what settled, the operator approved, WeChat paid
    withdrawals = Withdrawal.objects.filter(distributor__in=distributors)
    assert withdrawals.count() == report["payouts"]["count"] == 3
    assert set(withdrawals.values_list("status", flat=True)) == {"paid"}
    if payout_api == "v3_transfer_bills":  # merchant transfer bills: each confirmed by its distributor
        bills = SandboxTransferBill.objects.filter(out_bill_no__in=withdrawals.values("transfer_no"))
        assert sorted(bills.values_list("state", flat=True)) == ["SUCCESS"] * 3
        assert "3 distributors confirmed receipt in WeChat" in text
    assert withdrawals.aggregate(s=Sum("amount_fen"))["s"] == report["payouts"]["amount_fen"] == 6 * 1990 + 2 * 995
    assert (
        WechatTransfer.objects.filter(
            partner_trade_no__in=withdrawals.values("transfer_no"), status="succeeded"
        ).count()
        == 3
    )

    # campaigns
    cf = Crowdfund.objects.get(pk=report["crowdfund"]["id"])
    assert cf.status == report["crowdfund"]["status"] == "ordered"
    assert cf.raised_fen == cf.goal_fen == report["crowdfund"]["raised_fen"] == 19_900
    envelope = RedEnvelope.objects.get(pk=report["red_envelope"]["id"])
    assert envelope.status == report["red_envelope"]["status"] == "empty"
    grabbed = EnvelopeShare.objects.filter(envelope=envelope, user__isnull=False)
    assert grabbed.count() == report["red_envelope"]["grabbed"] == envelope.count == 5
    assert grabbed.aggregate(s=Sum("amount_fen"))["s"] == report["red_envelope"]["grabbed_fen"] == 888
    assert report["red_envelope"]["came_too_late"] == 1

    # the funnel per channel: what the links' daily figures hold
    links = ShareLink.objects.filter(distributor__in=distributors)
    for channel, cell in report["funnel"].items():
        stats = LinkDailyStat.objects.filter(link__in=links.filter(channel=channel)).aggregate(
            clicks=Sum("clicks"), visitors=Sum("unique_visitors"), orders=Sum("orders"), gmv=Sum("gmv_fen")
        )
        assert cell["links"] == links.filter(channel=channel).count() == 3
        assert (cell["clicks"], cell["unique_visitors"], cell["orders"], cell["gmv_fen"]) == (
            stats["clicks"],
            stats["visitors"],
            stats["orders"],
            stats["gmv"],
        )
    assert sum(c["clicks"] for c in report["funnel"].values()) == 9
    assert sum(c["orders"] for c in report["funnel"].values()) == 6

    # the books, the settings put back, the printed report
    assert report["ledger_audit"]["ok"] is True and ledger_audit()["ok"]
    after = DistributionSettings.objects.get(pk=1)
    assert (after.freeze_days, after.recruitment_mode, after.withdrawal_min_fen) == (
        before.freeze_days,
        before.recruitment_mode,
        before.withdrawal_min_fen,
    )
    assert "[13/13]" in text and "ledger audit: ok" in text
    assert "GMV ¥1,393.00" in text  # 7 × ¥199.00
    assert "level 2: settled 2 = ¥19.90" in text


def test_it_doubles_as_a_load_scenario(wechat_sandbox, story_operator, tmp_path):
    _text, report = _story(wechat_sandbox, tmp_path, "--distributors", "6", "--friends", "4", "--keep-settings")
    # 6 distributors × (4 friends, 3 of them buy) + the crowdfund's order
    assert Order.objects.filter(no__in=report["orders"]["nos"]).count() == report["orders"]["placed"] == 19
    assert Commission.objects.filter(level=2, order__no__in=report["orders"]["nos"]).count() == 9
    assert DistributionSettings.objects.get(pk=1).freeze_days == 0  # --keep-settings


@pytest.mark.parametrize(
    "args, message",
    [
        (["--distributors", "1"], "at least 2"),
        (["--friends", "0"], "at least 1"),
        (["--distributors", "501"], "at most 500"),
    ],
)
def test_bad_sizes_stop_it_before_anything_changes(live_server, story_operator, args, message):
    users, products = User.objects.count(), Product.objects.count()
    with pytest.raises(CommandError, match=message):
        call_command(
            "demo_story",
            "--base",
            live_server.url,
            "--password",
            PASSWORD,
            "--username",
            "story-operator",
            *args,
            stdout=io.StringIO(),
        )
    assert (User.objects.count(), Product.objects.count()) == (users, products)


def test_a_wrong_password_or_no_password_is_a_clear_error(live_server, story_operator, monkeypatch):
    monkeypatch.delenv("DEMO_OPERATOR_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="password is needed"):
        call_command("demo_story", "--base", live_server.url, "--password", "", stdout=io.StringIO())
    with pytest.raises(CommandError, match="auth/login/ answered 4"):
        call_command(
            "demo_story",
            "--base",
            live_server.url,
            "--username",
            "story-operator",
            "--password",
            "wrong",
            stdout=io.StringIO(),
        )
    assert not DistributionSettings.objects.filter(freeze_days=0).exists()


def test_no_server_there_is_a_clear_error(story_operator):
    with pytest.raises(CommandError, match="the story stopped: POST http://127.0.0.1:9/api/v1/auth/login/"):
        call_command("demo_story", "--base", "http://127.0.0.1:9", "--password", PASSWORD, stdout=io.StringIO())


def test_the_story_imports_no_code_of_ours():
    """It is a client: requests and the standard library only (plus Django's command base)."""
    import ast
    from pathlib import Path

    folder = Path(__file__).resolve().parent.parent / "api" / "management" / "commands"
    allowed = {
        "json",
        "os",
        "re",
        "time",
        "uuid",
        "collections",
        "dataclasses",
        "datetime",
        "requests",
        "__future__",
        "django",
    }
    for name in ("demo_story.py", "_story.py"):
        tree = ast.parse((folder / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # ._story, beside it
                    assert node.module == "_story", (name, node.module)
                    continue
                roots = {node.module.split(".")[0]}
                if roots == {"django"}:
                    assert node.module == "django.core.management.base", (name, node.module)
            else:
                continue
            assert roots <= allowed, (name, roots)


def test_a_throttled_request_waits_as_the_server_asks_and_then_goes_on():
    """The story's HTTP client waits out a 429 for the Retry-After the server names (a busy
    make run answers logins with 429 after THROTTLE_LOGIN), then gives up with a clear error."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from api.management.commands._story import Http, StoryError

    answers = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            answers.append(self.path)
            throttled = self.path == "/always" or len(answers) == 1
            self.send_response(429 if throttled else 200)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        notes = []
        http = Http(f"http://127.0.0.1:{server.server_address[1]}")
        http.on_wait = notes.append
        assert http.json("GET", "/once") == {"ok": True}
        assert http.throttled == 1 and len(answers) == 2 and "waiting 1s" in notes[0]
        import api.management.commands._story as story

        story.MAX_THROTTLE_WAIT, saved = 2, story.MAX_THROTTLE_WAIT
        try:
            with pytest.raises(StoryError, match="answered 429"):
                http.json("GET", "/always")
        finally:
            story.MAX_THROTTLE_WAIT = saved
    finally:
        server.shutdown()
