// The console's behaviour, loaded by every page (base.html). No page has inline script or
// event handlers: the Content-Security-Policy allows scripts from this file only.

// A select marked data-autosubmit submits its form when changed (the dashboard's period).
// A form marked data-confirm asks first (deleting an article).
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select.matches && select.matches("select[data-autosubmit]") && select.form) {
      select.form.submit();
    }
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.dataset && form.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });
})();

// Live inbox: refresh the rows every few seconds without reloading the page.
// If the session has ended, reload so the sign-in page shows.
(function () {
  "use strict";
  var rows = document.getElementById("inbox-rows");
  if (!rows) return;
  var every = 5000;
  function refresh() {
    fetch(rows.dataset.src, { credentials: "same-origin", redirect: "manual" })
      .then(function (response) {
        if (response.type === "opaqueredirect" || response.status === 401 || response.status === 303) {
          window.location.reload();
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html === null || html === undefined) return;
        rows.dispatchEvent(new CustomEvent("inbox:before-refresh"));
        rows.innerHTML = html;
        rows.dispatchEvent(new CustomEvent("inbox:after-refresh"));
      })
      .catch(function () { /* offline for a moment: try again next time */ })
      .finally(function () { window.setTimeout(refresh, every); });
  }
  window.setTimeout(refresh, every);
})();

// Knowledge base: an edited article shows `pending` until a worker has embedded it; poll its
// state and show the change without a reload.
(function () {
  "use strict";
  var badge = document.getElementById("kb-status");
  if (!badge || badge.textContent.trim() !== "pending") return;
  function poll() {
    fetch(badge.dataset.src, { credentials: "same-origin", redirect: "manual" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        if (state) badge.textContent = state.status;
        if (!state || state.status === "pending") window.setTimeout(poll, 1500);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 1000);
})();
