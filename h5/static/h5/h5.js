/* h5.js — the H5 pages' small helper (no build step, no library). docs/h5.md describes it.
 *
 *   H5.api(path, {method, body, idempotent})  fetch /api/v1 + path with the Bearer token from
 *       localStorage, Accept-Language of the page, an Idempotency-Key when `idempotent` is true
 *       (or a string: the key). Resolves with the JSON answer; rejects with an H5Error
 *       {status, code, message, extra}. A 401 sends the browser to the login page.
 *   H5.showError(err) / H5.flash(text)  a message in #h5-flash, in the page's language.
 *   H5.yuan(fen)      "¥398.00" (money is integer fen everywhere else)
 *   H5.pay(orderNo, paidUrl)  start paying: POST /orders/{no}/pay/, then the sandbox pay sheet
 *       (sandbox mode) or WeChat's JSAPI pay (live mode); paidUrl is where a payment lands.
 *   H5.confirmTransfer(confirm, backUrl)  the user confirms receipt of a merchant transfer bill
 *       (a withdrawal's `confirm`): WeChat's requestMerchantTransfer (live mode) or the sandbox's
 *       confirm sheet; resolves when WeChat says ok (live), the sheet sends the user back to backUrl?transfer=confirmed (sandbox).
 *   H5.requireLogin() the token, or off to the login page (returns null).
 *   H5.share(data)    live mode: wx.config via /h5/jssdk and the Moments/friend share data
 *       ({title, image, desc, link, target_type, target_id}: a distributor shares their own link).
 */
(function () {
  "use strict";
  var TOKEN_KEY = "fx_token";
  var cfgEl = document.getElementById("h5-config");
  var config = cfgEl ? JSON.parse(cfgEl.textContent) : { api: "/api/v1", h5: "/h5", login: "/h5/login", messages: {} };

  function t(key) { return (config.messages && config.messages[key]) || key; }
  /* label("order", "paid") -> the status in the page's language */
  function label(group, value) { var g = config.labels && config.labels[group]; return (g && g[value]) || value; }

  function H5Error(status, code, message, extra) {
    this.status = status; this.code = code; this.message = message; this.extra = extra || {};
  }
  H5Error.prototype = Object.create(Error.prototype);

  function token() { try { return window.localStorage.getItem(TOKEN_KEY); } catch (e) { return null; } }
  function setToken(value) {
    try { if (value) { window.localStorage.setItem(TOKEN_KEY, value); } else { window.localStorage.removeItem(TOKEN_KEY); } } catch (e) { /* private mode */ }
  }

  function newKey() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    return "k" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }

  function loginUrl(next) {
    return config.login + "?next=" + encodeURIComponent(next || (location.pathname + location.search));
  }

  function requireLogin() {
    var tok = token();
    if (!tok) { location.href = loginUrl(); return null; }
    return tok;
  }

  function firstFieldError(extra) {
    var fields = extra && extra.fields;
    if (!fields || typeof fields !== "object") { return ""; }
    for (var name in fields) {
      if (Object.prototype.hasOwnProperty.call(fields, name)) {
        var v = fields[name];
        while (v && typeof v === "object") { v = Array.isArray(v) ? v[0] : v[Object.keys(v)[0]]; }
        if (v) { return name + ": " + v; }
      }
    }
    return "";
  }

  function api(path, opts) {
    opts = opts || {};
    var headers = { "Accept": "application/json", "Accept-Language": config.lang || "zh-hans" };
    var tok = token();
    if (tok) { headers["Authorization"] = "Bearer " + tok; }
    var init = { method: opts.method || (opts.body !== undefined ? "POST" : "GET"), headers: headers };
    if (opts.body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(opts.body); }
    if (opts.idempotent) { headers["Idempotency-Key"] = typeof opts.idempotent === "string" ? opts.idempotent : newKey(); }
    return fetch(config.api + path, init).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (res.ok) { return data; }
        if (res.status === 401 && !opts.noLoginRedirect) { setToken(null); location.href = loginUrl(); }
        var code = (data && data.code) || "http_" + res.status;
        var message = (data && data.message) || t("error");
        var extra = (data && data.extra) || {};
        var field = firstFieldError(extra);
        throw new H5Error(res.status, code, field ? message + " " + field : message, extra);
      });
    }, function () { throw new H5Error(0, "network", t("network"), {}); });
  }

  function flash(text, kind) {
    var el = document.getElementById("h5-flash");
    if (!el) { window.alert(text); return; }
    el.textContent = text;
    el.className = "flash " + (kind || "error");
    el.hidden = false;
    el.setAttribute("data-code", kind || "error");
  }
  function showError(err) {
    var el = document.getElementById("h5-flash");
    flash((err && err.message) || t("error"), "error");
    if (el) { el.setAttribute("data-code", (err && err.code) || "error"); }
  }

  function yuan(fen) {
    if (fen === null || fen === undefined || fen === "") { return ""; }
    var n = Number(fen);
    var sign = n < 0 ? "-" : "";
    n = Math.abs(Math.round(n));
    var cents = String(n % 100);
    return sign + "¥" + Math.floor(n / 100) + "." + (cents.length < 2 ? "0" + cents : cents);
  }

  function time(iso) {
    if (!iso) { return ""; }
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return iso; }
    function p(n) { return n < 10 ? "0" + n : "" + n; }
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " + p(d.getHours()) + ":" + p(d.getMinutes());
  }

  function esc(s) {
    return String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }[c];
    });
  }

  function jsapiPay(params) {
    return new Promise(function (resolve, reject) {
      function invoke() {
        window.WeixinJSBridge.invoke("getBrandWCPayRequest", params, function (res) {
          if (res && res.err_msg === "get_brand_wcpay_request:ok") { resolve(res); }
          else { reject(new H5Error(0, "pay_cancelled", t("pay_cancelled"), res || {})); }
        });
      }
      if (window.WeixinJSBridge) { invoke(); }
      else { document.addEventListener("WeixinJSBridgeReady", invoke, false); }
    });
  }

  function pay(orderNo, paidUrl) {
    return api("/orders/" + encodeURIComponent(orderNo) + "/pay/", { method: "POST", body: {} }).then(function (res) {
      if (config.wechat_mode === "sandbox") {
        location.href = "/wechat-sandbox/pay/" + encodeURIComponent(res.prepay_id) + "/sheet/?return=" + encodeURIComponent(paidUrl);
        return res;
      }
      return jsapiPay(res.jsapi).then(function () { location.href = paidUrl; return res; });
    });
  }

  function confirmTransfer(confirm, backUrl) {
    var params = { mchId: confirm.mchId, appId: confirm.appId, package: confirm.package };
    if (config.wechat_mode === "sandbox") {
      location.href = "/wechat-sandbox/h5/transfer/?package=" + encodeURIComponent(confirm.package) +
        "&back=" + encodeURIComponent(backUrl);
      return new Promise(function () {});
    }
    return new Promise(function (resolve, reject) {
      function done(res) {
        var msg = (res && (res.err_msg || res.errMsg)) || "";
        if (/:ok$/.test(msg)) { resolve(res); }
        else { reject(new H5Error(0, "transfer_cancelled", t("transfer_cancelled"), res || {})); }
      }
      function invoke() { window.WeixinJSBridge.invoke("requestMerchantTransfer", params, done); }
      if (window.WeixinJSBridge) { invoke(); }
      else { document.addEventListener("WeixinJSBridgeReady", invoke, false); }
    });
  }

  /* The link a share carries: a distributor's own short link for the target (made once, then the
     same: POST /share-links/ answers the existing one), so friends who open it are attributed;
     anyone else shares the page's address. */
  function shareLink(data, url) {
    if (!data.target_type || !token()) { return Promise.resolve(data.link || url); }
    var body = { target_type: data.target_type, channel: "moments" };
    if (data.target_id) { body.target_id = data.target_id; }
    return api("/share-links/", { method: "POST", body: body, noLoginRedirect: true }).then(function (l) { return l.url; },
      function () { return data.link || url; });
  }

  function share(data) {
    if (config.wechat_mode !== "live" || !window.wx || !data) { return; }
    var url = location.href.split("#")[0];
    fetch(config.h5 + "/jssdk?url=" + encodeURIComponent(url)).then(function (r) { return r.json(); }).then(function (c) {
      if (!c || !c.signature) { return; }
      window.wx.config({ debug: false, appId: c.appId, timestamp: c.timestamp, nonceStr: c.nonceStr, signature: c.signature,
        jsApiList: ["updateTimelineShareData", "updateAppMessageShareData", "chooseWXPay"] });
      shareLink(data, url).then(function (link) {
        window.wx.ready(function () {
          var d = { title: data.title, link: link, imgUrl: data.image || "", desc: data.desc || "" };
          window.wx.updateTimelineShareData(d);
          window.wx.updateAppMessageShareData(d);
        });
      });
    });
  }

  /* buttons with data-busy go quiet while their promise runs */
  function busy(button, promise) {
    if (button) { button.disabled = true; button.setAttribute("aria-busy", "true"); }
    return promise.then(function (v) { if (button) { button.disabled = false; button.removeAttribute("aria-busy"); } return v; },
      function (err) { if (button) { button.disabled = false; button.removeAttribute("aria-busy"); } showError(err); throw err; });
  }

  /* A paginated list: GET path (&page=n), each row through render(row) -> HTML string, into el;
     a "more" button while the API says there is a next page. Resolves with the first page. */
  function list(path, el, render, opts) {
    opts = opts || {};
    var pageNo = 0;
    var more = document.createElement("button");
    more.type = "button"; more.className = "btn grey block"; more.textContent = t("more"); more.hidden = true;
    more.setAttribute("data-testid", (el.getAttribute("data-testid") || "list") + "-more");
    el.parentNode.insertBefore(more, el.nextSibling);
    function load() {
      pageNo += 1;
      var url = path + (path.indexOf("?") >= 0 ? "&" : "?") + "page=" + pageNo;
      return api(url).then(function (data) {
        var rows = (data && data.results) || [];
        if (pageNo === 1) { el.innerHTML = ""; }
        if (pageNo === 1 && !rows.length) {
          el.innerHTML = '<div class="empty" data-testid="empty">' + esc(opts.empty || t("empty")) + "</div>";
        }
        el.insertAdjacentHTML("beforeend", rows.map(render).join(""));
        more.hidden = !data.next;
        el.setAttribute("data-count", String(data.count));
        el.setAttribute("data-loaded", "true");
        return data;
      }, function (err) { showError(err); el.setAttribute("data-loaded", "error"); throw err; });
    }
    more.addEventListener("click", function () { load(); });
    return load();
  }

  window.H5 = {
    config: config, t: t, label: label, api: api, token: token, setToken: setToken, newKey: newKey, requireLogin: requireLogin,
    loginUrl: loginUrl, flash: flash, showError: showError, yuan: yuan, time: time, esc: esc, pay: pay, confirmTransfer: confirmTransfer, share: share,
    busy: busy, list: list, H5Error: H5Error
  };

  document.addEventListener("DOMContentLoaded", function () {
    var shareEl = document.getElementById("h5-share");
    if (shareEl) { try { share(JSON.parse(shareEl.textContent)); } catch (e) { /* no share data */ } }
    var out = document.getElementById("nav-logout");
    if (out) {
      out.hidden = !token();
      out.addEventListener("click", function (ev) {
        ev.preventDefault();
        api("/auth/logout/", { method: "POST", body: {}, noLoginRedirect: true }).then(null, function () { return null; })
          .then(function () { setToken(null); location.href = config.h5 + "/"; });
      });
    }
    var inLink = document.getElementById("nav-login");
    if (inLink) { inLink.hidden = !!token(); }
  });
})();
