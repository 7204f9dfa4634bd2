// The person page: polls status.json and shows the verdict and the last "Sync now" as they
// change, without a reload. Served as a file: the console's CSP runs no inline script.
(function () {
  "use strict";
  var script = document.getElementById("person-script");
  if (!script) { return; }
  var source = script.getAttribute("data-source");
  var PERIOD_MS = 2000;

  function show(data) {
    var box = document.getElementById("verdict");
    var sentence = document.querySelector("[data-field=verdict]");
    if (box && sentence && data.verdict) {
      box.className = "verdict verdict-" + data.verdict.kind;
      box.setAttribute("data-kind", data.verdict.kind);
      sentence.textContent = data.verdict.sentence;
    }
    var state = document.getElementById("sync-state");
    if (state && data.action) {
      state.textContent = data.action.words + " (asked by " + data.action.requested_by + ")";
      state.setAttribute("data-state", data.action.state);
    }
  }

  window.scimBridgePoll(source, PERIOD_MS, show);
}());
