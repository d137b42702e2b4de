"""The story behind `manage.py demo_story`, told over HTTP only.

Everything here is a client of a running server: it imports `requests` and the standard
library, never our own code, and does what real clients do: shoppers log in through the WeChat
sandbox's OAuth code, the operator through /api/v1/auth/login/ (the API) and /admin/login/
(the console, for "Run now" on a periodic job), friends open /s/{code} short links, payments
are confirmed in the sandbox, which sends the signed notification back to the server.

Time and the freeze period: the story does not move any clock. The operator sets the
commission freeze period to 0 days (PUT /api/v1/ops/settings/distribution/, a setting
operators have, 0..365), so a commission frozen when its order is completed may settle at once;
settlement itself is the periodic job `commissions.settle`, which the operator runs now from
the console (/admin/jobs/, as `manage.py run_job commissions.settle` would) instead of waiting
up to ten minutes for its schedule. The settings the story changed are put back at the end
(unless --keep-settings).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

import requests

ADDRESS = {
    "name": "王小明",
    "phone": "13800138000",
    "province": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "detail": "龙井路 1 号",
}
CHANNELS = ("moments", "group")
SETTINGS = {  # what the operator sets for the story (restored at the end)
    "recruitment_mode": "open",
    "levels": 2,
    "default_level1_bps": 1000,
    "default_level2_bps": 500,
    "freeze_days": 0,
    "withdrawal_min_fen": 100,
    "withdrawal_fee_bps": 0,
    "withdrawal_min_fee_fen": 0,
}
PRICE_FEN = 19_900
MAX_THROTTLE_WAIT = 180  # seconds one request may wait out 429s


class StoryError(Exception):
    """A step of the story did not get the answer it needed (the message says which)."""


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


@dataclass
class Person:
    name: str
    openid: str
    token: str = ""
    user_id: int = 0
    distributor_id: int = 0
    invite_code: str = ""
    level: int = 0  # 1 or 2 for distributors (who recruited whom), 0 for friends
    links: dict[str, str] = field(default_factory=dict)  # channel -> share code


class Http:
    """JSON over one requests.Session; every answer checked against what the step expects."""

    def __init__(self, base: str, timeout: float = 60):
        self.base = base.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.requests = 0
        self.throttled = 0
        self.on_wait = print

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str = "",
        body=None,
        expect=(200, 201),
        headers=None,
        allow_redirects: bool = True,
    ) -> requests.Response:
        hdrs = {"Accept": "application/json", **(headers or {})}
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        url = path if path.startswith("http") else self.base + path
        waited = 0.0
        while True:
            try:
                res = self.session.request(
                    method, url, json=body, headers=hdrs, timeout=self.timeout, allow_redirects=allow_redirects
                )
            except requests.RequestException as exc:
                raise StoryError(f"{method} {url}: {exc}") from exc
            self.requests += 1
            if res.status_code != 429 or 429 in (expect or ()):
                break
            # Throttled (e.g. THROTTLE_LOGIN, 20 logins a minute from one address by default):
            # wait as the server asks, at most MAX_THROTTLE_WAIT seconds in all for one request.
            try:
                pause = max(1.0, float(res.headers.get("Retry-After", "5")))
            except ValueError:
                pause = 5.0
            if waited + pause > MAX_THROTTLE_WAIT:
                break
            self.throttled += 1
            self.on_wait(f"throttled on {method} {path}: waiting {pause:.0f}s as the server asks (Retry-After)")
            time.sleep(pause)
            waited += pause
        if expect and res.status_code not in expect:
            raise StoryError(
                f"{method} {path} answered {res.status_code} (expected {'/'.join(map(str, expect))}): {res.text[:600]}"
            )
        return res

    def json(self, method: str, path: str, **kw):
        res = self.call(method, path, **kw)
        try:
            return res.json()
        except ValueError as exc:
            raise StoryError(f"{method} {path}: not JSON: {res.text[:300]}") from exc

    def pages(self, path: str, *, token: str) -> list[dict]:
        """Every row of a paginated list ({count, next, previous, results})."""
        rows: list[dict] = []
        url = path + ("&" if "?" in path else "?") + "page_size=100"
        while url:
            body = self.json("GET", url, token=token)
            if not isinstance(body, dict) or "results" not in body:
                raise StoryError(f"GET {path}: expected a paginated list, got {str(body)[:200]}")
            rows.extend(body["results"])
            url = body.get("next")
        return rows


class Console:
    """The operators' console (/admin/) in a browser session: login form, CSRF, Run now."""

    def __init__(self, http: Http, username: str, password: str):
        self.http = http
        self.session = requests.Session()
        self.username, self.password = username, password
        self.logged_in = False

    def _csrf(self, html: str) -> str:
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        if not found:
            raise StoryError("the console page has no CSRF token")
        return found.group(1)

    def login(self) -> None:
        url = self.http.base + "/admin/login/?next=/admin/"
        page = self.session.get(url, timeout=self.http.timeout)
        res = self.session.post(
            url,
            data={
                "csrfmiddlewaretoken": self._csrf(page.text),
                "username": self.username,
                "password": self.password,
                "next": "/admin/",
            },
            timeout=self.http.timeout,
            allow_redirects=False,
        )
        if res.status_code != 302:
            hint = ""
            if self.http.base.startswith("http:") and "secure" in page.headers.get("Set-Cookie", "").lower():
                hint = (
                    ": the console's cookies are Secure (DEBUG off) and this is plain http; use https, make run "
                    "(DEBUG=1) or CSRF_COOKIE_SECURE=0 SESSION_COOKIE_SECURE=0"
                )
            raise StoryError(f"console login as {self.username!r} failed ({res.status_code}){hint}")
        self.logged_in = True

    def run_job(self, name: str) -> dict:
        if not self.logged_in:
            self.login()
        url = self.http.base + "/admin/jobs/"
        page = self.session.get(url, timeout=self.http.timeout)
        if page.status_code != 200:
            raise StoryError(f"GET /admin/jobs/ answered {page.status_code} (the operator must be a superuser)")
        res = self.session.post(
            url, data={"csrfmiddlewaretoken": self._csrf(page.text), "name": name}, timeout=self.http.timeout
        )
        if res.status_code != 200 or "X-Job-Result" not in res.headers:
            raise StoryError(f"running {name} from the console failed ({res.status_code})")
        self.http.requests += 3
        return json.loads(res.headers["X-Job-Result"]) or {}


class Story:
    def __init__(
        self,
        *,
        base: str,
        username: str,
        password: str,
        distributors: int = 4,
        friends: int = 3,
        run: str = "",
        keep_settings: bool = False,
        payout_wait: float = 60,
        out=print,
    ):
        if distributors < 2:
            raise StoryError("--distributors must be at least 2 (one recruits the other)")
        if friends < 1:
            raise StoryError("--friends must be at least 1")
        self.http = Http(base)
        self.http.on_wait = out
        self.console = Console(self.http, username, password)
        self.username, self.password = username, password
        self.n_distributors, self.n_friends = distributors, friends
        self.run = run or time.strftime("%m%d%H%M%S") + uuid.uuid4().hex[:4]
        self.keep_settings = keep_settings
        self.payout_wait = payout_wait
        self.out = out
        self.operator = ""
        self.distributors: list[Person] = []
        self.friends: list[tuple[Person, Person, str]] = []  # (friend, distributor, channel)
        self.orders: list[dict] = []  # {no, buyer, distributor, total_fen}
        self.refunded: list[str] = []
        self.sku_id = 0
        self.product_id = 0
        self.saved_settings: dict = {}
        self.crowdfund: dict = {}
        self.envelope: dict = {}
        self.withdrawals: list[dict] = []
        self.jobs: dict[str, dict] = {}
        self.started = time.monotonic()
        self._step = 0

    # --- output --------------------------------------------------------------------

    STEPS = 13

    def progress(self, text: str) -> None:
        self._step += 1
        self.out(f"[{self._step:2d}/{self.STEPS}] {time.monotonic() - self.started:6.1f}s  {text}")

    # --- people ----------------------------------------------------------------------

    def shopper(self, name: str, openid: str) -> Person:
        person = Person(name=name, openid=openid)
        code = self.http.json("POST", "/wechat-sandbox/oauth/code/", body={"openid": openid, "nickname": name})
        login = self.http.json("POST", "/api/v1/auth/wechat/", body={"code": code["code"]})
        person.token = login["token"]
        person.user_id = login["user"]["id"]
        return person

    def pay(self, pay: dict, what: str) -> None:
        """The person pays in WeChat: the sandbox sends the signed payment notification to the server."""
        prepay = (pay or {}).get("prepay_id")
        if not prepay:
            raise StoryError(f"{what}: no prepay_id in {pay}")
        answer = self.http.json("POST", f"/wechat-sandbox/pay/{prepay}/confirm/", expect=(200,))
        if answer.get("trade_state") != "SUCCESS":
            raise StoryError(f"{what}: the sandbox says {answer}")

    # --- the story ---------------------------------------------------------------------

    def tell(self) -> dict:
        try:
            self.configure()
            self.recruit()
            self.share()
            self.friends_buy()
            self.refund_one()
            self.crowdfund_fill()
            self.ship_and_complete()
            self.envelope_grab()
            self.settle()
            self.withdraw()
            self.approve_payouts()
            report = self.report()
            self.progress(f"ledger audit: {'ok' if report['ledger_audit']['ok'] else 'MISMATCH'}")
        finally:
            if self.saved_settings and not self.keep_settings:
                self.restore_settings()
        return report

    def configure(self) -> None:
        login = self.http.json(
            "POST", "/api/v1/auth/login/", body={"username": self.username, "password": self.password}
        )
        if not login["user"].get("is_staff"):
            raise StoryError(f"{self.username!r} is not an operator")
        self.operator = login["token"]
        current = self.http.json("GET", "/api/v1/ops/settings/distribution/", token=self.operator)
        self.saved_settings = {k: current[k] for k in SETTINGS if k in current and current[k] != SETTINGS[k]}
        self._put_settings(SETTINGS)
        products = self.http.json("GET", "/api/v1/products/", token=self.operator)
        image = next((p["cover"] for p in products.get("results", []) if p.get("cover")), None)
        stock = self.n_distributors * self.n_friends * 2 + 20
        product = self.http.json(
            "POST",
            "/api/v1/ops/products/",
            token=self.operator,
            body={
                "title": f"分享礼盒 {self.run}",
                "description": "demo_story: 龙井与茶杯的礼盒。",
                "images": [image] if image else [],
                "on_shelf": True,
                "skus": [{"name": "礼盒装", "price_fen": PRICE_FEN, "stock": stock}],
            },
        )
        self.product_id = product["id"]
        self.sku_id = product["skus"][0]["id"]
        self.progress(
            f"operator configured the shop: 2 levels at 10 % / 5 %, freeze 0 days, withdrawals from "
            f"{yuan(SETTINGS['withdrawal_min_fen'])}; product {product['id']} at {yuan(PRICE_FEN)} × {stock}"
        )

    def _put_settings(self, values: dict) -> None:
        res = self.http.call(
            "PUT", "/api/v1/ops/settings/distribution/", token=self.operator, body=values, expect=(200, 405)
        )
        if res.status_code == 405:  # PATCH-only servers
            self.http.call("PATCH", "/api/v1/ops/settings/distribution/", token=self.operator, body=values)

    def restore_settings(self) -> None:
        try:
            self._put_settings(self.saved_settings)
        except StoryError as exc:
            self.out(f"could not put the distribution settings back: {exc}")

    def recruit(self) -> None:
        top = (self.n_distributors + 1) // 2
        for i in range(self.n_distributors):
            level = 1 if i < top else 2
            person = self.shopper(f"分销员{i + 1}", f"o-story-{self.run}-d{i + 1}")
            person.level = level
            inviter = self.distributors[(i - top) % top] if level == 2 else None
            body = {"real_name": f"分销员{i + 1}", "phone": f"139{i:08d}"}
            if inviter:
                body["invite_code"] = inviter.invite_code
            row = self.http.json("POST", "/api/v1/distributors/apply/", token=person.token, body=body)
            person.distributor_id = row["id"]
            if row["status"] == "pending":
                self.http.json("POST", f"/api/v1/ops/distributors/{row['id']}/approve/", token=self.operator, body={})
            me = self.http.json("GET", "/api/v1/distributors/me/", token=person.token)
            if me["status"] != "approved":
                raise StoryError(f"{person.name} is {me['status']}, not approved")
            person.invite_code = me["invite_code"]
            self.distributors.append(person)
        self.progress(
            f"recruited {self.n_distributors} distributors: {top} on level 1, "
            f"{self.n_distributors - top} invited by them on level 2"
        )

    def share(self) -> None:
        for person in self.distributors:
            for channel in CHANNELS:
                link = self.http.json(
                    "POST",
                    "/api/v1/share-links/",
                    token=person.token,
                    body={"target_type": "product", "target_id": self.product_id, "channel": channel},
                )
                person.links[channel] = link["code"]
        self.progress(
            f"each distributor made {len(CHANNELS)} share links ({', '.join(CHANNELS)}): "
            f"{len(self.distributors) * len(CHANNELS)} links"
        )

    def friends_buy(self) -> None:
        clicks = 0
        for d_index, distributor in enumerate(self.distributors):
            for j in range(self.n_friends):
                channel = CHANNELS[j % len(CHANNELS)]
                code = distributor.links[channel]
                friend = self.shopper(f"朋友{d_index + 1}-{j + 1}", f"o-story-{self.run}-d{d_index + 1}-f{j + 1}")
                res = self.http.call(
                    "GET",
                    f"/s/{code}",
                    token=friend.token,
                    expect=(302,),
                    allow_redirects=False,
                    headers={"Accept": "text/html"},
                )
                clicks += 1
                if not res.headers.get("Location"):
                    raise StoryError(f"/s/{code} answered no redirect")
                self.friends.append((friend, distributor, channel))
                if j % 3 == 2:  # every third friend only looks
                    continue
                order = self.http.json(
                    "POST",
                    "/api/v1/orders/",
                    token=friend.token,
                    headers={"Idempotency-Key": f"story-{self.run}-order-{d_index}-{j}"},
                    body={"items": [{"sku_id": self.sku_id, "quantity": 1}], "address": ADDRESS, "share_code": code},
                )
                pay = self.http.json("POST", f"/api/v1/orders/{order['no']}/pay/", token=friend.token)
                self.pay(pay, f"order {order['no']}")
                paid = self.http.json("GET", f"/api/v1/orders/{order['no']}/", token=friend.token)
                if paid["status"] != "paid":
                    raise StoryError(f"order {order['no']} is {paid['status']} after the payment")
                self.orders.append(
                    {
                        "no": order["no"],
                        "buyer": friend,
                        "distributor": distributor,
                        "total_fen": paid["total_fen"],
                        "channel": channel,
                    }
                )
        self.progress(
            f"{len(self.friends)} friends opened the links ({clicks} clicks, bound on the way), "
            f"{len(self.orders)} bought and paid in WeChat"
        )

    def refund_one(self) -> None:
        if not self.orders:
            raise StoryError("no order to refund")
        order = self.orders[0]
        buyer = order["buyer"]
        refund = self.http.json(
            "POST",
            f"/api/v1/orders/{order['no']}/refunds/",
            token=buyer.token,
            headers={"Idempotency-Key": f"story-{self.run}-refund"},
            body={"amount_fen": order["total_fen"], "reason": "买错了"},
        )
        approved = self.http.json(
            "POST", f"/api/v1/ops/refunds/{refund['id']}/approve/", token=self.operator, body={"reason": "demo_story"}
        )
        if approved["status"] != "succeeded":
            self.http.json(
                "POST",
                f"/wechat-sandbox/pay/refunds/{refund['no']}/confirm/",
                body={"status": "SUCCESS"},
                expect=(200,),
            )
        after = self.http.json("GET", f"/api/v1/orders/{order['no']}/", token=buyer.token)
        if after["status"] != "refunded":
            raise StoryError(f"order {order['no']} is {after['status']} after its refund")
        self.refunded.append(order["no"])
        self.progress(f"order {order['no']} refunded in full ({yuan(order['total_fen'])}); its commissions reversed")

    def ship_and_complete(self) -> None:
        done = 0
        for order in self.orders:
            if order["no"] in self.refunded:
                continue
            self.http.json(
                "POST",
                f"/api/v1/ops/orders/{order['no']}/ship/",
                token=self.operator,
                body={"carrier": "SF", "tracking_no": f"SF{order['no'][-10:]}"},
            )
            completed = self.http.json(
                "POST", f"/api/v1/orders/{order['no']}/confirm-receipt/", token=order["buyer"].token
            )
            if completed["status"] != "completed":
                raise StoryError(f"order {order['no']} is {completed['status']} after confirm-receipt")
            done += 1
        self.progress(f"operator shipped {done} orders, the buyers confirmed receipt: their commissions are frozen")

    def crowdfund_fill(self) -> None:
        initiator = self.friends[0][0]
        cf = self.http.json(
            "POST",
            "/api/v1/crowdfunds/",
            token=initiator.token,
            headers={"Idempotency-Key": f"story-{self.run}-crowdfund"},
            body={"sku_id": self.sku_id, "quantity": 1, "address": ADDRESS, "message": "帮我凑一个礼盒!"},
        )
        goal = cf["goal_fen"]
        backers = [f for f, _d, _c in self.friends[1:4]] or [initiator]
        backers += [self.shopper(f"众筹好友{i + 1}", f"o-story-{self.run}-cf{i + 1}") for i in range(3 - len(backers))]
        share = goal // len(backers)
        for i, backer in enumerate(backers):
            amount = share if i < len(backers) - 1 else goal - share * (len(backers) - 1)
            contribution = self.http.json(
                "POST",
                f"/api/v1/crowdfunds/{cf['id']}/contributions/",
                token=backer.token,
                headers={"Idempotency-Key": f"story-{self.run}-cf-{i}"},
                body={"amount_fen": amount, "message": f"加油 {i + 1}"},
            )
            self.pay(contribution.get("pay"), f"contribution {contribution['id']}")
        final = self.http.json("GET", f"/api/v1/crowdfunds/{cf['id']}/")
        if final["status"] not in ("funded", "ordered"):
            raise StoryError(f"crowdfund {cf['id']} is {final['status']} after {len(backers)} contributions")
        self.crowdfund = {
            "id": cf["id"],
            "goal_fen": goal,
            "raised_fen": final["raised_fen"],
            "status": final["status"],
            "contributors": final["contributors"],
            "order_no": None,
        }
        order_no = _find(self.http.json("GET", f"/api/v1/crowdfunds/{cf['id']}/", token=initiator.token), "order_no")
        if order_no:  # the funded order is the initiator's, shipped and completed with the others
            order = self.http.json("GET", f"/api/v1/orders/{order_no}/", token=initiator.token)
            self.crowdfund["order_no"] = order_no
            self.orders.append(
                {
                    "no": order_no,
                    "buyer": initiator,
                    "distributor": None,
                    "total_fen": order["total_fen"],
                    "channel": "crowdfund",
                }
            )
        self.progress(
            f"crowdfund {cf['id']}: {len(backers)} friends raised {yuan(final['raised_fen'])} of "
            f"{yuan(goal)} → {final['status']}"
        )

    def envelope_grab(self) -> None:
        owner = self.distributors[0]
        grabbers = [f for f, _d, _c in self.friends]
        count = max(1, min(5, len(grabbers) - 1))
        total = 888 if count * 1 <= 888 else count
        env = self.http.json(
            "POST",
            "/api/v1/red-envelopes/",
            token=owner.token,
            headers={"Idempotency-Key": f"story-{self.run}-envelope"},
            body={
                "total_fen": total,
                "count": count,
                "split": "random",
                "greeting": "谢谢大家支持!",
                "pay_with": "wechat",
            },
        )
        self.pay(env.get("pay"), f"red envelope {env['id']}")
        funded = self.http.json("GET", f"/api/v1/red-envelopes/{env['id']}/")
        if funded["status"] == "funding":
            self.http.json("POST", f"/api/v1/red-envelopes/{env['id']}/open/", token=owner.token, body={})
        grabbed, empty = [], 0
        for person in grabbers[: count + 1]:
            res = self.http.call(
                "POST", f"/api/v1/red-envelopes/{env['id']}/grab/", token=person.token, expect=(200, 201, 409)
            )
            if res.status_code == 409:
                if res.json().get("code") != "envelope_empty":
                    raise StoryError(f"grab answered {res.text[:300]}")
                empty += 1
            else:
                grabbed.append(res.json()["amount_fen"])
        final = self.http.json("GET", f"/api/v1/red-envelopes/{env['id']}/")
        self.envelope = {
            "id": env["id"],
            "total_fen": total,
            "count": count,
            "grabbed": len(grabbed),
            "grabbed_fen": sum(grabbed),
            "best_fen": max(grabbed, default=0),
            "came_too_late": empty,
            "status": final["status"],
        }
        self.progress(
            f"red envelope {env['id']}: {yuan(total)} in {count} shares, {len(grabbed)} grabbed "
            f"{yuan(sum(grabbed))} (best {yuan(max(grabbed, default=0))}), {empty} too late → "
            f"{final['status']}"
        )

    def settle(self) -> None:
        # freeze_days is 0: the commissions frozen at completion may settle now; the operator runs
        # the settlement job from the console instead of waiting for its schedule.
        self.jobs["distributors.flush_click_counters"] = self.console.run_job("distributors.flush_click_counters")
        self.jobs["commissions.settle"] = self.console.run_job("commissions.settle")
        frozen = 0
        for person in self.distributors:
            frozen += len(self.http.pages("/api/v1/commissions/?status=frozen", token=person.token))
        if frozen:
            raise StoryError(f"{frozen} commissions still frozen after commissions.settle")
        self.progress(
            f"past the freeze period (0 days): commissions.settle settled "
            f"{self.jobs['commissions.settle'].get('settled', 0)} commissions into the wallets"
        )

    def withdraw(self) -> None:
        for i, person in enumerate(self.distributors):
            wallet = self.http.json("GET", "/api/v1/wallet/", token=person.token)
            amount = wallet["available_fen"]
            if amount < SETTINGS["withdrawal_min_fen"]:
                continue
            row = self.http.json(
                "POST",
                "/api/v1/withdrawals/",
                token=person.token,
                headers={"Idempotency-Key": f"story-{self.run}-withdraw-{i}"},
                body={"amount_fen": amount},
            )
            self.withdrawals.append(
                {
                    "id": row["id"],
                    "person": person,
                    "amount_fen": row["amount_fen"],
                    "fee_fen": row["fee_fen"],
                    "net_fen": row["net_fen"],
                    "status": row["status"],
                }
            )
        total = sum(w["amount_fen"] for w in self.withdrawals)
        self.progress(f"{len(self.withdrawals)} distributors asked to withdraw {yuan(total)}")

    def approve_payouts(self) -> None:
        for w in self.withdrawals:
            self.http.json(
                "POST",
                f"/api/v1/ops/withdrawals/{w['id']}/approve/",
                token=self.operator,
                body={"reason": "demo_story"},
            )
        deadline = time.monotonic() + self.payout_wait
        resumed = False
        while True:
            for w in self.withdrawals:
                w["status"] = self.http.json("GET", f"/api/v1/withdrawals/{w['id']}/", token=w["person"].token)[
                    "status"
                ]
            waiting = [w for w in self.withdrawals if w["status"] not in ("paid", "failed", "rejected")]
            if not waiting or time.monotonic() > deadline:
                break
            for w in waiting:
                if w["status"] == "confirming" and not w.get("confirmed"):
                    self.confirm_receipt(w)
            if not resumed and time.monotonic() > deadline - self.payout_wait / 2:
                self.jobs["commissions.resume_payouts"] = self.console.run_job("commissions.resume_payouts")
                resumed = True
            time.sleep(0.5)
        if waiting:
            raise StoryError(
                f"{len(waiting)} payouts not final after {self.payout_wait:.0f}s "
                f"(statuses: {sorted({w['status'] for w in waiting})}); is a Celery worker running?"
            )
        paid = [w for w in self.withdrawals if w["status"] == "paid"]
        confirmed = sum(bool(w.get("confirmed")) for w in self.withdrawals)
        how = f"; {confirmed} distributors confirmed receipt in WeChat (merchant transfer)" if confirmed else ""
        self.progress(
            f"operator approved {len(self.withdrawals)} withdrawals; {len(paid)} payouts landed in WeChat "
            f"({yuan(sum(w['net_fen'] for w in paid))}){how}"
        )

    def confirm_receipt(self, w: dict) -> None:
        """A merchant transfer bill waits: the distributor confirms receipt in WeChat (the sandbox
        plays wx.requestMerchantTransfer), then their page asks the server to check."""
        row = self.http.json("GET", f"/api/v1/withdrawals/{w['id']}/", token=w["person"].token)
        if not row.get("confirm"):
            return
        self.http.json("POST", "/wechat-sandbox/transfer-bills/by-package/confirm/",
                       body={"package": row["confirm"]["package"]}, expect=(200,))
        w["status"] = self.http.json("POST", f"/api/v1/withdrawals/{w['id']}/confirmed/", token=w["person"].token,
                                     body={})["status"]
        w["confirmed"] = True

    # --- the report ------------------------------------------------------------------

    def report(self) -> dict:
        orders = {
            "placed": len(self.orders),
            "refunded": len(self.refunded),
            "gmv_fen": 0,
            "refunded_fen": 0,
            "crowdfunded": sum(o["channel"] == "crowdfund" for o in self.orders),
            "by_status": defaultdict(int),
        }
        for order in self.orders:
            row = self.http.json("GET", f"/api/v1/orders/{order['no']}/", token=order["buyer"].token)
            orders["by_status"][row["status"]] += 1
            orders["gmv_fen"] += row["paid_fen"]
            orders["refunded_fen"] += row["refunded_fen"]
        commissions: dict[str, dict[str, dict[str, int]]] = defaultdict(
            lambda: defaultdict(lambda: {"count": 0, "amount_fen": 0})
        )
        funnel: dict[str, dict[str, int]] = defaultdict(
            lambda: {"links": 0, "clicks": 0, "unique_visitors": 0, "orders": 0, "gmv_fen": 0}
        )
        for person in self.distributors:
            for row in self.http.pages("/api/v1/commissions/", token=person.token):
                cell = commissions[f"level_{row['level']}"][row["status"]]
                cell["count"] += 1
                cell["amount_fen"] += row["amount_fen"]
            for link in self.http.pages("/api/v1/share-links/", token=person.token):
                if link["code"] not in person.links.values():
                    continue
                cell = funnel[link["channel"]]
                cell["links"] += 1
                for key in ("clicks", "unique_visitors", "orders", "gmv_fen"):
                    cell[key] += link[key]
        payouts = {
            "count": len(self.withdrawals),
            "paid": sum(w["status"] == "paid" for w in self.withdrawals),
            "amount_fen": sum(w["amount_fen"] for w in self.withdrawals),
            "fee_fen": sum(w["fee_fen"] for w in self.withdrawals),
            "paid_net_fen": sum(w["net_fen"] for w in self.withdrawals if w["status"] == "paid"),
        }
        today = date.today().isoformat()
        overview = self.http.json(
            "GET", f"/api/v1/ops/reports/overview/?from={today}&to={today}", token=self.operator, expect=(200, 400)
        )
        audit = self.http.json("GET", "/api/v1/ops/ledger/audit/", token=self.operator)
        report = {
            "run": self.run,
            "base": self.http.base,
            "product_id": self.product_id,
            "distributors": [
                {"user_id": p.user_id, "distributor_id": p.distributor_id, "level": p.level} for p in self.distributors
            ],
            "friends": len(self.friends),
            "orders": {**orders, "by_status": dict(orders["by_status"]), "nos": [o["no"] for o in self.orders]},
            "commissions": {level: dict(statuses) for level, statuses in sorted(commissions.items())},
            "payouts": payouts,
            "crowdfund": self.crowdfund,
            "red_envelope": self.envelope,
            "funnel": dict(funnel),
            "jobs": self.jobs,
            "overview": overview,
            "ledger_audit": audit,
            "requests": self.http.requests,
            "throttled": self.http.throttled,
            "seconds": round(time.monotonic() - self.started, 1),
        }
        self.progress("report")
        return report


def _find(body, key: str):
    """The first value of `key` anywhere in a JSON body."""
    if isinstance(body, dict):
        if body.get(key):
            return body[key]
        values = body.values()
    elif isinstance(body, list):
        values = body
    else:
        return None
    for value in values:
        found = _find(value, key)
        if found:
            return found
    return None


def report_text(report: dict) -> list[str]:
    """The short report for people."""
    o = report["orders"]
    lines = [
        f"demo_story {report['run']} against {report['base']}: {len(report['distributors'])} distributors, "
        f"{report['friends']} friends, {report['requests']} requests in {report['seconds']}s "
        f"({report['requests'] / max(report['seconds'], 0.1):.0f}/s, {report['throttled']} throttled)",
        f"orders    {o['placed']} placed and paid ({o['crowdfunded']} by a crowdfund), {o['refunded']} refunded; "
        f"GMV {yuan(o['gmv_fen'])}, refunded "
        f"{yuan(o['refunded_fen'])}, net {yuan(o['gmv_fen'] - o['refunded_fen'])}; "
        + ", ".join(f"{k} {v}" for k, v in sorted(o["by_status"].items())),
        "commissions",
    ]
    for level, statuses in report["commissions"].items():
        cells = ", ".join(f"{status} {c['count']} = {yuan(c['amount_fen'])}" for status, c in sorted(statuses.items()))
        lines.append(f"  {level.replace('_', ' ')}: {cells}")
    p = report["payouts"]
    lines.append(
        f"payouts   {p['paid']} of {p['count']} withdrawals paid: {yuan(p['amount_fen'])} asked, fees "
        f"{yuan(p['fee_fen'])}, {yuan(p['paid_net_fen'])} landed in WeChat"
    )
    cf, env = report["crowdfund"], report["red_envelope"]
    lines.append(
        f"crowdfund {cf['id']}: {yuan(cf['raised_fen'])} of {yuan(cf['goal_fen'])} from "
        f"{cf['contributors']} contributors → {cf['status']}"
    )
    lines.append(
        f"envelope  {env['id']}: {env['grabbed']}/{env['count']} grabbed {yuan(env['grabbed_fen'])} of "
        f"{yuan(env['total_fen'])}, best {yuan(env['best_fen'])}, {env['came_too_late']} too late → "
        f"{env['status']}"
    )
    lines.append("funnel    channel    links  clicks  visitors  orders  GMV")
    for channel, f in sorted(report["funnel"].items()):
        lines.append(
            f"          {channel:<10} {f['links']:>5}  {f['clicks']:>6}  {f['unique_visitors']:>8}  "
            f"{f['orders']:>6}  {yuan(f['gmv_fen'])}"
        )
    shop = report["overview"]
    if isinstance(shop, dict) and "gmv" in shop:
        lines.append(
            f"the shop today (GET /ops/reports/overview/): {shop['gmv']['orders']} orders, GMV "
            f"{yuan(shop['gmv']['gmv_fen'])}, net {yuan(shop['gmv']['net_gmv_fen'])}, commissions net "
            f"{yuan(shop['commissions']['net_fen'])}"
        )
    audit = report["ledger_audit"]
    lines.append(
        f"ledger audit: {'ok' if audit.get('ok') else 'MISMATCH'} ({audit.get('accounts')} accounts, "
        f"{audit.get('transactions')} transactions)"
    )
    return lines
