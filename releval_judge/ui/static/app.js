// releval-judge web UI: small progressive enhancements of the server-rendered pages.
// Every change goes to the JSON API (/api/v1) with the session cookie and the page's CSRF
// token; errors show the API's own message. See docs/ui.md.
"use strict";

(function () {
  const ROOT = document.body.dataset.root || "";
  const API = ROOT + "/api/v1";
  const CSRF = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const ACTIVE = new Set(["queued", "running"]);

  // --- the API ---------------------------------------------------------------------

  async function api(method, path, body) {
    const headers = { Accept: "application/json", "X-CSRF-Token": CSRF };
    const init = { method, headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(API + path, init);
    } catch (err) {
      return { ok: false, status: 0, data: null, message: "The service cannot be reached: " + err.message };
    }
    let data = null;
    const text = await response.text();
    if (text) {
      try { data = JSON.parse(text); } catch (_) { data = null; }
    }
    if (response.status === 401) {
      window.location.href = ROOT + "/ui/login?next=" + encodeURIComponent(location.pathname + location.search);
    }
    const message = response.ok ? "" : errorMessage(response.status, data);
    return { ok: response.ok, status: response.status, data, message };
  }

  function errorMessage(status, data) {
    if (data && data.error && data.error.message) {
      return data.error.message;
    }
    return "The request failed (HTTP " + status + ").";
  }

  function show(el, text) {
    if (!el) return;
    el.textContent = text || "";
    el.hidden = !text;
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children || []) {
      node.append(child);
    }
    return node;
  }

  function svgEl(tag, attrs, text) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // --- judging-run cards: live progress --------------------------------------------

  function percent(run) {
    return Math.floor((run.progress || 0) * 100);
  }

  function field(card, name) {
    return card.querySelector('[data-field="' + name + '"]');
  }

  function renderCard(card, run) {
    const previous = card.dataset.status;
    card.dataset.judgingRun = run.id;
    card.dataset.status = run.status;
    card.dataset.evaluationRun = run.evaluation_run_id;
    card.dataset.judgeId = run.ai_judge_id || "";
    card.dataset.scope = run.scope;
    field(card, "link").href = ROOT + "/ui/judging-runs/" + run.id;
    field(card, "judge").textContent = run.ai_judge_name;
    const status = field(card, "status");
    status.textContent = run.status;
    status.className = "status status-" + run.status;
    // As macros.html: some judgments are usable; none after a failure points at the judge.
    const usablePartial = run.partially_judged && run.judged > 0;
    const failedOutright = run.status === "failed" && run.judged === 0;
    field(card, "partial").hidden = !usablePartial;
    field(card, "partial-hint").hidden = !usablePartial;
    field(card, "nothing").hidden = !failedOutright;
    field(card, "failed-hint").hidden = !failedOutright;
    const editJudge = field(card, "edit-judge");
    editJudge.href = ROOT + "/ui/judges/" + (run.ai_judge_id || "");
    editJudge.hidden = !run.ai_judge_id;
    const scope = field(card, "scope");
    scope.textContent = "scope: " + run.scope;
    scope.hidden = !run.scope || run.scope === "all";
    const progress = field(card, "progress");
    progress.value = percent(run);
    progress.setAttribute("aria-label", "Progress of the judging run by " + run.ai_judge_name);
    field(card, "percent").textContent = percent(run) + "%";
    for (const name of ["judged", "reused", "failed", "total", "input_tokens", "output_tokens"]) {
      field(card, name).textContent = String(run[name] || 0);
    }
    // Reused judgments are counted within "judged", as the API counts them.
    field(card, "reused-part").hidden = !run.reused;
    const cost = field(card, "cost");
    cost.hidden = !run.cost;
    cost.textContent = run.cost ? "· cost " + run.cost.total + (run.max_cost ? " of max " + run.max_cost : "") : "";
    const cached = field(card, "cached");
    cached.hidden = !run.cached_input_tokens;
    field(card, "cached_input_tokens").textContent = String(run.cached_input_tokens || 0);
    const batches = field(card, "provider-batches");
    batches.hidden = !(run.provider_batches && run.provider_batches.length);
    batches.textContent = providerBatchesText(run.provider_batches || []);
    field(card, "created_by").textContent = run.created_by || "";
    field(card, "started").hidden = !run.created_by;
    field(card, "cancelled_by").textContent = run.cancelled_by || "";
    field(card, "cancelled").hidden = !run.cancelled_by;
    field(card, "who").hidden = !(run.created_by || run.cancelled_by);
    show(field(card, "error"), run.error || "");
    field(card, "review-link").href =
      ROOT + "/ui/runs/" + run.evaluation_run_id + "/review?source=ai&ai_judging_run_id=" + run.id;
    // Controls the session's token may not use stay hidden (the page says why).
    card.querySelector('[data-action="cancel"]').hidden = !(
      ACTIVE.has(run.status) && card.dataset.canCancel === "true"
    );
    card.querySelector('[data-action="fill-gaps"]').hidden = !(
      run.partially_judged && !failedOutright && run.ai_judge_id && card.dataset.canStart === "true"
    );
    announce(card, run, previous);
  }

  // "provider batch in_progress: 120 of 300 requests done" (its counts as last polled).
  function providerBatchesText(batches) {
    return batches.map((b) => {
      const counts = b.request_counts || {};
      let done = 0;
      for (const [key, value] of Object.entries(counts)) {
        if (key !== "total" && key !== "processing") done += value;
      }
      const total = counts.total || b.requests;
      return "provider batch " + b.status + ": " + done + " of " + total + " requests done" +
        (b.results_read ? ", results read" : "");
    }).join("; ");
  }

  // Screen readers hear status changes and every quarter of the way, not every event.
  function announce(card, run, previousStatus) {
    const quarter = Math.floor(percent(run) / 25);
    const region = field(card, "announce");
    if (run.status !== previousStatus || String(quarter) !== card.dataset.quarter) {
      let text = run.ai_judge_name + ": " + run.status + ", " + percent(run) + "% (" +
        run.judged + " judged, " + run.failed + " failed of " + run.total + ")";
      if (run.status === "failed" && run.error) text += ". " + run.error;
      if (run.partially_judged && run.judged > 0) text += ". Partially judged.";
      if (run.status === "failed" && run.judged === 0) text += ". Nothing was judged: fix the judge, then start a new run.";
      region.textContent = text;
    }
    card.dataset.quarter = String(quarter);
  }

  const streams = new Map();

  function watch(card) {
    const id = card.dataset.judgingRun;
    if (!id || streams.has(id) || !ACTIVE.has(card.dataset.status)) return;
    const source = new EventSource(API + "/ai-judging-runs/" + id + "/events");
    streams.set(id, source);
    const update = (event) => renderCard(card, JSON.parse(event.data));
    source.addEventListener("progress", update);
    source.addEventListener("end", (event) => {
      update(event);
      source.close();
      streams.delete(id);
      const list = card.closest("[data-reload-on-end]");
      if (list) {
        // The run page's grade chart and failures are drawn by the server: refresh them.
        setTimeout(() => window.location.reload(), 600);
      }
    });
  }

  function setupCard(card) {
    card.querySelector('[data-action="cancel"]').addEventListener("click", async (event) => {
      const button = event.currentTarget;
      button.disabled = true;
      const result = await api("POST", "/ai-judging-runs/" + card.dataset.judgingRun + "/cancel");
      button.disabled = false;
      show(field(card, "action-error"), result.ok ? "" : result.message);
      if (result.ok) renderCard(card, result.data);
    });
    card.querySelector('[data-action="fill-gaps"]').addEventListener("click", async (event) => {
      const button = event.currentTarget;
      button.disabled = true;
      const result = await api("POST", "/evaluations/runs/" + card.dataset.evaluationRun + "/ai-judge", {
        // The same scope again, reusing what this run judged (no call, no cost): the new
        // run judges exactly what this one did not. ("unjudged" would skip what other
        // judges had judged before a scope-"all" run.)
        ai_judge_id: card.dataset.judgeId,
        scope: card.dataset.scope || "unjudged",
        reuse: "fingerprint",
      });
      button.disabled = false;
      if (!result.ok) {
        show(field(card, "action-error"), result.message);
        return;
      }
      show(field(card, "action-error"), "");
      if (!addCard(result.data)) {
        window.location.href = ROOT + "/ui/judging-runs/" + result.data.id;
      }
    });
    watch(card);
  }

  // A card for a run just started, at the top of the run page's list (false elsewhere).
  function addCard(run) {
    const list = document.getElementById("judging-runs");
    const template = document.getElementById("judging-run-card-template");
    if (!list || !template) return false;
    const card = template.content.querySelector(".jr-card").cloneNode(true);
    renderCard(card, run);
    list.prepend(card);
    const empty = document.getElementById("no-judging-runs");
    if (empty) empty.hidden = true;
    setupCard(card);
    return true;
  }

  // --- the evaluation run page: Run AI Judge ----------------------------------------

  function setupRunAiJudge() {
    const toggle = document.getElementById("run-ai-judge");
    const panel = document.getElementById("run-ai-judge-panel");
    if (!toggle || !panel) return;
    toggle.addEventListener("click", () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      panel.hidden = !open;
      if (open) {
        document.getElementById("ai-judge-select").focus();
        showEstimate(panel);
      }
    });
    document.getElementById("ai-judge-select").addEventListener("change", () => showEstimate(panel));
    panel.addEventListener("submit", async (event) => {
      event.preventDefault();
      const start = document.getElementById("start-judging");
      const error = document.getElementById("start-error");
      start.disabled = true;
      const body = { ai_judge_id: document.getElementById("ai-judge-select").value };
      const maxCost = document.getElementById("max-cost").value.trim();
      if (maxCost !== "") body.max_cost = parseFloat(maxCost);
      const result = await api("POST", "/evaluations/runs/" + panel.dataset.evaluationRun + "/ai-judge", body);
      start.disabled = false;
      if (!result.ok) {
        show(error, result.message);
        return;
      }
      show(error, "");
      addCard(result.data);
      toggle.setAttribute("aria-expanded", "false");
      panel.hidden = true;
      toggle.focus();
    });
  }

  // What the chosen judge would send and cost, and what reuse saves: the estimate with
  // reuse (what starting sends) and without (what it would cost to send everything).
  let estimateSeq = 0;
  async function showEstimate(panel) {
    const box = document.getElementById("estimate");
    const text = document.getElementById("estimate-text");
    if (!box) return;
    const seq = ++estimateSeq;
    const judge = document.getElementById("ai-judge-select").value;
    const path = "/evaluations/runs/" + panel.dataset.evaluationRun + "/ai-judge/estimate";
    const [reuse, none] = await Promise.all([
      api("POST", path, { ai_judge_id: judge }),
      api("POST", path, { ai_judge_id: judge, reuse: "none" }),
    ]);
    if (seq !== estimateSeq) return; // another judge was chosen meanwhile
    box.hidden = false;
    if (!reuse.ok) {
      text.textContent = "No estimate: " + reuse.message;
      return;
    }
    const e = reuse.data;
    const toSend = e.candidates - e.reusable;
    let line = "Estimate: " + e.candidates + " candidates; " + e.reusable +
      " reusable (no call, no cost), " + toSend + " to judge in " + e.batches + " batches";
    if (e.cost) {
      line += ", cost " + e.cost.total;
      if (none.ok && none.data.cost) line += " (" + none.data.cost.total + " without reuse)";
    } else {
      line += ", about " + e.estimated_input_tokens + " input tokens (no prices set on the judge)";
    }
    text.textContent = line + ".";
    box.dataset.reusable = String(e.reusable);
  }

  // --- the review page: grade inline -------------------------------------------------

  function setupReview() {
    const table = document.querySelector("table.review");
    const nameInput = document.getElementById("reviewer-name");
    if (nameInput) {
      nameInput.addEventListener("change", () => {
        const name = nameInput.value.trim().replace(/\//g, "-");
        nameInput.value = name;
        document.cookie = "releval_reviewer=" + encodeURIComponent(name) +
          "; path=" + (ROOT || "") + "/; max-age=31536000; samesite=strict";
      });
    }
    if (!table) return;
    for (const form of table.querySelectorAll("form.grade-form")) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const status = form.querySelector(".row-status");
        const name = nameInput ? nameInput.value.trim() : "";
        const grade = form.elements.grade.value;
        if (!name) {
          status.textContent = "Enter your name above first.";
          status.className = "row-status error";
          nameInput.focus();
          return;
        }
        const path = "/evaluations/runs/" + table.dataset.evaluationRun + "/candidates/" +
          form.dataset.candidate + "/judgments/" + encodeURIComponent(name);
        const button = form.querySelector("button");
        button.disabled = true;
        const result = grade === ""
          ? await api("DELETE", path)
          : await api("PUT", path, { grade: Number(grade), reasoning: "" });
        button.disabled = false;
        if (result.ok || (grade === "" && result.status === 404)) {
          status.textContent = grade === "" ? "Removed" : "Saved";
          status.className = "row-status ok";
        } else {
          status.textContent = result.message;
          status.className = "row-status error";
        }
      });
    }
  }

  // --- the judging run page: agreement and its confusion matrix ----------------------

  function confusionMatrix(report) {
    const m = report.confusion_matrix;
    const n = m.grades.length;
    const cell = n > 8 ? 30 : 56;
    const left = 64;
    const top = 56;
    const size = n * cell;
    const width = left + size + 12;
    const height = top + size + 12;
    const max = Math.max(1, ...m.counts.flat());
    const svg = svgEl("svg", {
      class: "chart confusion", role: "img", viewBox: "0 0 " + width + " " + height,
      width, height, "aria-labelledby": "cm-title cm-desc",
    });
    svg.append(svgEl("title", { id: "cm-title" }, "Confusion matrix: human grades (rows) against AI grades (columns)"));
    const cells = [];
    m.grades.forEach((h, i) => m.grades.forEach((a, j) => {
      if (m.counts[i][j]) cells.push("human " + h + " / AI " + a + ": " + m.counts[i][j]);
    }));
    svg.append(svgEl("desc", { id: "cm-desc" }, report.pairs + " pairs. " + cells.join(", ")));
    svg.append(svgEl("text", { x: left + size / 2, y: 14, "text-anchor": "middle", class: "axis-title" }, "AI grade"));
    svg.append(svgEl("text", {
      x: 14, y: top + size / 2, "text-anchor": "middle", class: "axis-title",
      transform: "rotate(-90 14 " + (top + size / 2) + ")",
    }, "Human grade"));
    m.grades.forEach((g, k) => {
      svg.append(svgEl("text", { x: left + k * cell + cell / 2, y: top - 10, "text-anchor": "middle", class: "grade" }, g));
      svg.append(svgEl("text", { x: left - 10, y: top + k * cell + cell / 2 + 4, "text-anchor": "end", class: "grade" }, g));
    });
    m.counts.forEach((row, i) => row.forEach((count, j) => {
      const x = left + j * cell;
      const y = top + i * cell;
      const strength = count / max;
      svg.append(svgEl("rect", {
        x, y, width: cell - 2, height: cell - 2, rx: 3,
        class: i === j ? "cell diagonal" : "cell",
        "fill-opacity": (0.08 + 0.92 * strength).toFixed(3),
        "data-human": m.grades[i], "data-ai": m.grades[j], "data-count": count,
      }));
      svg.append(svgEl("text", {
        x: x + cell / 2 - 1, y: y + cell / 2 + 4, "text-anchor": "middle",
        class: strength > 0.55 ? "count on-dark" : "count",
      }, count));
    }));
    return svg;
  }

  function figure(label, value) {
    const text = value === null || value === undefined ? "—" : (typeof value === "number" && !Number.isInteger(value) ? value.toFixed(2) : String(value));
    return el("div", {}, [el("dt", { text: label }), el("dd", { text })]);
  }

  function setupAgreement() {
    const section = document.getElementById("agreement");
    const form = document.getElementById("agreement-form");
    if (!section || !form) return;
    const result = document.getElementById("agreement-result");
    const load = async () => {
      const judge = form.elements.human_judge.value;
      result.textContent = "Loading…";
      const answer = await api("GET", "/ai-judging-runs/" + section.dataset.judgingRun +
        "/agreement?human_judge=" + encodeURIComponent(judge));
      result.textContent = "";
      if (!answer.ok) {
        result.append(el("p", { class: "notice error", role: "alert", text: answer.message }));
        return;
      }
      const r = answer.data;
      if (!r.pairs) {
        result.append(el("p", { class: "empty", text: "No candidate has both a grade from this run and one from " + judge + " yet." }));
        return;
      }
      result.append(el("dl", { class: "facts" }, [
        figure("Pairs", r.pairs),
        figure("Exact agreement", r.exact_agreement),
        figure("Within one grade", r.within_one_agreement),
        figure("Cohen's kappa", r.cohen_kappa),
        figure("Quadratic kappa", r.cohen_kappa_quadratic),
        figure("Krippendorff's alpha", r.krippendorff_alpha_ordinal),
        figure("AI − human (mean)", r.mean_signed_difference),
      ]));
      result.append(el("figure", { class: "chart-figure" }, [confusionMatrix(r)]));
    };
    form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
    load();
  }

  // --- AI judges: create, edit, preview, test ----------------------------------------

  function judgeBody(form, editing) {
    const body = {};
    for (const input of form.querySelectorAll("input[name], select[name], textarea[name]")) {
      const name = input.name;
      const raw = input.value.trim();
      if (name === "api_key") {
        if (raw) body.api_key = raw; // write-only: empty keeps the stored key
        continue;
      }
      if (input.dataset.type === "list") {
        // "brand, price" → ["brand", "price"]; empty: null (the setting's "every one").
        const items = raw.split(",").map((item) => item.trim()).filter(Boolean);
        if (items.length) body[name] = items;
        else if (input.dataset.nullable === "true") body[name] = null;
        continue;
      }
      if (input.dataset.type === "int" || input.dataset.type === "float") {
        if (raw === "") {
          if (input.dataset.nullable === "true") body[name] = null;
          continue;
        }
        body[name] = input.dataset.type === "int" ? parseInt(raw, 10) : parseFloat(raw);
        continue;
      }
      if (raw === "") {
        if (input.dataset.nullable === "true") body[name] = null;
        else if (editing && ["base_url", "api_key_env", "prompt_template"].includes(name)) body[name] = null;
        continue;
      }
      body[name] = name === "prompt_template" ? input.value : raw;
    }
    if (!editing) {
      for (const key of Object.keys(body)) if (body[key] === null) delete body[key];
    }
    return body;
  }

  function setupJudgeForm() {
    const form = document.getElementById("judge-form");
    if (!form) return;
    const judgeId = form.dataset.judgeId;
    const status = document.getElementById("judge-status");
    const error = document.getElementById("judge-error");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const editing = Boolean(judgeId);
      const body = judgeBody(form, editing);
      status.textContent = "Saving…";
      const result = editing
        ? await api("PATCH", "/ai-judges/" + judgeId, body)
        : await api("POST", "/ai-judges", body);
      if (!result.ok) {
        status.textContent = "";
        show(error, result.message);
        return;
      }
      show(error, "");
      if (!editing) {
        window.location.href = ROOT + "/ui/judges/" + result.data.id;
        return;
      }
      form.elements.api_key.value = "";
      status.textContent = "Saved.";
    });
    document.getElementById("use-default-template").addEventListener("click", () => {
      const area = document.getElementById("j-template");
      area.value = document.getElementById("default-template").content.textContent;
      area.focus();
    });
    document.getElementById("preview-template").addEventListener("click", async () => {
      const target = document.getElementById("preview-result");
      const response = await fetch(ROOT + "/ui/template-preview", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF },
        body: JSON.stringify({ template: document.getElementById("j-template").value || null }),
      });
      const data = await response.json().catch(() => ({}));
      target.textContent = "";
      if (!response.ok) {
        target.append(el("p", { class: "notice error", role: "alert", text: errorMessage(response.status, data) }));
        return;
      }
      target.append(
        el("p", { class: "hint", text: "The prompt for a sample batch of two documents:" }),
        el("pre", { class: "prompt", tabindex: "0", text: data.prompt }),
      );
    });
  }

  function setupJudgeDelete() {
    const toggle = document.getElementById("delete-judge");
    if (!toggle) return;
    const confirmBox = document.getElementById("delete-confirm");
    const error = document.getElementById("delete-error");
    const setOpen = (open) => {
      toggle.setAttribute("aria-expanded", String(open));
      confirmBox.hidden = !open;
    };
    toggle.addEventListener("click", () => {
      setOpen(confirmBox.hidden);
      if (!confirmBox.hidden) document.getElementById("delete-judge-keep").focus();
    });
    document.getElementById("delete-judge-keep").addEventListener("click", () => {
      setOpen(false);
      toggle.focus();
    });
    const yes = document.getElementById("delete-judge-confirm");
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      const result = await api("DELETE", "/ai-judges/" + yes.dataset.judgeId);
      yes.disabled = false;
      if (!result.ok) {
        show(error, result.message);
        return;
      }
      window.location.href = ROOT + "/ui/judges";
    });
  }

  function setupJudgeTest() {
    const form = document.getElementById("judge-test-form");
    if (!form) return;
    const sync = () => {
      const mode = form.elements.mode.value;
      for (const group of form.querySelectorAll("[data-mode]")) group.hidden = group.dataset.mode !== mode;
    };
    for (const radio of form.elements.mode) radio.addEventListener("change", sync);
    sync();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const status = document.getElementById("test-status");
      const error = document.getElementById("test-error");
      const out = document.getElementById("test-result");
      let body;
      if (form.elements.mode.value === "sample") {
        body = {
          evaluation_run_id: form.elements.evaluation_run_id.value,
          sample_size: parseInt(form.elements.sample_size.value || "5", 10),
        };
      } else {
        const docs = form.elements.documents.value.split("\n").map((line) => line.trim()).filter(Boolean);
        body = { query: form.elements.query.value.trim(), candidates: docs.map((text) => ({ text })) };
      }
      status.textContent = "Testing…";
      out.textContent = "";
      const button = document.getElementById("run-test");
      button.disabled = true;
      const result = await api("POST", "/ai-judges/" + form.dataset.judgeId + "/test", body);
      button.disabled = false;
      status.textContent = "";
      if (!result.ok) {
        show(error, result.message);
        return;
      }
      show(error, "");
      renderTest(out, result.data);
      status.textContent = "Tested: " + result.data.judged + " judged, " + result.data.failed + " failed.";
    });
  }

  function renderTest(out, r) {
    out.append(el("dl", { class: "facts" }, [
      figure("Judged", r.judged),
      figure("Failed", r.failed),
      figure("Input tokens", r.input_tokens),
      figure("Output tokens", r.output_tokens),
      figure("Cost", r.cost ? r.cost.total : null),
    ]));
    const rows = r.results.map((item) => el("tr", {}, [
      el("td", { "data-label": "Query", text: item.query_id || "" }),
      el("td", { "data-label": "Document", text: item.doc_id || item.title || "" }),
      el("td", { "data-label": "Rank", text: String(item.rank) }),
      el("td", { "data-label": "Grade", text: item.grade === null ? "—" : item.grade + (item.label ? " " + item.label : "") }),
      el("td", { "data-label": "Human grade", text: item.human_grade === null ? "—" : String(item.human_grade) }),
      el("td", { "data-label": "Reasoning or failure", class: item.failure ? "reason-cell" : "", text: item.failure || item.reasoning || "" }),
    ]));
    out.append(el("div", { class: "table-wrap" }, [el("table", { class: "responsive test-results" }, [
      el("caption", { class: "sr-only", text: "Test results" }),
      el("thead", {}, [el("tr", {}, ["Query", "Document", "Rank", "Grade", "Human grade", "Reasoning or failure"].map((h) => el("th", { scope: "col", text: h })))]),
      el("tbody", {}, rows),
    ])]));
    r.calls.forEach((call, i) => {
      out.append(el("details", { class: "call" }, [
        el("summary", { text: "Call " + (i + 1) + ": " + call.candidates + (call.candidates === 1 ? " candidate, " : " candidates, ") + call.input_tokens + " tokens in / " + call.output_tokens + " out" + (call.error ? " — " + call.error : "") }),
        el("h3", { text: "Prompt" }),
        el("pre", { class: "prompt", tabindex: "0", text: call.prompt }),
        el("h3", { text: "Raw answer" }),
        el("pre", { class: "prompt", tabindex: "0", text: call.raw_answer || "(none)" }),
      ]));
    });
  }

  // --- the review queue: one click or one keystroke per grade ----------------------

  function setupQueue() {
    const table = document.querySelector("table.queue");
    if (!table) return;
    const nameInput = document.getElementById("reviewer-name");
    const rows = Array.from(table.querySelectorAll("tr.queue-item"));
    const low = Number(table.dataset.minGrade);
    const high = Number(table.dataset.maxGrade);
    const canGrade = table.dataset.canGrade === "true";
    function move(row, step) {
      const next = rows[rows.indexOf(row) + step];
      if (next) next.focus();
    }
    // Saves the grade as the reviewer's human judgment and moves on to the next row.
    async function grade(row, value) {
      const cell = row.querySelector(".queue-grade");
      const name = nameInput ? nameInput.value.trim().replace(/\//g, "-") : "";
      if (!name) {
        cell.textContent = "Enter your name above first.";
        cell.className = "queue-grade error";
        nameInput.focus();
        return;
      }
      document.cookie = "releval_reviewer=" + encodeURIComponent(name) +
        "; path=" + (ROOT || "") + "/; max-age=31536000; samesite=strict";
      const path = "/evaluations/runs/" + table.dataset.evaluationRun + "/candidates/" +
        row.dataset.candidate + "/judgments/" + encodeURIComponent(name);
      move(row, 1);
      cell.textContent = "Saving " + value + "…";
      cell.className = "queue-grade";
      const result = await api("PUT", path, { grade: value, reasoning: "" });
      if (result.ok) {
        cell.textContent = "Graded " + value;
        cell.className = "queue-grade ok";
        row.classList.add("graded");
        for (const button of row.querySelectorAll(".grade-button")) {
          button.setAttribute("aria-pressed", String(Number(button.dataset.grade) === value));
        }
      } else {
        cell.textContent = result.message;
        cell.className = "queue-grade error";
      }
    }
    for (const row of rows) {
      row.addEventListener("keydown", (event) => {
        if (event.altKey || event.ctrlKey || event.metaKey) return;
        if (event.target.closest("select, input, textarea")) return;
        if (event.key === "j" || event.key === "ArrowDown") { event.preventDefault(); move(row, 1); return; }
        if (event.key === "k" || event.key === "ArrowUp") { event.preventDefault(); move(row, -1); return; }
        if (!canGrade || !/^[0-9]$/.test(event.key)) return;
        const value = Number(event.key);
        if (value < low || value > high) return;
        event.preventDefault();
        grade(row, value);
      });
      for (const button of row.querySelectorAll(".grade-button")) {
        button.addEventListener("click", () => grade(row, Number(button.dataset.grade)));
      }
      const submit = row.querySelector(".grade-submit");
      if (submit) {
        submit.addEventListener("click", () => grade(row, Number(row.querySelector(".grade-select").value)));
      }
    }
    if (rows.length) rows[0].focus();
  }

  // --- the runs list: choose runs to compare ----------------------------------------

  function setupCompareChoice() {
    const form = document.getElementById("compare-form");
    if (!form) return;
    const hint = document.getElementById("compare-hint");
    const initial = hint.textContent;
    const checked = () => form.querySelectorAll('input[name="run"]:checked').length;
    form.addEventListener("change", () => {
      const n = checked();
      hint.textContent = n === 0 ? initial
        : n === 1 ? "1 run checked: check at least one more to compare."
        : n + " runs checked: Compare shows them side by side, the oldest as the baseline.";
    });
    form.addEventListener("submit", (event) => {
      if (checked() >= 2) return;
      event.preventDefault();
      hint.textContent = "Check at least two runs to compare (" + checked() + " checked).";
      hint.classList.add("error");
    });
  }

  // What the page scripts of their own (audits.js) use: the API with the session's CSRF
  // token, the error line, and which statuses are still active.
  window.releval = Object.freeze({ api, show, ACTIVE });

  // --- start -----------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    for (const card of document.querySelectorAll(".jr-card")) {
      if (!card.closest("template")) setupCard(card);
    }
    setupRunAiJudge();
    setupCompareChoice();
    setupReview();
    setupQueue();
    setupAgreement();
    setupJudgeForm();
    setupJudgeDelete();
    setupJudgeTest();
  });
})();
