// Telemarketer workstation, preview mode: next lead's card -> dial or skip -> disposition
// (buttons or hotkeys), optional callback in the callee's time zone and a note.
// Every text from the server is shown with textContent.
(function () {
  "use strict";
  const root = document.getElementById("ws");
  if (!root) return;
  const strings = JSON.parse(document.getElementById("ws-strings").textContent);
  const dispositions = JSON.parse(document.getElementById("ws-dispositions").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const base = root.dataset.base;
  const $ = (id) => document.getElementById(id);
  let lead = null;
  let inCall = false;
  let busy = false;

  function fill(template, values) {
    return template.replace(/%\((\w+)\)s/g, (_, key) => String(values[key] ?? ""));
  }

  function status(text) { $("ws-status").textContent = text || ""; }

  async function post(path, body) {
    const response = await fetch(base + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body || {}),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.message || strings.error);
    return data;
  }

  function showLead(data) {
    lead = data;
    inCall = false;
    $("ws-lead").hidden = !lead;
    $("ws-call-actions").hidden = true;
    $("ws-preview-actions").hidden = false;
    $("ws-next").hidden = !!lead;
    if (!lead) { status(strings.no_lead); return; }
    status("");
    const card = lead.card || {};
    $("ws-name").textContent = card.name || lead.phone_display;
    $("ws-phone").textContent = lead.phone_display;
    $("ws-attempts").textContent = fill(strings.attempts, { n: lead.attempts });
    $("ws-local").textContent = fill(strings.local_time, { time: lead.local_time, zone: lead.timezones.join(", ") });
    $("ws-callback-zone").textContent = lead.timezone;
    $("ws-notes").textContent = lead.notes;
    const dl = $("ws-card");
    dl.replaceChildren();
    for (const [label, value] of [["", card.organisation || ""], ["", card.city || ""]]) {
      if (!value) continue;
      const dd = document.createElement("dd");
      dd.textContent = typeof value === "string" ? value : (value.name || "");
      dl.appendChild(dd);
    }
    $("ws-note").value = "";
    $("ws-callback-at").value = "";
  }

  async function next() {
    if (busy) return;
    busy = true;
    try {
      showLead((await post("/next")).lead);
    } catch (err) { status(err.message); } finally { busy = false; }
  }

  async function dial() {
    if (!lead || inCall || busy) return;
    busy = true;
    try {
      const data = await post("/leads/" + lead.id + "/dial");
      if (!data.dialled) {
        status(fill(strings.refused, { reason: data.message }));
        lead = null;
        $("ws-lead").hidden = true;
        $("ws-next").hidden = false;
        return;
      }
      inCall = true;
      status(fill(strings.calling, { number: lead.phone_display }));
      $("ws-preview-actions").hidden = true;
      $("ws-call-actions").hidden = false;
    } catch (err) { status(err.message); } finally { busy = false; }
  }

  async function skip() {
    if (!lead || inCall || busy) return;
    busy = true;
    try {
      await post("/leads/" + lead.id + "/skip", { reason: $("ws-skip-reason").value });
      lead = null;
    } catch (err) { status(err.message); busy = false; return; }
    busy = false;
    await next();
  }

  async function dispose(item) {
    if (!lead || !inCall || busy) return;
    const when = $("ws-callback-at").value;
    if (item.callback && !when) { status(strings.need_callback_time); $("ws-callback-at").focus(); return; }
    busy = true;
    try {
      await post("/leads/" + lead.id + "/disposition", {
        code: item.code,
        note: $("ws-note").value,
        callback_at: item.callback ? when : null,
        callback_timezone: lead.timezone,
        callback_personal: $("ws-callback-personal").checked,
      });
      lead = null;
    } catch (err) { status(err.message); busy = false; return; }
    busy = false;
    status(strings.saved);
    await next();
  }

  const buttons = $("ws-dispositions-buttons");
  for (const item of dispositions) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "cp-button";
    button.dataset.code = item.code;
    button.textContent = (item.hotkey ? "[" + item.hotkey + "] " : "") + item.label;
    button.addEventListener("click", () => dispose(item));
    buttons.appendChild(button);
    buttons.appendChild(document.createTextNode(" "));
  }
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")) return;
    if (event.ctrlKey || event.altKey || event.metaKey) return;
    const item = dispositions.find((d) => d.hotkey && d.hotkey === event.key);
    if (item && inCall) { event.preventDefault(); dispose(item); }
  });
  $("ws-dial").addEventListener("click", dial);
  $("ws-skip").addEventListener("click", skip);
  $("ws-next").addEventListener("click", next);
  next();
})();
