/* Dossier lists: tick rows (all, or a range with Shift), count them, show the officer choice
   for "assign", and keep the bulk button honest. Delegated, so it survives htmx swaps. */
(function () {
  "use strict";

  var lastPicked = null;

  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  function refresh(form) {
    if (!form) return;
    var picks = $all("input[name=pick]", form);
    var chosen = picks.filter(function (box) { return box.checked; });
    var count = form.querySelector("[data-selected-count]");
    if (count) count.textContent = String(chosen.length);
    var all = form.querySelector("[data-pick-all]");
    if (all) {
      all.checked = picks.length > 0 && chosen.length === picks.length;
      all.indeterminate = chosen.length > 0 && chosen.length < picks.length;
    }
    picks.forEach(function (box) {
      var row = box.closest("tr");
      if (row) row.classList.toggle("is-picked", box.checked);
    });
    var action = form.querySelector("[data-bulk-action]");
    var officer = form.querySelector("[data-bulk-officer]");
    if (officer) officer.hidden = !action || action.value !== "assign";
    var submit = form.querySelector("[data-bulk-submit]");
    if (submit) {
      var ready = chosen.length > 0 && action && action.value !== "" &&
        (!officer || officer.hidden || officer.value !== "");
      submit.disabled = !ready;
    }
  }

  document.addEventListener("click", function (event) {
    var box = event.target;
    if (!(box instanceof HTMLInputElement)) return;
    var form = box.closest("[data-bulk-form]");
    if (!form) return;
    if (box.matches("[data-pick-all]")) {
      $all("input[name=pick]", form).forEach(function (pick) { pick.checked = box.checked; });
    } else if (box.name === "pick") {
      if (event.shiftKey && lastPicked && lastPicked !== box && form.contains(lastPicked)) {
        var picks = $all("input[name=pick]", form);
        var a = picks.indexOf(lastPicked);
        var b = picks.indexOf(box);
        picks.slice(Math.min(a, b), Math.max(a, b) + 1).forEach(function (pick) { pick.checked = box.checked; });
      }
      lastPicked = box;
    }
    refresh(form);
  });

  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("[data-bulk-form]");
    if (form) refresh(form);
  });

  function start() {
    $all("[data-bulk-form]").forEach(refresh);
    var focus = document.querySelector("[data-focus-me]");
    if (focus) focus.focus();
  }

  document.addEventListener("htmx:afterSettle", function () { $all("[data-bulk-form]").forEach(refresh); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
