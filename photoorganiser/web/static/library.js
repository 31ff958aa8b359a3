// The library browser: filters apply as soon as they change; on a photo's page the
// arrow keys go to the previous and next file of the month, Escape back to the month.
"use strict";
(() => {
  const filters = document.getElementById("filters");
  if (filters) {
    for (const select of filters.querySelectorAll("select")) {
      select.addEventListener("change", () => filters.submit());
    }
  }

  function follow(id) {
    const link = document.getElementById(id);
    if (link) {
      window.location.href = link.href;
      return true;
    }
    return false;
  }

  document.addEventListener("keydown", (event) => {
    if (PO.typing(event) || event.altKey || event.ctrlKey || event.metaKey) return;
    const onPhoto = document.getElementById("metadata") !== null;
    let done = false;
    if (onPhoto) {
      if (event.key === "ArrowLeft") done = follow("prev");
      else if (event.key === "ArrowRight") done = follow("next");
      else if (event.key === "Escape") done = follow("back");
    } else {
      if (event.key === "ArrowLeft") done = follow("prev-page") || follow("older");
      else if (event.key === "ArrowRight") done = follow("next-page") || follow("newer");
    }
    if (done) event.preventDefault();
  });
})();
