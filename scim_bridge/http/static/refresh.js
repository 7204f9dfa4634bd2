// Reloads a page while one of its console actions waits for the worker, so the operator sees
// "waiting" turn into the outcome without pressing anything. Served as a file: the console's
// CSP runs no inline script. The page includes it only while something is waiting.
(function () {
  "use strict";
  var script = document.getElementById("refresh-script");
  if (!script) { return; }
  var every = parseInt(script.getAttribute("data-every") || "3000", 10);
  window.setTimeout(function () { window.location.reload(); }, every);
}());
