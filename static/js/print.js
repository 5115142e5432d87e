/* "Print" buttons ([data-print]): the page's own print, without an inline onclick (the
 * Content Security Policy refuses inline handlers). */
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-print]") : null;
    if (!button) return;
    event.preventDefault();
    window.print();
  });
})();
