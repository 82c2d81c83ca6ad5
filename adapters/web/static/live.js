// Live updates for the tracking page: the page is complete without this.
// The stream (Server-Sent Events) says when the parcel's view moved on; the
// page then asks for itself again (a 304 when nothing it shows changed) and
// swaps the tracking section in place, and the live region announces what
// happened. The browser's EventSource resumes a dropped stream with
// Last-Event-ID, so nothing is missed or sent twice.
(function () {
  "use strict";
  var root = document.getElementById("tracking");
  var announce = document.getElementById("announce");
  if (!root || !window.EventSource || !window.fetch) { return; }
  var shown = root.getAttribute("data-etag");
  var stream = new EventSource(root.getAttribute("data-stream"));
  var fetching = false, again = false;

  function refresh() {
    if (fetching) { again = true; return; }
    fetching = true;
    fetch(window.location.href, { headers: { Accept: "text/html" }, cache: "no-cache" })
      .then(function (r) {
        var etag = r.headers.get("ETag");
        return r.ok && etag !== shown ? r.text().then(function (html) { return [etag, html]; }) : null;
      })
      .then(function (got) {
        if (got === null) { return; }
        var fresh = new DOMParser().parseFromString(got[1], "text/html").getElementById("tracking");
        if (!fresh) { return; }
        shown = got[0];
        root.innerHTML = fresh.innerHTML;
        root.setAttribute("data-etag", shown);
        announce.textContent = fresh.getAttribute("data-announce");
      })
      .catch(function () { /* the next message tries again */ })
      .then(function () { fetching = false; if (again) { again = false; refresh(); } });
  }

  // Says (to tests, and to styles if they want it) that updates are on.
  stream.addEventListener("open", function () { root.setAttribute("data-live", "open"); });
  stream.addEventListener("error", function () { root.setAttribute("data-live", "reconnecting"); });
  // The first message is the view as it is now: a refresh finds the same
  // page (304) unless it moved on since this page was rendered.
  stream.addEventListener("tracking", refresh);
}());
