// The agent's survey page: drives the survey JSON API (start, answer, complete) and shows
// the questions the answers so far make apply. The server owns the state: every change is
// sent at once and the list is redrawn from the server's answer. DOM built with
// textContent only.
(function () {
  "use strict";
  const root = document.getElementById("sv-run");
  if (!root) return;
  const S = JSON.parse(document.getElementById("sv-strings").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]');
  const form = document.getElementById("sv-questions");
  const problemBox = document.getElementById("sv-problem");
  const completeBtn = document.getElementById("sv-complete");
  const statusLine = document.getElementById("sv-status");
  const startBtn = document.getElementById("sv-start");
  let state = null;
  let errors = {};

  async function call(method, url, body) {
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (csrf) headers["X-CSRFToken"] = csrf.content;
    const resp = await fetch(url, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = {};
    try { data = await resp.json(); } catch (e) { data = {}; }
    return { ok: resp.ok, status: resp.status, data };
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function showProblem(message) {
    problemBox.textContent = message || "";
    problemBox.hidden = !message;
  }

  function options(q) {
    if (q.type === "yes_no") return [{ value: "yes", label: S.yes }, { value: "no", label: S.no }];
    if (q.type === "scale") {
      const out = [];
      for (let n = q.min; n <= q.max; n++) out.push({ value: String(n), label: String(n) });
      return out;
    }
    return q.options || [];
  }

  function current(q) {
    const v = state.answers[q.key];
    if (v === undefined || v === null) return q.type === "multiple_choice" ? [] : "";
    if (q.type === "yes_no") return v ? "yes" : "no";
    return Array.isArray(v) ? v.map(String) : String(v);
  }

  function renderQuestion(q) {
    const box = el("fieldset", { class: "sv-question", "data-key": q.key });
    const legend = el("legend", {}, q.text);
    if (q.required) legend.appendChild(el("span", { class: "sv-req" }, " (" + S.required + ")"));
    box.appendChild(legend);
    const id = "q-" + q.key;
    const value = current(q);
    const choiceTypes = ["yes_no", "single_choice", "scale", "multiple_choice"];
    if (choiceTypes.includes(q.type)) {
      const wrap = el("div", { class: "sv-options" });
      const multi = q.type === "multiple_choice";
      options(q).forEach((o, i) => {
        const oid = id + "-" + i;
        const input = el("input", { type: multi ? "checkbox" : "radio", name: id, id: oid, value: o.value });
        input.checked = multi ? value.includes(o.value) : value === o.value;
        input.addEventListener("change", () => {
          if (multi) {
            const chosen = Array.from(box.querySelectorAll("input:checked")).map((x) => x.value);
            send(q.key, chosen);
          } else {
            send(q.key, o.value);
          }
        });
        const label = el("label", { for: oid });
        label.appendChild(input);
        label.appendChild(document.createTextNode(" " + o.label));
        wrap.appendChild(label);
      });
      box.appendChild(wrap);
    } else {
      const input = q.type === "text"
        ? el("textarea", { id, name: id, rows: "3", maxlength: String(q.max_length || 2000) })
        : el("input", { id, name: id, type: q.type === "date" ? "date" : "text",
          inputmode: q.type === "number" ? "decimal" : "text" });
      input.value = value;
      input.setAttribute("aria-label", q.text);
      input.addEventListener("change", () => send(q.key, input.value));
      box.appendChild(input);
    }
    if (errors[q.key]) {
      box.appendChild(el("p", { class: "sv-error", id: "e-" + q.key }, errors[q.key]));
    }
    return box;
  }

  function render() {
    form.replaceChildren(...state.questions.map(renderQuestion));
    form.hidden = state.completed;
    completeBtn.hidden = state.completed;
    if (startBtn) startBtn.hidden = true;
    if (state.completed) statusLine.textContent = state.partial ? S.partial : S.completed;
  }

  async function send(key, value) {
    const r = await call("POST", root.dataset.responses + state.response_id + "/answers",
      { answers: { [key]: value } });
    if (r.ok) {
      state = r.data;
      errors = {};
      showProblem("");
    } else {
      errors = (r.data && r.data.fields) || {};
      showProblem(r.data.message || S.failed);
    }
    render();
  }

  async function start() {
    const body = { customer_id: Number(root.dataset.customer) };
    if (root.dataset.interaction) body.interaction_id = Number(root.dataset.interaction);
    const r = await call("POST", root.dataset.api, body);
    if (!r.ok) { showProblem(r.data.message || S.failed); return; }
    state = r.data;
    render();
  }

  completeBtn.addEventListener("click", async () => {
    const r = await call("POST", root.dataset.responses + state.response_id + "/complete");
    if (r.ok) { state = r.data; errors = {}; showProblem(""); }
    else { errors = (r.data && r.data.fields) || {}; showProblem(r.data.message || S.failed); }
    render();
  });
  if (startBtn) startBtn.addEventListener("click", start);
})();
