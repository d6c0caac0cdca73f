// The open job's action buttons (cancel, retry, replay, delete), each asking for confirmation
// in a dialog first, and its downloads: results as JSON Lines and CSV, a crawl's broken links
// and slow pages, an artifact's e-book (a novel job's novel opens in the library view).
// Downloads need the token, so they are fetched and saved through object URLs (saveAuthed).
"use strict";

window.jobstreamActions = (ctx) => {
  const { $, el, api, saveAuthed, names } = ctx;
  const state = { job: null, busy: false };
  const NOVEL_ID = /^[0-9a-f]{16}$/;  // library ids: 16 lower-case hex digits

  const ACTIONS = {
    cancel: {
      ask: (job) => `Cancel "${job.job_title}"? A running job stops after the pages it is
        fetching; what it recorded stays.`,
      verb: "Cancel the job",
      allowed: (job) => !job.is_done,
      run: async (job) => {
        await api(path(job, "cancel"), { method: "POST" });
        return "Cancel asked: the job stops shortly.";
      },
    },
    retry: {
      ask: (job) => `Retry the ${job.failed} failed URLs or children of "${job.job_title}"?`,
      verb: "Retry failed",
      allowed: (job) => job.is_done && (job.failed > 0 || job.status === 3),
      run: async (job) => {
        await api(path(job, "retry"), { method: "POST" });
        ctx.reopen(job.id);  // its stream ended with the job: follow it again
        return "Retrying.";
      },
    },
    replay: {
      ask: (job) => `Replay "${job.job_title}" as a new job with the same type and parameters?`,
      verb: "Replay",
      allowed: () => true,
      run: async (job) => {
        const made = await api(path(job, "replay"), { method: "POST" });
        ctx.openJob(made.id);
        return `Replay of ${job.id}.`;
      },
    },
    delete: {
      ask: (job) => `Delete "${job.job_title}"? It disappears from your lists (a running job is
        canceled first); its history stays in the log for an audit.`,
      verb: "Delete the job",
      allowed: () => true,
      run: async (job) => {
        await api(`/api/job/${encodeURIComponent(job.id)}`, { method: "DELETE" });
        ctx.closeJob();
        return "";
      },
    },
  };

  function path(job, action) {
    return `/api/job/${encodeURIComponent(job.id)}/${action}`;
  }

  // ---- confirmation ----------------------------------------------------------------------------

  // Resolves true when the person confirms, false when they keep the job as it is.
  function confirm(text, verb) {
    const dialog = $("confirm");
    $("confirm-text").textContent = text.replace(/\s+/g, " ");
    $("confirm-yes").textContent = verb;
    return new Promise((resolve) => {
      const done = (answer) => {
        $("confirm-yes").onclick = null;
        $("confirm-no").onclick = null;
        dialog.onclose = null;
        if (dialog.open) dialog.close();
        resolve(answer);
      };
      $("confirm-yes").onclick = () => done(true);
      $("confirm-no").onclick = () => done(false);
      // Escape. The close event of the previous question, queued by its close(), may come
      // after this showModal(): the dialog is open then, and that event is not an answer.
      dialog.onclose = () => { if (!dialog.open) done(false); };
      dialog.showModal();
      $("confirm-no").focus();  // the safe answer is the default one
    });
  }

  async function act(name) {
    const job = state.job;
    const action = ACTIONS[name];
    if (!job || state.busy || !action.allowed(job)) return;
    if (!(await confirm(action.ask(job), action.verb))) return;
    state.busy = true;
    $("d-action-note").textContent = "";
    try {
      const note = await action.run(job);
      if (note) $("d-action-note").textContent = note;
    } catch (err) {
      $("d-error").textContent = `${action.verb}: ${err.message || err}`;
    } finally {
      state.busy = false;
      if (state.job) show(state.job);
    }
  }

  // ---- downloads -------------------------------------------------------------------------------

  function downloadsOf(job) {
    const id = encodeURIComponent(job.id);
    const out = [];
    if (names.WITH_RESULTS.has(job.type)) {
      out.push(["results.jsonl", `/api/job/${id}/export?type=results&format=jsonl`, "jsonl"]);
      out.push(["results.csv", `/api/job/${id}/export?type=results&format=csv`, "csv"]);
    }
    if (job.type === 60) {
      out.push(["broken links.csv", `/api/job/${id}/export?type=broken-links`, "broken-links"]);
      out.push(["slow pages.csv", `/api/job/${id}/export?type=slow-pages`, "slow-pages"]);
    }
    const artifact = job.extra && job.extra.artifact_id;
    if (artifact && names.JOB_ID.test(artifact)) {
      out.push([`e-book (${job.extra.format || "file"})`,
                `/api/artifact/${encodeURIComponent(artifact)}/download`, "artifact"]);
    }
    return out;
  }

  function novelButton(novelId) {
    const button = el("button", "novel in the library", "linklike");
    button.type = "button";
    button.dataset.novelId = novelId;
    button.addEventListener("click", () => ctx.openNovel(novelId));
    return button;
  }

  function showDownloads(job) {
    const box = $("d-downloads");
    const items = downloadsOf(job);
    const novel = job.extra && NOVEL_ID.test(job.extra.novel_id || "") ? job.extra.novel_id : null;
    const key = JSON.stringify([job.id, items, novel]);
    if (box.dataset.key === key) return;  // unchanged: a download under way keeps its link
    box.dataset.key = key;
    box.hidden = items.length === 0 && !novel;
    const title = items.length ? [el("span", "Download:", "muted")] : [];
    box.replaceChildren(...title, ...items.map(([label, href, kind]) => {
      const link = el("a", label, "download");
      link.href = href;
      link.dataset.download = kind;
      const name = `${job.id}-${label.replace(/\s+/g, "-")}`;
      link.addEventListener("click", (e) => {
        e.preventDefault();
        saveAuthed(link, href, name).catch((err) => {
          $("d-error").textContent = `${label}: ${err.message || err}`;
        });
      });
      return link;
    }));
    if (novel) box.append(novelButton(novel));
  }

  // Buttons and downloads for `job` as it is now.
  function show(job) {
    state.job = job;
    for (const button of $("d-actions").querySelectorAll("button[data-action]")) {
      button.disabled = state.busy || !ACTIONS[button.dataset.action].allowed(job);
    }
    showDownloads(job);
  }

  $("d-actions").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action]");
    if (button) act(button.dataset.action);
  });

  return { show, confirm };
};
