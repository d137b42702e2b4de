/* run by tests/h5/test_account_pages.py: node config_probe.js <h5.js> <h5-config JSON> <arg> */
var noop = function () {};
global.window = { localStorage: { getItem: function () { return null; }, setItem: noop, removeItem: noop } };
global.document = {
  getElementById: function (id) { return id === "h5-config" ? { textContent: process.argv[3] } : null; },
  addEventListener: noop, createElement: function () { return {}; } };
global.location = { pathname: "/h5/orders", search: "?status=paid" };
require(process.argv[2]);
var H5 = window.H5, values = JSON.parse(process.argv[4]);
console.log(JSON.stringify({ yuan: values.map(function (v) { return H5.yuan(v); }), label: H5.label("order", "paid"),
  unknown: H5.label("order", "nope"), login: H5.loginUrl(), t: H5.t("network") }));
