// loadwatch status page: fetch this page's fresh content every few seconds and
// swap it in, so the page follows the daemon without a reload. No framework;
// without JavaScript the page refreshes itself (a <noscript> meta refresh).
(function () {
  "use strict";
  var live = document.getElementById("live");
  var board = document.getElementById("board");
  if (!live || !board || !window.fetch) return;
  var every = (parseInt(live.getAttribute("data-refresh"), 10) || 5) * 1000;
  var busy = false;

  function partialUrl() {
    var url = new URL(window.location.href);
    url.searchParams.set("partial", "1");
    return url.toString();
  }

  function stamp(text, stale) {
    live.classList.toggle("stale", stale);
    live.textContent = text;
  }

  function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(partialUrl(), { credentials: "same-origin", cache: "no-store" })
      .then(function (answer) {
        if (!answer.ok) throw new Error("HTTP " + answer.status);
        return answer.text();
      })
      .then(function (html) {
        // Keep what the reader opened (the runs table) open across the swap.
        var opened = [].map.call(board.querySelectorAll("details[open][id]"), function (d) {
          return d.id;
        });
        board.innerHTML = html;
        opened.forEach(function (id) {
          var details = document.getElementById(id);
          if (details) details.open = true;
        });
        stamp("updated " + new Date().toLocaleTimeString(), false);
        document.documentElement.setAttribute("data-updates", String(++refresh.count));
      })
      .catch(function (problem) {
        stamp("not updating: " + problem.message, true);
      })
      .then(function () { busy = false; });
  }
  refresh.count = 0;

  setInterval(refresh, every);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) refresh();
  });
})();
