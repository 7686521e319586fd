// The list import page: mapping -> preview -> start, then live progress (Socket.IO event
// "campaign_import" in room "supervisors", with polling as a fallback) and the rejected rows.
// Every text from the file is shown with textContent, never as markup.
(function () {
  "use strict";
  const root = document.getElementById("import");
  if (!root) return;
  const strings = JSON.parse(document.getElementById("import-strings").textContent);
  const importId = Number(root.dataset.importId);
  const form = document.getElementById("mapping");
  const errorBox = document.getElementById("mapping-error");
  const startButton = document.getElementById("start-button");
  const progress = document.getElementById("progress");
  const progressText = document.getElementById("progress-text");
  const tally = document.getElementById("tally");
  const rejectionsBody = document.querySelector("#rejections tbody");
  const moreButton = document.getElementById("more-rejections");
  let status = root.dataset.status;
  let rejectionsOffset = 0;
  let pollTimer = null;

  function fill(template, values) {
    return template.replace(/%\((\w+)\)s/g, (_, key) => String(values[key] ?? ""));
  }

  function mapping() {
    const out = {};
    for (const select of form.querySelectorAll("select")) {
      if (select.value !== "") out[select.name] = Number(select.value);
    }
    return out;
  }

  function cell(tr, text) {
    const td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    tr.appendChild(td);
    return td;
  }

  async function send(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.message || strings.error);
    return data;
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  async function preview() {
    showError("");
    startButton.disabled = true;
    try {
      const data = await send(root.dataset.preview, { mapping: mapping() });
      const body = document.querySelector("#preview tbody");
      body.replaceChildren();
      for (const row of data.rows) {
        const tr = document.createElement("tr");
        tr.className = "cp-outcome-" + row.outcome;
        cell(tr, row.row);
        cell(tr, row.phone || row.cells.phone || "");
        cell(tr, [row.cells.first_name, row.cells.last_name, row.cells.organisation_name].filter(Boolean).join(" "));
        cell(tr, row.cells.email || "");
        const reason = row.code ? (strings.reasons[row.code] || row.reason) : "";
        cell(tr, strings[row.outcome] + (reason ? ": " + reason : ""));
        body.appendChild(tr);
      }
      startButton.disabled = false;
    } catch (err) {
      showError(err.message);
    }
  }

  function render(state) {
    if (!state || Number(state.import_id) !== importId) return;
    status = state.status;
    progress.max = Math.max(1, state.total_rows);
    progress.value = state.processed_rows;
    progressText.textContent =
      (status === "done" ? strings.done : status === "failed" ? strings.failed + " " + (state.error || "") : strings.running) +
      " " + fill(strings.progress, { done: state.processed_rows, total: state.total_rows });
    tally.textContent = fill(strings.tally, state);
    root.dataset.status = status;
    if (status === "done" || status === "failed") {
      if (pollTimer) clearInterval(pollTimer);
      pollTimer = null;
      if (rejectionsOffset === 0) loadRejections();
    }
  }

  async function poll() {
    const response = await fetch(root.dataset.api, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.ok) render(await response.json());
  }

  async function loadRejections() {
    const url = root.dataset.rejections + "?limit=100&offset=" + rejectionsOffset;
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const data = await response.json();
    if (rejectionsOffset === 0 && data.items.length === 0) {
      const tr = document.createElement("tr");
      cell(tr, strings.no_rejections).colSpan = 3;
      rejectionsBody.appendChild(tr);
    }
    for (const item of data.items) {
      const tr = document.createElement("tr");
      cell(tr, item.row_number);
      cell(tr, strings.reasons[item.code] || item.reason);
      cell(tr, Object.values(item.cells || {}).join(" | "));
      rejectionsBody.appendChild(tr);
    }
    rejectionsOffset += data.items.length;
    moreButton.hidden = !data.has_more;
  }

  async function start() {
    showError("");
    startButton.disabled = true;
    document.getElementById("progress-step").hidden = false;
    render({ import_id: importId, status: "running", total_rows: Number(progress.max), processed_rows: 0, imported: 0, matched: 0, rejected: 0 });
    if (!pollTimer) pollTimer = setInterval(poll, 1500);
    try {
      const data = await send(root.dataset.start, {
        mapping: mapping(),
        list_name: form.elements.list_name.value,
      });
      document.getElementById("mapping-step").hidden = true;
      await poll();
      render(data.status === "running" ? null : data);
    } catch (err) {
      showError(err.message);
      startButton.disabled = false;
    }
  }

  if (typeof io === "function") {
    const socket = io("/console", { transports: ["websocket", "polling"] });
    socket.on("campaign_import", render);
  }
  document.getElementById("preview-button").addEventListener("click", preview);
  startButton.addEventListener("click", start);
  moreButton.addEventListener("click", loadRejections);
  form.addEventListener("change", () => { startButton.disabled = true; });
  if (status === "running") pollTimer = setInterval(poll, 1500);
  if (status !== "uploaded") poll();
})();
