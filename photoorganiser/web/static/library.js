// The library browser. The grid: arrow keys move between the photos, Enter opens one,
// [ and ] go to the older and newer month, PageUp/PageDown to the grid's pages; the
// filters apply as soon as they change. A photo's page: the arrow keys go to the
// previous and next file of the month, Escape back to the month (to that photo).
"use strict";
(() => {
  const reread = document.getElementById("reread");
  if (reread) {
    reread.addEventListener("click", async () => {
      reread.disabled = true;
      try {
        const job = await PO.api("POST", "/api/jobs", { command: "sync", reread: true });
        PO.toast("Reading the library again: job " + job.id + " (see Runs and jobs)");
      } catch (e) {
        reread.disabled = false;
        PO.toast("Could not start it: " + e.message, "error");
      }
    });
  }

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

  const tiles = [...document.querySelectorAll("#grid li.tile > a")];

  function columns() {
    if (tiles.length < 2) return 1;
    const top = tiles[0].getBoundingClientRect().top;
    const n = tiles.findIndex((a) => a.getBoundingClientRect().top > top + 1);
    return n === -1 ? tiles.length : n;
  }

  function moveFocus(key) {
    if (!tiles.length) return false;
    const current = tiles.indexOf(document.activeElement);
    if (current === -1) {
      tiles[0].focus();
      return true;
    }
    const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns(), ArrowDown: columns() }[key];
    const next = Math.min(tiles.length - 1, Math.max(0, current + step));
    tiles[next].focus();
    return true;
  }

  // back from a photo (#at-N, no element's id: the browser leaves the focus alone):
  // that photo has the focus
  const at = /^#at-(\d+)$/.exec(window.location.hash);
  if (at && tiles[Number(at[1])]) tiles[Number(at[1])].focus();

  document.addEventListener("keydown", (event) => {
    if (PO.typing(event) || event.altKey || event.ctrlKey || event.metaKey) return;
    const onPhoto = document.getElementById("metadata") !== null;
    let done = false;
    if (onPhoto) {
      if (event.key === "ArrowLeft") done = follow("prev");
      else if (event.key === "ArrowRight") done = follow("next");
      else if (event.key === "Escape") done = follow("back");
    } else if (event.key.startsWith("Arrow")) {
      done = moveFocus(event.key);
    } else if (event.key === "[") {
      done = follow("older");
    } else if (event.key === "]") {
      done = follow("newer");
    } else if (event.key === "PageUp") {
      done = follow("prev-page");
    } else if (event.key === "PageDown") {
      done = follow("next-page");
    }
    if (done) event.preventDefault();
  });
})();
