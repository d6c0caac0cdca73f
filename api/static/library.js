// The dashboard's library view: novels with covers, a novel's volumes and chapters, a chapter
// reader and e-book downloads.
//
// Images and downloads need the API token, which an <img src> or a plain link cannot send: they
// are fetched with the Authorization header and shown or saved through object URLs. A chapter's
// HTML (cleaned by the server) is parsed inert with DOMParser and copied into the page element by
// element: only known tags, only safe attributes, so nothing from it can run.
"use strict";

window.jobstreamLibrary = (ctx) => {
  const { $, el, api, fetchAuthed, saveAuthed } = ctx;
  const PAGE = 100;  // the API's largest page
  const MAX_DEPTH = 40;
  const KEEP = new Set([
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "em", "strong", "i", "b", "u", "s",
    "sub", "sup", "small", "blockquote", "pre", "code", "ul", "ol", "li", "span", "div", "img",
    "a", "table", "thead", "tbody", "tr", "th", "td", "figure", "figcaption",
  ]);
  // Dropped with everything inside; any other unknown tag is dropped but its text is kept.
  const DROP = new Set([
    "script", "style", "iframe", "frame", "object", "embed", "template", "svg", "math", "form",
    "input", "button", "select", "textarea", "link", "meta", "noscript", "head", "title",
  ]);
  const IMAGE_SRC = /^\/api\/image\/([0-9A-Za-z_-]{1,64})$/;
  const state = { urls: [], novel: null, chapter: null };

  // Object URLs made for the view shown now; revoked when it is replaced.
  function forget(kind) {
    for (const item of state.urls.filter((u) => u.kind === kind)) URL.revokeObjectURL(item.url);
    state.urls = state.urls.filter((u) => u.kind !== kind);
  }

  async function blobUrl(path, kind) {
    const resp = await fetchAuthed(path);
    const url = URL.createObjectURL(await resp.blob());
    state.urls.push({ kind, url });
    return url;
  }

  // An <img> whose bytes come from the API with the token; left empty if that fails.
  function authedImage(imageId, kind, alt, cls) {
    const img = el("img", null, cls);
    img.alt = alt || "";
    img.dataset.imageId = imageId;
    blobUrl(`/api/image/${encodeURIComponent(imageId)}`, kind)
      .then((url) => { img.src = url; })
      .catch(() => { img.dataset.failed = "true"; });
    return img;
  }

  // ---- safe HTML -----------------------------------------------------------------------------

  function copyAttributes(source, target, kind) {
    const tag = target.tagName.toLowerCase();
    if (tag === "img") {
      target.alt = source.getAttribute("alt") || "";
      const match = IMAGE_SRC.exec(source.getAttribute("src") || "");
      if (match) {
        blobUrl(match[0], kind).then((url) => { target.src = url; }).catch(() => {});
      }
    } else if (tag === "a") {
      const href = source.getAttribute("href") || "";
      if (/^https?:\/\//i.test(href)) {
        target.href = href;
        target.target = "_blank";
        target.rel = "noopener noreferrer";
      }
    } else if ((tag === "td" || tag === "th") && /^\d{1,2}$/.test(source.getAttribute("colspan"))) {
      target.colSpan = Number(source.getAttribute("colspan"));
    }
  }

  function copyNodes(from, into, kind, depth) {
    for (const node of from.childNodes) {
      if (node.nodeType === Node.TEXT_NODE) {
        into.append(document.createTextNode(node.data));
      } else if (node.nodeType === Node.ELEMENT_NODE && depth < MAX_DEPTH) {
        const tag = node.tagName.toLowerCase();
        if (DROP.has(tag)) continue;
        if (!KEEP.has(tag)) { copyNodes(node, into, kind, depth + 1); continue; }
        const copy = document.createElement(tag);
        copyAttributes(node, copy, kind);
        copyNodes(node, copy, kind, depth + 1);
        into.append(copy);
      }
    }
  }

  /** `html` as a fragment of known tags and safe attributes; scripts never run. */
  function safeFragment(html, kind) {
    const doc = new DOMParser().parseFromString(String(html), "text/html");  // inert
    const fragment = document.createDocumentFragment();
    copyNodes(doc.body, fragment, kind, 0);
    return fragment;
  }

  // ---- novels ----------------------------------------------------------------------------------

  function novelCard(novel) {
    const card = el("li", null, "novel-card");
    card.dataset.novelId = novel.id;
    const cover = novel.cover ? authedImage(novel.cover, "list", `Cover of ${novel.title}`, "cover")
                              : el("div", "no cover", "cover muted");
    const text = el("div");
    text.append(el("div", novel.title, "title"), el("div", novel.authors.join(", "), "muted"),
                el("div", `${novel.chapter_count} chapters`, "muted"));
    card.append(cover, text);
    card.addEventListener("click", () => openNovel(novel.id));
    return card;
  }

  async function loadNovels() {
    const list = $("novels");
    list.dataset.loaded = "false";
    $("lib-error").textContent = "";
    try {
      const page = await api(`/api/novels?limit=${PAGE}`);
      forget("list");
      list.replaceChildren(...page.items.map(novelCard));
      $("lib-count").textContent = `${page.total} novels`;
      $("lib-empty").hidden = page.items.length > 0;
      list.dataset.loaded = "true";
    } catch (err) {
      $("lib-error").textContent = String(err.message || err);
    }
  }

  // ---- one novel -------------------------------------------------------------------------------

  async function allChapters(novelId) {
    const base = `/api/novel/${encodeURIComponent(novelId)}/chapters`;
    const items = [];
    for (let offset = 0; ; offset += PAGE) {
      const page = await api(`${base}?offset=${offset}&limit=${PAGE}`);
      items.push(...page.items);
      if (!page.has_more) return items;
    }
  }

  function chapterItem(chapter) {
    const item = el("li", null, chapter.fetched ? "fetched" : "missing");
    item.dataset.chapterId = chapter.id;
    const link = el("button", `${chapter.serial}. ${chapter.title}`, "linklike");
    link.type = "button";
    link.addEventListener("click", () => openChapter(chapter.id));
    item.append(link);
    return item;
  }

  function showVolumes(novel, chapters) {
    const byVolume = new Map(novel.volumes.map((v) => [v.id, []]));
    const loose = [];
    for (const c of chapters) (byVolume.get(c.volume_id) || loose).push(c);
    const blocks = novel.volumes.map((v) => volumeBlock(v.id, v.title, byVolume.get(v.id)));
    if (loose.length) blocks.push(volumeBlock("", "Other chapters", loose));
    $("n-volumes").replaceChildren(...blocks);
  }

  function volumeBlock(id, title, chapters) {
    const block = el("details", null, "volume");
    block.dataset.volumeId = id;
    block.open = true;
    block.append(el("summary", `${title} (${chapters.length})`), el("ol"));
    block.querySelector("ol").append(...chapters.map(chapterItem));
    return block;
  }

  function artifactLink(artifact) {
    const link = el("a", `${artifact.file_name} (${artifact.format}, ${artifact.bytes} bytes)`);
    link.href = `/api/artifact/${encodeURIComponent(artifact.id)}/download`;
    link.dataset.artifactId = artifact.id;
    link.addEventListener("click", (e) => { e.preventDefault(); download(link, artifact); });
    const item = el("li");
    item.append(link);
    return item;
  }

  // The file fetched with the token, then saved under its name (ctx.saveAuthed).
  function download(link, artifact) {
    saveAuthed(link, link.getAttribute("href"), artifact.file_name).catch((err) => {
      $("n-error").textContent = String(err.message || err);
    });
  }

  async function openNovel(id) {
    closeChapter();
    state.novel = id;
    forget("novel");
    const panel = $("novel");
    panel.hidden = false;
    panel.dataset.loaded = "false";
    $("n-error").textContent = "";
    try {
      const [novel, chapters] = await Promise.all([
        api(`/api/novel/${encodeURIComponent(id)}`), allChapters(id),
      ]);
      if (state.novel !== id) return;  // another novel was opened meanwhile
      panel.dataset.novelId = id;
      $("n-title").textContent = novel.title;
      $("n-authors").textContent = novel.authors.join(", ");
      $("n-synopsis").replaceChildren(safeFragment(novel.synopsis, "novel"));
      $("n-cover").replaceChildren(
        novel.cover ? authedImage(novel.cover, "novel", `Cover of ${novel.title}`, "cover") : "");
      $("n-artifacts").replaceChildren(...novel.artifacts.map(artifactLink));
      $("n-no-artifacts").hidden = novel.artifacts.length > 0;
      showVolumes(novel, chapters);
      panel.dataset.loaded = "true";
    } catch (err) {
      if (state.novel === id) $("n-error").textContent = String(err.message || err);
    }
  }

  function closeNovel() {
    closeChapter();
    state.novel = null;
    forget("novel");
    $("novel").hidden = true;
  }

  // ---- the reader ------------------------------------------------------------------------------

  async function openChapter(id) {
    state.chapter = id;
    forget("chapter");
    const reader = $("reader");
    reader.hidden = false;
    reader.dataset.loaded = "false";
    $("r-body").replaceChildren();
    $("r-error").textContent = "";
    try {
      const chapter = await api(`/api/chapter/${encodeURIComponent(id)}`);
      if (state.chapter !== id) return;
      reader.dataset.chapterId = id;
      $("r-title").textContent = `${chapter.serial}. ${chapter.title}`;
      if (chapter.content === null) {
        $("r-body").append(el("p", "This chapter has not been fetched yet.", "muted"));
      } else {
        $("r-body").append(safeFragment(chapter.content, "chapter"));
      }
      reader.dataset.loaded = "true";
      reader.scrollIntoView({ block: "start" });
    } catch (err) {
      if (state.chapter === id) $("r-error").textContent = String(err.message || err);
    }
  }

  function closeChapter() {
    state.chapter = null;
    forget("chapter");
    $("reader").hidden = true;
  }

  $("n-close").addEventListener("click", closeNovel);
  $("r-close").addEventListener("click", closeChapter);
  $("lib-refresh").addEventListener("click", loadNovels);

  return {
    open: loadNovels,
    openNovel,
    close: () => { closeNovel(); forget("list"); },
  };
};
