// The dashboard's open job: its summary, results (with the viewer), logs and event timeline,
// followed live over the job's stream; its actions and downloads (actions.js) and a batch's
// children (children.js).
//
// Only one job is open at a time: `view` holds what is shown for it, and every late answer
// checks that its view is still the open one before touching the page.
"use strict";

window.jobstreamDetail = (ctx) => {
  const { $, el, when, percentOf, clickable, api, names, Stream } = ctx;
  const PAGE = 100;  // the API's largest page
  const MAX_RESULT_ROWS = 2000;
  const MAX_TIMELINE = 500;
  const FIND_PAGES = 20;  // pages read to find one result's body before giving up
  let view = null;

  const viewer = window.jobstreamViewer(ctx);
  const actions = window.jobstreamActions({ ...ctx, reopen: (id) => ctx.openJob(id) });
  const children = window.jobstreamChildren(ctx);
  const items = window.jobstreamItems(ctx);  // a SPIDER job's (spiders.js)

  const isOpen = (v) => view === v;

  // ---- summary -------------------------------------------------------------------------------

  function showSummary(job) {
    view.job = job;
    $("d-title").textContent = job.job_title || job.id;
    $("d-id").textContent = job.id;
    $("d-type").replaceChildren(names.typeBadge(job));
    $("d-link").href = `#job=${encodeURIComponent(job.id)}`;
    $("d-parent").hidden = !job.parent_job_id;
    showProgress({ ...job, percentage: percentOf(job) });
    $("d-error").textContent = job.error || "";
    actions.show(job);
  }

  function showProgress(p) {
    $("d-progress").value = p.percentage;
    $("d-percentage").textContent = `${Number(p.percentage).toFixed(1)}%`;
    $("d-counts").textContent = `${p.done} ok, ${p.failed} failed of ${p.total}`;
    if (p.status !== undefined) showStatus(p.status);
  }

  function showStatus(status) {
    names.setStatus($("d-status"), status);
    $("detail").dataset.status = String(status);
    if (view && view.job) {
      view.job = { ...view.job, status, is_done: status >= 2 };
      actions.show(view.job);
    }
  }

  // ---- results ---------------------------------------------------------------------------------

  function resultRow(v, page) {
    const row = el("tr", null, page.ok ? "ok" : "failed");
    row.dataset.url = page.url;
    const code = page.status_code !== undefined ? page.status_code : page.status;
    const ms = page.duration_ms !== undefined ? page.duration_ms : "";
    row.append(el("td", page.url, "url"), el("td", code || ""),
               el("td", page.ok ? page.title : page.error), el("td", ms));
    clickable(row, () => openResult(v, page.url));
    return row;
  }

  // A page from the results endpoint (with its bodies) or the stream (metadata only).
  function addResult(v, page) {
    if (!isOpen(v)) return;  // another job was opened meanwhile
    const known = v.results.get(page.url);
    if (known) {
      if ("markdown" in page) known.page = page;
      return;
    }
    if (v.results.size >= MAX_RESULT_ROWS) return;
    const row = resultRow(v, page);
    v.results.set(page.url, { row, page });
    $("d-results").tBodies[0].append(row);
    showResultCount(v);
  }

  function showResultCount(v) {
    $("d-results-count").textContent = `(${Math.max(v.resultsTotal, v.results.size)})`;
    $("d-more").hidden = v.loaded >= v.resultsTotal || v.results.size >= MAX_RESULT_ROWS;
  }

  async function loadResults(v, offset) {
    const path = `/api/job/${encodeURIComponent(v.id)}/results?offset=${offset}&limit=${PAGE}`;
    const page = await api(path);
    if (!isOpen(v)) return page;
    v.resultsTotal = page.total;
    v.loaded = Math.max(v.loaded, offset + page.items.length);
    for (const item of page.items) addResult(v, item);
    showResultCount(v);
    return page;
  }

  // The viewer needs a page's bodies: a row the stream added has none until a page of
  // results holding it is read.
  async function openResult(v, url) {
    for (const row of $("d-results").tBodies[0].rows) {
      row.classList.toggle("open", row.dataset.url === url);
    }
    let entry = v.results.get(url);
    for (let offset = 0, n = 0; !("markdown" in entry.page) && n < FIND_PAGES; n++) {
      const page = await loadResults(v, offset);
      if (!isOpen(v) || !page.has_more) break;
      offset += page.items.length;
      entry = v.results.get(url);
    }
    if (isOpen(v)) viewer.show(entry.page);
  }

  // ---- logs and events -------------------------------------------------------------------------

  function addLog(v, entry) {
    if (!isOpen(v)) return;
    const key = `${entry.at}|${entry.level}|${entry.message}`;
    if (v.logs.has(key)) return;
    v.logs.add(key);
    const item = el("li", null, `log-${entry.level}`);
    item.append(el("time", when(entry.at), "muted"), el("span", ` ${entry.level}: `, "level"),
                el("span", entry.message));
    $("d-logs").append(item);
  }

  function addEvent(v, seq, kind, at) {
    if (!isOpen(v)) return;
    if (v.events.has(seq) || v.events.size >= MAX_TIMELINE) return;
    v.events.add(seq);
    const item = el("li");
    item.dataset.seq = String(seq);
    item.append(el("code", `#${seq}`, "muted"), el("span", ` ${kind} `, "kind"),
                el("time", when(at), "muted"));
    $("d-events").append(item);
    $("d-events-count").textContent = `(${v.events.size})`;
  }

  // The last page of the timeline: its last sequence is where the live stream starts.
  async function loadEvents(v) {
    const base = `/api/job/${encodeURIComponent(v.id)}/events`;
    let page = await api(`${base}?limit=${PAGE}`);
    if (page.total > PAGE) page = await api(`${base}?offset=${page.total - PAGE}&limit=${PAGE}`);
    for (const e of page.items) addEvent(v, e.sequence, e.kind, e.time);
    const last = page.items[page.items.length - 1];
    return last ? last.sequence : null;
  }

  // ---- open, follow, close ---------------------------------------------------------------------

  function clear() {
    $("d-results").tBodies[0].replaceChildren();
    $("d-logs").replaceChildren();
    $("d-events").replaceChildren();
    for (const id of ["d-results-count", "d-events-count", "d-error", "d-title", "d-id",
                      "d-counts", "d-percentage", "d-action-note"]) {
      $(id).textContent = "";
    }
    $("d-type").replaceChildren();
    $("d-more").hidden = true;
    viewer.close();
  }

  async function open(id) {
    close();
    const v = { id, job: null, results: new Map(), resultsTotal: 0, loaded: 0,
                logs: new Set(), events: new Set(), stream: null };
    view = v;
    clear();
    const panel = $("detail");
    panel.hidden = false;
    panel.dataset.loaded = "false";
    panel.dataset.jobId = id;
    if (!names.JOB_ID.test(id)) {
      $("d-error").textContent = `${id} is not a job id (26 letters and digits).`;
      return;
    }
    panel.scrollIntoView({ block: "nearest" });
    try {
      await load(v);
    } catch (err) {
      if (isOpen(v)) $("d-error").textContent = String(err.message || err);
    }
  }

  async function load(v) {
    const path = `/api/job/${encodeURIComponent(v.id)}`;
    const after = await loadEvents(v);  // first: what follows is at least this recent
    const [job, logs] = await Promise.all([api(`${path}?include=progress`), api(`${path}/logs`)]);
    if (!isOpen(v)) return;
    showSummary(job);
    await loadResults(v, 0);
    if (!isOpen(v)) return;
    for (const entry of logs) addLog(v, { at: entry.timestamp, level: entry.level,
                                          message: entry.message });
    children.show(job);
    items.show(job);
    $("detail").dataset.loaded = "true";
    follow(v, after);
  }

  function follow(v, after) {
    const now = () => Date.now();
    v.stream = new Stream(`/api/job/${encodeURIComponent(v.id)}/stream`, {}, {
      snapshot: (job) => { if (isOpen(v)) showSummary(job); },
      page: (page, id) => { addResult(v, page); addEvent(v, Number(id), "page", now()); },
      log: (entry, id) => { addLog(v, entry); addEvent(v, Number(id), "log", entry.at); },
      item: () => { if (isOpen(v)) items.onItem(); },
      status: (data, id) => {
        if (!isOpen(v)) return;
        addEvent(v, Number(id), data.event, now());
        showStatus(data.status);
        $("d-error").textContent = data.error || "";
      },
      progress: (p) => { if (isOpen(v)) showProgress(p); },
      done: (p) => {
        if (isOpen(v)) showProgress(p);
        v.stream.close();  // the server closes too; this keeps EventSource from reconnecting
        refresh(v, p).catch(() => {});  // the rows already shown stay
      },
    });
    v.stream.open(after);
  }

  // Pages from the stream carry metadata only; once the job ends, the table's total, the
  // job's final fields (an artifact's id) and any rows the first load missed are read again.
  // The stream reads the log and the job is read from the read model, which may not show the
  // end yet: it is asked again (0.1 s, 0.2 s, … 3.2 s apart), and a job read before its end
  // never replaces the ended one the stream showed.
  async function refresh(v, ended) {
    const path = `/api/job/${encodeURIComponent(v.id)}?include=progress`;
    let job = await api(path);
    for (let wait = 100; job.status !== ended.status && wait <= 3200; wait *= 2) {
      await new Promise((resolve) => setTimeout(resolve, wait));
      if (!isOpen(v)) return;
      job = await api(path);
    }
    if (!isOpen(v)) return;
    const { done, failed, total, status } = ended;
    showSummary(job.status === status ? job : { ...job, done, failed, total, status });
    items.settle(job).catch(() => {});
    await loadResults(v, 0);
  }

  function close() {
    if (view && view.stream) view.stream.close();
    children.close();
    items.close();
    viewer.close();
    view = null;
    $("detail").hidden = true;
    delete $("detail").dataset.jobId;
  }

  // A job of the list changed: the open one's summary follows it.
  function update(job) {
    if (view && view.id === job.id && view.job) showSummary({ ...view.job, ...job });
  }

  $("d-more").addEventListener("click", () => {
    if (view) loadResults(view, view.loaded).catch((err) => {
      $("d-error").textContent = String(err.message || err);
    });
  });
  $("d-parent").addEventListener("click", () => {
    if (view && view.job && view.job.parent_job_id) ctx.openJob(view.job.parent_job_id);
  });

  return { open, close, update, openId: () => (view ? view.id : null) };
};
