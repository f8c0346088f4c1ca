// Glue between htmx and the page: the <dialog> modal and confirmations.
(function () {
  "use strict";
  function modal() { return document.getElementById("modal"); }

  // Content swapped into the modal opens it.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "modal-content") {
      var dialog = modal();
      if (dialog && !dialog.open) { dialog.showModal(); }
    }
  });

  // The server closes the modal with the HX-Trigger "closeModal".
  document.addEventListener("closeModal", function () {
    var dialog = modal();
    if (dialog && dialog.open) { dialog.close(); }
  });

  // Any element with data-close-modal closes it.
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-close-modal]")) {
      event.preventDefault();
      var dialog = modal();
      if (dialog) { dialog.close(); }
    }
  });

  // An emptied dialog leaves no stale form behind.
  document.addEventListener("close", function (event) {
    if (event.target.id === "modal") {
      document.getElementById("modal-content").innerHTML = "";
    }
  }, true);
})();
