// The ticket page (ticket.html): presence ("Bea is viewing / replying"), live updates without a
// reload, canned replies inserted into the reply box, and the confirmation's ?done= flag taken
// off the address. A file, not inline script: the Content-Security-Policy allows only files.
(function () {
  "use strict";
  var page = document.getElementById("ticket-page");
  if (!page) return;
  var every = (parseInt(page.dataset.beat, 10) || 5) * 1000;
  var version = page.dataset.version;
  var timer = null;
  var sentReplying = null;

  if (window.location.search.indexOf("done=") !== -1 && window.history.replaceState) {
    // A reload should not confirm the action again.
    window.history.replaceState(null, "", window.location.pathname);
  }

  function box() { return document.getElementById("reply-body"); }

  // Writing: the reply box holds text the person typed (a draft or macro alone is not).
  function replying() {
    var b = box();
    return !!(b && b.value.trim() && b.value !== b.defaultValue);
  }

  function form(fields) {
    var body = new URLSearchParams();
    body.set("csrf", page.dataset.csrf);
    Object.keys(fields).forEach(function (k) { body.set(k, fields[k]); });
    return body;
  }

  // Swap in every [data-live] part of a fresh copy of the page, except a reply box being
  // written in: new messages, runs, notes and status show up without losing anyone's words.
  function refresh() {
    return fetch(window.location.pathname, { credentials: "same-origin", redirect: "manual" })
      .then(function (response) {
        if (response.type === "opaqueredirect") { window.location.reload(); return null; }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var freshPage = fresh.getElementById("ticket-page");
        if (!freshPage) return;
        fresh.querySelectorAll("[data-live]").forEach(function (part) {
          var here = document.getElementById(part.id);
          if (!here) return;
          if (part.id === "reply-area" && (replying() || here.contains(document.activeElement))) return;
          here.replaceWith(document.importNode(part, true));
        });
        version = freshPage.dataset.version;
      });
  }

  function show(present) {
    var line = document.getElementById("presence");
    if (!line) return;
    line.textContent = present.length ? present.join(" · ") : "";
    line.classList.toggle("busy", present.length > 0);
  }

  function beat() {
    window.clearTimeout(timer);
    var now = replying();
    sentReplying = now;
    fetch(page.dataset.presence, {
      method: "POST",
      credentials: "same-origin",
      redirect: "manual",
      body: form({ replying: now ? "true" : "false" }),
    })
      .then(function (response) {
        if (response.type === "opaqueredirect") { window.location.reload(); return null; }
        return response.ok ? response.json() : null;
      })
      .then(function (state) {
        if (!state) return null;
        show(state.present || []);
        if (state.version !== version) return refresh();
        return null;
      })
      .catch(function () { /* offline for a moment: the next beat tries again */ })
      .finally(function () { timer = window.setTimeout(beat, every); });
  }

  // Tell the others at once when this person starts or stops writing.
  document.addEventListener("input", function (event) {
    if (event.target && event.target.id === "reply-body" && replying() !== sentReplying) beat();
  });

  window.addEventListener("pagehide", function () {
    if (navigator.sendBeacon) navigator.sendBeacon(page.dataset.presence + "/leave", form({}));
  });

  // A canned reply goes into the reply box where the cursor is (filled on the server).
  function insertMacro(id) {
    if (!id) return;
    fetch(page.dataset.macros + encodeURIComponent(id), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (macro) {
        var b = box();
        if (!macro || !b) return;
        var at = b.selectionStart || b.value.length;
        var before = b.value.slice(0, at);
        b.value = before + (before && !/\s$/.test(before) ? "\n\n" : "") + macro.text + b.value.slice(at);
        b.focus();
        b.dispatchEvent(new Event("input", { bubbles: true }));
      });
  }
  document.addEventListener("submit", function (event) {
    if (event.target && event.target.id === "macro-form") {
      event.preventDefault();
      insertMacro(event.target.querySelector("select").value);
    }
  });
  document.addEventListener("change", function (event) {
    if (event.target && event.target.id === "macro") {
      insertMacro(event.target.value);
      event.target.value = "";
    }
  });

  beat();
})();
