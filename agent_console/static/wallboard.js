/* The supervisor's wallboard: tiles per queue, agents, waiting work, today's volume.
 *
 * GET /console/api/wallboard is the whole picture; Socket.IO events apply at once what
 * they carry (queue figures, an agent's state) and then ask for the whole picture again
 * (debounced), so a missed or reordered event never leaves the board wrong for long.
 */
"use strict";

(function () {
  const { config, t, label, h, replace, when, duration, api, toast, showError, channelTag,
    secondsSince } = SB;
  const W = JSON.parse(document.getElementById("wallboard-strings").textContent);
  const tv = !!config.tv;
  const w = (key, params) => {
    let text = W[key] || key;
    if (params) text = text.replace(/%\((\w+)\)s/g, (m, n) => (n in params ? String(params[n]) : m));
    return text;
  };
  const board = { queues: [], agents: [], waiting: [], volume: {}, as_of: null, loadedAt: 0 };
  const seqs = {};
  const tilesEl = document.getElementById("tiles");
  const agentsBody = document.querySelector("#agents tbody");
  const waitingEl = document.getElementById("waiting");
  const chartEl = document.getElementById("chart");
  const asOf = document.getElementById("as-of");

  async function load() {
    try {
      const data = await api("/wallboard");
      Object.assign(board, data, { loadedAt: Date.now() });
      SB.noteServerTime(data.as_of);
      renderTiles();
      renderAgents();
      renderWaiting();
      renderChart();
      const breaches = document.getElementById("breaches");
      breaches.textContent = "· " + w("breaches", { n: data.sla_breaches_today });
      document.getElementById("overdue-tasks").textContent = "· " + w("overdue", { n: data.overdue_tasks ?? 0 });
      asOf.textContent = w("as_of", { time: when(data.as_of) });
    } catch (err) { showError(err); }
  }

  let reloadTimer = null;
  function reloadSoon() {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(load, 300);
  }

  // ------------------------------------------------------------------ queue tiles
  function targetOf(q) {
    const targets = Object.values(q.sla_targets || {}).map((x) => x && x.seconds).filter((x) => typeof x === "number");
    return targets.length ? Math.min(...targets) : null;
  }

  function level(longest, target) {
    if (!target || !longest) return "ok";
    if (longest > target) return "red";
    if (longest >= 0.75 * target) return "amber";
    return "ok";
  }

  function longestNow(q) {
    if (!q.waiting) return 0;
    const base = q.longest_wait_seconds || 0;
    return base + (q.as_of ? Math.max(0, secondsSince(q.as_of)) : 0);
  }

  function renderTiles() {
    if (!board.queues.length) { replace(tilesEl, h("p", { class: "muted" }, "—")); return; }
    replace(tilesEl, ...board.queues.map((q) => {
      const target = targetOf(q);
      const ag = q.agents || {};
      return h("article", { class: "tile", dataset: { queueId: q.queue_id, level: "ok" }, "aria-labelledby": "q-" + q.queue_id },
        h("h2", { id: "q-" + q.queue_id }, q.name),
        h("div", null, h("span", { class: "big waiting-count", dataset: { queueWaiting: q.queue_id } }, String(q.waiting)),
          " ", h("span", { class: "muted" }, w("waiting"))),
        h("dl", { class: "figs" },
          h("dt", null, w("longest")),
          h("dd", null, h("span", { class: "longest", dataset: { queueId: q.queue_id } }, duration(longestNow(q))),
            h("span", { class: "level-word" }), target ? h("span", { class: "muted" }, " (" + w("target", { time: duration(target) }) + ")") : null),
          h("dt", null, w("sl")), h("dd", null, q.service_level === null || q.service_level === undefined ? "—" : q.service_level + " %"),
          h("dt", null, w("offered")), h("dd", null, String(q.offered ?? 0)),
          h("dt", null, w("answered")), h("dd", null, String(q.answered ?? 0)),
          h("dt", null, w("abandoned")), h("dd", null, String(q.abandoned ?? 0)),
          h("dt", null, w("aht")), h("dd", null, q.aht_seconds ? duration(q.aht_seconds) : "—")),
        h("div", { class: "agent-states", "aria-label": w("agents") },
          ...["available", "busy", "wrap_up", "offered", "break"].map((st) => h("span", { class: "agent-state", dataset: { state: st } },
            h("span", { class: "state-dot", "aria-hidden": "true" }), label("states", st) + ": " + (ag[st] || 0)))));
    }));
    tickTiles();
  }

  function tickTiles() {
    for (const q of board.queues) {
      const tile = tilesEl.querySelector(`[data-queue-id="${q.queue_id}"].tile`);
      if (!tile) continue;
      const longest = longestNow(q);
      const lv = level(longest, targetOf(q));
      tile.dataset.level = lv;
      tile.querySelector(".longest").textContent = duration(longest);
      tile.querySelector(".level-word").textContent = lv === "ok" ? "" : " " + w(lv);
    }
  }

  function applyQueueStats(list) {
    for (const q of list) {
      const idx = board.queues.findIndex((x) => x.queue_id === q.queue_id);
      if (idx >= 0) board.queues[idx] = q; else board.queues.push(q);
    }
    renderTiles();
  }

  // ------------------------------------------------------------------ agents
  function stateOptions(current) {
    const opts = [h("option", { value: "available", selected: current.state !== "offline" && current.state !== "break" }, label("states", "available"))];
    for (const code of config.pause_codes) {
      opts.push(h("option", { value: "break:" + code, selected: current.state === "break" && current.pause_code === code },
        label("states", "break") + ": " + label("pause", code)));
    }
    opts.push(h("option", { value: "offline", selected: current.state === "offline" }, label("states", "offline")));
    return opts;
  }

  function renderAgents() {
    if (!board.agents.length) {
      replace(agentsBody, h("tr", null, h("td", { colspan: 7, class: "muted" }, w("no_agents"))));
      return;
    }
    replace(agentsBody, ...board.agents.map((a) => {
      const sel = h("select", { "aria-label": w("state_for", { name: a.name }) }, ...stateOptions(a));
      return h("tr", { dataset: { agentId: a.agent_id } },
        h("th", { scope: "row" }, a.name),
        h("td", null, h("span", { class: "agent-state", dataset: { state: a.state } },
          h("span", { class: "state-dot", "aria-hidden": "true" }), h("span", { class: "agent-state-name" }, label("states", a.state)))),
        h("td", { class: "num agent-time", dataset: { since: a.since || "" } }, a.since ? duration(secondsSince(a.since)) : "—"),
        h("td", { class: "agent-pause" }, a.pause_code ? label("pause", a.pause_code) : ""),
        h("td", null, ...(a.current || []).map((c) => h("div", null, channelTag(c.channel), " ", c.who || ""))),
        h("td", { class: "num" }, String(a.handled_today ?? 0)),
        h("td", { class: "controls" }, sel, " ",
          h("button", { type: "button", class: "secondary", onclick: async () => {
            const [state, code] = sel.value.split(":");
            try {
              await api(`/agents/${a.agent_id}/state`, { json: { state, pause_code: code || null } });
              reloadSoon();
            } catch (err) { showError(err); }
          } }, w("apply")), " ",
          h("button", { type: "button", class: "secondary msg-agent", onclick: () => openMessage(a) },
            w("message"))));
    }));
  }

  // A message to an agent: a small dialog; the text shows at once in the agent's console.
  let messageDialog = null;
  function openMessage(agent) {
    if (!messageDialog) {
      const text = h("textarea", { id: "msg-text", name: "text", rows: 3, maxlength: 500, required: true });
      messageDialog = h("dialog", { id: "msg-dialog", class: "msg-dialog", "aria-labelledby": "msg-title" },
        h("form", { method: "dialog", onsubmit: async (ev) => {
          ev.preventDefault();
          const to = Number(messageDialog.dataset.agentId);
          try {
            await api(`/agents/${to}/message`, { json: { text: text.value } });
            toast(w("message_sent", { name: messageDialog.dataset.agentName }));
            text.value = "";
            messageDialog.close();
          } catch (err) { showError(err); }
        } },
        h("h2", { id: "msg-title" }),
        h("label", { for: "msg-text" }, w("message_text")), text,
        h("p", { class: "dialog-buttons" },
          h("button", { type: "submit" }, w("send")), " ",
          h("button", { type: "button", class: "secondary", onclick: () => messageDialog.close() }, w("cancel")))));
      document.body.appendChild(messageDialog);
    }
    messageDialog.dataset.agentId = String(agent.agent_id);
    messageDialog.dataset.agentName = agent.name;
    messageDialog.querySelector("#msg-title").textContent = w("message_to", { name: agent.name });
    messageDialog.showModal();
    messageDialog.querySelector("#msg-text").focus();
  }

  function applyAgentState(msg) {
    const a = board.agents.find((x) => x.agent_id === msg.agent_id);
    if (a) {
      Object.assign(a, { state: msg.state, pause_code: msg.pause_code, since: msg.since });
      const row = agentsBody.querySelector(`tr[data-agent-id="${msg.agent_id}"]`);
      if (row) {
        row.querySelector(".agent-state").dataset.state = msg.state;
        row.querySelector(".agent-state-name").textContent = label("states", msg.state);
        row.querySelector(".agent-pause").textContent = msg.pause_code ? label("pause", msg.pause_code) : "";
        row.querySelector(".agent-time").dataset.since = msg.since || "";
      }
    }
  }

  // ------------------------------------------------------------------ waiting
  function renderWaiting() {
    if (!board.waiting.length) { replace(waitingEl, h("li", { class: "muted" }, w("none_waiting"))); return; }
    const agents = board.agents.filter((a) => a.state !== "offline");
    replace(waitingEl, ...board.waiting.map((it) => {
      const sel = h("select", { "aria-label": w("reassign_for", { id: it.id }) },
        ...agents.map((a) => h("option", { value: a.agent_id }, a.name + " (" + label("states", a.state) + ")")));
      return h("li", { dataset: { interactionId: it.id } },
        channelTag(it.channel || "voice"), h("strong", null, it.who || ""),
        h("span", { class: "muted" }, it.queue), h("span", { class: "waited", dataset: { since: it.enqueued_at } }),
        it.state === "offered" ? h("span", { class: "pill" }, label("states", "offered")) : null,
        agents.length ? [h("span", null, w("reassign")), sel,
          h("button", { type: "button", class: "secondary", onclick: async () => {
            try {
              await api(`/interactions/${it.id}/assign`, { json: { agent_id: Number(sel.value) } });
              reloadSoon();
            } catch (err) { showError(err); }
          } }, w("send"))] : null);
    }));
    tickWaiting();
  }

  function tickWaiting() {
    for (const el of waitingEl.querySelectorAll(".waited")) {
      el.textContent = w("waited", { time: duration(secondsSince(el.dataset.since)) });
    }
    for (const el of agentsBody.querySelectorAll(".agent-time")) {
      if (el.dataset.since) el.textContent = duration(secondsSince(el.dataset.since));
    }
  }

  // ------------------------------------------------------------------ chart (inline SVG)
  const PALETTE = { voice: "#1f6feb", email: "#1b7f3b", fax: "#8a5a00", webform: "#6f42c1", sms: "#c62828", chat: "#0a7f8a" };
  const SVGNS = "http://www.w3.org/2000/svg";
  function s(tag, attrs, text) {
    const el = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function renderChart() {
    const channels = Object.keys(board.volume || {}).sort();
    const totals = Array.from({ length: 24 }, (_, hr) => channels.reduce((sum, c) => sum + (board.volume[c][hr] || 0), 0));
    const max = Math.max(1, ...totals);
    const W0 = 720, H0 = 220, left = 30, bottom = 24, top = 10;
    const bw = (W0 - left - 4) / 24;
    const svg = s("svg", { viewBox: `0 0 ${W0} ${H0}`, role: "img", "aria-label": w("chart_label") });
    svg.appendChild(s("title", {}, w("chart_label")));
    const scale = (n) => (n / max) * (H0 - bottom - top);
    const step = Math.max(1, Math.ceil(max / 4));
    for (let v = 0; v <= max; v += step) {
      const y = H0 - bottom - scale(v);
      svg.appendChild(s("line", { x1: left, x2: W0, y1: y, y2: y, stroke: "#d8dee4", "stroke-width": 1 }));
      svg.appendChild(s("text", { x: left - 4, y: y + 4, "text-anchor": "end", "font-size": 10 }, String(v)));
    }
    for (let hr = 0; hr < 24; hr++) {
      let y = H0 - bottom;
      for (const c of channels) {
        const n = board.volume[c][hr] || 0;
        if (!n) continue;
        const hgt = scale(n);
        y -= hgt;
        const rect = s("rect", { x: left + hr * bw + 2, y, width: bw - 4, height: hgt, fill: PALETTE[c] || "#5b6775" });
        rect.appendChild(s("title", {}, `${String(hr).padStart(2, "0")}:00 · ${label("channels", c)}: ${n}`));
        svg.appendChild(rect);
      }
      if (hr % 2 === 0) {
        svg.appendChild(s("text", { x: left + hr * bw + bw / 2, y: H0 - 8, "text-anchor": "middle", "font-size": 10 }, String(hr).padStart(2, "0")));
      }
    }
    const legend = h("div", { class: "legend" }, ...channels.map((c) => h("span", null,
      h("span", { class: "swatch", style: `background:${PALETTE[c] || "#5b6775"}`, "aria-hidden": "true" }),
      label("channels", c) + ": " + board.volume[c].reduce((a, b) => a + b, 0))));
    replace(chartEl, svg, legend);
  }

  // ------------------------------------------------------------------ live
  function fresh(msg) {
    if (!msg || typeof msg.seq !== "number" || !msg.room) return true;
    const last = seqs[msg.room];
    if (last !== undefined && msg.seq <= last) { reloadSoon(); return false; }
    const gap = last !== undefined && msg.seq !== last + 1;
    seqs[msg.room] = msg.seq;
    if (gap) reloadSoon();
    return true;
  }

  SB.connect({
    connect: () => { for (const k of Object.keys(seqs)) delete seqs[k]; load(); },
    snapshot: (snap) => { if (snap && snap.seq && typeof snap.seq === "object") Object.assign(seqs, snap.seq); },
    queue_stats: (msg) => { if (fresh(msg)) { applyQueueStats(msg.queues || []); reloadSoon(); } },
    agent_state: (msg) => { if (fresh(msg)) { applyAgentState(msg); reloadSoon(); } },
    interaction_updated: (msg) => { if (fresh(msg)) reloadSoon(); },
    sla_breach: (msg) => { if (fresh(msg)) reloadSoon(); },
    task_overdue: (msg) => { if (fresh(msg)) reloadSoon(); },
    error: (msg) => toast((msg && (msg.message || msg.error)) || "error", "error"),
  });

  setInterval(() => { tickTiles(); tickWaiting(); }, 1000);
  if (tv) document.documentElement.classList.add("tv");
})();
