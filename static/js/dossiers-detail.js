/* The dossier page: one action form open at a time, focus where the person has to look
   (an alert, or the first field of the action they opened). */
(function () {
  "use strict";

  function start() {
    var actions = Array.prototype.slice.call(document.querySelectorAll("details.action"));
    actions.forEach(function (details) {
      details.addEventListener("toggle", function () {
        if (!details.open) return;
        actions.forEach(function (other) { if (other !== details) other.open = false; });
        var first = details.querySelector("textarea, input:not([type=hidden]), select");
        if (first && document.activeElement === details.querySelector("summary")) first.focus();
      });
    });
    var focus = document.querySelector("[data-focus-me]");
    if (focus) focus.focus();
    var invalid = document.querySelector(".action-form .has-error textarea, .action-form .has-error input");
    if (!focus && invalid) invalid.focus();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
