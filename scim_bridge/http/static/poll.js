// One poll loop for the console's live pages (overview, person): fetch a JSON document every
// few seconds and hand it to the page's show(), without a reload. Served as a file: the
// console's CSP runs no inline script. A page's own script calls scimBridgePoll().
(function () {
  "use strict";
  window.scimBridgePoll = function (source, periodMs, show) {
    function poll() {
      fetch(source, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) {
          // Redirected to the sign-in page: the session ended; show that page.
          if (r.redirected) { window.location.reload(); return null; }
          return r.ok ? r.json() : null;
        })
        .then(function (data) { if (data) { show(data); } })
        .catch(function () { /* the next poll tries again */ })
        .then(function () { window.setTimeout(poll, periodMs); });
    }
    window.setTimeout(poll, periodMs);
  };
}());
