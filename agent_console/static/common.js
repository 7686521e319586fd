/* Switchboard console and wallboard: shared helpers.
 *
 * Rules kept here: DOM is built with textContent (never innerHTML with data); times come
 * from the server as ISO 8601 UTC and are shown in the user's time zone; timers only
 * redraw text, they never change server state (the server owns every state).
 */
"use strict";

const SB = (function () {
  const configEl = document.getElementById("console-config");
  const config = configEl ? JSON.parse(configEl.textContent) : {};
  const S = config.strings || { t: {} };
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');

  /** A translated text, with %(name)s placeholders filled from params. */
  function t(key, params) {
    let text = (S.t && S.t[key]) || key;
    if (params) {
      text = text.replace(/%\((\w+)\)s/g, (m, name) =>
        Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : m);
    }
    return text;
  }

  const pluralRules = new Intl.PluralRules(config.locale || "en");

  /** A translated text with a number in it: the plural form the language needs for n. */
  function tn(key, n, params) {
    const forms = (S.plurals && S.plurals[key]) || {};
    const text = forms[pluralRules.select(n)] || forms.other || key;
    const values = Object.assign({ num: n }, params || {});
    return text.replace(/%\((\w+)\)s/g, (m, name) =>
      Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : m);
  }

  function label(group, key) {
    return (S[group] && S[group][key]) || key || "";
  }

  /** h("div", {class: "x", onclick: fn}, "text", child) — strings become text nodes. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false) continue;
        if (k.startsWith("on") && typeof v === "function") {
          el.addEventListener(k.slice(2), v);
        } else if (k === "class") {
          el.className = v;
        } else if (k === "dataset") {
          Object.assign(el.dataset, v);
        } else if (v === true) {
          el.setAttribute(k, "");
        } else {
          el.setAttribute(k, String(v));
        }
      }
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
    return el;
  }

  function replace(el, ...children) {
    clear(el);
    return append(el, children);
  }

  const tz = config.timezone || "UTC";
  const locale = config.locale || "en";
  let dtFormat, timeFormat, dateFormat;
  try {
    dtFormat = new Intl.DateTimeFormat(locale, { timeZone: tz, dateStyle: "medium", timeStyle: "short" });
    timeFormat = new Intl.DateTimeFormat(locale, { timeZone: tz, hour: "2-digit", minute: "2-digit" });
    dateFormat = new Intl.DateTimeFormat(locale, { timeZone: "UTC", dateStyle: "medium" });
  } catch (e) {
    dtFormat = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });
    timeFormat = new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit" });
    dateFormat = new Intl.DateTimeFormat(locale, { dateStyle: "medium" });
  }

  /** A server timestamp in the user's zone: time only when it is today. */
  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    if (isNaN(d)) return "";
    const now = new Date();
    if (sameDayInZone(d, now)) return timeFormat.format(d);
    return dtFormat.format(d);
  }

  function sameDayInZone(a, b) {
    try {
      const f = new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" });
      return f.format(a) === f.format(b);
    } catch (e) {
      return a.toDateString() === b.toDateString();
    }
  }

  /** A calendar date (YYYY-MM-DD, no zone) in the user's locale. */
  function day(isoDate) {
    if (!isoDate) return "";
    const d = new Date(isoDate + "T00:00:00Z");
    return isNaN(d) ? isoDate : dateFormat.format(d);
  }

  /** Seconds as m:ss or h:mm:ss. */
  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds || 0));
    const hh = Math.floor(seconds / 3600);
    const mm = Math.floor((seconds % 3600) / 60);
    const ss = seconds % 60;
    const pad = (n) => String(n).padStart(2, "0");
    return hh ? `${hh}:${pad(mm)}:${pad(ss)}` : `${mm}:${pad(ss)}`;
  }

  // The server's clock, estimated from the Date header of our own requests, so that
  // "time in state" does not drift with a wrong client clock.
  let clockSkewMs = 0;
  function serverNow() {
    return Date.now() + clockSkewMs;
  }
  function noteServerDate(response) {
    const hdr = response.headers.get("Date");
    if (hdr) {
      const server = Date.parse(hdr);
      if (!isNaN(server)) clockSkewMs = server - Date.now();
    }
  }
  function noteServerTime(iso) {
    const server = Date.parse(iso);
    if (!isNaN(server)) clockSkewMs = server - Date.now();
  }
  function secondsSince(iso) {
    if (!iso) return 0;
    return (serverNow() - Date.parse(iso)) / 1000;
  }

  class ApiError extends Error {
    constructor(status, body) {
      super((body && (body.message || body.error)) || `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  /** fetch JSON from the console API (relative to config.api), with the CSRF token. */
  async function api(path, options) {
    options = options || {};
    const headers = { Accept: "application/json" };
    let body;
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.json);
    }
    if (csrfMeta) headers["X-CSRFToken"] = csrfMeta.content;
    const url = path.startsWith(config.api + "/") ? path : config.api + path;
    const response = await fetch(url, {
      method: options.method || (body ? "POST" : "GET"),
      headers,
      body,
      credentials: "same-origin",
    });
    noteServerDate(response);
    let data = null;
    const type = response.headers.get("Content-Type") || "";
    if (type.includes("json")) data = await response.json();
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  function qs(params) {
    const u = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
      if (v === null || v === undefined || v === "") continue;
      if (Array.isArray(v)) v.forEach((x) => u.append(k, x));
      else u.append(k, v);
    }
    const s = u.toString();
    return s ? "?" + s : "";
  }

  /** A short-lived status message for screen readers and eyes. */
  let toastTimer = null;
  function toast(message, kind) {
    let el = document.getElementById("toast");
    if (!el) {
      el = h("div", { id: "toast", class: "toast", role: "status", "aria-live": "polite" });
      document.body.appendChild(el);
    }
    el.className = "toast " + (kind || "info");
    el.textContent = message;
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 8000 : 3000);
  }

  function showError(err) {
    const message = err && err.message ? err.message : String(err);
    toast(t("error", { message }), "error");
  }

  // Symbols every common system font has (DejaVu, Noto, Segoe): no emoji font needed.
  const CHANNEL_ICONS = {
    voice: "\u260E", email: "\u2709", fax: "\u2399", webform: "\u270D",
    sms: "\u2706", chat: "\u2706", note: "\u270E", task: "\u2611",
  };

  /** A channel as icon plus text (the icon is decoration; the word is what is read). */
  function channelTag(channel) {
    return h("span", { class: "chan chan-" + channel },
      h("span", { class: "chan-icon", "aria-hidden": "true" }, CHANNEL_ICONS[channel] || "\u2022"),
      h("span", { class: "chan-name" }, label("channels", channel)));
  }

  /**
   * The Socket.IO connection with a banner while it is down. The client reconnects by
   * itself (socket.io-client's backoff); on every (re)connect the server sends a fresh
   * snapshot, and onGap lets the page ask for one when a sequence number is skipped.
   */
  function connect(handlers) {
    const banner = document.getElementById("conn-banner");
    const socket = io(config.namespace || "/console", {
      path: config.socket_path || "/socket.io",
      transports: ["websocket", "polling"],
      reconnection: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
    });
    let wasDown = false;
    const showDown = () => {
      if (!banner) return;
      banner.textContent = t("disconnected");
      banner.hidden = false;
      document.body.classList.add("offline-link");
    };
    socket.on("connect", () => {
      if (banner) banner.hidden = true;
      document.body.classList.remove("offline-link");
      document.body.dataset.connected = "1";
      if (wasDown) toast(t("reconnected"));
      wasDown = false;
      if (handlers.connect) handlers.connect(socket);
    });
    socket.on("disconnect", () => {
      wasDown = true;
      document.body.dataset.connected = "0";
      showDown();
    });
    socket.on("connect_error", () => {
      wasDown = true;
      document.body.dataset.connected = "0";
      showDown();
    });
    for (const [name, fn] of Object.entries(handlers)) {
      if (name === "connect") continue;
      socket.on(name, fn);
    }
    return socket;
  }

  return {
    config, t, tn, label, h, append, clear, replace, when, day, duration, serverNow, noteServerTime,
    secondsSince, api, qs, toast, showError, channelTag, connect, ApiError,
  };
})();
