// Refreshes the overview's figures from /admin/overview.json every few seconds, without a
// reload. Served as a file: the console's CSP runs no inline script.
(function () {
  "use strict";
  var script = document.getElementById("overview-script");
  if (!script) { return; }
  var source = script.getAttribute("data-source");
  var PERIOD_MS = 5000;

  function show(data) {
    var nodes = document.querySelectorAll("[data-field]");
    for (var i = 0; i < nodes.length; i++) {
      var name = nodes[i].getAttribute("data-field");
      if (!(name in data)) { continue; }
      var value = data[name];
      if (name === "guard_paused") { value = value ? "paused" : "open"; }
      nodes[i].textContent = String(value);
    }
    var dead = document.querySelector("[data-alarm=dead_letters]");
    if (dead) { dead.classList.toggle("bad", data.dead_letters > 0); }
  }

  window.scimBridgePoll(source, PERIOD_MS, show);
}());
