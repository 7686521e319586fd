/* Planning in the console: "My day" (tasks due today, callbacks, overdue), live
 * reminders, the task dialog (from the panel, a customer card or a ticket).
 *
 * Reads and writes the REST API (/api/v1/tasks…) with the console's session. Texts come
 * translated in #planning-config (P / PN); times are ISO 8601 UTC from the server and are
 * shown with Intl in the user's zone (SB.when). The DOM is built with textContent only.
 */
"use strict";

const SBPlan = (function () {
  const { h, replace, when, day, toast } = SB;
  const cfgEl = document.getElementById("planning-config");
  const cfg = cfgEl ? JSON.parse(cfgEl.textContent) : { strings: { t: {} } };
  const S = cfg.strings;
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const pluralRules = new Intl.PluralRules(SB.config.locale || "en");

  function fill(text, params) {
    return text.replace(/%\((\w+)\)s/g, (m, name) =>
      params && Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : m);
  }
  function P(key, params) { return fill((S.t && S.t[key]) || key, params); }
  function PN(key, n, params) {
    const forms = (S.plurals && S.plurals[key]) || {};
    return fill(forms[pluralRules.select(n)] || forms.other || key, Object.assign({ num: n }, params || {}));
  }

  /** fetch JSON from /api/v1 with the session cookie; errors carry the server's message. */
  async function api(path, options) {
    options = options || {};
    const headers = { Accept: "application/json" };
    let body;
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.json);
    }
    if (csrfMeta) headers["X-CSRFToken"] = csrfMeta.content;
    const response = await fetch(cfg.api_v1 + path, {
      method: options.method || (body ? "POST" : "GET"), headers, body, credentials: "same-origin",
    });
    const type = response.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await response.json() : null;
    if (!response.ok) throw new SB.ApiError(response.status, data);
    return data;
  }

  function showError(err) {
    toast(P("error", { message: err && err.message ? err.message : String(err) }), "error");
  }

  /** A moment as "YYYY-MM-DDTHH:MM" wall time in the user's zone (datetime-local value). */
  function localInput(date) {
    const parts = new Intl.DateTimeFormat("en-CA", {
      timeZone: SB.config.timezone || "UTC", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).formatToParts(date);
    const v = Object.fromEntries(parts.map((p) => [p.type, p.value]));
    return `${v.year}-${v.month}-${v.day}T${v.hour}:${v.minute}`;
  }

  function reminderLabel(m) {
    if (m === 0) return P("at_due_time");
    if (m === 60) return P("hour_before");
    if (m === 1440) return P("day_before");
    return P("minutes_before", { num: m });
  }

  // ------------------------------------------------------------------ the task dialog
  const dialog = document.getElementById("task-dialog");
  const form = document.getElementById("task-form");
  let onSaved = null;

  if (form) {
    const reminder = form.elements.reminder;
    replace(reminder, h("option", { value: "" }, P("no_reminder")),
      ...(S.reminders || []).map((m) => h("option", { value: String(m) }, reminderLabel(m))));
    replace(form.elements.resources, ...(cfg.resources || []).map((r) =>
      h("option", { value: String(r.id) }, r.name)));
    const syncKind = () => {
      const appt = form.elements.kind.value === "appointment";
      form.querySelector(".when-task").hidden = appt;
      form.querySelector(".when-appointment").hidden = !appt;
    };
    form.elements.kind.addEventListener("change", syncKind);
    document.getElementById("task-cancel").addEventListener("click", () => dialog.close());
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = form.elements;
      const kind = f.kind.value;
      const body = { title: f.title.value, kind, priority: f.priority.value,
        description: f.description.value };
      for (const key of ["customer_id", "ticket_id", "interaction_id"]) {
        if (f[key].value) body[key] = Number(f[key].value);
      }
      if (f.reminder.value !== "") body.reminder_minutes = [Number(f.reminder.value)];
      if (f.rrule.value.trim()) body.rrule = f.rrule.value.trim();
      if (kind === "appointment") {
        body.start_at = f.start.value || null;
        body.end_at = f.end.value || null;
        if (f.location.value.trim()) body.location = f.location.value.trim();
        body.resource_ids = [...f.resources.selectedOptions].map((o) => Number(o.value));
      } else if (f.due.value) {
        body.due_at = f.due.value; // wall time: the server reads it in my time zone
      }
      const errBox = document.getElementById("task-error");
      errBox.hidden = true;
      try {
        let saved;
        if (f.mode.value === "next_contact" && body.customer_id) {
          saved = await api(`/customers/${body.customer_id}/next-contact`, { json: {
            due_at: body.due_at, note: body.title, reminder_minutes: body.reminder_minutes || [] } });
        } else {
          saved = await api("/tasks", { json: body });
        }
        dialog.close();
        toast(P("saved"));
        if (onSaved) onSaved(saved);
        document.dispatchEvent(new CustomEvent("sb:task-saved", { detail: saved }));
      } catch (err) {
        errBox.textContent = err.message;
        errBox.hidden = false;
      }
    });
    dialog.addEventListener("close", () => { onSaved = null; });
  }

  /** Open the dialog, optionally linked to a customer/ticket; mode "next_contact" plans
   * a callback on the customer through its own endpoint. */
  function openDialog(opts) {
    if (!dialog) return;
    opts = opts || {};
    form.reset();
    const f = form.elements;
    f.customer_id.value = opts.customer_id || "";
    f.ticket_id.value = opts.ticket_id || "";
    f.interaction_id.value = opts.interaction_id || "";
    f.mode.value = opts.mode || "task";
    f.kind.value = opts.kind || (opts.mode === "next_contact" ? "callback" : "task");
    f.kind.disabled = opts.mode === "next_contact";
    f.kind.dispatchEvent(new Event("change"));
    const inAnHour = new Date(SB.serverNow() + 3600 * 1000);
    f.due.value = localInput(inAnHour);
    f.start.value = localInput(inAnHour);
    f.end.value = localInput(new Date(inAnHour.getTime() + 1800 * 1000));
    document.getElementById("task-dialog-h").textContent =
      opts.mode === "next_contact" ? P("next_contact") : P("new_task");
    document.getElementById("task-context").textContent = opts.context || "";
    document.getElementById("task-error").hidden = true;
    onSaved = opts.onSaved || null;
    dialog.showModal();
    f.title.focus();
  }

  // ------------------------------------------------------------------ My day
  const todayList = document.getElementById("today-list");
  const badge = document.getElementById("overdue-badge");
  const birthdaysBox = document.getElementById("today-birthdays");

  function taskLine(item, opts) {
    const at = item.kind === "appointment" ? item.start_at : item.due_at;
    return h("li", { class: "task-line" + (item.overdue ? " is-overdue" : ""),
      dataset: { taskId: item.id } },
    h("div", { class: "task-main" },
      item.overdue ? h("span", { class: "badge overdue" }, P("overdue")) : null,
      h("span", { class: "pill kind-" + item.kind }, (S.kinds || {})[item.kind] || item.kind),
      " ", h("strong", { class: "task-title" }, item.title)),
    h("div", { class: "task-meta" },
      at ? h("span", { class: "task-when" }, when(at)) : null,
      item.customer_name ? h("span", null, item.customer_name) : null,
      opts && opts.who && (item.assignee_name || item.owner_name)
        ? h("span", null, P("assignee") + ": " + (item.assignee_name || item.owner_name)) : null,
      item.team_name ? h("span", null, P("team_label") + ": " + item.team_name) : null,
      opts && opts.done === false ? null : h("button", { type: "button", class: "small secondary",
        onclick: () => markDone(item.id) }, P("mark_done"))));
  }

  async function markDone(id) {
    try {
      await api(`/tasks/${id}`, { method: "PATCH", json: { status: "done" } });
      document.dispatchEvent(new CustomEvent("sb:task-saved", { detail: { id } }));
    } catch (err) {
      showError(err);
    }
  }

  let loading = null;
  async function loadToday() {
    if (!todayList) return;
    if (loading) return loading;
    loading = (async () => {
      try {
        const data = await api("/tasks/today");
        if (!data.items.length) replace(todayList, h("li", { class: "muted" }, P("nothing_today")));
        else replace(todayList, ...data.items.map((i) => taskLine(i)));
        badge.hidden = !data.overdue;
        badge.textContent = data.overdue ? PN("overdue_count", data.overdue) : "";
        replace(birthdaysBox, ...(data.birthdays.length ? [
          h("h3", null, P("birthdays")),
          h("ul", { class: "list" }, ...data.birthdays.slice(0, 8).map((b) => h("li", null,
            P(b.kind === "birthday" ? "birthday_on" : "anniversary_on",
              { name: b.name, date: day(b.date), years: b.years })))),
        ] : []));
      } catch (err) {
        showError(err);
      } finally {
        loading = null;
      }
    })();
    return loading;
  }

  // ------------------------------------------------------------------ reminders
  const reminderArea = document.getElementById("reminder-area");

  function showReminder(msg) {
    if (!reminderArea) return;
    const card = h("article", { class: "reminder", dataset: { taskId: msg.task_id } },
      h("p", { class: "reminder-head" }, "\u2691 ", P("reminder")),
      h("p", { class: "reminder-title" }, msg.title),
      msg.occurrence_at ? h("p", { class: "reminder-when" }, P("reminder_at", { time: when(msg.occurrence_at) })) : null,
      msg.customer_name ? h("p", { class: "muted" }, msg.customer_name) : null,
      h("div", { class: "reminder-actions" },
        h("button", { type: "button", class: "small", onclick: async () => {
          await markDone(msg.task_id);
          card.remove();
        } }, P("mark_done")),
        h("button", { type: "button", class: "small secondary", onclick: () => card.remove() },
          P("dismiss"))));
    reminderArea.appendChild(card);
  }

  /** Our events share the agent room's sequence numbers with the console's own: note
   * them so that console.js does not take them for a gap and ask for a new snapshot. */
  function noteSeq(msg) {
    const consoleState = window.SBConsole && window.SBConsole.state;
    if (!consoleState || !msg || typeof msg.seq !== "number" || !msg.room) return;
    const last = consoleState.seqs[msg.room];
    if (last === undefined || msg.seq === last + 1) consoleState.seqs[msg.room] = msg.seq;
  }

  function listen(socket) {
    socket.on("reminder", (msg) => { noteSeq(msg); showReminder(msg); });
    socket.on("task_overdue", (msg) => { noteSeq(msg); loadToday(); document.dispatchEvent(new CustomEvent("sb:task-overdue", { detail: msg })); });
    socket.on("task_changed", (msg) => { noteSeq(msg); loadToday(); });
  }

  // ------------------------------------------------------------------ card and ticket
  function decorate() {
    const card = document.querySelector("#card-area .card-view[data-customer-id]");
    if (card && !card.querySelector(".plan-actions")) {
      const id = Number(card.dataset.customerId);
      const name = (card.querySelector(".card-name") || {}).textContent || "";
      card.appendChild(h("section", { class: "plan-actions" },
        h("button", { type: "button", class: "small", onclick: () => openDialog({
          customer_id: id, context: P("customer") + ": " + name }) }, P("new_task_for_customer")),
        h("button", { type: "button", class: "small secondary", onclick: () => openDialog({
          customer_id: id, mode: "next_contact", context: P("customer") + ": " + name }) },
        P("next_contact"))));
    }
    const ticketArea = document.getElementById("ticket-area");
    if (ticketArea && ticketArea.dataset.ticket && ticketArea.querySelector(".thread") &&
        !ticketArea.querySelector(".plan-actions")) {
      const id = Number(ticketArea.dataset.ticket);
      ticketArea.insertBefore(h("p", { class: "plan-actions" },
        h("button", { type: "button", class: "small", onclick: () => openDialog({
          ticket_id: id, context: P("ticket", { number: "#" + id }) }) }, P("new_task_for_ticket"))),
      ticketArea.children[1] || null);
    }
  }

  if (todayList) {
    document.getElementById("new-task").addEventListener("click", () => openDialog({}));
    document.addEventListener("sb:task-saved", () => loadToday());
    loadToday();
    const watch = new MutationObserver(decorate);
    for (const id of ["card-area", "ticket-area"]) {
      const el = document.getElementById(id);
      if (el) watch.observe(el, { childList: true, subtree: true });
    }
    const sock = window.SBConsole && window.SBConsole.socket();
    if (sock) listen(sock);
  }

  return { P, PN, api, showError, openDialog, taskLine, listen, localInput, cfg };
})();
