/* The console's service desk: coverage (warranty, contracts) on the customer card and on a
 * ticket, the complaint's fields and moves on a complaint ticket, and the knowledge base
 * panel (suggested articles, search, insert into the reply).
 *
 * console.js owns the ticket view and the card and re-renders them whole; this file adds
 * its own section to each whenever it appears (a MutationObserver), from a per-ticket and
 * per-customer copy of what the server last said. The server owns every state: buttons
 * send requests and only the answer changes what is shown. Text goes in with textContent
 * only (SB.h); dates are shown in the user's locale (SB.day).
 */
"use strict";

(function () {
  const { config, h, replace, day, api, toast, showError } = SB;
  const S = (config.strings && config.strings.service) || {};

  function st(key, params) {
    let text = S[key] || key;
    if (params) {
      text = text.replace(/%\((\w+)\)s/g, (m, name) =>
        Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : m);
    }
    return text;
  }

  const ticketArea = document.getElementById("ticket-area");
  const cardArea = document.getElementById("card-area");
  if (!ticketArea || !cardArea) return;

  const tickets = {}; // ticket id -> {data, query, results}
  const customers = {}; // customer id -> coverage
  const loading = new Set();

  // ------------------------------------------------------------------ coverage lines
  function coverageLines(p) {
    const facts = [p.product_name];
    if (p.serial_number) facts.push(st("serial", { serial: p.serial_number }));
    if (p.purchased_on) facts.push(st("bought", { date: day(p.purchased_on) }));
    if (p.sales_document_number) facts.push(st("document", { number: p.sales_document_number }));
    const lines = [h("div", { class: "svc-product" }, facts.join(" · "))];
    if (p.in_warranty) {
      lines.push(h("div", { class: "svc-ok" }, "\u2714 ", st("in_warranty", { date: day(p.warranty_until) })));
    } else if (p.last_warranty_until) {
      lines.push(h("div", { class: "svc-off" }, "\u2716 ", st("warranty_expired", { date: day(p.last_warranty_until) })));
    } else {
      lines.push(h("div", { class: "svc-off" }, st("no_warranty")));
    }
    for (const c of p.contracts || []) {
      lines.push(h("div", { class: "svc-ok" }, "\u2714 ",
        st("covered_by", { number: c.number, date: day(c.ends_on) }),
        c.response_hours ? " (" + st("response_within", { hours: c.response_hours }) + ")" : ""));
    }
    return lines;
  }

  // ------------------------------------------------------------------ the customer card
  function cardSection(cov) {
    const items = (cov.products || []).map((p) => h("li", { dataset: { owned: p.id } }, ...coverageLines(p)));
    const contracts = (cov.contracts || []).filter((c) => c.current && !c.owned_product_ids.length);
    return h("section", { id: "svc-coverage", class: "svc-coverage", "aria-label": st("coverage") },
      h("h3", null, st("coverage")),
      items.length ? h("ul", { class: "list svc-list" }, ...items) : h("p", { class: "muted" }, st("no_products")),
      contracts.length ? h("ul", { class: "list svc-list" }, ...contracts.map((c) => h("li", { class: "svc-ok" },
        st("covered_by", { number: c.number, date: day(c.ends_on) }), " — ", c.coverage))) : null);
  }

  function placeCard() {
    const view = cardArea.dataset.view || "";
    if (!view.startsWith("card:")) return;
    const article = cardArea.querySelector("article.card-view");
    if (!article || article.querySelector("#svc-coverage")) return;
    const id = Number(view.slice(5));
    const put = (cov) => {
      if (cardArea.dataset.view !== view || article.querySelector("#svc-coverage")) return;
      const recent = article.querySelector("section.recent");
      article.insertBefore(cardSection(cov), recent || null);
    };
    if (customers[id]) put(customers[id]);
    const key = "c" + id;
    if (loading.has(key)) return;
    loading.add(key);
    api(`/customers/${id}/coverage`).then((cov) => {
      customers[id] = cov;
      const old = article.querySelector("#svc-coverage");
      if (old) old.remove();
      put(cov);
    }).catch(showError).finally(() => loading.delete(key));
  }

  // ------------------------------------------------------------------ the ticket panel
  function ticketId() {
    const id = ticketArea.dataset.ticket;
    return id && ticketArea.querySelector("form.reply") ? Number(id) : null;
  }

  function insertArticle(article) {
    api(`/kb/articles/${article.id}/insert`, { method: "POST", json: {} }).then((full) => {
      const box = document.getElementById("reply-body");
      if (!box) return;
      box.value = box.value.trim() ? box.value.replace(/\s+$/, "") + "\n\n" + full.body : full.body;
      box.dispatchEvent(new Event("input", { bubbles: true }));
      box.focus();
      toast(st("kb_inserted"));
    }).catch(showError);
  }

  function articleList(items, listId) {
    if (!items.length) return h("p", { id: listId, class: "muted" }, st("kb_none"));
    return h("ul", { id: listId, class: "list kb-list" }, ...items.map((a) => h("li", { class: "kb-item", dataset: { article: a.id } },
      h("strong", { class: "kb-title" }, a.title), " ",
      h("span", { class: "pill" }, a.visibility === "public" ? st("kb_public") : st("kb_internal")),
      h("p", { class: "muted kb-excerpt" }, a.excerpt),
      h("button", { type: "button", class: "secondary kb-insert", onclick: () => insertArticle(a) }, st("kb_insert")))));
  }

  function complaintBlock(id, c) {
    // What the agent types survives re-renders (console.js redraws the whole ticket).
    const entry = tickets[id];
    const why = h("textarea", { id: "svc-decision", rows: 2, maxlength: 10000,
      oninput: () => { entry.decision = why.value; } });
    why.value = entry.decision || "";
    const moves = c.allowed_transitions.map((s) => h("button", {
      type: "button", class: "secondary", dataset: { move: s },
      onclick: () => {
        const payload = { status: s };
        if (s === "accepted" || s === "rejected") {
          if (!why.value.trim()) { toast(st("decision_needed"), "error"); why.focus(); return; }
          payload.decision_reason = why.value;
        }
        send(id, `/tickets/${id}/complaint`, "PATCH", payload, () => { entry.decision = ""; });
      },
    }, st("move_to") + ": " + (S.complaint_statuses[s] || s)));
    const amount = h("input", { id: "svc-cost", inputmode: "decimal", value: c.cost_amount || "", size: 10 });
    const currency = h("input", { id: "svc-currency", value: c.cost_currency || "", size: 4, maxlength: 3 });
    const needsReason = c.allowed_transitions.some((s) => s === "accepted" || s === "rejected");
    return h("section", { class: "svc-complaint", "aria-label": st("complaint") },
      h("h3", null, st("complaint")),
      h("dl", { class: "fields" },
        h("dt", null, st("complaint_status")), h("dd", { id: "svc-complaint-status" }, S.complaint_statuses[c.status] || c.status),
        h("dt", null, st("reason")), h("dd", null, c.reason),
        c.decision_reason ? [h("dt", null, st("decision_reason")), h("dd", { id: "svc-decision-shown" }, c.decision_reason)] : null),
      needsReason ? [h("label", { for: "svc-decision" }, st("decision_reason")), why] : null,
      moves.length ? h("p", { class: "svc-moves" }, ...moves) : null,
      h("form", { class: "svc-cost", onsubmit: (ev) => {
        ev.preventDefault();
        send(id, `/tickets/${id}/complaint`, "PATCH", { cost_amount: amount.value, cost_currency: currency.value });
      } },
      h("label", { for: "svc-cost" }, st("cost")), amount,
      h("label", { for: "svc-currency" }, st("currency")), currency,
      h("button", { type: "submit", class: "secondary" }, st("save_cost"))));
  }

  function productPicker(id, data) {
    const current = data.coverage && data.coverage.product ? data.coverage.product.id : null;
    const sel = h("select", { id: "svc-product" },
      h("option", { value: "" }, st("no_product")),
      ...data.owned_products.map((o) => h("option", { value: o.id, selected: o.id === current },
        o.label + (o.serial_number ? " (" + o.serial_number + ")" : ""))));
    sel.addEventListener("change", () => send(id, `/tickets/${id}/subject`, "PUT",
      { owned_product_id: sel.value ? Number(sel.value) : null }));
    return [h("label", { for: "svc-product" }, st("set_product")), sel];
  }

  function panel(id) {
    const entry = tickets[id];
    const data = entry.data;
    const cov = data.coverage;
    const parts = [];
    if (cov && cov.product) {
      parts.push(h("div", { id: "svc-ticket-coverage", class: "svc-coverage" },
        h("h3", null, st("concerns")), ...coverageLines(cov.product)));
    } else if (cov && cov.sales_document) {
      parts.push(h("div", { id: "svc-ticket-coverage", class: "svc-coverage" },
        h("h3", null, st("concerns")), st("document", { number: cov.sales_document.number })));
    }
    if (data.owned_products.length && !data.complaint) parts.push(h("p", null, ...productPicker(id, data)));
    if (data.complaint) parts.push(complaintBlock(id, data.complaint));
    const q = h("input", { id: "kb-q", type: "search", autocomplete: "off",
      oninput: () => { entry.query = q.value; } });
    q.value = entry.query || "";
    const results = entry.results ? articleList(entry.results, "kb-results") : null;
    parts.push(h("section", { class: "kb-panel", "aria-label": st("kb") },
      h("h3", null, st("kb")),
      h("h4", null, st("kb_suggested")), articleList(data.suggestions, "kb-suggestions"),
      h("form", { class: "kb-search", role: "search", onsubmit: (ev) => {
        ev.preventDefault();
        entry.query = q.value;
        api("/kb/search?q=" + encodeURIComponent(q.value)).then((r) => {
          entry.results = r.items;
          rerender(id);
        }).catch(showError);
      } }, h("label", { for: "kb-q" }, st("kb_search")), q, h("button", { type: "submit", class: "secondary" }, st("search"))),
      results));
    return h("div", { id: "svc-panel", class: "svc-panel", dataset: { ticket: id } }, ...parts);
  }

  function rerender(id) {
    const focused = document.activeElement && document.activeElement.id;
    const old = document.getElementById("svc-panel");
    if (old) old.remove();
    placeTicket();
    const again = focused ? document.getElementById(focused) : null;
    if (again && again.closest("#svc-panel")) again.focus();
  }

  function send(id, path, method, json, done) {
    api(path, { method, json }).then((data) => {
      tickets[id] = Object.assign(tickets[id] || {}, { data });
      if (done) done();
      rerender(id);
      toast(SB.t("saved"));
    }).catch(showError);
  }

  function placeTicket() {
    const id = ticketId();
    if (id === null || document.getElementById("svc-panel")) return;
    const anchor = ticketArea.querySelector("form.reply");
    if (tickets[id]) {
      ticketArea.insertBefore(panel(id), anchor);
      return;
    }
    const key = "t" + id;
    if (loading.has(key)) return;
    loading.add(key);
    api(`/tickets/${id}/service`).then((data) => {
      tickets[id] = { data, query: "", results: null };
      if (ticketId() === id && !document.getElementById("svc-panel")) {
        ticketArea.insertBefore(panel(id), ticketArea.querySelector("form.reply"));
      }
    }).catch(showError).finally(() => loading.delete(key));
  }

  function refreshTicket(id) {
    // A ticket re-rendered by console.js (a reply, a status change): fetch anew, quietly.
    api(`/tickets/${id}/service`).then((data) => {
      if (!tickets[id]) return;
      tickets[id].data = data;
      if (ticketId() === id) rerender(id);
    }).catch(() => {});
  }

  let lastTicket = null;
  new MutationObserver(() => {
    const id = ticketId();
    if (id !== null && !document.getElementById("svc-panel")) {
      const again = id === lastTicket;
      placeTicket();
      if (again && tickets[id]) refreshTicket(id);
    }
    lastTicket = id;
  }).observe(ticketArea, { childList: true });
  new MutationObserver(placeCard).observe(cardArea, { childList: true });
})();
