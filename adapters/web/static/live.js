// Live updates for the tracking page: the page is complete without this.
// The stream (Server-Sent Events) says when the parcel's view moved on; the
// page then fetches itself and swaps the tracking section in place, and the
// live region announces what happened. The browser's EventSource resumes a
// dropped stream with Last-Event-ID, so nothing is missed or shown twice.
(function () {
  "use strict";
  var root = document.getElementById("tracking");
  var announce = document.getElementById("announce");
  if (!root || !window.EventSource || !window.fetch) { return; }
  var shown = Number(root.getAttribute("data-position"));
  var stream = new EventSource(root.getAttribute("data-stream") + "?last_event_id=" + shown);
  var fetching = false, again = false;

  function refresh() {
    if (fetching) { again = true; return; }
    fetching = true;
    fetch(window.location.href, { headers: { Accept: "text/html" }, cache: "no-cache" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("tracking");
        if (!fresh || Number(fresh.getAttribute("data-position")) <= shown) { return; }
        shown = Number(fresh.getAttribute("data-position"));
        root.innerHTML = fresh.innerHTML;
        root.setAttribute("data-position", String(shown));
        announce.textContent = fresh.getAttribute("data-announce");
      })
      .catch(function () { /* the next message tries again */ })
      .then(function () { fetching = false; if (again) { again = false; refresh(); } });
  }

  // Says (to tests, and to styles if they want it) that updates are on.
  stream.addEventListener("open", function () { root.setAttribute("data-live", "open"); });
  stream.addEventListener("error", function () { root.setAttribute("data-live", "reconnecting"); });
  stream.addEventListener("tracking", function (message) {
    if (Number(message.lastEventId) > shown) { refresh(); }
  });
}());
