// Runs and jobs: undo a run (after a confirmation) as a job, and the jobs of this server,
// refreshed while any of them is queued or running.
"use strict";
(() => {
  const ACTIVE = ["queued", "running"];
  const table = document.getElementById("jobs");
  const body = table ? table.querySelector("tbody") : null;
  const empty = document.getElementById("jobs-empty");
  const dialog = document.getElementById("confirm-undo");
  const followed = new Set();  // jobs started here: the runs list is reloaded when they end
  let timer = null;
  let unavailable = false;

  function cell(row, content) {
    const td = document.createElement("td");
    if (content instanceof Node) td.appendChild(content);
    else td.textContent = content === undefined || content === null ? "" : String(content);
    row.appendChild(td);
    return td;
  }

  function eta(seconds) {
    if (seconds === undefined || seconds === null || seconds < 0) return "";
    const s = Math.round(seconds);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  function reportNode(report) {
    if (!report) return "";
    const text = String(report);
    if (/^\d+:[^/]+$/.test(text)) {
      const a = document.createElement("a");
      a.href = PO.url("/runs/report/view", { ref: text });
      a.textContent = text.slice(text.indexOf(":") + 1);
      return a;
    }
    const span = document.createElement("span");
    span.className = "muted";
    span.textContent = text;
    return span;
  }

  function pill(status) {
    const span = document.createElement("span");
    const kind = { done: "keep", failed: "drop", cancelled: "warn", running: "warn" }[status] || "";
    span.className = "pill " + kind;
    span.textContent = status;
    return span;
  }

  function progress(job) {
    const done = job.done || 0;
    if (!job.total) return done ? String(done) : "";
    const wrap = document.createElement("span");
    const bar = document.createElement("progress");
    bar.max = job.total;
    bar.value = Math.min(done, job.total);
    wrap.appendChild(bar);
    wrap.appendChild(document.createTextNode(" " + done + " / " + job.total));
    return wrap;
  }

  function render(jobs) {
    if (!body) return;
    body.replaceChildren();
    for (const job of jobs) {
      const row = document.createElement("tr");
      row.dataset.job = job.id;
      cell(row, job.id);
      const run = job.options && job.options.run;
      cell(row, job.command + (run ? " " + run : ""));
      const status = cell(row, pill(job.status));
      if (job.error) {
        const why = document.createElement("div");
        why.className = "error";
        why.textContent = job.error;
        status.appendChild(why);
      }
      cell(row, job.stage);
      cell(row, progress(job));
      cell(row, ACTIVE.includes(job.status) ? eta(job.eta_s) : "");
      // the report, once the job has written it (a job record without the flag: shown)
      cell(row, job.report_exists === false ? "" : reportNode(job.report));
      const actions = cell(row, "");
      if (ACTIVE.includes(job.status)) {
        const cancel = document.createElement("button");
        cancel.type = "button";
        cancel.className = "cancel";
        cancel.textContent = "Cancel";
        cancel.addEventListener("click", () => cancelJob(job.id, cancel));
        actions.appendChild(cancel);
      }
      body.appendChild(row);
    }
    table.classList.toggle("hidden", jobs.length === 0);
    if (empty) empty.classList.toggle("hidden", jobs.length !== 0);
  }

  async function refresh() {
    let jobs;
    try {
      const data = await PO.api("GET", "/api/jobs");
      jobs = Array.isArray(data) ? data : (data && data.jobs) || [];
      unavailable = false;
    } catch (e) {
      if (!unavailable && empty) empty.textContent = "The job queue cannot be reached: " + e.message;
      unavailable = true;
      schedule(false);
      return;
    }
    render(jobs);
    let ended = false;
    for (const job of jobs) {
      if (followed.has(job.id) && !ACTIVE.includes(job.status)) {
        followed.delete(job.id);
        ended = true;
        PO.toast(job.command + " " + job.status, job.status === "done" ? "info" : "error");
      }
    }
    if (ended) {
      setTimeout(() => window.location.reload(), 1500);  // the runs list has changed
    }
    schedule(jobs.some((j) => ACTIVE.includes(j.status)));
  }

  function schedule(active) {
    clearTimeout(timer);
    if (active) timer = setTimeout(refresh, 1500);
  }

  async function cancelJob(id, button) {
    button.disabled = true;
    try {
      await PO.api("DELETE", "/api/jobs/" + encodeURIComponent(id));
      PO.toast("cancelling job " + id);
    } catch (e) {
      PO.toast("cannot cancel: " + e.message, "error");
      button.disabled = false;
    }
    refresh();
  }

  async function startUndo(run) {
    try {
      const job = await PO.api("POST", "/api/jobs", { command: "undo", run });
      followed.add(job.id);
      PO.toast("undo of run " + run + " started");
    } catch (e) {
      PO.toast("cannot start the undo: " + e.message, "error");
    }
    refresh();
  }

  let pending = null;
  function confirmUndo(button) {
    const d = button.dataset;
    pending = d.run;
    document.getElementById("confirm-run").textContent = d.run;
    document.getElementById("confirm-command").textContent = d.kind + ": " + d.command;
    document.getElementById("confirm-what").textContent = d.what;
    dialog.returnValue = "";
    dialog.showModal();
    document.getElementById("confirm-cancel").focus();
  }

  if (dialog) {
    dialog.addEventListener("close", () => {
      if (dialog.returnValue === "undo" && pending) startUndo(pending);
      pending = null;
    });
  }
  for (const button of document.querySelectorAll("button.undo")) {
    button.addEventListener("click", () => confirmUndo(button));
  }

  // a link to a run (#run-ID, from a photo's page) shows that run
  if (window.location.hash.startsWith("#run-")) {
    const row = document.getElementById(decodeURIComponent(window.location.hash.slice(1)));
    if (row) row.classList.add("target");
  }

  refresh();
})();
