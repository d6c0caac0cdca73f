// The dashboard's "new job" forms: crawl, scrape, novel, spider (spiders.js lists them) and
// make-artifacts, each posting to its create route.
//
// A form's body is read from its fields' `data-kind` (text, int, bool, lines, args: NAME=VALUE
// lines as an object) and its
// `fieldset[data-field]` checkbox groups; the API validates it (the forms are `novalidate`),
// and a 422's `field` puts its message next to that field. Empty optional fields are left out,
// so the API's defaults apply.
"use strict";

window.jobstreamForms = (ctx) => {
  const { $, el, api } = ctx;
  // The e-book formats (engine/domain/model.py ALL_FORMATS); a tier allows some of them.
  const FORMATS = ["epub", "json", "txt", "pdf", "mobi", "docx", "rtf", "fb2", "azw3", "lit",
                   "lrf", "pdb", "rb", "tcr"];
  const spiders = window.jobstreamSpiders(ctx);
  const LOADERS = { novel: loadSources, artifacts: loadNovels, spider: spiders.load };

  function value(input) {
    const text = input.value.trim();
    switch (input.dataset.kind) {
      case "bool": return input.checked;
      case "int": return text === "" ? undefined : Number(text);
      case "lines": {
        const lines = input.value.split("\n").map((l) => l.trim()).filter(Boolean);
        return lines.length || "required" in input.dataset ? lines : undefined;
      }
      case "args": return argsOf(input.value);
      default: return text === "" ? undefined : text;
    }
  }

  // `NAME=VALUE` lines as {NAME: VALUE} (values are strings: the API types them); a line
  // without "=" is a name with an empty value, which the API refuses naming it.
  function argsOf(text) {
    const args = {};
    for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
      const at = line.indexOf("=");
      if (at < 0) args[line] = ""; else args[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    return Object.keys(args).length ? args : undefined;
  }

  function bodyOf(form) {
    const body = {};
    for (const input of form.querySelectorAll("[name][data-kind]")) {
      const v = value(input);
      if (v !== undefined) body[input.name] = v;
    }
    for (const group of form.querySelectorAll("fieldset[data-field]")) {
      const boxes = [...group.querySelectorAll("input[type=checkbox]")];
      body[group.dataset.field] = boxes.filter((b) => b.checked).map((b) => b.value);
    }
    return body;
  }

  function clearErrors(form) {
    for (const node of form.querySelectorAll(".field-error, .form-error")) node.textContent = "";
    for (const node of form.querySelectorAll("[aria-invalid]")) {
      node.removeAttribute("aria-invalid");
    }
  }

  // The API's refusal next to the field it names (`urls[1]` is the field `urls`), else at
  // the foot of the form.
  function showError(form, err) {
    const name = err.field ? String(err.field).split(/[[.]/)[0] : "";
    const field = name ? form.querySelector(`[data-error-for="${CSS.escape(name)}"]`) : null;
    const target = field || form.querySelector(".form-error");
    target.textContent = String(err.message || err);
    if (field) {
      const input = form.querySelector(`[name="${CSS.escape(name)}"]`) || field.closest("fieldset");
      if (input) input.setAttribute("aria-invalid", "true");
    }
  }

  async function submit(form) {
    clearErrors(form);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    form.dataset.state = "sending";
    try {
      const job = await api(form.dataset.path, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Idempotency-Key": newKey() },
        body: JSON.stringify(bodyOf(form)),
      });
      form.dataset.state = "created";
      form.dataset.jobId = job.id;
      close();
      ctx.openJob(job.id);
    } catch (err) {
      form.dataset.state = "refused";
      showError(form, err);
    } finally {
      button.disabled = false;
    }
  }

  // One key per press of the button: a request retried by the browser creates one job.
  function newKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return `dash-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
  }

  // ---- choices the API knows: sources and the caller's novels --------------------------------

  async function loadSources(form) {
    const sources = await api("/api/sources");
    $("sources").replaceChildren(...sources.map((s) => new Option(s.name, s.name)));
    form.dataset.loaded = "true";
  }

  async function loadNovels(form) {
    const page = await api("/api/novels?limit=100");
    const select = form.querySelector("[name=novel_id]");
    const keep = select.value;
    const label = (n) => `${n.title} (${n.chapter_count} chapters)`;
    const first = page.items.length ? "choose a novel" : "no novels yet: fetch one first";
    const options = page.items.map((n) => new Option(label(n), n.id));
    select.replaceChildren(new Option(first, ""), ...options);
    select.value = keep;
    form.dataset.loaded = "true";
  }

  // ---- showing the forms -------------------------------------------------------------------

  function choose(kind) {
    for (const button of $("new-kinds").querySelectorAll("button")) {
      button.setAttribute("aria-pressed", String(button.dataset.kind === kind));
    }
    for (const form of $("new").querySelectorAll("form.job-form")) {
      form.hidden = form.dataset.kind !== kind;
      if (!form.hidden && LOADERS[kind]) {
        LOADERS[kind](form).catch((err) => showError(form, err));
      }
    }
  }

  function open() {
    $("new").hidden = false;
    $("new-open").setAttribute("aria-expanded", "true");
    const shown = $("new-kinds").querySelector("button[aria-pressed=true]");
    choose(shown ? shown.dataset.kind : "crawl");
  }

  function close() {
    $("new").hidden = true;
    $("new-open").setAttribute("aria-expanded", "false");
  }

  const artifactFormats = $("new-artifacts").querySelector("fieldset[data-field=formats]");
  artifactFormats.prepend(...FORMATS.map((name) => {
    const label = el("label");
    const box = el("input");
    box.type = "checkbox";
    box.value = name;
    box.checked = name === "epub";
    label.append(box, ` ${name}`);
    return label;
  }));
  artifactFormats.prepend(artifactFormats.querySelector("legend"));

  $("new-open").addEventListener("click", () => ($("new").hidden ? open() : close()));
  $("new-close").addEventListener("click", close);
  $("new-kinds").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-kind]");
    if (button) choose(button.dataset.kind);
  });
  for (const form of $("new").querySelectorAll("form.job-form[data-path]")) {
    form.addEventListener("submit", (e) => { e.preventDefault(); submit(form); });
  }

  return { open, close };
};
