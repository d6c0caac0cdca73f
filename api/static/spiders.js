// Spiders in the dashboard: the list of the caller's spiders in the "spider" new-job form
// (a row or the select picks the one to run; its arguments show as the textarea's hint),
// and a SPIDER job's items as a table in the open job.
//
// Items are read from GET /api/job/{id}/items in the order they were recorded, by offset,
// so rows are never repeated: an `item` frame on the job's stream only asks for the next
// page, and the job's end reads until the count its row gives (the read model may lag).
"use strict";

window.jobstreamSpiders = (ctx) => {
  const { $, el, clickable, api } = ctx;
  const PAGE = 100;  // the API's largest page

  function argumentsHint(spider) {
    const lines = Object.entries(spider.arguments || {}).map(([name, arg]) => {
      const about = arg.required ? `${arg.type}, required`
        : `${arg.type}${arg.default !== null && arg.default !== undefined
          ? `, default ${JSON.stringify(arg.default)}` : ""}`;
      return `${name}=  (${about})`;
    });
    return lines.length ? lines.join("\n") : "no arguments";
  }

  function describe(spider) {
    return Object.entries(spider.arguments || {})
      .map(([name, arg]) => `${name}: ${arg.type}${arg.required ? " (required)" : ""}`)
      .join(", ");
  }

  function pick(form, spiders, id) {
    const select = form.querySelector("[name=spider_id]");
    select.value = id;
    const spider = spiders.find((s) => s.id === id);
    form.querySelector("[name=arguments]").placeholder = spider ? argumentsHint(spider) : "";
    for (const row of $("spiders").tBodies[0].rows) {
      row.classList.toggle("open", row.dataset.spiderId === id);
    }
  }

  function spiderRow(form, spiders, spider) {
    const row = el("tr");
    row.dataset.spiderId = spider.id;
    const name = el("td", null, "name");
    name.append(el("div", spider.name, "title"), el("code", spider.id, "muted id"));
    row.append(name, el("td", spider.version), el("td", spider.origin), el("td", describe(spider)),
               el("td", spider.description || "", "muted"));
    clickable(row, () => pick(form, spiders, spider.id));
    return row;
  }

  // Every spider the caller sees, into the select and the table; the choice is kept.
  async function load(form) {
    const spiders = [];
    for (let page = null; !page || (page.has_more && page.items.length);) {
      page = await api(`/api/spiders?limit=${PAGE}&offset=${spiders.length}`);
      spiders.push(...page.items);
    }
    const select = form.querySelector("[name=spider_id]");
    const keep = select.value;
    const first = spiders.length ? "choose a spider"
                                 : "no spiders yet: jobstream spider add FILE.json";
    select.replaceChildren(new Option(first, ""),
                           ...spiders.map((s) => new Option(`${s.name} (v${s.version})`, s.id)));
    $("spiders").tBodies[0].replaceChildren(...spiders.map((s) => spiderRow(form, spiders, s)));
    $("spiders-count").textContent = `(${spiders.length})`;
    select.onchange = () => pick(form, spiders, select.value);
    pick(form, spiders, spiders.some((s) => s.id === keep) ? keep : "");
    form.dataset.loaded = "true";
  }

  return { load };
};

window.jobstreamItems = (ctx) => {
  const { $, el, api, saveAuthed } = ctx;
  const SPIDER = 70;
  const PAGE = 100;
  const LIVE_ROWS = 500;  // rows read as items arrive; more with the button
  const SETTLE_TRIES = 20;  // reads, 250 ms apart, for the read model to hold every item
  let state = null;

  const isOpen = (s) => state === s;

  function cell(value) {
    if (value === null || value === undefined) return el("td", "", "muted");
    return el("td", typeof value === "string" ? value : JSON.stringify(value));
  }

  // A field met for the first time gets a column (earlier rows get an empty cell).
  function columnsFor(s, data) {
    const head = $("d-items").tHead.rows[0];
    for (const name of Object.keys(data)) {
      if (s.fields.includes(name)) continue;
      s.fields.push(name);
      head.insertBefore(el("th", name), head.lastElementChild);
      for (const row of $("d-items").tBodies[0].rows) {
        row.insertBefore(el("td", "", "muted"), row.lastElementChild);
      }
    }
  }

  function addRow(s, item) {
    columnsFor(s, item.data);
    const row = el("tr");
    row.append(...s.fields.map((name) => cell(item.data[name])), el("td", item.url, "url"));
    $("d-items").tBodies[0].append(row);
  }

  function showCount(s) {
    const shown = $("d-items").tBodies[0].rows.length;
    $("d-items-count").textContent = shown < s.total ? `(${shown} of ${s.total})` : `(${s.total})`;
    $("d-items-more").hidden = shown >= s.total;
    $("d-items-box").dataset.rows = String(shown);
  }

  // The next page after the rows shown; the number of rows it added.
  async function more(s) {
    const path = `/api/job/${encodeURIComponent(s.id)}/items`;
    const page = await api(`${path}?offset=${s.loaded}&limit=${PAGE}`);
    if (!isOpen(s)) return 0;
    for (const item of page.items) addRow(s, item);
    s.loaded += page.items.length;
    s.total = Math.max(s.total, page.total);
    showCount(s);
    return page.items.length;
  }

  // One read at a time; frames that arrive meanwhile ask for one more read after it.
  async function pull(s) {
    if (s.reading) { s.again = true; return; }
    s.reading = true;
    try {
      do {
        s.again = false;
        while (s.loaded < LIVE_ROWS && (await more(s)) === PAGE && isOpen(s));
      } while (s.again && isOpen(s));
    } finally {
      s.reading = false;
    }
  }

  function show(job) {
    close();
    const box = $("d-items-box");
    box.hidden = job.type !== SPIDER;
    if (box.hidden) return;
    const s = { id: job.id, fields: [], loaded: 0, total: job.items_scraped || 0,
                reading: false, again: false };
    state = s;
    box.dataset.settled = "false";
    const failed = (err) => { if (isOpen(s)) $("d-items-error").textContent = String(err.message || err); };
    if (job.is_done) settle(job).catch(failed); else pull(s).catch(failed);
  }

  // An `item` frame: the job's count goes up, the table reads what is new.
  function onItem() {
    const s = state;
    if (!s) return;
    s.total += 1;
    showCount(s);
    pull(s).catch(() => {});
  }

  // The job ended: read until the table holds every item its row counts.
  async function settle(job) {
    const s = state;
    if (!s || s.id !== job.id) return;
    for (let n = 0; n < SETTLE_TRIES && isOpen(s); n++) {
      const row = await api(`/api/job/${encodeURIComponent(s.id)}`);
      if (!isOpen(s)) return;
      s.total = row.items_scraped || 0;
      await pull(s);
      if (row.is_done && Math.min(s.total, LIVE_ROWS) <= s.loaded) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    if (isOpen(s)) {
      showCount(s);
      $("d-items-box").dataset.settled = "true";
    }
  }

  function close() {
    state = null;
    const table = $("d-items");
    table.tHead.rows[0].replaceChildren(el("th", "page"));
    table.tBodies[0].replaceChildren();
    $("d-items-count").textContent = "";
    $("d-items-error").textContent = "";
    $("d-items-more").hidden = true;
    $("d-items-box").hidden = true;
  }

  $("d-items-more").addEventListener("click", () => {
    const s = state;
    if (s) more(s).catch((err) => { $("d-items-error").textContent = String(err.message || err); });
  });
  $("d-items-export").addEventListener("click", (e) => {
    const s = state;
    if (!s) return;
    const path = `/api/job/${encodeURIComponent(s.id)}/export?type=items`;
    saveAuthed(e.currentTarget, path, `${s.id}-items.jsonl`).catch((err) => {
      $("d-items-error").textContent = String(err.message || err);
    });
  });

  return { show, onItem, settle, close };
};
