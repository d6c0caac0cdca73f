// The job vocabulary of the dashboard: the names of statuses and types, as the CLI and README
// write them (engine/domain/model.py's enum names in lower case), and badges that show them.
//
// The REST API speaks numbers (lncrawl's Jobs API); a person reads these names, each status and
// each category with its colour (style.css, by data-status and data-category).
"use strict";

window.jobstreamNames = (() => {
  const STATUS = ["pending", "running", "success", "failed", "canceled"];
  const TYPES = {
    0: "novel", 1: "novel_batch", 5: "full_novel", 6: "full_novel_batch", 10: "chapter",
    11: "chapter_batch", 20: "volume", 21: "volume_batch", 30: "image", 31: "image_batch",
    40: "artifact", 41: "artifact_batch", 50: "scrape", 51: "scrape_batch", 60: "crawl", 70: "spider",
  };
  const WITH_RESULTS = new Set([50, 51, 60, 70]);  // types whose pages can be exported
  // A job's id is a ULID: 26 characters of Crockford's base 32.
  const JOB_ID = /^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$/;

  function statusName(status) {
    return STATUS[status] || `status ${status}`;
  }

  function typeName(type) {
    return TYPES[type] || `type ${type}`;
  }

  function badge(text, cls, data) {
    const node = document.createElement("span");
    node.className = cls;
    node.textContent = text;
    Object.assign(node.dataset, data);
    return node;
  }

  function statusBadge(status) {
    return badge(statusName(status), "status badge", { status: String(status) });
  }

  function typeBadge(job) {
    return badge(typeName(job.type), "type badge", { category: job.category || "" });
  }

  // A badge already in the page, shown for another status.
  function setStatus(node, status) {
    node.textContent = statusName(status);
    node.dataset.status = String(status);
  }

  return {
    STATUS, TYPES, WITH_RESULTS, JOB_ID, statusName, typeName, statusBadge, typeBadge,
    setStatus,
  };
})();
