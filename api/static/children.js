// A batch's children in the open job: a live table over the jobs stream filtered by
// `parent_job_id`, each row opening its child (where an artifact child's e-book downloads).
"use strict";

window.jobstreamChildren = (ctx) => {
  const { $, el, percentOf, clickable, names, Stream } = ctx;
  const state = { stream: null, total: 0 };

  function childRow(job) {
    const row = el("tr");
    row.dataset.jobId = job.id;
    const name = el("td", null, "name");
    name.append(el("div", job.job_title || job.id, "title"), el("code", job.id, "muted id"));
    const status = el("td");
    status.append(names.statusBadge(job.status));
    const progress = el("td", null, "progress");
    const bar = el("progress");
    bar.max = 100;
    progress.append(bar, el("span"));
    row.append(name, status, progress, el("td", null, "counts counts-col"));
    clickable(row, () => ctx.openJob(job.id));
    update(row, job);
    return row;
  }

  function update(row, job) {
    const pct = percentOf(job);
    row.dataset.status = String(job.status);
    row.dataset.percentage = String(pct);
    names.setStatus(row.querySelector(".status"), job.status);
    row.querySelector("progress").value = pct;
    row.querySelector(".progress span").textContent = `${pct.toFixed(1)}%`;
    row.querySelector(".counts").textContent = `${job.done} / ${job.failed} / ${job.total}`;
  }

  function body() {
    return $("d-children").tBodies[0];
  }

  function upsert(job) {
    const row = body().querySelector(`tr[data-job-id="${CSS.escape(job.id)}"]`);
    if (row) update(row, job); else { body().append(childRow(job)); count(state.total + 1); }
  }

  // The table shows once there is a child to show.
  function count(total) {
    state.total = Math.max(total, 0);
    const shown = body().rows.length;
    $("d-children-count").textContent = shown < state.total ? `(${shown} of ${state.total})`
                                                             : `(${state.total})`;
    $("d-children-box").hidden = state.total === 0 && shown === 0;
  }

  // Follows `job`'s children: a batch's, or those of a job its handler fanned out (a full
  // novel's), which may appear while it runs.
  function show(job) {
    close();
    state.stream = new Stream("/api/jobs/stream", { parent_job_id: job.id }, {
      snapshot: (data) => {
        body().replaceChildren(...data.items.map(childRow));
        count(data.total);
        $("d-children").dataset.loaded = "true";
      },
      status: upsert,
      progress: upsert,
      removed: (data) => {
        const row = body().querySelector(`tr[data-job-id="${CSS.escape(data.id)}"]`);
        if (row) { row.remove(); count(state.total - 1); }
      },
      reset: () => state.stream.reopen(null),
    });
    state.stream.open(null);
  }

  function close() {
    if (state.stream) state.stream.close();
    state.stream = null;
    body().replaceChildren();
    $("d-children-count").textContent = "";
    $("d-children").dataset.loaded = "false";
    $("d-children-box").hidden = true;
  }

  return { show, close };
};
