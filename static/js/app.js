// Drag-and-drop ranking: SortableJS reorders the list (or the page of it shown), then the form
// the keyboard buttons use is posted (through htmx) with the whole new order; a button posts
// only its own move.
(function () {
  function initSortable(root) {
    root.querySelectorAll("[data-sortable]").forEach(function (list) {
      if (list.dataset.ready) return;
      list.dataset.ready = "1";
      Sortable.create(list, {
        handle: ".handle",
        animation: 120,
        onEnd: function (evt) {
          if (evt.oldIndex === evt.newIndex) return;
          var form = document.getElementById(list.dataset.form);
          var input = form.querySelector("input[name=order][data-drag]");
          // The list may be one page of a longer order: splice the page's new order into the
          // whole order the page was shown with, which the server checks against its own.
          var shown = Array.from(list.children).map(function (li) { return li.dataset.id; });
          var seen = form.querySelector("input[name=seen]").value.split(",").filter(Boolean);
          var offset = parseInt(list.dataset.offset || "0", 10);
          seen.splice.apply(seen, [offset, shown.length].concat(shown));
          input.value = seen.join(",");
          input.disabled = false;
          form.requestSubmit();
        },
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { initSortable(document); });
  document.addEventListener("htmx:load", function (evt) { initSortable(evt.target); });
  // A select that applies itself (no inline handlers: the Content-Security-Policy forbids them).
  document.addEventListener("change", function (evt) {
    if (evt.target.matches("select[data-autosubmit]")) evt.target.form.submit();
  });
  // Show refusals (409 stale order, 400 bad order) instead of dropping them silently.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    if (evt.detail.xhr.status === 409 || evt.detail.xhr.status === 400) {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    }
  });
})();
