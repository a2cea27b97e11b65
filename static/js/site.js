// tokenfleet: a few lines of plain JS shared by every page (no build step).
(function () {
  "use strict";

  // <time datetime="…Z" data-local> → the viewer's own timezone.
  var formatter = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
  function localizeTimes(root) {
    (root || document).querySelectorAll("time[data-local]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when.getTime())) {
        el.textContent = formatter.format(when);
        el.title = el.getAttribute("datetime");
      }
    });
  }

  // <button data-copy="#selector"> copies that element's text; the button says so.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain http (the zero-setup server): the older route through a selected textarea.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    copyText(source.textContent.trim()).then(
      function () { button.textContent = "Copied"; button.setAttribute("data-copied", "true"); },
      function () { button.textContent = "Select and copy"; }
    );
    setTimeout(function () { button.textContent = label; }, 2000);
  });

  // <form data-confirm="Delete host x?"> asks before it is sent.
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });

  window.tokenfleet = { localizeTimes: localizeTimes, copyText: copyText };
  localizeTimes(document);
})();
