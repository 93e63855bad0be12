// releval-judge web UI: the audit card of the judging run page (docs/ui.md, "Audits").
// Loaded after app.js on that page only; uses its API helper (window.releval).
"use strict";

(function () {
  const { api, show, ACTIVE } = window.releval;

  // Start an audit from the form; the page then shows it, and an audit still queued or
  // running is polled until it ends and the page is drawn again with its verdict (the
  // figures and the grade-by-position plot are rendered by the server).
  function setupAudits() {
    const section = document.getElementById("audits");
    if (!section) return;
    const form = document.getElementById("audit-form");
    const error = document.getElementById("audit-error");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = document.getElementById("start-audit");
      const body = { sample_size: Number(document.getElementById("audit-sample-size").value) };
      const seed = document.getElementById("audit-seed").value.trim();
      if (seed !== "") body.seed = Number(seed);
      button.disabled = true;
      const result = await api("POST", "/ai-judging-runs/" + section.dataset.judgingRun + "/audits", body);
      if (!result.ok) {
        button.disabled = false;
        show(error, result.message);
        return;
      }
      window.location.reload();
    });
    for (const card of section.querySelectorAll(".audit-card")) {
      setupCancel(card);
      if (ACTIVE.has(card.dataset.status)) pollAudit(card);
    }
  }

  // Cancel a queued or running audit. The button is rendered only for a token that may
  // (write scope); once cancelled, the page is drawn again with what the audit spent.
  function setupCancel(card) {
    const button = card.querySelector('[data-action="cancel-audit"]');
    if (!button) return;
    button.addEventListener("click", async () => {
      button.disabled = true;
      const result = await api("POST", "/audits/" + card.dataset.audit + "/cancel");
      if (!result.ok) {
        button.disabled = false;
        show(card.querySelector('[data-field="audit-action-error"]'), result.message);
        return;
      }
      window.location.reload();
    });
  }

  function pollAudit(card) {
    const status = card.querySelector('[data-field="audit-status"]');
    const tick = async () => {
      const result = await api("GET", "/audits/" + card.dataset.audit);
      if (result.ok && !ACTIVE.has(result.data.status)) {
        window.location.reload();
        return;
      }
      if (result.ok) {
        status.textContent = result.data.status;
        status.className = "status status-" + result.data.status;
      }
      setTimeout(tick, 1000);
    };
    setTimeout(tick, 1000);
  }

  document.addEventListener("DOMContentLoaded", setupAudits);
})();
