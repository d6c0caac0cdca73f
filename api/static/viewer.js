// The result viewer of the dashboard: one page's markdown rendered (markdown.js builds safe
// elements only), its raw HTML and text shown as text, and its links as a list.
//
// Nothing a crawled page holds is ever parsed as HTML here: raw HTML goes into a <pre> through
// textContent, and links keep only http(s) targets, opened in a new tab without a referrer.
"use strict";

window.jobstreamViewer = (ctx) => {
  const { $, el, md } = ctx;
  const MAX_LINKS = 2000;
  const state = { page: null, mode: "markdown" };

  function linkList(page) {
    const list = el("ol", null, "link-list");
    for (const href of page.links.slice(0, MAX_LINKS)) {
      const item = el("li");
      const url = md.safeUrl(href, page.final_url || page.url);
      if (url === null) {
        item.textContent = href;
      } else {
        const a = el("a", href);
        a.href = url;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        item.append(a);
      }
      list.append(item);
    }
    if (page.links.length > MAX_LINKS) list.append(el("li", `… ${page.links.length} in all`));
    return list;
  }

  function body(page, mode) {
    if (mode === "links") return page.links.length ? linkList(page) : el("p", "No links.", "muted");
    const value = page[mode];
    if (value === null || value === undefined || value === "") {
      return el("p", `No ${mode} kept for this page (see the job's formats).`, "muted");
    }
    if (mode === "markdown") {
      const article = el("article", null, "markdown");
      article.append(md.render(value, page.final_url || page.url));
      return article;
    }
    return el("pre", value, "raw");  // raw HTML and text: characters, never markup
  }

  function render() {
    const { page, mode } = state;
    for (const button of $("v-modes").querySelectorAll("button")) {
      button.setAttribute("aria-pressed", String(button.dataset.mode === mode));
    }
    $("viewer").dataset.mode = mode;
    $("v-body").replaceChildren(body(page, mode));
  }

  // Shows `page` (a result with its bodies) in the mode chosen last.
  function show(page) {
    state.page = page;
    const viewerBox = $("viewer");
    viewerBox.hidden = false;
    viewerBox.dataset.url = page.url;
    $("v-title").textContent = page.title || page.url;
    const link = $("v-url");
    link.textContent = page.final_url || page.url;
    const url = md.safeUrl(page.final_url || page.url);
    if (url) link.href = url; else link.removeAttribute("href");
    render();
    viewerBox.scrollIntoView({ block: "nearest" });
  }

  function close() {
    state.page = null;
    $("viewer").hidden = true;
    $("v-body").replaceChildren();
    delete $("viewer").dataset.url;
  }

  $("v-modes").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-mode]");
    if (!button || !state.page) return;
    state.mode = button.dataset.mode;
    render();
  });
  $("v-close").addEventListener("click", close);

  return { show, close };
};
