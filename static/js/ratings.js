/* Ratings: the public form and the kiosk at the desk (templates/ratings/).
 * Public page: move focus to the error summary so screen readers read it first.
 * Kiosk: start again after thanks and after a while without a touch, so nothing of one citizen
 * stays on screen for the next; a scanned QR code (the tracking URL) becomes the bare code. */
(function () {
  "use strict";

  var error = document.getElementById("rate-error");
  if (error) error.focus();

  var root = document.querySelector("[data-kiosk]");
  if (!root) return;
  var resetUrl = root.getAttribute("data-kiosk-reset");
  var idleSeconds = parseInt(root.getAttribute("data-kiosk-idle"), 10) || 90;
  var screen = root.getAttribute("data-kiosk-screen");

  function restart() {
    // replace(): the previous citizen's screens are not one "Back" away.
    window.location.replace(resetUrl);
  }

  root.querySelectorAll("[data-kiosk-cancel]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      restart();
    });
  });

  var after = root.querySelector("[data-kiosk-after]");
  if (after) {
    window.setTimeout(restart, (parseInt(after.getAttribute("data-kiosk-after"), 10) || 8) * 1000);
    return;
  }

  function clearStart() {
    root.querySelectorAll("input:not([type=hidden]), textarea").forEach(function (input) {
      input.value = "";
    });
    var shown = document.getElementById("rate-error");
    if (shown) shown.remove();
    var code = root.querySelector("[data-kiosk-code]");
    if (code) code.focus();
  }

  function hasInput() {
    var filled = false;
    root.querySelectorAll("input:not([type=hidden]), textarea").forEach(function (input) {
      if (input.value) filled = true;
    });
    return filled || !!document.getElementById("rate-error");
  }

  var timer = null;
  function idle() {
    if (screen === "start") {
      if (hasInput()) clearStart();
      touched();
    } else {
      restart();
    }
  }
  function touched() {
    window.clearTimeout(timer);
    timer = window.setTimeout(idle, idleSeconds * 1000);
  }
  ["pointerdown", "keydown", "input", "touchstart", "scroll"].forEach(function (name) {
    document.addEventListener(name, touched, { passive: true, capture: true });
  });
  touched();

  var code = root.querySelector("[data-kiosk-code]");
  if (code) {
    code.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") return;
      var match = /[?&]ma=([^&#]+)/.exec(code.value);
      if (match) {
        try { code.value = decodeURIComponent(match[1].replace(/\+/g, " ")).trim(); } catch (e) { /* keep */ }
      }
      var phone = document.getElementById("kiosk-phone");
      if (phone && !phone.value) {
        event.preventDefault();
        phone.focus();
      }
    });
  }
})();
