// Keyboard shortcuts on every console page; `?` lists them. Pages add their own in
// window.fteShortcuts ({key, label, run}) or mark an element data-shortcut="r" (focus a field,
// click a button or link) with data-shortcut-label for the list. Keys typed into a field are
// the field's, except Escape.
(function () {
  "use strict";
  var GLOBAL = [
    { key: "?", label: "Show these shortcuts" },
    { key: "g i", label: "Go to the inbox", href: "/console" },
    { key: "g d", label: "Go to the dashboard", href: "/console/dashboard" },
    { key: "g k", label: "Go to the knowledge base", href: "/console/kb" },
    { key: "Escape", label: "Leave the field, close this list" }
  ];
  var pending = "";

  function typing(target) {
    return target && (target.isContentEditable ||
      /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  function marked() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-shortcut]"));
  }
  function all() {
    var list = GLOBAL.slice();
    (window.fteShortcuts || []).forEach(function (s) { if (s.label) list.push(s); });
    marked().forEach(function (el) {
      list.push({ key: el.dataset.shortcut,
                  label: el.dataset.shortcutLabel || el.textContent.trim() || el.name });
    });
    return list;
  }
  function overlay() {
    var dialog = document.getElementById("shortcuts");
    if (!dialog) {
      dialog = document.createElement("dialog");
      dialog.id = "shortcuts";
      dialog.className = "shortcuts";
      dialog.setAttribute("aria-labelledby", "shortcuts-title");
      document.body.appendChild(dialog);
    }
    dialog.textContent = "";
    var title = document.createElement("h2");
    title.id = "shortcuts-title";
    title.textContent = "Keyboard shortcuts";
    var list = document.createElement("dl");
    all().forEach(function (s) {
      var dt = document.createElement("dt");
      s.key.split(" ").forEach(function (k, i) {
        if (i) dt.appendChild(document.createTextNode(" then "));
        var kbd = document.createElement("kbd");
        kbd.textContent = k;
        dt.appendChild(kbd);
      });
      var dd = document.createElement("dd");
      dd.textContent = s.label;
      list.appendChild(dt);
      list.appendChild(dd);
    });
    var close = document.createElement("button");
    close.type = "button";
    close.textContent = "Close";
    close.addEventListener("click", function () { dialog.close(); });
    dialog.appendChild(title);
    dialog.appendChild(list);
    dialog.appendChild(close);
    dialog.showModal();
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
    if (typing(event.target)) return;
    var key = pending ? pending + " " + event.key : event.key;
    pending = "";
    if (key === "?") { event.preventDefault(); overlay(); return; }
    if (key === "g") { pending = "g"; return; }
    var found = GLOBAL.filter(function (s) { return s.key === key && s.href; })[0];
    if (found) { window.location.href = found.href; return; }
    var own = (window.fteShortcuts || []).filter(function (s) { return s.key === key; })[0];
    if (own) { event.preventDefault(); own.run(); return; }
    var el = marked().filter(function (e) { return e.dataset.shortcut === key; })[0];
    if (el) {
      event.preventDefault();
      if (/^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName)) el.focus(); else el.click();
    }
  });
})();
