/* The agent's console: state, offers, the interaction, tickets, the customer card.
 *
 * The server owns every state. This page keeps a copy built from the snapshot the
 * server sends on (re)connect and the deltas after it (each with a sequence number; a
 * gap asks for a new snapshot). Buttons send requests; only the server's answer changes
 * what the page shows. Timers here only redraw clocks.
 */
"use strict";

(function () {
  const { config, t, tn, label, h, replace, clear, when, day, duration, api, qs, toast,
    showError, channelTag, secondsSince } = SB;
  const me = config.user.id;

  const state = {
    seqs: {}, // room -> last sequence number seen
    agent: { state: "offline", pause_code: null, since: null },
    offers: [],
    interactions: [],
    queues: [],
    current: null, // interaction id in the centre
    cards: {}, // interaction id -> card that came with the offer or screen pop
    customerId: null, // customer on the right
    historyCustomer: null,
    pendingState: false,
  };
  let socket = null;

  // ---------------------------------------------------------------- normalising input
  function normOffer(o) {
    const it = o.interaction || {};
    return {
      offer_id: o.offer_id ?? o.id,
      interaction_id: o.interaction_id ?? it.id,
      channel: o.channel || it.channel || "voice",
      queue: o.queue_name || (o.queue && o.queue.name) || "",
      queue_id: o.queue_id ?? (o.queue && o.queue.id),
      from: o.from || it.from || "",
      subject: o.subject || it.subject || "",
      enqueued_at: o.enqueued_at || it.enqueued_at || null,
      waited: o.waited_seconds ?? o.wait_seconds ?? null,
      expires_at: o.expires_at || null,
      card: o.customer || o.card || null,
      received: Date.now(),
    };
  }

  function normInteraction(i) {
    const inner = i.interaction || {};
    return Object.assign({}, inner, i, {
      id: i.interaction_id ?? i.id ?? inner.id,
      state: i.state || i.entry_state || i.status || inner.status,
      channel: i.channel || inner.channel,
    });
  }

  function cardOf(x) {
    return x && (x.customer || x.card) ? (x.customer || x.card) : null;
  }

  // ---------------------------------------------------------------- socket events
  /** Sequence numbers are per room. Emits from different server threads can overtake
   * each other on the wire, and a dropped link loses some: either way the page asks for a
   * fresh snapshot (at most one at a time), which is the truth. A newer delta is applied
   * meanwhile; an older one than we have seen is not (it would undo a newer state). */
  let resyncTimer = null;
  function askResync() {
    if (resyncTimer || !socket) return;
    resyncTimer = setTimeout(() => {
      resyncTimer = null;
      if (socket.connected) socket.emit("resync", { rooms: Object.assign({}, state.seqs) });
    }, 250);
  }

  function checkSeq(msg) {
    if (!msg || typeof msg.seq !== "number" || !msg.room) return true;
    const last = state.seqs[msg.room];
    if (last !== undefined && msg.seq <= last) {
      askResync();
      return false;
    }
    if (last !== undefined && msg.seq !== last + 1) askResync();
    state.seqs[msg.room] = msg.seq;
    return true;
  }

  function onSnapshot(snap) {
    state.seqs = (snap.seq && typeof snap.seq === "object") ? Object.assign({}, snap.seq) : {};
    if (snap.server_time) SB.noteServerTime(snap.server_time);
    if (snap.agent) setAgent(snap.agent);
    state.offers = (snap.offers || []).map(normOffer);
    state.interactions = (snap.interactions || []).map(normInteraction)
      .filter((i) => !isFinished(i));
    for (const o of state.offers) if (o.card) state.cards[o.interaction_id] = o.card;
    for (const i of state.interactions) {
      const c = cardOf(i);
      if (c) state.cards[i.id] = c;
    }
    if (snap.queues) state.queues = snap.queues;
    if (snap.queue_stats) state.queues = snap.queue_stats.queues || snap.queue_stats;
    if (state.current && !state.interactions.some((i) => i.id === state.current)) {
      // Our interaction finished while we were away; keep showing it read-only.
    }
    if (!state.current && state.interactions.length) state.current = state.interactions[0].id;
    renderAll();
    if (state.current) openInteraction(state.current, { keepTab: true });
    else if (state.offers.length) showCardFor(state.offers[0].interaction_id);
  }

  function onOffer(msg) {
    if (!checkSeq(msg)) return;
    const o = normOffer(msg.offer || msg);
    state.offers = state.offers.filter((x) => x.interaction_id !== o.interaction_id);
    state.offers.push(o);
    if (o.card) state.cards[o.interaction_id] = o.card;
    renderOffer();
    // The pop: the card arrived with the offer, show it now.
    if (!state.current || !state.interactions.some((i) => i.id === state.current)) {
      showCardFor(o.interaction_id);
    }
  }

  /** Sent when we accepted: the interaction is ours now; open it with its card. */
  function onScreenPop(msg) {
    if (!checkSeq(msg)) return;
    const it = normInteraction(msg.interaction || msg);
    const card = cardOf(msg);
    if (card) state.cards[it.id] = card;
    state.offers = state.offers.filter((o) => o.interaction_id !== it.id);
    if (!isFinished(it) && !state.interactions.some((i) => i.id === it.id)) {
      state.interactions.push(it);
    }
    state.current = it.id;
    renderOffer();
    renderMine();
    if (!detail || detail.id !== it.id) openInteraction(it.id);
    else showCardFor(it.id);
  }

  function isFinished(i) {
    return ["done", "closed", "abandoned", "queued", "waiting", "gone"]
      .includes(i.state) || (i.agent_id !== undefined && i.agent_id !== null && i.agent_id !== me);
  }

  let ticketsTimer = null;
  function refreshMyTicketsSoon() {
    clearTimeout(ticketsTimer);
    ticketsTimer = setTimeout(loadMyTickets, 1000);
  }

  function onInteractionUpdated(msg) {
    if (!checkSeq(msg)) return;
    if (msg.ticket_id || (msg.interaction && msg.interaction.ticket_id)) refreshMyTicketsSoon();
    const upd = normInteraction(msg.interaction || msg);
    // An offer that is no longer pending (accepted, taken back, expired) leaves the list.
    state.offers = state.offers.filter((o) => o.interaction_id !== upd.id ||
      (upd.state === "offered" && (upd.agent_id === undefined || upd.agent_id === me)));
    const idx = state.interactions.findIndex((i) => i.id === upd.id);
    const card = cardOf(upd);
    if (card) state.cards[upd.id] = card;
    if (isFinished(upd) || upd.state === "offered") {
      if (idx >= 0) state.interactions.splice(idx, 1);
    } else if (["active", "wrap_up", "busy"].includes(upd.state)) {
      if (idx >= 0) state.interactions[idx] = Object.assign(state.interactions[idx], upd);
      else state.interactions.push(upd);
      if (!state.current || state.current === upd.id) state.current = upd.id;
    }
    renderOffer();
    renderMine();
    if (msg.event === "interaction.content_changed" && detail && detail.id === upd.id) {
      // What it shows changed (a fax's pages arrived, a stamp): fetch it again.
      openInteraction(upd.id, { keepTab: true });
      return;
    }
    if (state.current === upd.id) {
      if (state.interactions.some((i) => i.id === upd.id) && (!detail || detail.id !== upd.id)) {
        openInteraction(upd.id);
      } else {
        renderInteractionStatus();
      }
    }
  }

  function onAgentState(msg) {
    if (!checkSeq(msg)) return;
    const a = msg.agent || msg;
    if ((a.agent_id ?? me) !== me) return;
    setAgent(a);
    renderState();
  }

  function onQueueStats(msg) {
    if (!checkSeq(msg)) return;
    const list = msg.queues || (Array.isArray(msg) ? msg : [msg]);
    for (const q of list) {
      const id = q.queue_id ?? q.id;
      const idx = state.queues.findIndex((x) => (x.queue_id ?? x.id) === id);
      if (idx >= 0) state.queues[idx] = Object.assign(state.queues[idx], q);
      else state.queues.push(q);
    }
    renderQueues();
  }

  /** A supervisor's message: stays on screen until the agent dismisses it. */
  function onAgentMessage(msg) {
    if (!checkSeq(msg)) return;
    let box = document.getElementById("agent-messages");
    if (!box) {
      box = h("div", { id: "agent-messages", class: "agent-messages", role: "alert", "aria-live": "assertive" });
      document.body.appendChild(box);
    }
    const item = h("div", { class: "agent-message" },
      h("p", { class: "agent-message-head" }, t("message_from", { name: msg.from || "" }), " · ",
        h("time", { datetime: msg.at || "" }, when(msg.at))),
      h("p", { class: "agent-message-text" }, msg.text || ""),
      h("button", { type: "button", class: "secondary", onclick: () => item.remove() }, t("dismiss")));
    box.appendChild(item);
  }

  function onServerError(msg) {
    const text = (msg && (msg.message || msg.error)) || String(msg);
    toast(t("error", { message: text }), "error");
  }

  function setAgent(a) {
    state.agent = {
      state: a.state || "offline",
      pause_code: a.pause_code || null,
      since: a.since || new Date().toISOString(),
    };
    state.pendingState = false;
  }

  /** Send a request to the server; the answer (ack) reports an error if there is one. */
  function send(event, payload) {
    if (!socket || !socket.connected) {
      toast(t("disconnected"), "error");
      return;
    }
    socket.emit(event, payload, (reply) => {
      if (reply && (reply.error || reply.ok === false)) {
        onServerError(reply);
        renderState(); // the selector shows the state the server kept, not the one asked for
      }
    });
  }

  // ---------------------------------------------------------------- top bar: state
  const stateSelect = document.getElementById("state-select");
  const stateNow = document.getElementById("state-now");

  function renderState() {
    const a = state.agent;
    stateNow.dataset.state = a.state;
    let text = label("states", a.state);
    if (a.state === "break" && a.pause_code) text += " · " + label("pause", a.pause_code);
    stateNow.querySelector(".state-name").textContent = text;
    document.body.dataset.agentState = a.state;
    let value = "available";
    if (a.state === "offline") value = "offline";
    else if (a.state === "break") value = "break:" + (a.pause_code || "other");
    if (![...stateSelect.options].some((o) => o.value === value)) {
      stateSelect.appendChild(h("option", { value }, text));
    }
    stateSelect.value = value;
    tickClocks();
  }

  stateSelect.addEventListener("change", () => {
    const [wanted, code] = stateSelect.value.split(":");
    state.pendingState = true;
    send("set_state", code ? { state: wanted, pause_code: code } : { state: wanted });
  });

  // ---------------------------------------------------------------- left: offer
  const offerBox = document.getElementById("offer-box");

  function renderOffer() {
    if (!state.offers.length) {
      replace(offerBox, h("p", { class: "muted" }, t("no_offer")));
      document.body.classList.remove("ringing");
      return;
    }
    document.body.classList.add("ringing");
    replace(offerBox, ...state.offers.map((o) => {
      const card = o.card || state.cards[o.interaction_id];
      const who = card && card.known ? card.name
        : (card && (card.display || (card.withheld ? t("withheld") : null))) || o.from || t("unknown_caller");
      return h("article", { class: "offer", dataset: { interaction: o.interaction_id }, "aria-label": t("incoming") },
        h("div", { class: "offer-head" }, channelTag(o.channel),
          card && card.vip ? h("span", { class: "badge vip" }, t("vip")) : null),
        h("p", { class: "offer-who" }, who),
        o.subject ? h("p", { class: "offer-subject" }, o.subject) : null,
        h("p", { class: "offer-meta" },
          o.queue ? h("span", null, t("queue") + ": " + o.queue) : null,
          h("span", { class: "offer-waited", dataset: { since: o.enqueued_at || "", waited: o.waited ?? "" , received: o.received } })),
        h("div", { class: "offer-actions" },
          h("button", { type: "button", class: "accept", "aria-keyshortcuts": "Alt+A",
            onclick: () => accept(o) }, t("accept")),
          h("button", { type: "button", class: "decline secondary", "aria-keyshortcuts": "Alt+D",
            onclick: () => decline(o) }, t("decline"))));
    }));
    tickClocks();
  }

  function accept(o) {
    send("accept", { interaction_id: o.interaction_id });
    state.current = o.interaction_id;
    showCardFor(o.interaction_id);
  }

  function decline(o) {
    send("decline", { interaction_id: o.interaction_id });
  }

  // ---------------------------------------------------------------- left: my work
  const myList = document.getElementById("my-interactions");
  const myTickets = document.getElementById("my-tickets");
  const queueBody = document.querySelector("#queue-table tbody");

  function renderMine() {
    if (!state.interactions.length) {
      replace(myList, h("li", { class: "muted" }, t("no_interactions")));
      return;
    }
    replace(myList, ...state.interactions.map((i) => {
      const card = state.cards[i.id];
      const who = (card && card.known ? card.name : null) || i.customer_name ||
        (card && card.display) || i.from || t("unknown_caller");
      return h("li", null, h("button", {
        type: "button", class: "linklike" + (state.current === i.id ? " current" : ""),
        "aria-current": state.current === i.id ? "true" : null,
        onclick: () => openInteraction(i.id),
      }, channelTag(i.channel), " ", who, " ",
      h("span", { class: "pill state-" + i.state }, label("states", i.state === "active" ? "busy" : i.state))));
    }));
  }

  async function loadMyTickets() {
    try {
      const data = await api("/tickets" + qs({ assignee: "me" }));
      if (!data.items.length) {
        replace(myTickets, h("li", { class: "muted" }, t("no_tickets")));
        return;
      }
      replace(myTickets, ...data.items.slice(0, 8).map((tk) => h("li", null,
        h("button", { type: "button", class: "linklike", onclick: () => openTicket(tk.id) },
          h("span", { class: "tnum" }, tk.number || "#" + tk.id), " ", tk.subject, " ",
          h("span", { class: "pill prio-" + tk.priority }, label("priorities", tk.priority))))));
    } catch (err) {
      showError(err);
    }
  }

  function renderQueues() {
    if (!state.queues.length) {
      replace(queueBody, h("tr", null, h("td", { colspan: 3, class: "muted" }, "—")));
      return;
    }
    replace(queueBody, ...state.queues.map((q) => h("tr", null,
      h("th", { scope: "row" }, q.name || q.queue_name || "#" + (q.queue_id ?? q.id)),
      h("td", { class: "num", dataset: { queueWaiting: q.queue_id ?? q.id } }, String(q.waiting ?? 0)),
      h("td", { class: "num" }, q.longest_wait_seconds != null ? duration(q.longest_wait_seconds) : "—"))));
  }

  // ---------------------------------------------------------------- centre: tabs
  const tabs = {
    interaction: document.getElementById("tab-interaction"),
    tickets: document.getElementById("tab-tickets"),
    history: document.getElementById("tab-history"),
  };
  const views = {
    interaction: document.getElementById("view-interaction"),
    tickets: document.getElementById("view-tickets"),
    history: document.getElementById("view-history"),
  };

  function showTab(name) {
    for (const [k, btn] of Object.entries(tabs)) {
      btn.setAttribute("aria-selected", k === name ? "true" : "false");
      views[k].hidden = k !== name;
    }
  }
  tabs.interaction.addEventListener("click", () => showTab("interaction"));
  tabs.tickets.addEventListener("click", () => { showTab("tickets"); loadTickets(); });
  tabs.history.addEventListener("click", () => {
    showTab("history");
    if (state.customerId && state.historyCustomer !== state.customerId) loadHistory(state.customerId);
  });

  // ---------------------------------------------------------------- centre: interaction
  const iview = views.interaction;
  let detail = null;

  let opening = null;

  async function openInteraction(id, opts) {
    state.current = id;
    if (!(opts && opts.keepTab)) showTab("interaction");
    renderMine();
    if (opening === id) return; // the same fetch is under way
    opening = id;
    try {
      detail = await api(`/interactions/${id}`);
    } catch (err) {
      showError(err);
      return;
    } finally {
      if (opening === id) opening = null;
    }
    if (state.current !== id) return; // the agent moved on meanwhile
    renderInteraction();
    showCardFor(id);
  }

  function liveEntry() {
    return state.interactions.find((i) => i.id === state.current) || null;
  }

  function renderInteraction() {
    if (!detail) {
      replace(iview, h("p", { class: "muted" }, t("no_interaction")));
      return;
    }
    const d = detail;
    const notes = h("ol", { class: "notes", id: "note-list" },
      ...d.notes.map((n) => h("li", null,
        h("div", { class: "note-meta" }, n.author || "", " · ", when(n.at)),
        h("p", { class: "note-text" }, n.body_text || ""))));
    const noteInput = h("textarea", { id: "note-body", rows: 3, name: "body" });
    // Re-rendering the same interaction keeps a note being typed.
    const typed = iview.dataset.interaction === String(d.id) && document.getElementById("note-body");
    if (typed) noteInput.value = typed.value;
    iview.dataset.interaction = String(d.id);
    const noteForm = h("form", { class: "note-form", onsubmit: async (ev) => {
      ev.preventDefault();
      if (!noteInput.value.trim()) return;
      try {
        detail = await api(`/interactions/${d.id}/notes`, { json: { body: noteInput.value } });
        noteInput.value = "";
        renderInteraction();
        refreshCard();
      } catch (err) { showError(err); }
    } },
    h("label", { for: "note-body" }, t("note_label")), noteInput,
    h("button", { type: "submit" }, t("add_note")));

    let body = null;
    if (d.extra && d.extra.fax) {
      body = faxPages(d.extra.fax);
    } else if (d.body_html) {
      body = sandboxedHtml(d.body_html);
    } else if (d.body_text) {
      body = h("pre", { class: "body" }, d.body_text);
    }

    replace(iview,
      h("header", { class: "ihead" },
        h("h2", null, channelTag(d.channel), " ",
          d.subject || (["voice", "sms", "fax"].includes(d.channel) ? d.from_display : null) ||
          lineText(d)),
        h("p", { class: "muted" },
          d.from_display ? t("from") + ": " + d.from_display + " · " : "",
          when(d.at),
          d.disposition ? " · " + t("disposition") + ": " + label("dispositions", d.disposition) : "")),
      h("div", { id: "istatus", class: "istatus" }),
      body,
      h("section", { "aria-labelledby": "notes-h" }, h("h3", { id: "notes-h" }, t("notes")), notes, noteForm));
    renderInteractionStatus();
  }

  function dispositionSelect(current) {
    return h("select", { id: "disposition", name: "disposition", required: true },
      h("option", { value: "" }, t("choose")),
      ...config.dispositions.map((k) => h("option", { value: k, selected: current === k }, label("dispositions", k))));
  }

  /** The part that follows the server's state of the interaction: the call timer, the
   * disposition and Wrap up while active, the countdown while wrapping up; afterwards the
   * disposition can still be corrected. */
  function renderInteractionStatus() {
    const box = document.getElementById("istatus");
    if (!box || !detail) return;
    const live = liveEntry();
    clear(box);
    const d = detail;
    if (!live) {
      const sel = dispositionSelect(d.disposition);
      sel.required = false;
      box.dataset.state = "done";
      box.append(h("form", { class: "disp-form", onsubmit: async (ev) => {
        ev.preventDefault();
        try {
          detail = await api(`/interactions/${d.id}/disposition`, { json: { disposition: sel.value || null } });
          renderInteraction();
          toast(t("saved"));
        } catch (err) { showError(err); }
      } }, h("label", { for: "disposition" }, t("disposition")), sel,
      h("button", { type: "submit", class: "secondary" }, t("save_disposition"))));
      return;
    }
    const st = live.state;
    box.dataset.state = st;
    if (st === "wrap_up") {
      box.append(h("span", { class: "pill state-wrap_up" }, label("states", "wrap_up")), " ",
        h("span", { class: "wrapup-left", role: "timer", dataset: { until: live.wrap_up_until || "" } }), " ",
        live.disposition ? h("span", null, t("disposition") + ": " + label("dispositions", live.disposition)) : null,
        h("button", { type: "button", id: "finish-wrap-up", "aria-keyshortcuts": "Alt+W",
          onclick: () => send("finish_wrap_up", { interaction_id: live.id }) }, t("finish_wrap_up")));
    } else {
      const sel = dispositionSelect(live.disposition || d.disposition);
      box.append(h("span", { class: "pill state-busy" }, label("states", "busy")), " ",
        h("span", { class: "active-for", role: "timer", dataset: { since: live.answered_at || "" } }),
        h("form", { class: "disp-form", id: "wrap-form", onsubmit: (ev) => {
          ev.preventDefault();
          if (!sel.value) { sel.focus(); toast(t("disposition") + ": " + t("choose"), "error"); return; }
          send("wrap_up", { interaction_id: live.id, disposition: sel.value });
        } },
        h("label", { for: "disposition" }, t("disposition")), sel,
        h("button", { type: "submit", id: "wrap-up", "aria-keyshortcuts": "Alt+W" }, t("wrap_up"))),
        transferControl(live));
    }
    tickClocks();
  }

  function transferControl(live) {
    if (!state.queues.length) return null;
    const sel = h("select", { id: "transfer-queue", "aria-label": t("transfer_to_queue") },
      ...state.queues.map((q) => h("option", { value: q.queue_id ?? q.id }, q.name || q.queue_name || "")));
    return h("span", { class: "transfer" }, h("label", { for: "transfer-queue", class: "inline" }, t("transfer_to_queue")), " ", sel,
      h("button", { type: "button", class: "secondary", onclick: () =>
        send("transfer", { interaction_id: live.id, to_queue_id: Number(sel.value) }) }, t("transfer")));
  }

  /** Sanitised (server-side, nh3) HTML in a sandboxed frame: no scripts, no same origin. */
  /** A fax's pages (annotations drawn on them) as a strip of page images; each opens the
   * annotator, where stamps, highlights and comments are added. */
  function faxPages(fax) {
    const total = fax.pages.length;
    const links = h("p", { class: "fax-links" },
      h("a", { href: fax.viewer_url, target: "_blank", rel: "noopener" }, t("fax_open")),
      fax.original_url ? " · " : null,
      fax.original_url ? h("a", { href: fax.original_url, target: "_blank", rel: "noopener" }, t("fax_original")) : null);
    let note = null;
    if (fax.status === "fetching" || fax.status === "queued") note = h("p", { class: "muted" }, t("fax_fetching"));
    else if (fax.status === "corrupt") note = h("p", { class: "error" }, t("fax_unreadable", { error: fax.error || "" }));
    return h("section", { class: "fax", "aria-label": t("fax_pages") }, note, links,
      total ? h("ol", { class: "fax-pages" }, ...fax.pages.map((src, i) => h("li", null,
        h("a", { href: fax.viewer_url + "#page-" + (i + 1), target: "_blank", rel: "noopener" },
          h("img", { src, loading: "lazy", alt: t("fax_page", { n: i + 1, total }) })),
        h("span", { class: "muted" }, t("fax_page", { n: i + 1, total }))))) : null);
  }

  function sandboxedHtml(html) {
    const frame = h("iframe", { class: "mailframe", sandbox: "", referrerpolicy: "no-referrer",
      title: t("thread") });
    frame.srcdoc = "<!doctype html><meta charset=utf-8><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\"><body style=\"font:14px system-ui;margin:8px\">" + html;
    return frame;
  }

  // ---------------------------------------------------------------- right: the card
  const cardArea = document.getElementById("card-area");

  async function showCardFor(interactionId) {
    const cached = state.cards[interactionId];
    if (cached) {
      if (cached.known) state.customerId = cached.id;
      renderCardOrUnknown(cached, interactionId);
      return;
    }
    const live = state.interactions.find((i) => i.id === interactionId);
    const cid = (detail && detail.id === interactionId && detail.customer_id) || (live && live.customer_id);
    if (cid) {
      await showCustomer(cid, interactionId);
    } else if (detail && detail.id === interactionId) {
      try {
        const unknown = await api("/unknown-caller" + qs({ number: detail.from || "" }));
        renderCardOrUnknown(unknown, interactionId);
      } catch (err) { showError(err); }
    }
  }

  async function showCustomer(customerId, interactionId) {
    try {
      const card = await api(`/customers/${customerId}/card`);
      state.customerId = card.id;
      if (interactionId) state.cards[interactionId] = card;
      renderCardOrUnknown(card, interactionId);
      if (!views.history.hidden) loadHistory(card.id);
    } catch (err) { showError(err); }
  }

  function refreshCard() {
    if (state.customerId) showCustomer(state.customerId, state.current);
  }

  /** Show a card that arrived by itself (offer, screen pop, update). Never under the
   * agent's hands: a form being filled in for the same card stays as it is. */
  function renderCardOrUnknown(card, interactionId) {
    const view = cardArea.dataset.view || "";
    if (card && card.known) {
      if (view === "edit:" + card.id) return;
      renderCard(card, interactionId);
    } else {
      if (interactionId && view === "unknown:" + interactionId) return;
      renderUnknown(card || {}, interactionId);
    }
  }

  function renderCard(c) {
    const flags = [];
    if (c.vip) flags.push(h("span", { class: "badge vip" }, "\u2605 ", t("vip")));
    if (c.consent && c.consent.no_calls) flags.push(h("span", { class: "badge consent" }, t("no_calls")));
    if (c.consent && c.consent.no_mail) flags.push(h("span", { class: "badge consent" }, t("no_mail")));
    const bday = c.upcoming_birthday;
    const sections = [
      h("header", { class: "card-head" },
        h("h2", { id: "card-name", class: "card-name" }, c.name),
        c.organisation ? h("p", { class: "card-org" }, t("organisation") + ": ",
          h("button", { type: "button", class: "linklike", onclick: () => showCustomer(c.organisation.id) }, c.organisation.name)) : null,
        flags.length ? h("p", { class: "flags" }, ...flags) : null,
        bday ? h("p", { class: "birthday" },
          bday.in_days === 0 ? t("birthday_today") : tn("birthday_in", bday.in_days, { date: day(bday.date) })) : null),
      (c.customer_class || (c.tags && c.tags.length)) ? h("p", { class: "tags" },
        c.customer_class ? h("span", { class: "tag class" }, t("class") + ": " + c.customer_class) : null,
        ...(c.tags || []).map((tg) => h("span", { class: "tag" }, tg))) : null,
      h("section", { "aria-label": t("contact_points") },
        h("h3", null, t("contact_points")),
        h("ul", { class: "contacts" }, ...c.contact_points.map((cp) => h("li", null,
          h("span", { class: "cp-kind" }, label("channels", cp.kind === "phone" ? "voice" : cp.kind) || cp.kind),
          " ", cp.kind === "email" ? h("a", { href: "mailto:" + cp.value }, cp.display)
            : h("span", { class: "cp-value" }, cp.display),
          cp.label ? h("span", { class: "muted" }, " (" + cp.label + ")") : null)))),
    ];
    const filled = (c.custom_fields || []).filter((f) => f.value !== null && f.value !== "");
    if (filled.length) {
      sections.push(h("section", null, h("h3", null, t("custom_fields")),
        h("dl", { class: "fields" }, ...filled.map((f) => [h("dt", null, f.label),
          h("dd", null, fieldText(f))]))));
    }
    if (c.open_tickets && c.open_tickets.length) {
      sections.push(h("section", null, h("h3", null, t("open_tickets")),
        h("ul", { class: "list" }, ...c.open_tickets.map((tk) => h("li", null,
          h("button", { type: "button", class: "linklike", onclick: () => openTicket(tk.id) },
            h("span", { class: "tnum" }, tk.number || ""), " ", tk.subject, " ",
            h("span", { class: "pill" }, label("ticket_statuses", tk.status))))))));
    }
    sections.push(h("section", { class: "recent" }, h("h3", null, t("recent")),
      h("ul", { class: "timeline", id: "recent-list" }, ...(c.recent_interactions || []).map(historyLine))));
    if (c.relations && c.relations.length) {
      sections.push(h("section", null, h("h3", null, t("relations")),
        h("ul", { class: "list" }, ...c.relations.map((r) => h("li", null, r.label, ": ",
          h("button", { type: "button", class: "linklike", onclick: () => showCustomer(r.customer_id) }, r.customer_name))))));
    }
    const surveys = (c.sections && c.sections.surveys) || [];
    if (surveys.length) {
      sections.push(h("section", { class: "card-surveys" }, h("h3", null, t("surveys")),
        ...surveys.map((sr) => h("div", { class: "survey-response", dataset: { responseId: sr.response_id } },
          h("p", null, h("strong", null, sr.survey), " ",
            h("time", { datetime: sr.started_at }, when(sr.started_at)),
            sr.completed ? null : h("span", { class: "pill" }, t("survey_unfinished"))),
          h("dl", { class: "fields" }, ...sr.answers.map((a) => [h("dt", null, a.question),
            h("dd", null, a.type === "yes_no" ? t(a.value === "yes" ? "yes" : "no") : a.value)]))))));
    }
    sections.push(h("div", { class: "card-actions" },
      h("button", { type: "button", class: "secondary", onclick: () => renderEdit(c) }, t("edit")),
      h("button", { type: "button", class: "secondary", onclick: () => { showTab("history"); loadHistory(c.id); } }, t("history")),
      h("a", { class: "button secondary", href: "/campaigns/surveys?customer_id=" + encodeURIComponent(c.id), target: "_blank", rel: "noopener" }, t("run_survey"))));
    if (cardArea.dataset.view !== "card:" + c.id) cardArea.closest(".col").scrollTop = 0;
    cardArea.dataset.view = "card:" + c.id;
    replace(cardArea, h("article", { class: "card-view", "aria-labelledby": "card-name", dataset: { customerId: c.id } }, ...sections));
  }

  function fieldText(f) {
    if (f.type === "boolean") return f.value ? t("yes") : t("no");
    if (f.type === "date") return day(f.value);
    return String(f.value);
  }

  /** What a history line says: the subject or summary; for a call without one, who called. */
  function lineText(item) {
    const auto = /^(voice|sms|fax) from /.test(item.summary || "");
    if ((auto || !item.summary) && item.from_display) return t("from") + ": " + item.from_display;
    return item.summary || item.subject || "";
  }

  function historyLine(item) {
    return h("li", { class: "tl-item dir-" + item.direction },
      channelTag(item.channel),
      h("span", { class: "tl-dir" }, label("directions", item.direction)),
      h("time", { datetime: item.at }, when(item.at)),
      h("span", { class: "tl-summary" }, lineText(item)),
      item.disposition ? h("span", { class: "pill" }, label("dispositions", item.disposition)) : null);
  }

  // ----- unknown caller: create or link
  function renderUnknown(u, interactionId) {
    state.customerId = null;
    const title = u.withheld ? t("withheld") : (u.display || u.number || t("unknown_caller"));
    const parts = [h("header", { class: "card-head" },
      h("p", { class: "muted" }, t("unknown_caller")),
      h("h2", { id: "card-name", class: "card-name" }, title))];
    if (interactionId) {
      const first = h("input", { id: "new-first", name: "first_name", autocomplete: "off" });
      const last = h("input", { id: "new-last", name: "last_name", autocomplete: "off" });
      const email = h("input", { id: "new-email", name: "email", type: "email", autocomplete: "off" });
      parts.push(h("details", { class: "unknown-create", open: true },
        h("summary", null, t("create_customer")),
        h("form", { onsubmit: async (ev) => {
          ev.preventDefault();
          try {
            const card = await api("/customers", { json: {
              kind: "person", first_name: first.value, last_name: last.value,
              phone: u.withheld ? null : u.number, email: email.value || null,
              link_interaction_id: interactionId } });
            state.cards[interactionId] = card;
            state.customerId = card.id;
            if (detail && detail.id === interactionId) detail.customer_id = card.id;
            renderCard(card);
            renderMine();
          } catch (err) { showError(err); }
        } },
        h("label", { for: "new-first" }, t("first_name")), first,
        h("label", { for: "new-last" }, t("last_name")), last,
        h("label", { for: "new-email" }, t("email")), email,
        h("button", { type: "submit" }, t("create_customer")))));
      parts.push(h("details", { class: "unknown-link", open: true },
        h("summary", null, t("link_existing")),
        customerPicker("link-search", async (hit) => {
          try {
            const data = await api(`/interactions/${interactionId}/link`, { json: { customer_id: hit.id } });
            state.cards[interactionId] = data.card;
            if (detail && detail.id === interactionId) detail = data.interaction;
            renderCard(data.card);
            renderMine();
          } catch (err) { showError(err); }
        })));
    }
    cardArea.dataset.view = "unknown:" + (interactionId || "");
    replace(cardArea, h("article", { class: "card-view unknown", "aria-labelledby": "card-name" }, ...parts));
  }

  /** A search-as-you-type picker of customers; onPick(hit) gets the chosen one. */
  function customerPicker(id, onPick) {
    const input = h("input", { id, type: "search", autocomplete: "off", role: "combobox",
      "aria-autocomplete": "list", "aria-controls": id + "-list", "aria-expanded": "false" });
    const list = h("ul", { id: id + "-list", class: "picker-list", role: "listbox" });
    let timer = null;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const q = input.value.trim();
        if (q.length < 2) { clear(list); input.setAttribute("aria-expanded", "false"); return; }
        try {
          const data = await api("/search" + qs({ q }));
          if (input.value.trim() !== q) return;
          replace(list, ...(data.customers.length ? data.customers.map((hit) => h("li", { role: "option" },
            h("button", { type: "button", class: "linklike", onclick: () => onPick(hit) },
              h("strong", null, hit.name), " ", h("span", { class: "muted" }, hit.contacts.join(", ")), " ",
              t("link")))) : [h("li", { class: "muted" }, t("no_results"))]));
          input.setAttribute("aria-expanded", "true");
        } catch (err) { showError(err); }
      }, 200);
    });
    return h("div", { class: "picker" }, h("label", { for: id }, t("search_customers")), input, list);
  }

  // ----- editing the card
  function renderEdit(c) {
    const f = (name, value, attrs) => h("input", Object.assign({ id: "ed-" + name, name, value: value ?? "" }, attrs || {}));
    const L = (name, text) => h("label", { for: "ed-" + name }, text);
    const kind = h("select", { id: "ed-kind", name: "kind" },
      h("option", { value: "person", selected: c.kind === "person" }, t("person")),
      h("option", { value: "organisation", selected: c.kind === "organisation" }, t("organisation_kind")));
    const check = (name, checked, text) => h("label", { class: "inline" },
      h("input", { type: "checkbox", name, id: "ed-" + name, checked: !!checked }), " ", text);
    const customInputs = (c.custom_fields || []).map((cf) => {
      const id = "cf-" + cf.key;
      let input;
      if (cf.type === "choice") {
        input = h("select", { id, name: cf.key, dataset: { cf: cf.type } }, h("option", { value: "" }, "—"),
          ...cf.choices.map((ch) => h("option", { value: ch, selected: cf.value === ch }, ch)));
      } else if (cf.type === "boolean") {
        input = h("select", { id, name: cf.key, dataset: { cf: cf.type } }, h("option", { value: "" }, "—"),
          h("option", { value: "true", selected: cf.value === true }, t("yes")),
          h("option", { value: "false", selected: cf.value === false }, t("no")));
      } else {
        input = h("input", { id, name: cf.key, dataset: { cf: cf.type },
          type: cf.type === "number" ? "number" : cf.type === "date" ? "date" : "text",
          step: cf.type === "number" ? "any" : null, value: cf.value ?? "" });
      }
      return [h("label", { for: id }, cf.label), input];
    });
    const form = h("form", { class: "card-edit", onsubmit: async (ev) => {
      ev.preventDefault();
      const fd = new FormData(form);
      const custom = {};
      for (const cf of c.custom_fields || []) {
        const raw = form.querySelector("#cf-" + cf.key).value;
        if (raw === "") custom[cf.key] = null;
        else if (cf.type === "number") custom[cf.key] = Number(raw);
        else if (cf.type === "boolean") custom[cf.key] = raw === "true";
        else custom[cf.key] = raw;
      }
      const payload = {
        kind: fd.get("kind"), first_name: fd.get("first_name"), last_name: fd.get("last_name"),
        organisation_name: fd.get("organisation_name"), customer_class: fd.get("customer_class"),
        city: fd.get("city"), country: fd.get("country"), language: fd.get("language"),
        birthday: fd.get("birthday") || null, notes: fd.get("notes"),
        vip: form.querySelector("#ed-vip").checked,
        no_calls: form.querySelector("#ed-no_calls").checked,
        no_mail: form.querySelector("#ed-no_mail").checked,
        tags: String(fd.get("tags") || "").split(",").map((s) => s.trim()).filter(Boolean),
        custom_fields: custom,
      };
      try {
        const card = await api(`/customers/${c.id}`, { method: "PATCH", json: payload });
        if (state.current) state.cards[state.current] = card;
        renderCard(card);
        toast(t("saved"));
      } catch (err) { showError(err); }
    } },
    h("h2", null, t("edit"), ": ", c.name),
    L("kind", t("kind")), kind,
    L("first_name", t("first_name")), f("first_name", c.first_name),
    L("last_name", t("last_name")), f("last_name", c.last_name),
    L("organisation_name", t("organisation_name")), f("organisation_name", c.organisation_name),
    L("customer_class", t("class")), f("customer_class", c.customer_class),
    L("tags", t("tags")), f("tags", (c.tags || []).join(", ")),
    check("vip", c.vip, t("vip")), check("no_calls", c.consent.no_calls, t("no_calls")),
    check("no_mail", c.consent.no_mail, t("no_mail")),
    L("birthday", t("birthday")), f("birthday", c.birthday, { type: "date" }),
    L("city", t("city")), f("city", c.city),
    L("country", t("country")), f("country", c.country, { maxlength: 2 }),
    L("language", t("language")), f("language", c.language, { maxlength: 10 }),
    L("notes", t("customer_notes")), h("textarea", { id: "ed-notes", name: "notes", rows: 3 }, c.notes || ""),
    ...customInputs,
    h("div", { class: "card-actions" },
      h("button", { type: "submit" }, t("save")),
      h("button", { type: "button", class: "secondary", onclick: () => renderCard(c) }, t("cancel"))));

    // Contact points: list with remove, and add.
    const cpKind = h("select", { id: "cp-kind", name: "kind" },
      ...["phone", "email", "fax"].map((k) => h("option", { value: k }, t(k))));
    const cpValue = h("input", { id: "cp-value", name: "value", autocomplete: "off" });
    const contacts = h("section", null, h("h3", null, t("contact_points")),
      h("ul", { class: "contacts" }, ...c.contact_points.map((cp) => h("li", null, cp.display, " ",
        h("button", { type: "button", class: "secondary small", "aria-label": t("remove") + " " + cp.display,
          onclick: async () => {
            try {
              const card = await api(`/customers/${c.id}/contact-points/${cp.id}`, { method: "DELETE" });
              renderEdit(card);
            } catch (err) { showError(err); }
          } }, t("remove"))))),
      h("form", { class: "inline-form", onsubmit: async (ev) => {
        ev.preventDefault();
        try {
          const card = await api(`/customers/${c.id}/contact-points`, { json: { kind: cpKind.value, value: cpValue.value } });
          renderEdit(card);
        } catch (err) { showError(err); }
      } }, h("label", { for: "cp-kind" }, t("kind")), cpKind,
      h("label", { for: "cp-value" }, t("value")), cpValue,
      h("button", { type: "submit" }, t("add_contact"))));

    // Relations: type + customer picker.
    const relType = h("select", { id: "rel-type", name: "relation" });
    api("/relation-types").then((data) => {
      replace(relType, ...data.items.map((r) => h("option", { value: r.key }, r.label)));
    }).catch(showError);
    const relations = h("section", null, h("h3", null, t("relations")),
      h("ul", { class: "list", id: "rel-list" }, ...(c.relations || []).map((r) => h("li", null, r.label + ": " + r.customer_name))),
      h("label", { for: "rel-type" }, t("relation")), relType,
      customerPicker("rel-search", async (hit) => {
        try {
          const card = await api(`/customers/${c.id}/relations`, { json: { relation: relType.value, to_customer_id: hit.id } });
          renderEdit(card);
        } catch (err) { showError(err); }
      }));
    if (cardArea.dataset.view !== "edit:" + c.id) cardArea.closest(".col").scrollTop = 0;
    cardArea.dataset.view = "edit:" + c.id;
    replace(cardArea, h("div", { class: "card-view editing" }, form, contacts, relations));
  }

  // ---------------------------------------------------------------- centre: history
  const hview = views.history;
  let historyCursor = null;

  let historyChannel = "";

  async function loadHistory(customerId, more) {
    try {
      const data = await api(`/customers/${customerId}/history` +
        qs({ cursor: more ? historyCursor : null, channel: historyChannel || null }));
      state.historyCustomer = customerId;
      historyCursor = data.next_cursor;
      let list = hview.querySelector("#history-list");
      if (!more || !list) {
        list = h("ol", { id: "history-list", class: "timeline full" });
        const filter = h("select", { id: "history-channel", onchange: () => {
          historyChannel = filter.value;
          loadHistory(customerId);
        } }, h("option", { value: "" }, t("all")),
        ...["voice", "email", "fax", "webform", "sms", "note"].map((c) =>
          h("option", { value: c, selected: historyChannel === c }, label("channels", c))));
        replace(hview, h("div", { class: "history-head" }, h("h2", null, t("history")),
          h("label", { for: "history-channel" }, t("filter")), filter),
        list, h("div", { id: "history-more" }));
      }
      for (const item of data.items) {
        const li = historyLine(item);
        if (item.body_text && item.body_text !== item.summary) {
          li.append(h("details", null, h("summary", null, t("interaction")), h("pre", { class: "body" }, item.body_text)));
        }
        list.append(li);
      }
      const moreBox = hview.querySelector("#history-more");
      replace(moreBox, historyCursor
        ? h("button", { type: "button", class: "secondary", onclick: () => loadHistory(customerId, true) }, t("load_more"))
        : h("p", { class: "muted" }, t("history_end")));
    } catch (err) { showError(err); }
  }

  // ---------------------------------------------------------------- centre: tickets
  const ticketArea = document.getElementById("ticket-area");
  const ticketFilters = document.getElementById("ticket-filters");
  let users = null;

  ticketFilters.addEventListener("submit", (ev) => { ev.preventDefault(); loadTickets(); });

  async function loadTickets() {
    delete ticketArea.dataset.ticket;
    const fd = new FormData(ticketFilters);
    const params = { status: fd.get("status"), priority: fd.get("priority"),
      assignee: fd.get("assignee"), q: fd.get("q") };
    try {
      const data = await api("/tickets" + qs(params));
      if (!data.items.length) { replace(ticketArea, h("p", { class: "muted" }, t("no_tickets"))); return; }
      replace(ticketArea, h("table", { class: "tickets" },
        h("thead", null, h("tr", null, ...["#", t("subject"), t("status"), t("priority"), t("assignee"), ""].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", null, ...data.items.map((tk) => h("tr", null,
          h("td", { class: "tnum" }, tk.number || ""),
          h("td", null, h("button", { type: "button", class: "linklike", onclick: () => openTicket(tk.id) }, tk.subject),
            tk.customer_name ? h("div", { class: "muted" }, tk.customer_name) : null),
          h("td", null, h("span", { class: "pill status-" + tk.status }, label("ticket_statuses", tk.status))),
          h("td", null, h("span", { class: "pill prio-" + tk.priority }, label("priorities", tk.priority))),
          h("td", null, tk.assignee_name || t("unassigned")),
          h("td", null, h("time", { datetime: tk.updated_at }, when(tk.updated_at))))))));
    } catch (err) { showError(err); }
  }

  async function openTicket(id) {
    showTab("tickets");
    try {
      if (!users) users = (await api("/users")).items;
      const tk = await api(`/tickets/${id}`);
      renderTicket(tk);
      if (tk.customer_id && state.customerId !== tk.customer_id && !liveEntry()) showCustomer(tk.customer_id);
    } catch (err) { showError(err); }
  }

  let ticketRequests = 0;

  function renderTicket(tk) {
    // A re-render (after a status change, say) keeps what the agent was typing.
    const same = ticketArea.dataset.ticket === String(tk.id);
    const keep = (id) => (same && document.getElementById(id) ? document.getElementById(id).value : null);
    const kept = { to: keep("reply-to"), body: keep("reply-body"), note: keep("tk-note"),
      after: keep("reply-status") };
    const statusSel = h("select", { id: "tk-status", name: "status" },
      ...tk.allowed_statuses.map((s) => h("option", { value: s, selected: s === tk.status }, label("ticket_statuses", s))));
    const prioSel = h("select", { id: "tk-priority", name: "priority" },
      ...config.priorities.map((p) => h("option", { value: p, selected: p === tk.priority }, label("priorities", p))));
    const assSel = h("select", { id: "tk-assignee", name: "assignee_id" },
      h("option", { value: "" }, t("unassigned")),
      ...(users || []).map((u) => h("option", { value: u.id, selected: u.id === tk.assignee_id }, u.name)));
    const change = async (payload) => {
      const mine = ++ticketRequests;
      try {
        const data = await api(`/tickets/${tk.id}`, { method: "PATCH", json: payload });
        if (mine !== ticketRequests) return; // a later change or reply answers with newer data
        renderTicket(data);
        toast(t("saved"));
        loadMyTickets();
      } catch (err) { showError(err); renderTicket(tk); }
    };
    statusSel.addEventListener("change", () => change({ status: statusSel.value }));
    prioSel.addEventListener("change", () => change({ priority: prioSel.value }));
    assSel.addEventListener("change", () => change({ assignee_id: assSel.value ? Number(assSel.value) : null }));

    const thread = h("ol", { class: "thread" }, ...tk.thread.map((m) => h("li", { class: "msg dir-" + m.direction + " chan-" + m.channel },
      h("div", { class: "msg-head" }, channelTag(m.channel), " ",
        h("span", { class: "tl-dir" }, label("directions", m.direction)), " ",
        m.author || m.from_display || "", m.to ? " \u2192 " + m.to : "", " · ",
        h("time", { datetime: m.at }, when(m.at))),
      m.subject ? h("p", { class: "msg-subject" }, m.subject) : null,
      m.extra && m.extra.fax ? faxPages(m.extra.fax)
        : m.body_html ? sandboxedHtml(m.body_html) : quoted(m.body_text || m.summary || ""),
      m.attachments && m.attachments.length ? h("ul", { class: "attachments", "aria-label": t("attachments") },
        ...m.attachments.map((a) => h("li", null, h("a", { href: a.url, download: a.filename }, a.filename),
          h("span", { class: "muted" }, " " + [a.content_type, a.size ? fileSize(a.size) : ""].filter(Boolean).join(", "))))) : null)));

    const to = h("input", { id: "reply-to", name: "to", type: "email", value: tk.reply_to || "" });
    const body = h("textarea", { id: "reply-body", name: "body", rows: 5 });
    const after = h("select", { id: "reply-status", name: "status" },
      h("option", { value: "" }, t("keep_status")),
      ...tk.allowed_statuses.filter((s) => s !== tk.status).map((s) => h("option", { value: s }, label("ticket_statuses", s))));
    const reply = h("form", { class: "reply", onsubmit: async (ev) => {
      ev.preventDefault();
      const mine = ++ticketRequests;
      try {
        const data = await api(`/tickets/${tk.id}/reply`, { json: { to: to.value, body: body.value, status: after.value || null } });
        body.value = "";
        after.value = "";
        if (mine !== ticketRequests) return;
        renderTicket(data);
        toast(t("saved"));
      } catch (err) { showError(err); }
    } }, h("h3", null, t("reply")),
    h("label", { for: "reply-to" }, t("reply_to")), to,
    h("label", { for: "reply-body" }, t("message")), body,
    h("label", { for: "reply-status" }, t("status_after")), after,
    h("button", { type: "submit" }, t("send_reply")));

    const noteBody = h("textarea", { id: "tk-note", name: "body", rows: 2 });
    const note = h("form", { class: "note-form", onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const data = await api(`/tickets/${tk.id}/notes`, { json: { body: noteBody.value } });
        noteBody.value = "";
        renderTicket(data);
      }
      catch (err) { showError(err); }
    } }, h("label", { for: "tk-note" }, t("internal_note")), noteBody, h("button", { type: "submit", class: "secondary" }, t("add_note")));

    if (kept.to !== null) to.value = kept.to;
    if (kept.body !== null) body.value = kept.body;
    if (kept.note !== null) noteBody.value = kept.note;
    if (kept.after !== null && [...after.options].some((o) => o.value === kept.after)) after.value = kept.after;
    // Keep the agent's cursor where it was: a save landing while they type must not
    // swallow their next keystrokes into a detached element.
    const focused = same && ticketArea.contains(document.activeElement) ? document.activeElement : null;
    const focusId = focused && focused.id ? focused.id : null;
    const caret = focused && "selectionStart" in focused && focused.selectionStart !== null
      ? [focused.selectionStart, focused.selectionEnd] : null;
    ticketArea.dataset.ticket = String(tk.id);
    replace(ticketArea,
      h("p", null, h("button", { type: "button", class: "linklike", onclick: loadTickets }, "\u2190 " + t("back"))),
      h("header", { class: "ihead" },
        h("h2", null, h("span", { class: "tnum" }, tk.number || ""), " ", tk.subject),
        tk.customer_name ? h("p", null, h("button", { type: "button", class: "linklike",
          onclick: () => showCustomer(tk.customer_id) }, tk.customer_name)) : null),
      h("div", { class: "ticket-controls" },
        h("label", { for: "tk-status" }, t("status")), statusSel,
        h("label", { for: "tk-priority" }, t("priority")), prioSel,
        h("label", { for: "tk-assignee" }, t("assignee")), assSel),
      h("h3", null, t("thread")), thread, reply, note);
    const again = focusId ? document.getElementById(focusId) : null;
    if (again) {
      again.focus();
      if (caret && typeof again.setSelectionRange === "function") {
        try { again.setSelectionRange(caret[0], caret[1]); } catch (_) { /* not a text field */ }
      }
    }
  }

  function fileSize(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(0) + " kB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  /** Plain text with quoted lines ("> ...") folded away. */
  function quoted(text) {
    const lines = String(text).split("\n");
    const firstQuote = lines.findIndex((l) => /^\s*>/.test(l) || /^On .+wrote:$/.test(l.trim()));
    if (firstQuote < 0) return h("pre", { class: "body" }, text);
    return h("div", null, h("pre", { class: "body" }, lines.slice(0, firstQuote).join("\n")),
      h("details", { class: "quoted" }, h("summary", null, "\u2026"), h("pre", { class: "body" }, lines.slice(firstQuote).join("\n"))));
  }

  // ---------------------------------------------------------------- top bar: search
  const search = document.getElementById("search");
  const results = document.getElementById("search-results");
  let searchTimer = null;

  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(runSearch, 200);
  });
  search.addEventListener("keydown", (ev) => {
    const opts = [...results.querySelectorAll("[role=option]")];
    const idx = opts.indexOf(document.activeElement);
    if (ev.key === "ArrowDown" && opts.length) { ev.preventDefault(); opts[Math.min(opts.length - 1, idx + 1)].focus(); }
    if (ev.key === "Enter" && opts.length) { ev.preventDefault(); opts[0].click(); }
    if (ev.key === "Escape") closeResults();
  });
  results.addEventListener("keydown", (ev) => {
    const opts = [...results.querySelectorAll("[role=option]")];
    const idx = opts.indexOf(document.activeElement);
    if (ev.key === "ArrowDown") { ev.preventDefault(); if (idx < opts.length - 1) opts[idx + 1].focus(); }
    if (ev.key === "ArrowUp") { ev.preventDefault(); if (idx > 0) opts[idx - 1].focus(); else search.focus(); }
    if (ev.key === "Escape") { closeResults(); search.focus(); }
  });

  function closeResults() {
    results.hidden = true;
    search.setAttribute("aria-expanded", "false");
  }

  async function runSearch() {
    const q = search.value.trim();
    if (q.length < 2) { closeResults(); return; }
    try {
      const data = await api("/search" + qs({ q }));
      if (search.value.trim() !== q) return;
      const items = [];
      if (data.customers.length) items.push(h("div", { class: "group", role: "presentation" }, t("customers")));
      for (const c of data.customers) {
        items.push(h("button", { type: "button", role: "option", class: "hit", onclick: () => { closeResults(); showCustomer(c.id); } },
          h("strong", null, c.name), c.vip ? h("span", { class: "badge vip" }, t("vip")) : null,
          h("span", { class: "muted" }, " " + c.contacts.join(" · "))));
      }
      if (data.tickets.length) items.push(h("div", { class: "group", role: "presentation" }, t("tickets")));
      for (const tk of data.tickets) {
        items.push(h("button", { type: "button", role: "option", class: "hit", onclick: () => { closeResults(); openTicket(tk.id); } },
          h("span", { class: "tnum" }, tk.number || ""), " ", tk.subject));
      }
      if (!items.length) items.push(h("p", { class: "muted" }, t("no_results")));
      replace(results, ...items);
      results.hidden = false;
      search.setAttribute("aria-expanded", "true");
    } catch (err) { showError(err); }
  }
  document.addEventListener("click", (ev) => {
    if (!results.contains(ev.target) && ev.target !== search) closeResults();
  });

  // ---------------------------------------------------------------- clocks and keys
  function tickClocks() {
    if (state.agent.since) {
      stateNow.querySelector(".state-time").textContent = duration(secondsSince(state.agent.since));
    }
    for (const el of document.querySelectorAll(".offer-waited")) {
      let secs = null;
      if (el.dataset.since) secs = secondsSince(el.dataset.since);
      else if (el.dataset.waited !== "") secs = Number(el.dataset.waited) + (Date.now() - Number(el.dataset.received)) / 1000;
      el.textContent = secs === null ? "" : t("waited", { time: duration(secs) });
    }
    for (const el of document.querySelectorAll(".wrapup-left")) {
      if (!el.dataset.until) { el.textContent = ""; continue; }
      const left = -secondsSince(el.dataset.until);
      el.textContent = left > 0 ? t("wrap_up_left", { time: duration(left) }) : t("wrap_up_over");
    }
    for (const el of document.querySelectorAll(".active-for")) {
      el.textContent = el.dataset.since ? t("on_call_for", { time: duration(secondsSince(el.dataset.since)) }) : "";
    }
  }
  setInterval(tickClocks, 1000);

  document.addEventListener("keydown", (ev) => {
    if (!ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const key = ev.key.toLowerCase();
    if (key === "a" && state.offers.length) { ev.preventDefault(); accept(state.offers[0]); }
    else if (key === "d" && state.offers.length) { ev.preventDefault(); decline(state.offers[0]); }
    else if (key === "w") {
      const btn = document.getElementById("finish-wrap-up") || document.getElementById("wrap-up");
      if (btn) { ev.preventDefault(); btn.click(); }
    }
  });

  // ---------------------------------------------------------------- start
  function renderAll() {
    renderState();
    renderOffer();
    renderMine();
    renderQueues();
  }

  renderAll();
  loadMyTickets();
  socket = SB.connect({
    connect: () => { state.seqs = {}; },
    snapshot: onSnapshot,
    offer: onOffer,
    screen_pop: onScreenPop,
    interaction_updated: onInteractionUpdated,
    agent_state: onAgentState,
    queue_stats: onQueueStats,
    agent_message: onAgentMessage,
    error: onServerError,
  });
  window.SBConsole = { state, socket: () => socket };
})();
