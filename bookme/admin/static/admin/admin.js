// Small enhancements; every page works without this file.
(function () {
  "use strict";

  // "Select all" for bulk actions.
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("[data-select-all]")) return;
    var form = box.form || document;
    form.querySelectorAll("input[name='" + box.dataset.selectAll + "']").forEach(function (item) {
      item.checked = box.checked;
    });
  });

  // After htmx swaps a page or a form, move focus where a keyboard user expects it: the
  // error summary when there is one, else the new heading.
  document.addEventListener("htmx:afterSettle", function (event) {
    var summary = document.getElementById("error-summary");
    if (summary) {
      summary.focus();
      return;
    }
    if (event.detail && event.detail.boosted) {
      var main = document.getElementById("main");
      if (main) main.focus({ preventScroll: true });
    }
  });
})();
