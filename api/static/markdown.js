// A small, safe markdown renderer for the result viewer: headings, paragraphs, lists, quotes,
// code and rules; links, code spans, bold and emphasis inline.
//
// It builds DOM nodes with createElement and textContent only, so no text of a page (HTML tags
// included) is ever parsed as HTML: a `<script>` in the markdown shows as the characters
// `<script>`. Links keep only http(s) targets, resolved against the page's URL; images show as
// links to the image (the page loads nothing from other sites).
"use strict";

window.jobstreamMarkdown = (() => {
  const MAX_CHARS = 200000;  // past this the rest is cut, with a note saying so
  const MAX_NESTING = 8;
  // `(target "title")` after a link's text: the target may hold one level of parentheses.
  const TARGET = /\(\s*<?((?:[^()\s>]|\([^()\s]*\))*)>?(?:\s+"[^"]*")?\s*\)/.source;
  const INLINE = new RegExp([
    /(`+)([^`][\s\S]*?)\1/.source,  // 1, 2: a code span
    /!\[([^\]]*)\]/.source + TARGET,  // 3, 4: an image
    /\[((?:[^[\]]|\[[^\]]*\])+)\]/.source + TARGET,  // 5, 6: a link
    /<(https?:\/\/[^>\s]+)>/.source,  // 7: an autolink
    /\*\*(\S(?:[\s\S]*?\S)?)\*\*|__(\S(?:[\s\S]*?\S)?)__/.source,  // 8, 9: strong
    /\*(\S(?:[\s\S]*?\S)?)\*|(?<![\w])_(\S(?:[\s\S]*?\S)?)_(?![\w])/.source,  // 10, 11: em
  ].join("|"), "g");
  const BLOCK_START = /^(?:#{1,6}\s|```|~~~|>|\s{0,3}(?:[-*+]|\d{1,9}[.)])\s)/;
  const RULE = /^\s{0,3}(?:(?:\*\s*){3,}|(?:-\s*){3,}|(?:_\s*){3,})$/;
  const HEADING = /^(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/;
  const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;

  function node(tag, text) {
    const n = document.createElement(tag);
    if (text !== undefined) n.textContent = text;
    return n;
  }

  // An http(s) URL for `href` read against `base`, or null for anything else (javascript:,
  // data:, mailto:, unparseable).
  function safeUrl(href, base) {
    try {
      const url = new URL(href, base || undefined);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (err) {
      return null;
    }
  }

  function link(text, href, base, depth) {
    const url = safeUrl(href, base);
    if (url === null) return inline(text, base, depth + 1);
    const a = node("a");
    a.href = url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    a.append(inline(text, base, depth + 1));
    return a;
  }

  function wrap(tag, text, base, depth) {
    const n = node(tag);
    n.append(inline(text, base, depth + 1));
    return n;
  }

  function inlineMatch(m, base, depth) {
    if (m[2] !== undefined) return node("code", m[2]);
    if (m[4] !== undefined) return link(`image: ${m[3] || m[4]}`, m[4], base, depth);
    if (m[6] !== undefined) return link(m[5], m[6], base, depth);
    if (m[7] !== undefined) return link(m[7], m[7], base, depth);
    const strong = m[8] !== undefined ? m[8] : m[9];
    if (strong !== undefined) return wrap("strong", strong, base, depth);
    return wrap("em", m[10] !== undefined ? m[10] : m[11], base, depth);
  }

  // Text with inline markup, as a fragment of text nodes and a few safe elements.
  function inline(text, base, depth = 0) {
    const out = document.createDocumentFragment();
    if (depth > MAX_NESTING) { out.append(text); return out; }
    let at = 0;
    for (const m of text.matchAll(INLINE)) {
      out.append(text.slice(at, m.index), inlineMatch(m, base, depth));
      at = m.index + m[0].length;
    }
    out.append(text.slice(at));
    return out;
  }

  // A fenced code block; what follows the opening fence (a language) is shown above it.
  function fenced(lines, i) {
    const fence = lines[i].trim().slice(0, 3);
    const info = lines[i].trim().slice(3).trim();
    const body = [];
    let j = i + 1;
    while (j < lines.length && !lines[j].trim().startsWith(fence)) body.push(lines[j++]);
    const out = document.createDocumentFragment();
    if (info) out.append(node("p", info));
    const pre = node("pre");
    pre.append(node("code", body.join("\n")));
    out.append(pre);
    return [out, j + 1];
  }

  function quote(lines, i, base, depth) {
    const body = [];
    let j = i;
    while (j < lines.length && /^\s{0,3}>/.test(lines[j])) {
      body.push(lines[j++].replace(/^\s{0,3}>\s?/, ""));
    }
    const q = node("blockquote");
    q.append(blocks(body, base, depth + 1));
    return [q, j];
  }

  // Consecutive items of one kind (bulleted or numbered); an indented line continues an item.
  function list(lines, i, base) {
    const ordered = /\d/.test(ITEM.exec(lines[i])[2]);
    const out = node(ordered ? "ol" : "ul");
    let j = i;
    let texts = [];
    const flush = () => {
      if (texts.length) out.append(wrap("li", texts.join(" "), base, 0));
      texts = [];
    };
    for (; j < lines.length; j++) {
      const m = ITEM.exec(lines[j]);
      if (m && /\d/.test(m[2]) === ordered) { flush(); texts.push(m[3]); continue; }
      if (m || !/^\s+\S/.test(lines[j]) || !texts.length) break;
      texts.push(lines[j].trim());
    }
    flush();
    return [out, j];
  }

  function paragraph(lines, i, base) {
    const body = [];
    let j = i;
    while (j < lines.length && lines[j].trim() && !BLOCK_START.test(lines[j])
           && !RULE.test(lines[j])) {
      body.push(lines[j++].trim());
    }
    if (!body.length) body.push(lines[j++].trim());  // a line no other rule took
    return [wrap("p", body.join(" "), base, 0), j];
  }

  function block(lines, i, base, depth) {
    const line = lines[i];
    if (/^\s{0,3}(```|~~~)/.test(line)) return fenced(lines, i);
    const heading = HEADING.exec(line);
    if (heading) return [wrap(`h${heading[1].length}`, heading[2], base, 0), i + 1];
    if (RULE.test(line)) return [node("hr"), i + 1];
    if (/^\s{0,3}>/.test(line) && depth < MAX_NESTING) return quote(lines, i, base, depth);
    if (ITEM.test(line)) return list(lines, i, base);
    return paragraph(lines, i, base);
  }

  function blocks(lines, base, depth) {
    const out = document.createDocumentFragment();
    let i = 0;
    while (i < lines.length) {
      if (!lines[i].trim()) { i++; continue; }
      const [made, next] = block(lines, i, base, depth);
      out.append(made);
      i = next;
    }
    return out;
  }

  // `text` as a fragment of safe elements; `base` (the page's URL) resolves relative links.
  function render(text, base) {
    const source = String(text || "");
    const cut = source.length > MAX_CHARS;
    const lines = (cut ? source.slice(0, MAX_CHARS) : source).replace(/\r\n?/g, "\n").split("\n");
    const out = blocks(lines, base, 0);
    if (cut) out.append(node("p", `… cut at ${MAX_CHARS} characters of ${source.length}.`));
    return out;
  }

  return { render, safeUrl };
})();
