/* Catalogue admin form: add formset rows, and the live total of the internal-process hours
   against the time limit. No inline scripts (CSP): this file is loaded by the form page. */
(function () {
  "use strict";

  var HOURS_PER_DAY = 8;

  function parseNumber(text) {
    if (text === null || text === undefined) return NaN;
    text = String(text).trim().replace(/\s/g, "").replace(",", ".");
    if (text === "") return NaN;
    return Number(text);
  }

  function formatHours(value) {
    return (Math.round(value * 100) / 100).toLocaleString("vi-VN", { maximumFractionDigits: 2 });
  }

  function isDeleted(row) {
    var box = row.querySelector("input[type=checkbox][name$='-DELETE']");
    return Boolean(box && box.checked);
  }

  /* Rows ---------------------------------------------------------------------------------- */

  function addRow(form, prefix) {
    var template = form.querySelector("template[data-formset-empty='" + prefix + "']");
    var body = form.querySelector("table[data-formset='" + prefix + "'] [data-formset-body]");
    var total = form.querySelector("input[name='" + prefix + "-TOTAL_FORMS']");
    var max = form.querySelector("input[name='" + prefix + "-MAX_NUM_FORMS']");
    if (!template || !body || !total) return;
    var index = parseInt(total.value, 10) || 0;
    if (max && index >= parseInt(max.value, 10)) return;
    var html = template.innerHTML.replace(/__prefix__/g, String(index));
    body.insertAdjacentHTML("beforeend", html);
    total.value = String(index + 1);
    var row = body.lastElementChild;
    if (prefix === "steps") {
      var positions = Array.prototype.map.call(
        body.querySelectorAll("input[name$='-position']"),
        function (input) { return parseInt(input.value, 10) || 0; }
      );
      var position = row.querySelector("input[name$='-position']");
      if (position) position.value = String(Math.max.apply(null, positions.concat([0])) + 1);
    }
    var first = row && row.querySelector("input:not([type=hidden]), select, textarea");
    if (first) first.focus();
    updateTotal(form);
  }

  /* Live total ---------------------------------------------------------------------------- */

  function limitHours(form) {
    var amount = parseNumber((form.querySelector("[data-time-limit-amount]") || {}).value);
    var unit = (form.querySelector("[data-time-limit-unit]") || {}).value;
    if (isNaN(amount)) return NaN;
    return unit === "working_hours" ? amount : amount * HOURS_PER_DAY;
  }

  function updateTotal(form) {
    var box = form.querySelector("[data-steps-total]");
    if (!box) return;
    var total = 0;
    var bad = false;
    form.querySelectorAll("[data-step-row]").forEach(function (row) {
      if (isDeleted(row)) return;
      var input = row.querySelector("[data-step-hours]");
      if (!input || String(input.value).trim() === "") return;
      var value = parseNumber(input.value);
      if (isNaN(value)) { bad = true; return; }
      total += value;
    });
    var limit = limitHours(form);
    box.querySelector("[data-total]").textContent = bad ? "?" : formatHours(total);
    box.querySelector("[data-limit]").textContent = isNaN(limit) ? "—" : formatHours(limit);
    var verdict = box.querySelector("[data-verdict]");
    box.classList.remove("is-ok", "is-off");
    if (bad || isNaN(limit)) {
      verdict.textContent = "";
      return;
    }
    var sameDay = limit === 0;
    var ok = sameDay ? total > 0 && total <= HOURS_PER_DAY : Math.abs(total - limit) < 0.005;
    box.classList.add(ok ? "is-ok" : "is-off");
    if (ok) {
      verdict.textContent = "✓ khớp thời hạn";
    } else if (sameDay) {
      verdict.textContent = "giải quyết trong ngày: tối đa " + formatHours(HOURS_PER_DAY) + " giờ";
    } else if (total < limit) {
      verdict.textContent = "còn thiếu " + formatHours(limit - total) + " giờ";
    } else {
      verdict.textContent = "vượt " + formatHours(total - limit) + " giờ";
    }
  }

  function init(form) {
    form.addEventListener("click", function (event) {
      var button = event.target.closest("[data-formset-add]");
      if (!button) return;
      event.preventDefault();
      addRow(form, button.getAttribute("data-formset-add"));
    });
    var refresh = function (event) {
      var t = event.target;
      if (t.matches("[data-step-hours], [data-time-limit-amount], [data-time-limit-unit]") ||
          t.matches("input[name$='-DELETE']")) {
        updateTotal(form);
      }
    };
    form.addEventListener("input", refresh);
    form.addEventListener("change", refresh);
    updateTotal(form);
    var errors = document.getElementById("form-errors");
    if (errors) errors.focus();
  }

  function start() {
    document.querySelectorAll("[data-catalogue-form]").forEach(init);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
