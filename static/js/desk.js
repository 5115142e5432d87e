/* The reception desk: procedure type-ahead (↑ ↓ Enter Esc), live completeness of the
   checklist, prefill from the citizen directory, scans list, keyboard shortcuts.
   No inline scripts (CSP); htmx does the requests, this file only wires the page. */
(function () {
  "use strict";

  var MAX_BYTES = 10 * 1024 * 1024;

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  function init(form) {
    var search = $("#procedure-q", form);
    var results = $("#procedure-results", form);
    var picker = $("#desk-picker", form);
    var panel = $("#desk-procedure", form);
    var idInput = $("[data-id-number]", form);

    /* Procedure type-ahead --------------------------------------------------------------- */

    function options() { return $all("[role=option]", results); }

    function activeIndex() {
      var list = options();
      for (var i = 0; i < list.length; i++) {
        if (list[i].getAttribute("aria-selected") === "true") return i;
      }
      return -1;
    }

    function setActive(index) {
      var list = options();
      if (!list.length) {
        search.removeAttribute("aria-activedescendant");
        return;
      }
      index = (index + list.length) % list.length;
      list.forEach(function (option, i) {
        var on = i === index;
        option.setAttribute("aria-selected", on ? "true" : "false");
        option.classList.toggle("active", on);
      });
      search.setAttribute("aria-activedescendant", list[index].id);
      list[index].scrollIntoView({ block: "nearest" });
    }

    function closeResults() {
      results.innerHTML = "";
      search.setAttribute("aria-expanded", "false");
      search.removeAttribute("aria-activedescendant");
    }

    function pick(option) {
      if (!option) return;
      var code = option.getAttribute("data-code");
      var url = form.getAttribute("data-panel-url").replace("__CODE__", encodeURIComponent(code));
      clearErrors();
      window.htmx.ajax("GET", url, { target: panel, swap: "innerHTML" }).then(function () {
        picker.hidden = true;
        closeResults();
        updateCompleteness();
        var first = $("[data-checklist] input[type=checkbox]", panel) || $("input[name=channel]", panel);
        if (first) first.focus();
      });
    }

    if (search) {
      search.addEventListener("keydown", function (event) {
        if (event.key === "ArrowDown" || event.key === "ArrowUp") {
          if (!options().length) return;
          event.preventDefault();
          setActive(activeIndex() + (event.key === "ArrowDown" ? 1 : -1));
        } else if (event.key === "Enter") {
          event.preventDefault(); // never submit the desk form from the search box
          var list = options();
          if (list.length) pick(list[Math.max(activeIndex(), 0)]);
        } else if (event.key === "Escape") {
          if (options().length) {
            event.preventDefault();
            closeResults();
          }
        }
      });
      results.addEventListener("click", function (event) {
        var option = event.target.closest("[role=option]");
        if (!option) return;
        event.preventDefault();
        pick(option);
      });
      results.addEventListener("mousemove", function (event) {
        var option = event.target.closest("[role=option]");
        if (option) setActive(options().indexOf(option));
      });
    }

    form.addEventListener("click", function (event) {
      var change = event.target.closest("[data-change-procedure]");
      if (!change) return;
      event.preventDefault();
      panel.innerHTML = "";
      picker.hidden = false;
      $("#desk-appointment").innerHTML = "";
      updateCompleteness();
      search.focus();
      search.select();
    });

    /* Checklist -------------------------------------------------------------------------- */

    function updateCompleteness() {
      var box = $("[data-completeness]", form);
      var text = $("[data-completeness-text]", form);
      var slip = $("[data-slip-button]", form);
      var mandatory = $all("[data-checklist] input[data-mandatory]", form);
      $all("[data-checklist] tbody tr", form).forEach(function (row) {
        var box_ = $("input[type=checkbox]", row);
        if (box_) row.classList.toggle("is-ticked", box_.checked);
      });
      if (!$("[data-checklist]", form)) {
        box.hidden = true;
        if (slip) slip.classList.remove("btn-warn");
        return;
      }
      var missing = mandatory.filter(function (input) { return !input.checked; }).length;
      box.hidden = false;
      box.classList.toggle("is-ok", missing === 0);
      box.classList.toggle("is-missing", missing > 0);
      text.textContent = missing === 0
        ? "Đủ " + mandatory.length + " giấy tờ bắt buộc"
        : "Còn thiếu " + missing + " / " + mandatory.length + " giấy tờ bắt buộc";
      if (slip) slip.classList.toggle("btn-warn", missing > 0);
    }

    form.addEventListener("change", function (event) {
      if (event.target.matches("[data-checklist] input[type=checkbox]")) {
        updateCompleteness();
        // The list of missing papers is out of date once the clerk ticks again.
        var stale = $("[data-missing]", form);
        if (stale) stale.remove();
      }
      if (event.target.matches("[data-scans]")) listScans(event.target);
    });
    form.addEventListener("click", function (event) {
      if (!event.target.closest("[data-tick-mandatory]")) return;
      event.preventDefault();
      $all("[data-checklist] input[data-mandatory]", form).forEach(function (input) { input.checked = true; });
      updateCompleteness();
      var stale = $("[data-missing]", form);
      if (stale) stale.remove();
      if (idInput) idInput.focus();
    });

    /* Applicant: prefill from the citizen directory --------------------------------------- */

    function prefill(status) {
      var found = $("[data-citizen]", status);
      if (!found) return;
      ["name", "phone", "email", "address"].forEach(function (key) {
        var value = found.getAttribute("data-" + key);
        var input = $("[data-applicant=" + key + "]", form);
        if (!input || !value) return;
        input.value = value;
        input.classList.add("prefilled");
        input.removeAttribute("aria-invalid");
        setTimeout(function () { input.classList.remove("prefilled"); }, 1600);
      });
    }

    /* Scans ------------------------------------------------------------------------------ */

    function listScans(input) {
      var list = $("[data-scan-list]", form);
      list.innerHTML = "";
      Array.prototype.forEach.call(input.files || [], function (file) {
        var item = document.createElement("li");
        var size = file.size >= 1024 * 1024
          ? (file.size / 1024 / 1024).toFixed(1).replace(".", ",") + " MB"
          : Math.max(1, Math.round(file.size / 1024)) + " KB";
        item.textContent = file.name + " — " + size;
        if (file.size > MAX_BYTES) {
          item.className = "too-big";
          item.textContent += " (quá 10 MB, sẽ bị từ chối)";
        }
        list.appendChild(item);
      });
    }

    /* Errors after an htmx answer --------------------------------------------------------- */

    function clearErrors() {
      $all(".field-error", form).forEach(function (slot) {
        if (slot.id && slot.id.indexOf("err-") === 0) slot.textContent = "";
      });
      $all("[aria-invalid=true]", form).forEach(function (input) { input.removeAttribute("aria-invalid"); });
    }

    function markInvalid() {
      $all(".field-error[id^=err-]", form).forEach(function (slot) {
        var bad = slot.textContent.trim() !== "";
        $all("[aria-describedby~='" + slot.id + "']", form).forEach(function (input) {
          if (bad) input.setAttribute("aria-invalid", "true");
          else input.removeAttribute("aria-invalid");
          var wrap = input.closest(".fld");
          if (wrap) wrap.classList.toggle("has-error", bad);
        });
      });
    }

    document.body.addEventListener("htmx:afterSwap", function (event) {
      var target = event.detail.target;
      if (target === results || (target && target.id === "procedure-results")) {
        var has = options().length > 0;
        search.setAttribute("aria-expanded", has ? "true" : "false");
        if (has) setActive(0);
      } else if (target && target.id === "citizen-status") {
        prefill(target);
      }
    });
    document.body.addEventListener("htmx:afterSettle", function (event) {
      var target = event.detail.target;
      if (target && target.id === "desk-feedback") {
        markInvalid();
        var focus = $("[data-focus-me]", target);
        if (focus) focus.focus();
      }
    });

    /* Keyboard --------------------------------------------------------------------------- */

    form.addEventListener("keydown", function (event) {
      var t = event.target;
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        var submit = $("[data-desk-submit]", form);
        if (submit && !submit.disabled) submit.click();
        return;
      }
      // In the checklist: ↑ ↓ and Enter go from paper to paper (Space ticks); after the last
      // one, Enter goes on to the applicant.
      if (t.matches("[data-checklist] input[type=checkbox]") &&
          (event.key === "ArrowDown" || event.key === "ArrowUp" || event.key === "Enter")) {
        event.preventDefault();
        var boxes = $all("[data-checklist] input[type=checkbox]", form);
        var at = boxes.indexOf(t) + (event.key === "ArrowUp" ? -1 : 1);
        if (at >= 0 && at < boxes.length) boxes[at].focus();
        else if (event.key === "Enter" && idInput) idInput.focus();
        return;
      }
      // Enter moves to the next field (a clerk's habit; an accidental Enter never submits).
      if (event.key === "Enter" && t.matches("input:not([type=submit]):not([type=button]):not([type=file])") && t !== search) {
        event.preventDefault();
        var fields = $all("input:not([type=hidden]):not([disabled]), select, textarea, button[data-desk-submit]", form)
          .filter(function (el) { return el.offsetParent !== null; });
        var next = fields[fields.indexOf(t) + 1];
        if (next) next.focus();
      }
    });
    document.addEventListener("keydown", function (event) {
      if (!event.altKey || event.ctrlKey || event.metaKey) return;
      if (event.key === "1") {
        event.preventDefault();
        if (!picker.hidden) search.focus();
        else ($("[data-checklist] input[type=checkbox]", panel) || $("[data-change-procedure]", panel)).focus();
      } else if (event.key === "2" && idInput) {
        event.preventDefault();
        idInput.focus();
      }
    });

    // Without JavaScript the search has its own button; with it, typing is enough.
    $all("[data-nojs-search]", form).forEach(function (button) { button.hidden = true; });
    updateCompleteness();
    markInvalid();
    var focus = $("[data-focus-me]", form);
    if (focus) focus.focus();
  }

  function start() {
    $all("[data-desk]").forEach(init);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
