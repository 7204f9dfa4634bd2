// Reloads a page while one of its console actions waits for the worker, so the operator sees
// "waiting" turn into the outcome without pressing anything. Served as a file: the console's
// CSP runs no inline script. data-waiting says whether something waits. It gives up after a
// few minutes of reloads (a stopped worker): a reload counts as activity, and an abandoned tab
// must still reach the session's idle timeout.
(function () {
  "use strict";
  var script = document.getElementById("refresh-script");
  if (!script) { return; }
  var every = parseInt(script.getAttribute("data-every") || "3000", 10);
  var key = "scim-bridge.reloads:" + window.location.pathname;
  if (script.getAttribute("data-waiting") !== "1") { window.sessionStorage.removeItem(key); return; }
  var done = parseInt(window.sessionStorage.getItem(key) || "0", 10);
  if (done * every > 5 * 60 * 1000) { window.sessionStorage.removeItem(key); return; }
  window.setTimeout(function () {
    window.sessionStorage.setItem(key, String(done + 1));
    window.location.reload();
  }, every);
}());
