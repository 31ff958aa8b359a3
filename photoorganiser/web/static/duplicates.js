// The Duplicates page: review a find-duplicates report group by group (keyboard or mouse),
// save the reviewed report, start dedupe as a job; or, without a report, start a search.
"use strict";
(() => {
  const JOB_POLL_MS = 700;

  // --- jobs (POST /api/jobs, GET /api/jobs/{id}) ---------------------------------------

  // What a finished job did, from its report's rows (its progress counts only the files
  // it got to: a dedupe leaves some alone after its checks).
  function outcomeText(outcome) {
    if (!outcome) return "";
    const said = [];
    for (const [status, label] of [["done", "done"], ["left-alone", "left alone"], ["failed", "failed"], ["not-done", "not done"]]) {
      if (outcome[status]) said.push(`${outcome[status].toLocaleString("en")} ${label}`);
    }
    return said.join(", ");
  }

  function jobText(job) {
    const parts = [job.command || "job", job.status];
    const finished = ["done", "failed", "cancelled"].includes(job.status);
    if (finished && outcomeText(job.outcome)) {
      parts.push(outcomeText(job.outcome));
      if (job.error) parts.push(job.error);
      return parts.join(" · ");
    }
    if (job.stage) parts.push(job.stage);
    if (job.total) parts.push(`${job.done || 0} of ${job.total}`);
    if (job.eta_s) parts.push(`about ${Math.max(1, Math.round(job.eta_s))} s left`);
    return parts.join(" · ");
  }

  // Follow a job until it ends; `show(job)` on every answer; resolves with the last one.
  function follow(id, show) {
    return new Promise((resolve, reject) => {
      const poll = async () => {
        let job;
        try {
          job = await PO.api("GET", `/api/jobs/${encodeURIComponent(id)}`);
        } catch (e) {
          reject(e);
          return;
        }
        show(job);
        if (["done", "failed", "cancelled"].includes(job.status)) resolve(job);
        else setTimeout(poll, JOB_POLL_MS);
      };
      poll();
    });
  }

  function showProgress(bar, job) {
    if (!bar) return;
    bar.hidden = false;
    if (job.total) {
      bar.max = job.total;
      bar.value = job.done || 0;
    } else {
      bar.removeAttribute("value"); // indeterminate
    }
  }

  // --- the list of reports: start a search ---------------------------------------------

  function initSearch() {
    const form = document.getElementById("dup-search");
    if (!form) return;
    const said = document.getElementById("dup-search-job");
    const bar = document.getElementById("dup-search-progress");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const inputs = document.getElementById("dup-inputs").value
        .split("\n").map((s) => s.trim()).filter((s) => s);
      if (!inputs.length) {
        PO.toast("Name at least one folder to search", "error");
        return;
      }
      const similar = document.getElementById("dup-similar").checked;
      const asked = { command: "find-duplicates", inputs, similar };
      if (document.getElementById("dup-blanks").checked) {
        asked.blanks = true; // blank frames, and very dark pictures
        asked.dark = true;
      }
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const started = await PO.api("POST", "/api/jobs", asked);
        said.textContent = "search started";
        const job = await follow(started.id, (j) => { said.textContent = jobText(j); showProgress(bar, j); });
        if (job.status === "done" && job.report) {
          window.location.href = PO.url("/duplicates", { report: job.report });
        } else if (job.status === "done") {
          window.location.reload();
        } else {
          PO.toast(`The search ${job.status}`, "error");
        }
      } catch (e) {
        PO.toast(`Could not start the search: ${e.message}`, "error");
        said.textContent = "";
      } finally {
        button.disabled = false;
      }
    });
  }

  // --- the review ----------------------------------------------------------------------

  function initReview(root) {
    const report = root.dataset.report;
    const NOTHUMB = PO.url("/static/nothumb.svg");
    // a thumbnail that cannot be made (its file moved away, never cached): the icon
    for (const img of document.querySelectorAll("#groups img.thumb")) {
      img.addEventListener("error", () => { if (!img.src.endsWith(NOTHUMB)) img.src = NOTHUMB; }, { once: true });
      if (img.complete && img.naturalWidth === 0 && img.src && !img.src.endsWith(NOTHUMB)) img.src = NOTHUMB;
    }
    const groups = Array.from(document.querySelectorAll("#groups .group"));
    let focused = -1;
    let queue = Promise.resolve(); // decisions are sent one after the other, in order

    const cardsOf = (group) => Array.from(group.querySelectorAll(".dup"));
    const isKept = (card) => card.classList.contains("keep");
    const isGone = (card) => card.dataset.gone === "yes"; // no longer at its path
    // group 0: one blank, dark or blurred picture, decided on its own
    const isPicture = (group) => group.dataset.group === "0";

    function focusGroup(i, scroll = true) {
      if (!groups.length) return;
      i = Math.max(0, Math.min(groups.length - 1, i));
      if (focused >= 0 && groups[focused]) groups[focused].classList.remove("focus");
      focused = i;
      const g = groups[i];
      g.classList.add("focus");
      if (document.activeElement !== g) g.focus({ preventScroll: true });
      if (scroll) g.scrollIntoView({ block: "nearest", behavior: "auto" });
    }

    function setCard(card, keep) {
      card.classList.toggle("keep", keep);
      card.classList.toggle("drop", !keep);
      const pill = card.querySelector(".state");
      pill.textContent = keep ? "keep" : "drop";
      pill.className = `pill state ${keep ? "keep" : "drop"}`;
      const button = card.querySelector(".toggle");
      button.textContent = keep ? "Keep" : "Drop";
      button.setAttribute("aria-pressed", keep ? "true" : "false");
    }

    function sizeText(n) {
      const units = ["B", "KB", "MB", "GB", "TB"];
      let size = n;
      for (const unit of units) {
        if (size < 1000 || unit === "TB") return unit === "B" ? `${size.toFixed(0)} B` : `${size.toFixed(1)} ${unit}`;
        size /= 1000;
      }
      return `${n} B`;
    }

    function applyAnswer(group, answer) {
      for (const card of cardsOf(group)) {
        const keep = answer.keep[card.dataset.path];
        if (keep !== undefined) setCard(card, keep);
      }
      group.classList.toggle("changed", answer.changed);
      group.querySelector(".groupmsg").textContent = "";
      const t = answer.totals;
      document.getElementById("dup-dropped").textContent = t.dropped.toLocaleString("en");
      document.getElementById("dup-reclaim").textContent = sizeText(t.reclaimable);
      document.getElementById("dup-changed").textContent = t.changed.toLocaleString("en");
      document.getElementById("dup-run").disabled = !t.dropped;
      const pictures = document.getElementById("dup-pictures-dropped");
      if (pictures && t.pictures_dropped !== undefined) pictures.textContent = t.pictures_dropped.toLocaleString("en");
      const reclaimed = group.querySelector(".reclaim");
      if (reclaimed) {
        let reclaim = 0;
        for (const card of cardsOf(group)) if (!isKept(card) && !isGone(card)) reclaim += Number(card.dataset.size || 0);
        reclaimed.textContent = sizeText(reclaim);
      }
      refreshOthers();
    }

    // "also in group N: keep/drop" on every card of the page, from the cards shown;
    // warned where a file kept here is dropped there.
    function refreshOthers() {
      const state = new Map(); // "group path" -> keep
      for (const group of groups) {
        for (const card of cardsOf(group)) state.set(`${group.dataset.group} ${card.dataset.path}`, isKept(card));
      }
      for (const group of groups) {
        for (const card of cardsOf(group)) {
          for (const other of card.querySelectorAll(".other")) {
            const keep = state.get(`${other.dataset.group} ${card.dataset.path}`);
            if (keep === undefined) continue; // that group is on another page
            other.textContent = `also in group ${other.dataset.group}: ${keep ? "keep" : "drop"}`;
            other.classList.toggle("warn", isKept(card) && !keep);
          }
        }
      }
    }

    // Send one group's decisions ({path: keep}); the page shows what the server kept.
    function decide(group, keep) {
      const job = queue.then(async () => {
        try {
          const answer = await PO.api("POST", "/duplicates/decisions", {
            report, group: Number(group.dataset.group), keep,
          });
          applyAnswer(group, answer);
          return true;
        } catch (e) {
          group.querySelector(".groupmsg").textContent = e.message;
          PO.toast(e.message, "error");
          return false;
        }
      });
      queue = job;
      return job;
    }

    function toggle(group, number) {
      const card = cardsOf(group)[number - 1];
      if (!card || isGone(card)) return; // nothing left to decide on a file gone
      decide(group, { [card.dataset.path]: !isKept(card) });
    }

    function accept(group) {
      const keep = {};
      for (const card of cardsOf(group)) keep[card.dataset.path] = card.dataset.suggested === "yes";
      return decide(group, keep);
    }

    function allButKeeper(group) {
      const cards = cardsOf(group);
      if (isPicture(group)) return decide(group, { [cards[0].dataset.path]: false }); // no keeper: drop it
      const keeper = cards.find((c) => isKept(c) && c.dataset.suggested === "yes")
        || cards.find(isKept) || cards.find((c) => c.dataset.suggested === "yes") || cards[0];
      const keep = {};
      for (const card of cards) keep[card.dataset.path] = card === keeper;
      return decide(group, keep);
    }

    // --- save, and dedupe as a job ---
    const result = document.getElementById("dup-result");

    function say(html) {
      result.hidden = false;
      result.replaceChildren(...html);
    }

    function el(tag, text, cls) {
      const e = document.createElement(tag);
      if (text !== undefined) e.textContent = text;
      if (cls) e.className = cls;
      return e;
    }

    function quoted(text) {
      return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\"'\"'")}'`;
    }

    async function save() {
      await queue; // every decision sent first
      try {
        const saved = await PO.api("POST", "/duplicates/save", { report });
        const link = el("a", saved.name);
        link.href = PO.url("/duplicates", { report: saved.ref });
        const folder = document.getElementById("dup-quarantine").value.trim() || "DIR";
        say([
          el("span", "Saved the reviewed report "), link,
          el("span", ` · ${saved.dropped.toLocaleString("en")} files marked drop (${sizeText(saved.reclaimable)}). `),
          el("span", "From a terminal: "),
          el("code", `photoorganiser dedupe ${quoted(saved.path)} --quarantine ${quoted(folder)}`),
        ]);
        PO.toast(`Saved ${saved.name}`);
        return saved;
      } catch (e) {
        PO.toast(`Not saved: ${e.message}`, "error");
        return null;
      }
    }

    async function quarantineTheRest() {
      const folder = document.getElementById("dup-quarantine").value.trim();
      if (!folder.startsWith("/")) {
        PO.toast("Give the quarantine folder as a full path (starting with /)", "error");
        document.getElementById("dup-quarantine").focus();
        return;
      }
      const dropped = document.getElementById("dup-dropped").textContent;
      const sure = window.confirm(
        `Move the ${dropped} files marked drop into ${folder}?\n\n` +
        "Each is checked again first; the keepers and the library are never touched, " +
        "and `photoorganiser undo --quarantine` puts them back.");
      if (!sure) return;
      const button = document.getElementById("dup-run");
      button.disabled = true;
      let ran = false; // done: what it moved is gone; what is left shows on a reload
      try {
        const saved = await save();
        if (!saved) return;
        const started = await PO.api("POST", "/api/jobs", { command: "dedupe", report: saved.ref, quarantine: folder });
        const line = el("span", "dedupe started");
        const bar = el("progress");
        bar.max = 1;
        result.append(el("br"), line, bar);
        const job = await follow(started.id, (j) => { line.textContent = jobText(j); showProgress(bar, j); });
        if (job.status === "done") {
          ran = true;
          PO.toast("Quarantine done");
          // what it did, from its report; how to undo it (not from the Runs page)
          const done = el("div");
          done.className = "ran";
          const link = el("a", "its report");
          link.href = PO.url("/runs/report/view", { ref: job.report });
          const again = el("a", "show what is left");
          again.href = window.location.href.split("#")[0];
          done.append(
            el("strong", "Dedupe done"),
            el("span", `: ${outcomeText(job.outcome) || "see the report"} · `), link,
            el("span", ". "),
            el("code", `photoorganiser undo --quarantine ${quoted(folder)}`),
            el("span", " puts the quarantined files back (the Runs page cannot undo a dedupe). "),
            again,
          );
          result.append(done);
        } else {
          PO.toast(`dedupe ${job.status}`, "error");
        }
      } catch (e) {
        PO.toast(`Could not start dedupe: ${e.message}`, "error");
      } finally {
        button.disabled = ran;
      }
    }

    // --- wiring ---
    groups.forEach((group, i) => {
      group.addEventListener("focus", () => focusGroup(i, false));
      for (const card of cardsOf(group)) {
        card.addEventListener("click", (event) => {
          if (event.target.closest("a")) return; // "open" opens the original
          focusGroup(i, false);
          toggle(group, Number(card.dataset.number));
        });
      }
    });
    document.getElementById("dup-save").addEventListener("click", save);
    document.getElementById("dup-run").addEventListener("click", quarantineTheRest);

    function go(url) {
      if (url) window.location.href = url;
    }

    document.addEventListener("keydown", (event) => {
      if (PO.typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
      const onControl = event.target.closest && event.target.closest("button, a, summary");
      const group = groups[focused];
      const key = event.key;
      let handled = true;
      if (key === "j" || key === "ArrowDown" || key === "ArrowRight") focusGroup(focused + 1);
      else if (key === "k" || key === "ArrowUp" || key === "ArrowLeft") focusGroup(focused <= 0 ? 0 : focused - 1);
      else if (key === "n") go(root.dataset.next);
      else if (key === "p") go(root.dataset.prev && `${root.dataset.prev}#last`);
      else if (key === "s") save();
      else if (/^[1-9]$/.test(key) && group) toggle(group, Number(key));
      else if ((key === "Enter" && !onControl) || key === "a") {
        if (group) {
          accept(group);
          focusGroup(focused + 1);
        }
      } else if (key === "x" && group) allButKeeper(group);
      else handled = false;
      if (handled) event.preventDefault();
    });

    if (groups.length) focusGroup(window.location.hash === "#last" ? groups.length - 1 : 0, false);
  }

  const root = document.getElementById("dups");
  if (root) initReview(root);
  else initSearch();
})();
