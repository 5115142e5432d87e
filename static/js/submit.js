/* Online submission form (templates/public/submit.html): focus the error summary so screen
 * readers read it first; one press, one dossier — the button is disabled while the form goes
 * (the server refuses a second copy anyway, by the form's token). */
(function () {
  "use strict";

  var form = document.getElementById("submit-form");
  var button = document.getElementById("submit-button");
  var error = document.getElementById("form-error");
  if (error) error.focus();
  if (!form || !button) return;
  form.addEventListener("submit", function () {
    button.disabled = true;
    button.textContent = button.dataset.busy;
  });
})();
