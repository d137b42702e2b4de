/* campaigns.js — the H5 campaign pages: crowdfunds and red envelopes (h5/views_campaigns.py).
 * Needs h5.js (window.H5: api, requireLogin, showError, flash, yuan, busy, newKey). No library.
 *
 * The pages arrive rendered by the server (what anyone may see); this script does what a
 * person does on them through /api/v1/ and reads the page again afterwards:
 *   crowdfund page   countdown, chip in (amount + message, WeChat Pay), share, and for the
 *                    initiator their figures, "pay the rest" and "cancel"
 *   crowdfund/new    start a crowdfund for a SKU (address, message, duration)
 *   crowdfunds       the initiator's own crowdfunds (GET /api/v1/crowdfunds/)
 *   envelope page    grab (the amount and the follow that came with it), top up while it is
 *                    funding (wallet or WeChat Pay), and for the owner "open"
 *   envelope/new     send an envelope (total, shares, split, greeting, wallet or WeChat Pay)
 * Money typed in yuan is turned into integer fen by string arithmetic (never a float).
 */
(function () {
  "use strict";
  var H5 = window.H5;
  var msgEl = document.getElementById("campaigns-messages");
  var M = msgEl ? JSON.parse(msgEl.textContent) : {};
  function m(key) { return M[key] || key; }

  /* "12.5" → 1250, "10" → 1000; null for anything else (negative, 3 decimals, letters). */
  function yuanToFen(text) {
    var s = String(text || "").trim().replace(/^¥/, "");
    var match = /^(\d{1,9})(?:\.(\d{1,2}))?$/.exec(s);
    if (!match) { return null; }
    var cents = (match[2] || "") + "00";
    return parseInt(match[1], 10) * 100 + parseInt(cents.slice(0, 2), 10);
  }

  /* Pay a WeChat JSAPI order the API answered ({prepay_id, jsapi}); then land on returnPath. */
  function payWechat(pay, returnPath) {
    if (H5.config.wechat_mode === "sandbox") {
      location.href = "/wechat-sandbox/pay/" + encodeURIComponent(pay.prepay_id) + "/sheet/?return=" + encodeURIComponent(returnPath);
      return Promise.resolve();
    }
    return new Promise(function (resolve, reject) {
      function invoke() {
        window.WeixinJSBridge.invoke("getBrandWCPayRequest", pay.jsapi, function (res) {
          if (res && res.err_msg === "get_brand_wcpay_request:ok") { location.href = returnPath; resolve(res); }
          else { reject(new H5.H5Error(0, "pay_cancelled", H5.t("pay_cancelled"), res || {})); }
        });
      }
      if (window.WeixinJSBridge) { invoke(); } else { document.addEventListener("WeixinJSBridgeReady", invoke, false); }
    });
  }

  function withParam(path, key, value) {
    return path + (path.indexOf("?") < 0 ? "?" : "&") + key + "=" + encodeURIComponent(value);
  }
  function here() { return location.pathname; }

  function paidNotice() {
    var q = new URLSearchParams(location.search);
    if (q.get("paid")) { H5.flash(m("paid_thanks"), "ok"); }
  }

  function countdown(el, seconds) {
    if (!el) { return; }
    var end = Date.now() + seconds * 1000;
    function p(n) { return n < 10 ? "0" + n : "" + n; }
    function tick() {
      var left = Math.max(0, Math.round((end - Date.now()) / 1000));
      var d = Math.floor(left / 86400), h = Math.floor(left % 86400 / 3600), mi = Math.floor(left % 3600 / 60), s = left % 60;
      el.textContent = (d ? d + m("days") + " " : "") + p(h) + ":" + p(mi) + ":" + p(s);
      el.setAttribute("data-seconds", String(left));
      if (left > 0) { window.setTimeout(tick, 1000); } else { window.setTimeout(function () { location.reload(); }, 1500); }
    }
    tick();
  }

  function share(url, hint) {
    if (hint) { hint.hidden = false; }
    var input = hint && hint.querySelector("input");
    if (input) { input.focus(); input.select(); }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(url).then(function () { H5.flash(m("copied"), "ok"); }, function () { /* shown */ });
    }
  }

  /* ---- crowdfund page ------------------------------------------------------------------- */
  function crowdfundPage(root) {
    var id = root.getAttribute("data-id");
    countdown(document.getElementById("cf-countdown"), parseInt(root.getAttribute("data-seconds-left"), 10) || 0);
    paidNotice();
    var form = document.getElementById("chip-in");
    if (form) {
      var amount = document.getElementById("chip-amount");
      Array.prototype.forEach.call(form.querySelectorAll(".chip[data-fen]"), function (chip) {
        chip.addEventListener("click", function () {
          var fen = parseInt(chip.getAttribute("data-fen"), 10);
          amount.value = H5.yuan(fen).replace("¥", "");
          Array.prototype.forEach.call(form.querySelectorAll(".chip"), function (c) { c.classList.toggle("on", c === chip); });
        });
      });
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        if (!H5.requireLogin()) { return; }
        var fen = yuanToFen(amount.value);
        if (fen === null || fen <= 0) { H5.flash(m("bad_amount")); return; }
        var body = { amount_fen: fen, message: document.getElementById("chip-message").value.trim(),
                     anonymous: document.getElementById("chip-anonymous").checked };
        var button = form.querySelector("button[type=submit]");
        H5.busy(button, H5.api("/crowdfunds/" + id + "/contributions/", { body: body, idempotent: true }))
          .then(function (c) { return payWechat(c.pay, withParam(here(), "paid", c.no)); }, function () { return null; });
      });
    }
    var shareBtn = document.getElementById("cf-share");
    if (shareBtn) {
      shareBtn.addEventListener("click", function () {
        share(root.getAttribute("data-share-url"), document.getElementById("cf-share-hint"));
      });
    }
    if (!H5.token()) { return; }
    H5.api("/crowdfunds/" + id + "/", { noLoginRedirect: true }).then(function (cf) {
      if (!cf || !cf.mine) { return; }
      var mine = document.getElementById("cf-mine");
      mine.hidden = false;
      Array.prototype.forEach.call(mine.querySelectorAll("[data-k]"), function (el) {
        el.textContent = H5.yuan(cf.mine[el.getAttribute("data-k")]);
      });
      if (cf.mine.order_no) {
        var link = document.getElementById("cf-order-link");
        link.textContent = cf.mine.order_no;
        link.href = H5.config.h5 + "/orders/" + encodeURIComponent(cf.mine.order_no);
        link.parentNode.hidden = false;
      }
      var payRest = document.getElementById("cf-pay-rest");
      var cancel = document.getElementById("cf-cancel");
      payRest.hidden = !cf.mine.can_pay_rest;
      if (cf.mine.can_pay_rest) { payRest.textContent = payRest.textContent + " " + H5.yuan(cf.missing_fen); }
      cancel.hidden = !cf.mine.can_cancel;
      payRest.addEventListener("click", function () {
        H5.busy(payRest, H5.api("/crowdfunds/" + id + "/finish/", { body: { action: "pay_rest" }, idempotent: true }))
          .then(function (res) { return payWechat(res.contribution.pay, withParam(here(), "paid", res.contribution.no)); },
                function () { return null; });
      });
      cancel.addEventListener("click", function () {
        if (!window.confirm(m("confirm_cancel"))) { return; }
        H5.busy(cancel, H5.api("/crowdfunds/" + id + "/finish/", { body: { action: "cancel" }, idempotent: true }))
          .then(function () { location.reload(); }, function () { return null; });
      });
    }, function () { return null; });
  }

  /* ---- my crowdfunds ------------------------------------------------------------------- */
  function crowdfundList(root) {
    if (!H5.requireLogin()) { return; }
    var labels = JSON.parse(document.getElementById("cf-status-labels").textContent);
    H5.api("/crowdfunds/?page_size=50").then(function (page) {
      var rows = (page && page.results) || [];
      document.getElementById("cf-rows").innerHTML = rows.map(function (cf) {
        return '<a class="item row" data-testid="cf-row" data-id="' + cf.id + '" data-status="' + H5.esc(cf.status) +
          '" href="' + H5.config.h5 + "/crowdfunds/" + cf.id + '">' +
          '<div class="grow"><div class="title">' + H5.esc(cf.title) + '</div>' +
          '<div class="muted">' + H5.esc(labels[cf.status] || cf.status) + " · " + H5.time(cf.deadline) + '</div></div>' +
          '<div class="right"><b class="price">' + H5.yuan(cf.raised_fen) + '</b><div class="muted small">/ ' +
          H5.yuan(cf.goal_fen) + '</div></div></a>';
      }).join("");
      document.getElementById("cf-rows").hidden = !rows.length;
      document.getElementById("cf-rows-none").hidden = !!rows.length;
      root.setAttribute("data-loaded", "true");
    }, function () { return null; });
  }

  /* ---- start a crowdfund ---------------------------------------------------------------- */
  function crowdfundNew(form) {
    if (!H5.requireLogin()) { return; }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var f = form.elements;
      var sku = form.querySelector("input[name=sku]:checked");
      var body = {
        sku_id: parseInt(sku ? sku.value : "0", 10),
        quantity: parseInt(f.quantity.value, 10) || 0,
        address: { name: f.name.value.trim(), phone: f.phone.value.trim(), province: f.province.value.trim(),
                   city: f.city.value.trim(), district: f.district.value.trim(), detail: f.detail.value.trim() },
        message: f.message.value.trim(),
        duration_hours: parseInt(f.duration_hours.value, 10) || null,
        share_code: f.share_code.value
      };
      H5.busy(form.querySelector("button[type=submit]"), H5.api("/crowdfunds/", { body: body, idempotent: true }))
        .then(function (cf) { location.href = H5.config.h5 + "/crowdfunds/" + cf.id; }, function () { return null; });
    });
  }

  /* ---- red envelope page ---------------------------------------------------------------- */
  function envelopePage(root) {
    var id = root.getAttribute("data-id");
    var ownerId = root.getAttribute("data-owner-id");
    var status = root.getAttribute("data-status");
    paidNotice();
    var grab = document.getElementById("env-grab");
    var result = document.getElementById("env-result");
    if (grab) {
      grab.addEventListener("click", function () {
        if (!H5.requireLogin()) { return; }
        H5.busy(grab, H5.api("/red-envelopes/" + id + "/grab/", { method: "POST", body: {} })).then(function (g) {
          document.getElementById("env-result-amount").textContent = H5.yuan(g.amount_fen);
          document.getElementById("env-result-rank").textContent = String(g.rank);
          result.hidden = false;
          grab.hidden = true;
        }, function (err) {
          if (err && (err.code === "already_grabbed" || err.code === "envelope_empty" || err.code === "envelope_expired")) {
            grab.hidden = true;
          }
        });
      });
    }
    var close = document.getElementById("env-result-close");
    if (close) { close.addEventListener("click", function () { location.reload(); }); }
    var shareBtn = document.getElementById("env-share");
    if (shareBtn) {
      shareBtn.addEventListener("click", function () {
        share(root.getAttribute("data-share-url"), document.getElementById("env-share-hint"));
      });
    }
    var topUp = document.getElementById("env-top-up");
    if (topUp) {
      topUp.addEventListener("submit", function (ev) {
        ev.preventDefault();
        if (!H5.requireLogin()) { return; }
        var fen = yuanToFen(topUp.elements.amount.value);
        if (fen === null || fen <= 0) { H5.flash(m("bad_amount")); return; }
        var payWith = topUp.querySelector("input[name=pay_with]:checked").value;
        H5.busy(topUp.querySelector("button[type=submit]"),
                H5.api("/red-envelopes/" + id + "/top-ups/", { body: { amount_fen: fen, pay_with: payWith }, idempotent: true }))
          .then(function (b) {
            if (b.pay) { return payWechat(b.pay, withParam(here(), "paid", b.no)); }
            location.href = withParam(here(), "paid", b.no);
            return null;
          }, function () { return null; });
      });
    }
    if (!H5.token() || status !== "funding") { return; }
    H5.api("/me/", { noLoginRedirect: true }).then(function (me) {
      if (!me || String(me.id) !== ownerId) { return; }
      var panel = document.getElementById("env-owner");
      panel.hidden = false;
      var open = document.getElementById("env-open");
      open.addEventListener("click", function () {
        H5.busy(open, H5.api("/red-envelopes/" + id + "/open/", { method: "POST", body: {} }))
          .then(function () { location.reload(); }, function () { return null; });
      });
    }, function () { return null; });
  }

  /* ---- send an envelope ----------------------------------------------------------------- */
  function envelopeNew(form) {
    if (!H5.requireLogin()) { return; }
    H5.api("/wallet/", { noLoginRedirect: true }).then(function (w) {
      var el = document.getElementById("env-wallet");
      if (el && w) { el.textContent = H5.yuan(w.available_fen); }
    }, function () { return null; });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var f = form.elements;
      var fen = yuanToFen(f.total.value);
      if (fen === null || fen <= 0) { H5.flash(m("bad_amount")); return; }
      var body = {
        total_fen: fen, count: parseInt(f.count.value, 10) || 0,
        split: form.querySelector("input[name=split]:checked").value,
        greeting: f.greeting.value.trim(),
        pay_with: form.querySelector("input[name=pay_with]:checked").value,
        open_now: f.open_now.checked
      };
      H5.busy(form.querySelector("button[type=submit]"), H5.api("/red-envelopes/", { body: body, idempotent: true }))
        .then(function (env) {
          var page = H5.config.h5 + "/red-envelopes/" + env.id;
          if (env.pay) { return payWechat(env.pay, withParam(page, "paid", env.id)); }
          location.href = page;
          return null;
        }, function () { return null; });
    });
  }

  window.H5Campaigns = { yuanToFen: yuanToFen, payWechat: payWechat };

  document.addEventListener("DOMContentLoaded", function () {
    var el;
    if ((el = document.getElementById("crowdfund"))) { crowdfundPage(el); }
    if ((el = document.getElementById("crowdfund-new"))) { crowdfundNew(el); }
    if ((el = document.getElementById("crowdfund-list"))) { crowdfundList(el); }
    if ((el = document.getElementById("envelope"))) { envelopePage(el); }
    if ((el = document.getElementById("envelope-new"))) { envelopeNew(el); }
  });
})();
