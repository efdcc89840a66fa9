// The inbox's bulk actions and keyboard moves. No inline script: the CSP allows files only.
(function () {
  "use strict";
  var bulk = document.getElementById("bulk");
  var rows = document.getElementById("inbox-rows");
  if (!bulk || !rows) return;
  var action = document.getElementById("bulk-action");
  var value = document.getElementById("bulk-value");
  var count = document.getElementById("bulk-count");

  // Only the choices of the chosen change: "Assign to" lists people, "Status" statuses.
  function showChoices() {
    var first = null;
    Array.prototype.forEach.call(value.querySelectorAll("optgroup"), function (group) {
      var shown = group.dataset.action === action.value;
      group.hidden = !shown;
      group.disabled = !shown;
      if (shown && !first) first = group.querySelector("option");
    });
    if (first && (!value.selectedOptions[0] || value.selectedOptions[0].parentNode.hidden)) {
      first.selected = true;
    }
  }
  action.addEventListener("change", showChoices);
  showChoices();

  function ticked() { return rows.querySelectorAll("input[name=ticket]:checked"); }
  function showCount() {
    var n = ticked().length;
    count.textContent = n ? n + (n === 1 ? " ticket ticked." : " tickets ticked.")
                          : "Tick tickets to change several at once.";
  }
  rows.addEventListener("change", showCount);

  // The live refresh replaces the rows: keep what was ticked and where the cursor was.
  rows.addEventListener("inbox:before-refresh", function () {
    rows.dataset.ticked = Array.prototype.map.call(ticked(), function (box) {
      return box.value;
    }).join(" ");
    var current = rows.querySelector("tr.current");
    rows.dataset.current = current ? current.dataset.ticket : "";
  });
  rows.addEventListener("inbox:after-refresh", function () {
    var keep = (rows.dataset.ticked || "").split(" ");
    Array.prototype.forEach.call(rows.querySelectorAll("input[name=ticket]"), function (box) {
      box.checked = keep.indexOf(box.value) >= 0;
    });
    if (rows.dataset.current) {
      var row = rows.querySelector('tr[data-ticket="' + rows.dataset.current + '"]');
      if (row) row.classList.add("current");
    }
    showCount();
  });

  // j / k move through the tickets, x ticks one, o or Enter opens it.
  function move(step) {
    var all = rows.querySelectorAll("tr[data-ticket]");
    if (!all.length) return;
    var current = rows.querySelector("tr.current");
    var index = Array.prototype.indexOf.call(all, current);
    index = Math.max(0, Math.min(all.length - 1, index + step));
    if (current) current.classList.remove("current");
    all[index].classList.add("current");
    all[index].scrollIntoView({ block: "nearest" });
  }
  window.fteShortcuts = window.fteShortcuts || [];
  window.fteShortcuts.push(
    { key: "j", label: "Next ticket", run: function () { move(1); } },
    { key: "k", label: "Previous ticket", run: function () { move(-1); } },
    { key: "x", label: "Tick or untick the ticket", run: function () {
      var box = rows.querySelector("tr.current input[name=ticket]");
      if (box) { box.checked = !box.checked; showCount(); }
    } },
    { key: "o", label: "Open the ticket (also Enter)", run: function () {
      var link = rows.querySelector("tr.current a");
      if (link) window.location.href = link.href;
    } },
    { key: "Enter", label: null, run: function () {
      var link = rows.querySelector("tr.current a");
      if (link) window.location.href = link.href;
    } }
  );
})();
