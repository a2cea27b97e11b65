// Overview live updates: the usage stream's `totals` events (same payload as
// /api/usage/totals) update the all-time figures at once, then the server re-renders the
// overview's live fragment (today, month, chart, leaders, health) and it is swapped in.
// Without a stream (USAGE_API_PUBLIC=false, or a proxy that drops it) it polls every 30 s.
(function () {
  "use strict";
  var root = document.querySelector("[data-live-fragment]");
  if (!root) return;
  var status = document.querySelector("[data-live-status]");
  var numbers = new Intl.NumberFormat(undefined);
  var money = new Intl.NumberFormat(undefined, { style: "currency", currency: "USD" });
  var pending = null;
  var lastFetch = 0;
  var MIN_GAP_MS = 1500;

  function say(state, text) {
    if (!status) return;
    status.setAttribute("data-state", state);
    status.textContent = text;
  }

  function applyTotals(totals) {
    root.querySelectorAll("[data-total]").forEach(function (el) {
      var key = el.getAttribute("data-total");
      if (!(key in totals)) return;
      var value = totals[key];
      el.setAttribute("data-value", String(value));
      el.textContent = key === "costUsd" ? money.format(value) : numbers.format(value);
    });
  }

  function refresh() {
    pending = null;
    lastFetch = Date.now();
    fetch(root.getAttribute("data-live-fragment"), {
      credentials: "same-origin",
      headers: { "Accept": "text/html" },
    }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.text();
    }).then(function (html) {
      root.innerHTML = html;
      root.classList.remove("flash-updated");
      void root.offsetWidth;
      root.classList.add("flash-updated");
      if (window.tokenfleet) window.tokenfleet.localizeTimes(root);
      root.setAttribute("data-updated", String(Date.now()));
    }).catch(function () { /* the next event or poll tries again */ });
  }

  function schedule() {
    if (pending) return;
    var wait = Math.max(0, MIN_GAP_MS - (Date.now() - lastFetch));
    pending = setTimeout(refresh, wait);
  }

  function poll() {
    say("polling", "Updating every 30 s");
    setInterval(schedule, 30000);
  }

  if (!window.EventSource) { poll(); return; }
  var first = true;
  var source = new EventSource(root.getAttribute("data-stream"));
  source.addEventListener("totals", function (event) {
    say("live", "Live");
    var data;
    try { data = JSON.parse(event.data); } catch (e) { return; }
    if (data && data.totals) applyTotals(data.totals);
    // The first event repeats what the page was rendered with.
    if (first) { first = false; return; }
    schedule();
  });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) { poll(); }
    else { say("reconnecting", "Reconnecting…"); }
  });
})();
