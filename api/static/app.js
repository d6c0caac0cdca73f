// The jobstream dashboard: plain JavaScript over the REST API and its SSE streams.
//
// The API token is asked for once and kept in localStorage (`#token=...` in the URL also sets
// it). EventSource cannot send headers, so streams carry a short-lived stream token from
// POST /api/stream-token, renewed before it expires. Every value from the API is put into the
// page as text (textContent), never as HTML. `#job=ID` in the URL opens that job.
//
// This file holds the shared helpers, the token, the job list and the address bar; the open job
// is detail.js (with actions.js and viewer.js), the new-job forms forms.js, the library
// library.js.
"use strict";

(() => {
  const names = window.jobstreamNames;
  const TOKEN_KEY = "jobstream.token";
  const FILTERS = [["status", "f-status"], ["type", "f-type"], ["category", "f-category"]];

  const $ = (id) => document.getElementById(id);
  const app = {
    token: null, streamToken: null, renewTimer: null, list: null, listTotal: 0,
    library: null, detail: null, forms: null,
  };

  // ---- small DOM helpers -------------------------------------------------------------------

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function when(ms) {
    return ms ? new Date(ms).toLocaleString() : "";
  }

  function percentOf(job) {
    const p = job.progress;
    return Number(typeof p === "object" && p !== null ? p.percentage : p) || 0;
  }

  // A table row that opens something on a click, or on Enter once focused with Tab.
  function clickable(row, action) {
    row.tabIndex = 0;
    row.addEventListener("click", action);
    row.addEventListener("keydown", (e) => { if (e.key === "Enter") action(); });
  }

  function setConn(state) {
    const conn = $("conn");
    conn.dataset.state = state;
    conn.textContent = state;
  }

  // ---- the address bar: `#token=...&job=...` -----------------------------------------------

  function hashParams() {
    const params = new Map();
    for (const part of location.hash.replace(/^#/, "").split("&")) {
      const at = part.indexOf("=");
      if (at > 0) params.set(part.slice(0, at), decodeURIComponent(part.slice(at + 1)));
    }
    return params;
  }

  function setHash(params) {
    const text = [...params].map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
    history.replaceState(null, "", location.pathname + location.search + (text ? `#${text}` : ""));
  }

  // `#token=...`: kept like a typed token, then removed from the address bar (the rest stays).
  function tokenFromUrl() {
    const params = hashParams();
    if (!params.has("token")) return false;
    localStorage.setItem(TOKEN_KEY, params.get("token"));
    params.delete("token");
    setHash(params);
    return true;
  }

  // The open job in the address bar, so the URL can be copied to open it again.
  function showJobInUrl(id) {
    const params = hashParams();
    if (id) params.set("job", id); else params.delete("job");
    setHash(params);
  }

  function jobFromUrl() {
    return hashParams().get("job") || null;
  }

  // ---- auth ----------------------------------------------------------------------------------

  function askForToken(message) {
    stopAll();
    localStorage.removeItem(TOKEN_KEY);
    app.token = null;
    $("main").hidden = true;
    $("logout").hidden = true;
    $("tabs").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("token").focus();
  }

  // An answer of the API that is not a success: its status, message and the field it names.
  class ApiError extends Error {
    constructor(message, status, field) {
      super(message);
      this.status = status;
      this.field = field || null;
    }
  }

  async function failure(resp) {
    const body = await resp.json().catch(() => null);
    if (resp.status === 401) {
      askForToken("That token was rejected.");
      return new ApiError("token rejected", 401);
    }
    const detail = (body && body.detail) || `HTTP ${resp.status}`;
    return new ApiError(detail, resp.status, body && body.field);
  }

  async function api(path, options = {}) {
    const headers = { Authorization: `Bearer ${app.token}`, ...(options.headers || {}) };
    const resp = await fetch(path, { ...options, headers });
    if (!resp.ok) throw await failure(resp);
    return resp.json().catch(() => null);
  }

  // A response with a body that is not JSON (an image, a file), fetched with the token.
  async function fetchAuthed(path) {
    const resp = await fetch(path, { headers: { Authorization: `Bearer ${app.token}` } });
    if (!resp.ok) throw await failure(resp);
    return resp;
  }

  // The file's name from Content-Disposition (RFC 5987 `filename*` first), else `fallback`.
  function fileNameOf(resp, fallback) {
    const header = resp.headers.get("Content-Disposition") || "";
    const star = /filename\*\s*=\s*[^']*'[^']*'([^;]+)/i.exec(header);
    if (star) return decodeURIComponent(star[1].trim());
    const plain = /filename\s*=\s*"?([^";]+)"?/i.exec(header);
    return plain ? plain[1].trim() : fallback;
  }

  // A download that needs the token: fetched, then saved through an object URL. `link` shows
  // how it went in data-state (fetching, saved, failed) and data-bytes.
  async function saveAuthed(link, path, fallbackName) {
    link.dataset.state = "fetching";
    try {
      const resp = await fetchAuthed(path);
      const blob = await resp.blob();
      const url = URL.createObjectURL(blob);
      const save = el("a");
      save.href = url;
      save.download = fileNameOf(resp, fallbackName);
      document.body.append(save);
      save.click();
      save.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);  // the download has started by then
      link.dataset.bytes = String(blob.size);
      link.dataset.state = "saved";
    } catch (err) {
      link.dataset.state = "failed";
      throw err;
    }
  }

  // A fresh stream token, and a timer to renew it at 80% of its remaining life.
  async function renewStreamToken() {
    const issued = await api("/api/stream-token", { method: "POST" });
    app.streamToken = issued.token;
    const life = issued.expires_at - Date.now();
    clearTimeout(app.renewTimer);
    const renew = () => renewStreamToken().catch(() => {});
    app.renewTimer = setTimeout(renew, Math.max(5000, life * 0.8));
  }

  // ---- a stream that survives drops (stream.js) ----------------------------------------------

  const Stream = window.jobstreamStream({
    streamToken: () => app.streamToken, renew: renewStreamToken, setConn,
  });

  // ---- the job list ----------------------------------------------------------------------------

  function jobRow(job, open) {
    const row = el("tr");
    row.dataset.jobId = job.id;
    const name = el("td", null, "name");
    name.append(el("div", job.job_title || job.id, "title"), el("code", job.id, "muted id"));
    const bar = el("progress");
    bar.max = 100;
    const progress = el("td", null, "progress");
    progress.append(bar, el("span"));
    const type = el("td", null, "type-col");
    type.append(names.typeBadge(job));
    const status = el("td");
    status.append(names.statusBadge(job.status));
    row.append(name, type, status, progress, el("td", null, "counts counts-col"),
               el("td", when(job.created_at), "muted created"));
    clickable(row, () => open(job.id));
    updateRow(row, job);
    return row;
  }

  function updateRow(row, job) {
    const pct = percentOf(job);
    row.dataset.status = String(job.status);
    row.dataset.percentage = String(pct);
    names.setStatus(row.querySelector(".status"), job.status);
    row.querySelector("progress").value = pct;
    row.querySelector(".progress span").textContent = `${pct.toFixed(1)}%`;
    row.querySelector(".counts").textContent = `${job.done} / ${job.failed} / ${job.total}`;
  }

  function upsertJob(job) {
    const body = $("jobs").tBodies[0];
    const row = body.querySelector(`tr[data-job-id="${CSS.escape(job.id)}"]`);
    if (row) {
      updateRow(row, job);
    } else {
      body.prepend(jobRow(job, openJob));  // a new job: the list is newest first
      showCount(app.listTotal + 1);
    }
    app.detail.update(job);
  }

  function showCount(total) {
    app.listTotal = Math.max(0, total);
    const shown = $("jobs").tBodies[0].rows.length;
    $("count").textContent = shown < app.listTotal ? `${shown} of ${app.listTotal} jobs`
                                                   : `${app.listTotal} jobs`;
    $("empty").hidden = shown > 0;
  }

  function openList() {
    if (app.list) app.list.close();
    const params = {};
    for (const [key, id] of FILTERS) {
      if ($(id).value) params[key] = $(id).value;
    }
    const body = $("jobs").tBodies[0];
    app.list = new Stream("/api/jobs/stream", params, {
      snapshot: (data) => {
        body.replaceChildren(...data.items.map((job) => jobRow(job, openJob)));
        showCount(data.total);
        markOpen();
      },
      status: upsertJob,
      progress: upsertJob,
      removed: (data) => {
        const row = body.querySelector(`tr[data-job-id="${CSS.escape(data.id)}"]`);
        if (row) { row.remove(); showCount(app.listTotal - 1); }
      },
      reset: () => app.list.reopen(null),  // too much changed to resume: start from a snapshot
    });
    app.list.open(null);
  }

  // The open job's row stands out in the list.
  function markOpen() {
    const open = app.detail && app.detail.openId();
    for (const row of $("jobs").tBodies[0].rows) {
      row.classList.toggle("open", row.dataset.jobId === open);
    }
  }

  function openJob(id) {
    showJobInUrl(id);
    app.detail.open(id);
    markOpen();
  }

  function closeJob() {
    showJobInUrl(null);
    app.detail.close();
    markOpen();
  }

  // ---- views ----------------------------------------------------------------------------------

  function showView(name) {
    const library = name === "library";
    $("main").dataset.view = name;
    $("jobs-view").hidden = library;
    $("library-view").hidden = !library;
    $("tab-jobs").setAttribute("aria-pressed", String(!library));
    $("tab-library").setAttribute("aria-pressed", String(library));
    if (library) app.library.open();
  }

  function stopAll() {
    if (app.library) app.library.close();
    showView("jobs");
    if (app.detail) app.detail.close();
    if (app.list) app.list.close();
    app.list = null;
    clearTimeout(app.renewTimer);
    setConn("offline");
  }

  // The job named in the address bar, opened unless it is open already.
  function followUrl() {
    const id = jobFromUrl();
    if (id && id !== app.detail.openId()) {
      showView("jobs");
      openJob(id);
    }
  }

  async function start() {
    stopAll();
    app.token = localStorage.getItem(TOKEN_KEY);
    if (!app.token) { askForToken(""); return; }
    try {
      await renewStreamToken();
    } catch (err) {
      if (!app.token) return;  // rejected: the token form is showing
      setConn("unreachable");  // the API is down or restarting: try again shortly
      app.renewTimer = setTimeout(start, 3000);
      return;
    }
    $("login").hidden = true;
    $("main").hidden = false;
    $("logout").hidden = false;
    $("tabs").hidden = false;
    openList();
    followUrl();
  }

  function wire() {
    const ctx = {
      $, el, when, percentOf, clickable, api, fetchAuthed, saveAuthed, names, Stream,
      md: window.jobstreamMarkdown, openJob: (id) => openJob(id), closeJob: () => closeJob(),
      openNovel: (id) => { showView("library"); app.library.openNovel(id); },
    };
    app.library = window.jobstreamLibrary(ctx);
    app.detail = window.jobstreamDetail(ctx);
    app.forms = window.jobstreamForms(ctx);
    $("tab-jobs").addEventListener("click", () => showView("jobs"));
    $("tab-library").addEventListener("click", () => showView("library"));
    $("f-status").append(...names.STATUS.map((name, status) => new Option(name, String(status))));
    $("f-type").append(...Object.entries(names.TYPES).map(([n, name]) => new Option(name, n)));
    $("login").addEventListener("submit", (e) => {
      e.preventDefault();
      localStorage.setItem(TOKEN_KEY, $("token").value.trim());
      $("token").value = "";
      start();
    });
    $("logout").addEventListener("click", () => askForToken(""));
    for (const [, id] of FILTERS) $(id).addEventListener("change", openList);
    $("d-close").addEventListener("click", closeJob);
    window.addEventListener("hashchange", () => {
      if (tokenFromUrl()) start(); else if (app.token) followUrl();
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    wire();
    tokenFromUrl();
    start();
  });
})();
