// The jobstream dashboard: plain JavaScript over the REST API and its SSE streams.
//
// The API token is asked for once and kept in localStorage (`#token=...` in the URL also sets
// it). EventSource cannot send headers, so streams carry a short-lived stream token from
// POST /api/stream-token, renewed before it expires. Every value from the API is put into the
// page as text (textContent), never as HTML.
"use strict";

(() => {
  const STATUS = ["pending", "running", "success", "failed", "canceled"];
  const TYPES = {
    0: "novel", 1: "novel batch", 5: "full novel", 6: "full novel batch", 10: "chapter",
    11: "chapter batch", 20: "volume", 21: "volume batch", 30: "image", 31: "image batch",
    40: "artifact", 41: "artifact batch", 50: "scrape", 51: "scrape batch", 60: "crawl",
  };
  const TOKEN_KEY = "jobstream.token";
  const MAX_RESULT_ROWS = 500;
  const MAX_TIMELINE = 500;

  const $ = (id) => document.getElementById(id);
  const app = {
    token: null, streamToken: null, renewTimer: null, list: null, listTotal: 0, job: null,
    library: null,
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

  function setConn(state) {
    const conn = $("conn");
    conn.dataset.state = state;
    conn.textContent = state;
  }

  // ---- auth ----------------------------------------------------------------------------------

  // `#token=...` in the URL: kept like a typed token, then removed from the address bar.
  function tokenFromUrl() {
    const match = location.hash.match(/(?:^#|&)token=([^&]+)/);
    if (!match) return false;
    localStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
    return true;
  }

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

  class ApiError extends Error {}

  async function api(path, options = {}) {
    const headers = { Authorization: `Bearer ${app.token}`, ...(options.headers || {}) };
    const resp = await fetch(path, { ...options, headers });
    const body = await resp.json().catch(() => null);
    if (resp.status === 401) {
      askForToken("That token was rejected.");
      throw new ApiError("token rejected");
    }
    if (!resp.ok) throw new ApiError((body && body.detail) || `HTTP ${resp.status}`);
    return body;
  }

  // A response with a body that is not JSON (an image, a file), fetched with the token.
  async function fetchAuthed(path) {
    const resp = await fetch(path, { headers: { Authorization: `Bearer ${app.token}` } });
    if (resp.status === 401) {
      askForToken("That token was rejected.");
      throw new ApiError("token rejected");
    }
    if (!resp.ok) {
      const body = await resp.json().catch(() => null);
      throw new ApiError((body && body.detail) || `HTTP ${resp.status}`);
    }
    return resp;
  }

  // A fresh stream token, and a timer to renew it at 80% of its remaining life.
  async function renewStreamToken() {
    const issued = await api("/api/stream-token", { method: "POST" });
    app.streamToken = issued.token;
    const life = issued.expires_at - Date.now();
    clearTimeout(app.renewTimer);
    app.renewTimer = setTimeout(() => renewStreamToken().catch(() => {}), Math.max(5000, life * 0.8));
  }

  // ---- a stream that survives drops (stream.js) ----------------------------------------------

  const Stream = window.jobstreamStream({
    streamToken: () => app.streamToken, renew: renewStreamToken, setConn,
  });

  // ---- the job list ----------------------------------------------------------------------------

  function jobRow(job) {
    const row = el("tr");
    row.dataset.jobId = job.id;
    const name = el("td");
    name.append(el("div", job.job_title || job.id, "title"), el("code", job.id, "muted"));
    const bar = el("progress");
    bar.max = 100;
    const progress = el("td", null, "progress");
    progress.append(bar, el("span"));
    row.append(name, el("td", TYPES[job.type] || job.type), el("td", null, "status"), progress,
               el("td", null, "counts"), el("td", when(job.created_at), "muted created"));
    row.addEventListener("click", () => openJob(job.id));
    updateRow(row, job);
    return row;
  }

  function updateRow(row, job) {
    const pct = percentOf(job);
    row.dataset.status = String(job.status);
    row.dataset.percentage = String(pct);
    const status = row.querySelector(".status");
    status.textContent = STATUS[job.status] || job.status;
    status.dataset.status = String(job.status);
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
      body.prepend(jobRow(job));  // a new job: the list is newest first
      showCount(app.listTotal + 1);
    }
    if (app.job && app.job.id === job.id) showSummary(job);
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
    if ($("f-status").value) params.status = $("f-status").value;
    if ($("f-category").value) params.category = $("f-category").value;
    const body = $("jobs").tBodies[0];
    app.list = new Stream("/api/jobs/stream", params, {
      snapshot: (data) => {
        body.replaceChildren(...data.items.map(jobRow));
        showCount(data.total);
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

  // ---- one job -----------------------------------------------------------------------------------

  function showSummary(job) {
    $("d-title").textContent = job.job_title || job.id;
    $("d-id").textContent = job.id;
    showProgress({ ...job, percentage: percentOf(job) });
    $("d-error").textContent = job.error || "";
  }

  function addResult(view, page) {
    if (app.job !== view) return;  // another job was opened meanwhile
    if (view.results.has(page.url) || view.results.size >= MAX_RESULT_ROWS) return;
    const row = el("tr", null, page.ok ? "ok" : "failed");
    const cell = el("td");
    if (/^https?:\/\//i.test(page.url)) {
      const link = el("a", page.url);
      link.href = page.url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      cell.append(link);
    } else {
      cell.textContent = page.url;
    }
    const code = page.status_code !== undefined ? page.status_code : page.status;
    const ms = page.duration_ms !== undefined ? page.duration_ms : "";
    row.append(cell, el("td", code || ""), el("td", page.ok ? page.title : page.error), el("td", ms));
    view.results.set(page.url, row);
    $("d-results").tBodies[0].append(row);
    $("d-results-count").textContent = `(${Math.max(view.resultsTotal, view.results.size)})`;
  }

  function addLog(view, entry) {
    if (app.job !== view) return;  // another job was opened meanwhile
    const key = `${entry.at}|${entry.level}|${entry.message}`;
    if (view.logs.has(key)) return;
    view.logs.add(key);
    const item = el("li", null, `log-${entry.level}`);
    item.append(el("time", when(entry.at), "muted"), el("span", ` ${entry.level}: `, "level"),
                el("span", entry.message));
    $("d-logs").append(item);
  }

  function addEvent(view, seq, kind, at) {
    if (app.job !== view) return;  // another job was opened meanwhile
    if (view.events.has(seq) || view.events.size >= MAX_TIMELINE) return;
    view.events.add(seq);
    const item = el("li");
    item.dataset.seq = String(seq);
    item.append(el("code", `#${seq}`, "muted"), el("span", ` ${kind} `, "kind"),
                el("time", when(at), "muted"));
    $("d-events").append(item);
    $("d-events-count").textContent = `(${view.events.size})`;
  }

  // The last page of the timeline: its last sequence is where the live stream starts.
  async function loadEvents(view) {
    const base = `/api/job/${encodeURIComponent(view.id)}/events`;
    let page = await api(`${base}?limit=100`);
    if (page.total > 100) page = await api(`${base}?offset=${page.total - 100}&limit=100`);
    for (const e of page.items) addEvent(view, e.sequence, e.kind, e.time);
    const last = page.items[page.items.length - 1];
    return last ? last.sequence : null;
  }

  async function openJob(id) {
    closeJob();
    const view = { id, results: new Map(), resultsTotal: 0, logs: new Set(), events: new Set(),
                   stream: null };
    app.job = view;
    for (const part of ["d-results", "d-logs", "d-events"]) {
      const node = part === "d-results" ? $(part).tBodies[0] : $(part);
      node.replaceChildren();
    }
    $("d-results-count").textContent = "";
    $("d-events-count").textContent = "";
    $("detail").hidden = false;
    $("detail").dataset.loaded = "false";
    const path = `/api/job/${encodeURIComponent(id)}`;
    try {
      const after = await loadEvents(view);  // first: what follows is at least this recent
      const [job, results, logs] = await Promise.all([
        api(`${path}?include=progress`), api(`${path}/results?limit=100`), api(`${path}/logs`),
      ]);
      if (app.job !== view) return;
      showSummary(job);
      view.resultsTotal = results.total;
      for (const page of results.items) addResult(view, page);
      for (const entry of logs) addLog(view, { at: entry.timestamp, level: entry.level,
                                               message: entry.message });
      $("detail").dataset.loaded = "true";
      followJob(view, after);
    } catch (err) {
      if (app.job === view) $("d-error").textContent = String(err.message || err);
    }
  }

  function followJob(view, after) {
    const now = () => Date.now();
    view.stream = new Stream(`/api/job/${encodeURIComponent(view.id)}/stream`, {}, {
      snapshot: (job) => showSummary(job),
      page: (page, id) => { addResult(view, page); addEvent(view, Number(id), "page", now()); },
      log: (entry, id) => { addLog(view, entry); addEvent(view, Number(id), "log", entry.at); },
      status: (data, id) => {
        addEvent(view, Number(id), data.event, now());
        $("d-status").textContent = data.status_name;
        $("d-status").dataset.status = String(data.status);
        $("d-error").textContent = data.error || "";
      },
      progress: (p) => showProgress(p),
      done: (p) => {
        showProgress(p);
        view.stream.close();  // the server closes too; this keeps EventSource from reconnecting
        refreshResults(view).catch(() => {});  // the rows already shown stay
      },
    });
    view.stream.open(after);
  }

  function showProgress(p) {
    $("d-progress").value = p.percentage;
    $("d-percentage").textContent = `${Number(p.percentage).toFixed(1)}%`;
    $("d-counts").textContent = `${p.done} ok, ${p.failed} failed of ${p.total}`;
    if (p.status !== undefined) {
      $("d-status").textContent = STATUS[p.status] || p.status;
      $("d-status").dataset.status = String(p.status);
      $("detail").dataset.status = String(p.status);
    }
  }

  // Pages from the stream carry metadata only; once the job ends, the table's total and
  // any rows the first load missed come from the results endpoint.
  async function refreshResults(view) {
    const results = await api(`/api/job/${encodeURIComponent(view.id)}/results?limit=100`);
    if (app.job !== view) return;
    view.resultsTotal = results.total;
    for (const page of results.items) addResult(view, page);
    $("d-results-count").textContent = `(${Math.max(view.resultsTotal, view.results.size)})`;
  }

  function closeJob() {
    if (app.job && app.job.stream) app.job.stream.close();
    app.job = null;
    $("detail").hidden = true;
  }

  // ---- start -------------------------------------------------------------------------------------

  // ---- views -------------------------------------------------------------------------------------

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
    closeJob();
    if (app.list) app.list.close();
    app.list = null;
    clearTimeout(app.renewTimer);
    setConn("offline");
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
  }

  document.addEventListener("DOMContentLoaded", () => {
    app.library = window.jobstreamLibrary({ $, el, api, fetchAuthed });
    $("tab-jobs").addEventListener("click", () => showView("jobs"));
    $("tab-library").addEventListener("click", () => showView("library"));
    $("f-status").append(...STATUS.map((name, status) => new Option(name, String(status))));
    $("login").addEventListener("submit", (e) => {
      e.preventDefault();
      localStorage.setItem(TOKEN_KEY, $("token").value.trim());
      $("token").value = "";
      start();
    });
    $("logout").addEventListener("click", () => askForToken(""));
    $("f-status").addEventListener("change", openList);
    $("f-category").addEventListener("change", openList);
    $("d-close").addEventListener("click", closeJob);
    window.addEventListener("hashchange", () => { if (tokenFromUrl()) start(); });
    tokenFromUrl();
    start();
  });
})();
