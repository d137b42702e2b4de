/* run by tests/h5/test_account_pages.py: node share_probe.js <h5.js> <h5-config JSON> <arg> */
var noop = function () {};
var calls = { fetch: [], wx: [] };
var store = { fx_token: process.argv[4] === "token" ? "tok-1" : null };
global.window = { localStorage: { getItem: function (k) { return store[k] || null; }, setItem: noop, removeItem: noop } };
global.document = {
  getElementById: function (id) { return id === "h5-config" ? { textContent: process.argv[3] } : null; },
  addEventListener: noop, createElement: function () { return {}; } };
global.location = { href: "https://shop.example.com/h5/products/7?sc=SOTHER12#x", pathname: "/h5/products/7", search: "" };
function answer(status, body) {
  return Promise.resolve({ ok: status < 400, status: status, text: function () { return Promise.resolve(JSON.stringify(body)); },
                           json: function () { return Promise.resolve(body); } });
}
global.fetch = function (url, init) {
  calls.fetch.push({ url: url, method: (init && init.method) || "GET", body: init && init.body,
                     auth: init && init.headers && init.headers.Authorization });
  if (url.indexOf("/h5/jssdk?url=") === 0) { return answer(200, { appId: "wx1", timestamp: 1, nonceStr: "n", signature: "s" }); }
  if (url === "/api/v1/share-links/") { return answer(201, { code: "SMINE123", url: "https://shop.example.com/s/SMINE123" }); }
  return answer(404, { code: "not_found", message: "no" });
};
require(process.argv[2]);
window.wx = {
  config: function (c) { calls.wx.push(["config", c.signature, c.jsApiList]); },
  ready: function (f) { f(); },
  updateTimelineShareData: function (d) { calls.wx.push(["timeline", d]); },
  updateAppMessageShareData: function (d) { calls.wx.push(["friend", d]); } };
window.H5.share({ title: "龙井", image: "https://img.example.com/c.png", target_type: "product", target_id: 7 });
setTimeout(function () { console.log(JSON.stringify(calls)); }, 200);
