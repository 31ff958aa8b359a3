// The Import plan page: tick/untick rows, edit destinations, save, apply as a job.
// Keyboard: j/k move between rows, space ticks, e edits the destination, / filters, s saves.
"use strict";
(() => {
  const NOTHUMB = PO.url("/static/nothumb.svg");

  function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

  // Follow a job (GET /api/jobs/{id}) until it ends; `show` gets each state.
  async function follow(id, show) {
    for (;;) {
      const job = await PO.api("GET", "/api/jobs/" + encodeURIComponent(id));
      show(job);
      if (["done", "failed", "cancelled"].includes(job.status)) return job;
      await sleep(700);
    }
  }

  function numbers(job) {
    const parts = [];
    if (job.total) parts.push(`${job.done || 0} of ${job.total}`);
    if (job.eta_s) parts.push(`about ${Math.ceil(job.eta_s)} s left`);
    return parts.join(" · ");
  }

  function setProgress(bar, job) {
    if (job.total) { bar.max = job.total; bar.value = job.done || 0; } else { bar.removeAttribute("value"); }
  }

  // --- the list: start a new dry run -------------------------------------------------
  const dryrun = document.getElementById("dryrun");
  if (dryrun) {
    const status = document.getElementById("dryrun-status");
    const bar = document.getElementById("dryrun-progress");
    dryrun.addEventListener("submit", async (event) => {
      event.preventDefault();
      const inputs = document.getElementById("dryrun-inputs").value
        .split("\n").map((s) => s.trim()).filter(Boolean);
      if (!inputs.length) return;
      const button = document.getElementById("dryrun-start");
      button.disabled = true;
      try {
        const { id } = await PO.api("POST", "/api/jobs", { command: "import", inputs, dryrun: true });
        bar.hidden = false;
        const job = await follow(id, (j) => {
          status.textContent = `${j.status}${j.stage ? ": " + j.stage : ""} ${numbers(j)}`;
          setProgress(bar, j);
        });
        if (job.report && job.status !== "cancelled") {
          window.location.href = PO.url("/plan", { report: job.report });
        } else {
          status.textContent = `the dry run ${job.status}${job.error ? ": " + job.error : ""}`;
        }
      } catch (e) {
        status.textContent = "";
        PO.toast("The dry run could not start: " + e.message, "error");
      } finally {
        button.disabled = false;
      }
    });
  }

  // --- the plan ------------------------------------------------------------------------
  const plan = document.getElementById("plan");
  if (!plan) return;
  const report = plan.dataset.report;
  const table = document.getElementById("plan-table");
  const rows = () => Array.from(table.tBodies[0].rows);
  let current = null;

  for (const img of table.querySelectorAll("img.thumb")) {
    img.addEventListener("error", () => { if (!img.src.endsWith(NOTHUMB)) img.src = NOTHUMB; }, { once: true });
  }

  function rowOf(source) {
    return rows().find((tr) => tr.dataset.source === source) || null;
  }

  function counts(c) {
    if (!c) return;
    const fmt = (n) => n.toLocaleString("en");
    document.getElementById("count-ticked").textContent = fmt(c.ticked);
    document.getElementById("count-left").textContent = fmt(c.left_alone);
    document.getElementById("count-edited").textContent = fmt(c.edited);
  }

  function update(state) {
    const tr = rowOf(state.source);
    if (!tr) return;
    const tick = tr.querySelector("input.tick");
    if (tick) tick.checked = state.ticked;
    tr.classList.toggle("off", !state.ticked);
    tr.classList.toggle("edited", state.edited);
    const dest = tr.querySelector("input.dest");
    if (dest && document.activeElement !== dest) dest.value = state.destination;
    if (dest) dest.dataset.value = state.destination;
  }

  function problem(tr, text) {
    const el = tr.querySelector(".problem");
    if (el) el.textContent = text || "";
    tr.classList.toggle("refused", Boolean(text));
  }

  async function decide(change) {
    const tr = rowOf(change.source);
    try {
      const answer = await PO.api("POST", "/plan/decisions", { report, changes: [change] });
      for (const state of answer.rows) update(state);
      counts(answer.counts);
      if (tr) problem(tr, answer.refused.length ? answer.refused[0].error : "");
      return answer;
    } catch (e) {
      if (tr) {
        problem(tr, e.message);
        const tick = tr.querySelector("input.tick");
        if (tick && "ticked" in change) tick.checked = !change.ticked;
      } else {
        PO.toast(e.message, "error");
      }
      return null;
    }
  }

  function select(tr, focus = true) {
    if (!tr) return;
    if (current) current.classList.remove("current");
    current = tr;
    tr.classList.add("current");
    if (focus) tr.focus({ preventScroll: true });
    tr.scrollIntoView({ block: "nearest" });
  }

  for (const tr of rows()) {
    const tick = tr.querySelector("input.tick");
    const dest = tr.querySelector("input.dest");
    tr.addEventListener("click", () => select(tr, false));
    if (tick) tick.addEventListener("change", () => decide({ source: tr.dataset.source, ticked: tick.checked }));
    if (dest && dest.dataset.fixed) {
      // a file that travels with another (a sidecar, a Live Photo video) takes its name:
      // its destination is not edited on its own, and the page says why when it is tried
      dest.dataset.value = dest.value;
      const why = () => problem(tr, dest.dataset.fixed);
      dest.addEventListener("focus", why);
      dest.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === "Escape") {
          event.preventDefault();
          select(tr);
        } else {
          why();
        }
      });
    } else if (dest) {
      dest.dataset.value = dest.value;
      let tried = null; // the text last sent: a refused one is not sent again on blur
      const commit = async () => {
        if (dest.value === dest.dataset.value) { problem(tr, ""); return true; }
        if (dest.value === tried) return false;
        tried = dest.value;
        const answer = await decide({ source: tr.dataset.source, destination: dest.value.trim() || null });
        if (!answer || answer.refused.length) return false;
        dest.value = dest.dataset.value;
        tried = null;
        return true;
      };
      dest.addEventListener("keydown", async (event) => {
        if (event.key === "Enter") {
          event.preventDefault();
          if (await commit()) select(tr); // back to the rows: j/k go on
        }
        if (event.key === "Escape") {
          event.preventDefault();
          dest.value = dest.dataset.value;
          problem(tr, "");
          select(tr);
        }
      });
      dest.addEventListener("change", commit);
    }
  }

  // Filters: a select applies at once; the text on Enter.
  const filters = document.getElementById("filters");
  for (const sel of filters.querySelectorAll("select")) sel.addEventListener("change", () => submitFilters());
  filters.addEventListener("submit", (event) => { event.preventDefault(); submitFilters(); });
  function submitFilters() {
    const params = {};
    for (const [k, v] of new FormData(filters)) if (v && k !== "token") params[k] = v;
    window.location.href = PO.url("/plan", params);
  }
  function currentFilters() {
    const out = {};
    for (const [k, v] of new FormData(filters)) if (v && k !== "token" && k !== "report") out[k] = v;
    return out;
  }

  async function bulk(ticked) {
    const shown = Number(document.getElementById("shown").dataset.shown);
    const what = ticked ? "Tick" : "Leave alone";
    if (shown > 200 && !window.confirm(`${what} all ${shown.toLocaleString("en")} files this filter shows?`)) return;
    try {
      const answer = await PO.api("POST", "/plan/decisions", { report, bulk: { ...currentFilters(), ticked } });
      PO.toast(`${answer.changed} files changed`);
      window.location.reload();
    } catch (e) {
      PO.toast(e.message, "error");
    }
  }
  document.getElementById("tick-all").addEventListener("click", () => bulk(true));
  document.getElementById("untick-all").addEventListener("click", () => bulk(false));

  // Save and apply.
  const saved = document.getElementById("saved");
  async function save() {
    try {
      const answer = await PO.api("POST", "/plan/save", { report });
      const link = document.getElementById("saved-link");
      link.textContent = answer.name;
      link.href = answer.ref ? PO.url("/plan", { report: answer.ref }) : "#";
      document.getElementById("saved-command").textContent =
        `photoorganiser apply '${answer.path}' --output '${plan.dataset.served}'`;
      saved.hidden = false;
      const c = answer.counts;
      PO.toast(`Saved: ${c.transfers} to do, ${c.left_alone} left alone, ${c.edited} edited`);
      return answer;
    } catch (e) {
      PO.toast(e.message, "error");
      return null;
    }
  }
  document.getElementById("save").addEventListener("click", save);

  const dialog = document.getElementById("confirm-apply");
  document.getElementById("apply").addEventListener("click", () => {
    const ticked = document.getElementById("count-ticked").textContent;
    const left = document.getElementById("count-left").textContent;
    document.getElementById("confirm-text").textContent =
      `${ticked} files will be transferred into ${plan.dataset.library}; ${left} are left where they are.`;
    dialog.showModal();
    document.getElementById("confirm-ok").focus();
  });
  dialog.addEventListener("close", async () => {
    if (dialog.returnValue !== "apply") return;
    const answer = await save();
    if (!answer || !answer.ref) return;
    const box = document.getElementById("job");
    const bar = document.getElementById("job-progress");
    const outcome = document.getElementById("job-outcome");
    box.hidden = false;
    outcome.textContent = "";
    try {
      const { id } = await PO.api("POST", "/api/jobs", { command: "apply", report: answer.ref });
      const job = await follow(id, (j) => {
        document.getElementById("job-stage").textContent = `${j.status}${j.stage ? ": " + j.stage : ""}`;
        document.getElementById("job-numbers").textContent = numbers(j);
        setProgress(bar, j);
      });
      document.getElementById("job-title").textContent = job.status === "done" ? "Applied" : "Apply " + job.status;
      if (job.report) {
        const a = document.createElement("a");
        a.href = PO.url("/runs", { report: job.report });
        a.textContent = "its report";
        const csv = document.createElement("a");
        csv.href = PO.url("/api/jobs/" + encodeURIComponent(job.id) + "/report");
        csv.textContent = "CSV";
        outcome.append(job.error ? job.error + ": " : "", a, " (", csv, ")");
      } else if (job.error) {
        outcome.textContent = job.error;
      }
      PO.toast(job.status === "done" ? "The plan was applied" : "Apply " + job.status, job.status === "done" ? "info" : "error");
    } catch (e) {
      document.getElementById("job-title").textContent = "Apply could not start";
      outcome.textContent = e.message + " (the saved plan can be applied from a terminal, above)";
    }
  });

  // Keyboard.
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || dialog.open) return;
    const onTick = event.target.tagName === "INPUT" && event.target.type === "checkbox";
    if (onTick && event.key === " ") return; // the box's own toggle (its change event decides)
    if (!onTick && PO.typing(event)) return;
    const all = rows();
    const at = current ? all.indexOf(current) : -1;
    if (event.key === "j" || event.key === "k") {
      event.preventDefault();
      const next = event.key === "j" ? Math.min(at + 1, all.length - 1) : Math.max(at - 1, 0);
      select(all[next]);
    } else if (event.key === " " && current) {
      const tick = current.querySelector("input.tick");
      if (!tick) return;
      event.preventDefault();
      tick.checked = !tick.checked;
      decide({ source: current.dataset.source, ticked: tick.checked });
    } else if (event.key === "e" && current) {
      const dest = current.querySelector("input.dest");
      if (!dest) return;
      event.preventDefault();
      dest.focus();
      dest.select();
    } else if (event.key === "/") {
      event.preventDefault();
      const q = document.getElementById("filter-q");
      q.focus();
      q.select();
    } else if (event.key === "s") {
      event.preventDefault();
      save();
    }
  });
})();
