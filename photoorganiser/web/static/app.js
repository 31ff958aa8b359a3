// photoorganiser's shared script: the token, JSON calls, messages. No framework, no build.
"use strict";
const PO = (() => {
  const token = document.body.dataset.token;

  function url(path, params = {}) {
    const u = new URL(path, window.location.origin);
    for (const [k, v] of Object.entries(params)) {
      if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, v);
    }
    u.searchParams.set("token", token);
    return u.pathname + u.search;
  }

  async function api(method, path, body) {
    const init = { method, headers: { Authorization: "Bearer " + token } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: text }; }
    if (!response.ok) {
      const message = (data && (data.error || data.detail)) || response.statusText;
      throw new Error(message);
    }
    return data;
  }

  let toastTimer = null;
  function toast(message, kind = "info") {
    const el = document.getElementById("toast");
    if (!el) return;
    el.textContent = message;
    el.className = "show " + kind;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.className = ""; }, kind === "error" ? 8000 : 4000);
  }

  function typing(event) {
    const t = event.target;
    return t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
  }

  return { token, url, api, toast, typing };
})();
