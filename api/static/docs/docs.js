// The API docs page: renders /schema/openapi.json as a list of operations (method, path,
// summary, parameters, body, responses), grouped by tag, with a filter. No dependencies and
// no network beyond this server; every text from the document goes in as textContent.
"use strict";

const SPEC_URL = "/schema/openapi.json";
const METHODS = ["get", "post", "put", "patch", "delete"];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function refName(ref) {
  return ref.slice(ref.lastIndexOf("/") + 1);
}

// A one-line reading of a JSON Schema: its type with the constraints a caller must meet.
function schemaText(schema) {
  if (!schema) return "";
  if (schema.$ref) return refName(schema.$ref);
  const alternatives = schema.anyOf || schema.oneOf;
  if (alternatives) return alternatives.map(schemaText).join(" | ");
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  let text = schema.type || "any";
  if (Array.isArray(text)) text = text.join(" | ");
  if (schema.type === "array") text = `array of ${schemaText(schema.items) || "any"}`;
  if (schema.format) text += ` (${schema.format})`;
  const limits = [];
  for (const [key, word] of [["minimum", "≥"], ["maximum", "≤"], ["minLength", "length ≥"],
    ["maxLength", "length ≤"], ["minItems", "items ≥"], ["maxItems", "items ≤"]]) {
    if (schema[key] !== undefined) limits.push(`${word} ${schema[key]}`);
  }
  if (schema.pattern) limits.push(`pattern ${schema.pattern}`);
  if (schema.default !== undefined) limits.push(`default ${JSON.stringify(schema.default)}`);
  return limits.length ? `${text}; ${limits.join(", ")}` : text;
}

function table(headings, rows) {
  const head = el("tr", {}, ...headings.map((h) => el("th", {}, h)));
  const body = rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c))));
  return el("table", {}, el("thead", {}, head), el("tbody", {}, ...body));
}

function parametersPart(op) {
  const params = op.parameters || [];
  if (!params.length) return null;
  const rows = params.map((p) => [
    el("code", {}, p.name), p.in, p.required ? "yes" : "no",
    el("code", {}, schemaText(p.schema)), p.description || "",
  ]);
  return [el("h3", {}, "Parameters"),
    table(["name", "in", "required", "schema", "description"], rows)];
}

function bodyPart(op) {
  const content = (op.requestBody && op.requestBody.content) || {};
  const rows = Object.entries(content).map(([type, media]) => [
    el("code", {}, type), el("code", {}, schemaText(media.schema))]);
  return rows.length ? [el("h3", {}, "Request body"), table(["content type", "schema"], rows)]
    : null;
}

function responsesPart(op) {
  const rows = Object.entries(op.responses || {}).map(([status, answer]) => {
    const content = Object.entries(answer.content || {})
      .map(([type, media]) => `${type}: ${schemaText(media.schema)}`).join("\n");
    return [el("span", { class: "status" }, status), answer.description || "", content];
  });
  return [el("h3", {}, "Responses"), table(["status", "description", "body"], rows)];
}

function operation(method, path, op) {
  const summary = op.summary || (op.description || "").split("\n")[0];
  const head = el("summary", {},
    el("span", { class: `method m-${method}` }, method),
    el("span", { class: "path" }, path),
    el("span", { class: "opsum" }, summary));
  const body = el("div", { class: "body" });
  if (op.description) body.append(el("p", {}, op.description));
  for (const part of [parametersPart(op), bodyPart(op), responsesPart(op)]) {
    if (part) body.append(...part);
  }
  const node = el("details", { class: "op", id: `${method}-${path}` }, head, body);
  node.dataset.method = method.toUpperCase();
  node.dataset.path = path;
  node.dataset.search = `${method} ${path} ${summary} ${op.description || ""}`.toLowerCase();
  return node;
}

// Operations grouped by their first tag, in the document's order.
function groups(spec) {
  const found = new Map();
  for (const [path, item] of Object.entries(spec.paths || {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = (op.tags && op.tags[0]) || "other";
      if (!found.has(tag)) found.set(tag, []);
      found.get(tag).push(operation(method, path, op));
    }
  }
  return found;
}

function render(spec) {
  const info = spec.info || {};
  document.getElementById("title").textContent = `${info.title || "API"} ${info.version || ""}`;
  document.title = `${info.title || "API"} docs`;
  const main = document.getElementById("operations");
  const toc = document.getElementById("toc");
  let count = 0;
  for (const [tag, ops] of groups(spec)) {
    const id = `tag-${tag.replace(/[^A-Za-z0-9]+/g, "-")}`;
    toc.append(el("a", { href: `#${id}` }, tag));
    main.append(el("section", { class: "tag", id }, el("h2", {}, tag), ...ops));
    count += ops.length;
  }
  const summary = document.getElementById("summary");
  summary.textContent = `${count} operations · OpenAPI ${spec.openapi || ""} · `;
  summary.append(el("a", { href: SPEC_URL }, "the document as JSON"));
}

function applyFilter(text) {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  for (const section of document.querySelectorAll("section.tag")) {
    let shown = 0;
    for (const op of section.querySelectorAll("details.op")) {
      const match = words.every((w) => op.dataset.search.includes(w));
      op.hidden = !match;
      shown += match ? 1 : 0;
    }
    section.hidden = shown === 0;
  }
}

async function start() {
  const filter = document.getElementById("filter");
  filter.addEventListener("input", () => applyFilter(filter.value));
  try {
    const resp = await fetch(SPEC_URL, { headers: { Accept: "application/json" } });
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    render(await resp.json());
    document.body.dataset.ready = "true";
  } catch (err) {
    const summary = document.getElementById("summary");
    summary.textContent = `Could not load ${SPEC_URL}: ${err.message}`;
    summary.className = "error";
  }
}

document.addEventListener("DOMContentLoaded", start);
