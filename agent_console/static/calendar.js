/* The calendar page: day, week and month views of my calendar, a team's or a resource's
 * schedule; the supervisors' overdue list (live); the secret iCalendar feed address.
 *
 * Calendar dates are "YYYY-MM-DD" strings in the user's zone; the server reads the
 * window's wall times in that zone and answers with UTC occurrences, which Intl shows.
 */
"use strict";

(function () {
  const { h, replace } = SB;
  const { P, api, showError, openDialog, taskLine, cfg } = SBPlan;
  const tz = SB.config.timezone || "UTC";
  const locale = SB.config.locale || "en";

  function safeFormat(options) {
    try {
      return new Intl.DateTimeFormat(locale, Object.assign({ timeZone: tz }, options));
    } catch (e) {
      return new Intl.DateTimeFormat(locale, options);
    }
  }
  const isoDay = (() => {
    try {
      return new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" });
    } catch (e) {
      return new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit" });
    }
  })();
  const timeOnly = safeFormat({ hour: "2-digit", minute: "2-digit" });
  // Calendar dates are zone-less: format them as UTC noon.
  const dayHead = new Intl.DateTimeFormat(locale, { timeZone: "UTC", weekday: "short", day: "numeric", month: "short" });
  const monthHead = new Intl.DateTimeFormat(locale, { timeZone: "UTC", month: "long", year: "numeric" });
  const weekdayShort = new Intl.DateTimeFormat(locale, { timeZone: "UTC", weekday: "short" });

  const asDate = (d) => new Date(d + "T12:00:00Z");
  const addDays = (d, n) => { const x = asDate(d); x.setUTCDate(x.getUTCDate() + n); return x.toISOString().slice(0, 10); };
  const localDay = (iso) => isoDay.format(new Date(iso));
  const today = () => isoDay.format(new Date(SB.serverNow()));
  const monday = (d) => addDays(d, -((asDate(d).getUTCDay() + 6) % 7));

  const state = { view: "week", anchor: today(), scope: "me" };
  const grid = document.getElementById("cal-grid");
  const scopeSel = document.getElementById("cal-scope");

  replace(scopeSel, h("option", { value: "me" }, P("my_calendar")),
    ...(cfg.people || []).map((u) => h("option", { value: "person:" + u.id }, P("person", { name: u.name }))),
    ...(cfg.teams || []).map((t) => h("option", { value: "team:" + t.id }, P("team", { name: t.name }))),
    ...(cfg.resources || []).map((r) => h("option", { value: "resource:" + r.id }, P("resource", { name: r.name }))));

  function range() {
    if (state.view === "day") return [state.anchor, addDays(state.anchor, 1)];
    if (state.view === "week") { const s = monday(state.anchor); return [s, addDays(s, 7)]; }
    const first = state.anchor.slice(0, 8) + "01";
    const s = monday(first);
    return [s, addDays(s, 42)];
  }

  async function fetchItems(start, end) {
    const q = `start=${start}T00:00&end=${end}T00:00`;
    if (state.scope.startsWith("resource:")) {
      const id = state.scope.split(":")[1];
      const data = await api(`/resources/${id}/schedule?${q}`);
      return data.bookings.map((b) => ({ id: b.task_id, title: b.title, kind: "appointment",
        start_at: b.start_at, end_at: b.end_at, occurrence_at: b.start_at, booking: true }));
    }
    const [kind, id] = state.scope.split(":");
    const who = kind === "team" ? "&team_id=" + id : kind === "person" ? "&user_id=" + id : "";
    const data = await api(`/calendar?${q}${who}`);
    return data.items;
  }

  function itemEl(item) {
    const at = item.occurrence_at || item.start_at || item.due_at;
    const time = timeOnly.format(new Date(at)) +
      (item.kind === "appointment" && item.end_at ? "\u2013" + timeOnly.format(new Date(item.end_at)) : "");
    return h("li", { class: "cal-item kind-" + item.kind + (item.overdue ? " is-overdue" : "") +
      (item.status === "done" ? " is-done" : ""), dataset: { taskId: item.id } },
    h("span", { class: "cal-time" }, time), " ",
    item.overdue ? h("span", { class: "badge overdue" }, P("overdue")) : null,
    h("span", { class: "cal-title" }, item.title),
    item.rrule ? h("span", { class: "cal-repeat", title: P("repeats") }, " \u21BB") : null);
  }

  async function render() {
    const [start, end] = range();
    const label = state.view === "month" ? monthHead.format(asDate(state.anchor))
      : state.view === "day" ? dayHead.format(asDate(start))
      : dayHead.format(asDate(start)) + " \u2013 " + dayHead.format(asDate(addDays(end, -1)));
    document.getElementById("cal-range").textContent = label;
    for (const b of document.querySelectorAll(".cal-views button")) {
      b.setAttribute("aria-pressed", b.dataset.view === state.view ? "true" : "false");
    }
    let items;
    try {
      items = await fetchItems(start, end);
    } catch (err) {
      showError(err);
      return;
    }
    const byDay = {};
    for (const it of items) (byDay[localDay(it.occurrence_at || it.start_at || it.due_at)] ||= []).push(it);
    const days = [];
    for (let d = start; d < end; d = addDays(d, 1)) days.push(d);
    grid.className = "cal-grid view-" + state.view;
    grid.dataset.start = start;
    const now = today();
    const cells = days.map((d) => {
      const list = byDay[d] || [];
      const outside = state.view === "month" && d.slice(0, 7) !== state.anchor.slice(0, 7);
      const shown = state.view === "month" ? list.slice(0, 4) : list;
      return h("section", { class: "cal-day" + (d === now ? " is-today" : "") + (outside ? " is-outside" : ""),
        dataset: { day: d }, "aria-label": dayHead.format(asDate(d)) },
      h("h3", { class: "cal-day-head" }, state.view === "month" ? String(Number(d.slice(8))) : dayHead.format(asDate(d))),
      h("ul", { class: "cal-items" }, ...shown.map(itemEl),
        list.length > shown.length ? h("li", { class: "muted" }, "+" + (list.length - shown.length)) : null));
    });
    const head = state.view === "month"
      ? days.slice(0, 7).map((d) => h("div", { class: "cal-weekday" }, weekdayShort.format(asDate(d)))) : [];
    replace(grid, ...head, ...cells);
    if (!items.length && state.view !== "month") grid.appendChild(h("p", { class: "muted cal-empty" }, P("no_items")));
  }

  function move(step) {
    if (state.view === "day") state.anchor = addDays(state.anchor, step);
    else if (state.view === "week") state.anchor = addDays(state.anchor, 7 * step);
    else {
      const d = asDate(state.anchor.slice(0, 8) + "01");
      d.setUTCMonth(d.getUTCMonth() + step);
      state.anchor = d.toISOString().slice(0, 10);
    }
    render();
  }

  for (const b of document.querySelectorAll(".cal-views button")) {
    b.addEventListener("click", () => { state.view = b.dataset.view; render(); });
  }
  document.getElementById("cal-prev").addEventListener("click", () => move(-1));
  document.getElementById("cal-next").addEventListener("click", () => move(1));
  document.getElementById("cal-today").addEventListener("click", () => { state.anchor = today(); render(); });
  scopeSel.addEventListener("change", () => { state.scope = scopeSel.value; render(); });
  document.getElementById("cal-new").addEventListener("click", () => openDialog({}));
  document.addEventListener("sb:task-saved", () => { render(); loadOverdue(); });

  // ------------------------------------------------------------------ overdue (supervisors)
  const overdueList = document.getElementById("overdue-list");
  async function loadOverdue() {
    if (!overdueList) return;
    try {
      const data = await api("/tasks/overdue");
      document.getElementById("overdue-count").textContent = String(data.count);
      if (!data.items.length) replace(overdueList, h("li", { class: "muted" }, P("no_overdue")));
      else replace(overdueList, ...data.items.map((i) => taskLine(i, { who: true })));
    } catch (err) {
      showError(err);
    }
  }

  // ------------------------------------------------------------------ feed and e-mail
  const feedUrl = document.getElementById("feed-url");
  document.getElementById("feed-new").addEventListener("click", async () => {
    try {
      const data = await api("/planning/feed-token", { method: "POST" });
      feedUrl.value = data.url;
      feedUrl.hidden = false;
      feedUrl.select();
    } catch (err) {
      showError(err);
    }
  });
  const emailBox = document.getElementById("email-reminders");
  api("/planning/settings").then((s) => { emailBox.checked = s.email_reminders; }).catch(showError);
  emailBox.addEventListener("change", async () => {
    try {
      await api("/planning/settings", { method: "PATCH", json: { email_reminders: emailBox.checked } });
      SB.toast(P("saved"));
    } catch (err) {
      showError(err);
      emailBox.checked = !emailBox.checked;
    }
  });

  render();
  loadOverdue();
  SB.connect({
    task_overdue: () => { loadOverdue(); render(); },
    task_changed: () => render(),
    reminder: (msg) => SB.toast(P("reminder") + ": " + msg.title),
  });
})();
