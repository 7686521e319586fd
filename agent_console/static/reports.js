/* The supervisors' reports: filters, a Chart.js chart, the table, drill-down from a bar
 * (or a table row) to the rows behind it, exports, the wizard and saved reports.
 *
 * Every number and label comes from /reports/api; the page only formats (Intl, in the
 * user's locale and time zone) and builds the DOM with textContent.
 */
"use strict";

(function () {
  const { config, h, replace, api, qs, toast, showError } = SB;
  const R = JSON.parse(document.getElementById("report-strings").textContent);
  const w = (key, params) => {
    let text = R[key] || key;
    if (params) text = text.replace(/%\((\w+)\)s/g, (m, n) => (n in params ? String(params[n]) : m));
    return text;
  };
  const opts = config.reports;
  const locale = config.locale || "en";
  const tz = config.timezone || "UTC";
  const num = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });
  const dtf = new Intl.DateTimeFormat(locale, { timeZone: tz, dateStyle: "short", timeStyle: "medium" });
  const $ = (id) => document.getElementById(id);
  const form = $("filters");
  let kind = opts.kinds[0].name;
  let chart = null;
  let last = null;

  function fill(select, items, keep) {
    const first = keep ? [select.options[0]] : [];
    replace(select, ...first, ...items.map(([v, l]) => h("option", { value: v }, l)));
  }

  function isoDay(date) {
    const f = new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" });
    return f.format(date);
  }

  function setup() {
    fill($("f-queue"), opts.queues.map((q) => [q.id, q.name]), true);
    fill($("f-team"), opts.teams.map((q) => [q.id, q.name]), true);
    fill($("f-agent"), opts.agents.map((q) => [q.id, q.name]), true);
    fill($("f-channel"), opts.channels, true);
    fill($("s-team"), opts.teams.map((q) => [q.id, q.name]), true);
    fill($("f-entity"), Object.entries(opts.entities).map(([k, e]) => [k, e.label]));
    const today = new Date();
    $("f-to").value = isoDay(today);
    $("f-from").value = isoDay(new Date(today.getTime() - 6 * 86400000));
    replace($("kinds"), ...opts.kinds.map((k) => h("li", null,
      h("button", { type: "button", class: "linklike", id: "kind-" + k.name, onclick: () => choose(k.name) },
        k.name === "entity" ? w("custom") : k.title))));
    form.addEventListener("submit", (e) => { e.preventDefault(); run(); });
    $("f-entity").addEventListener("change", () => { entityChanged(); });
    $("drill-close").addEventListener("click", () => { $("drill").hidden = true; });
    $("save-form").addEventListener("submit", (e) => { e.preventDefault(); save(); });
    for (const id of ["f-from", "f-to", "f-unit", "f-queue", "f-team", "f-agent", "f-channel",
      "f-metric", "f-group", "f-chart", "f-entity"]) {
      $(id).addEventListener("change", updateExports);
    }
    loadSaved();
    choose(kind);
  }

  function kindInfo() { return opts.kinds.find((k) => k.name === kind); }

  function entityChanged() {
    const ent = opts.entities[$("f-entity").value];
    fill($("f-group"), ent.series);
    replace($("f-columns"), ...ent.columns.map(([k, l]) =>
      h("label", null, h("input", { type: "checkbox", name: "columns", value: k,
        checked: ent.default_columns.includes(k), onchange: updateExports }), " " + l)));
    updateExports();
  }

  function choose(name, args) {
    kind = name;
    const k = kindInfo();
    document.querySelectorAll("#kinds button").forEach((b) => b.classList.toggle("current", b.id === "kind-" + name));
    $("report-title").textContent = name === "entity" ? w("custom") : k.title;
    const wizard = name === "entity";
    $("l-entity").hidden = !wizard;
    $("l-columns").hidden = !wizard;
    fill($("f-metric"), k.metrics);
    $("l-metric").hidden = k.metrics.length < 2;
    if (wizard) entityChanged();
    else fill($("f-group"), k.groups);
    $("l-group").hidden = !wizard && k.groups.length < 2;
    $("f-unit").value = k.unit;
    for (const name of ["queue", "team", "agent", "channel"]) {
      const select = $("f-" + name);
      const on = k.filters.includes(name);
      select.closest("label").hidden = !on;
      if (!on) select.value = "";
    }
    if (args) applyArgs(args);
    run();
  }

  function applyArgs(args) {
    for (const [key, value] of Object.entries(args)) {
      if (key === "columns") {
        const wanted = String(value).split(",");
        form.querySelectorAll("input[name=columns]").forEach((c) => { c.checked = wanted.includes(c.value); });
        continue;
      }
      const el = form.elements[key];
      if (el) {
        el.value = value;
        if (key === "entity") entityChanged();
      }
    }
  }

  function params() {
    const p = {};
    const data = new FormData(form);
    for (const [k, v] of data.entries()) {
      if (v === "") continue;
      if (k === "columns") (p.columns = p.columns || []).push(v);
      else p[k] = v;
    }
    if (p.columns) p.columns = p.columns.join(",");
    if (kind !== "entity") delete p.entity;
    if ($("l-group").hidden) delete p.group;
    return p;
  }

  function updateExports(extra) {
    const base = config.export_url + "/" + kind;
    const p = params();
    for (const fmt of ["csv", "xlsx", "pdf"]) $("export-" + fmt).href = base + "." + fmt + qs(p);
  }

  function format(value, kindOfColumn) {
    if (value === null || value === undefined || value === "") return "";
    if (typeof value === "boolean") return value ? w("yes") : w("no");
    if (kindOfColumn === "datetime") {
      const d = new Date(value);
      return isNaN(d) ? String(value) : dtf.format(d);
    }
    if (typeof value === "number") return num.format(value);
    return String(value);
  }

  function renderTable(el, table, onRow) {
    const head = h("tr", null, ...table.columns.map((c) =>
      h("th", { scope: "col", class: c.kind === "text" || c.kind === "datetime" ? "" : "num" }, c.label)));
    const rows = table.rows.map((row) => h("tr", null, ...table.columns.map((c, i) => {
      const text = format(row[c.key], c.kind);
      const cls = c.kind === "text" || c.kind === "datetime" ? "" : "num";
      if (i === 0 && onRow && onRow(row)) {
        return h("td", { class: cls }, h("button", { type: "button", class: "linklike", onclick: () => onRow(row)() }, text));
      }
      return h("td", { class: cls }, text);
    })));
    replace(el, h("thead", null, head), h("tbody", null, ...rows));
  }

  const PALETTE = ["#2f6fde", "#d9822b", "#1f9d55", "#c0392b", "#8e44ad", "#16a2b8", "#7f8c8d", "#b7950b"];

  function renderChart(result) {
    const c = result.chart;
    const pie = c.type === "pie";
    const datasets = pie
      ? [{ label: c.metric_label, data: c.series.map((s) => s.data.reduce((a, b) => a + (b || 0), 0)),
           backgroundColor: c.series.map((s, i) => PALETTE[i % PALETTE.length]) }]
      : c.series.map((s, i) => ({ label: s.label, data: s.data, backgroundColor: PALETTE[i % PALETTE.length],
           borderColor: PALETTE[i % PALETTE.length] }));
    if (chart) chart.destroy();
    chart = new Chart($("chart"), {
      type: c.type,
      data: { labels: pie ? c.series.map((s) => s.label) : c.labels, datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        locale,
        scales: pie ? {} : { x: { stacked: c.stacked && c.type === "bar" },
          y: { stacked: c.stacked && c.type === "bar", beginAtZero: true } },
        plugins: { title: { display: true, text: c.metric_label } },
        onClick: (evt, elements) => {
          if (pie || !c.drillable || !elements.length) return;
          const el = elements[0];
          drill(c.keys[el.index], c.series.length > 1 || c.stacked ? c.series[el.datasetIndex].key : null,
            c.labels[el.index], c.series[el.datasetIndex].label);
        },
      },
    });
    $("chart-hint").hidden = pie;
  }

  async function run() {
    updateExports();
    try {
      const result = await api("/run/" + kind + qs(params()));
      last = result;
      renderChart(result);
      renderTable($("table"), withTotals(result), (row) => {
        if (row.key) return () => drill(row.key, null, row.bucket, "");
        if (row.agent_id) return () => drill(String(row.agent_id), null, row.agent, "");
        return null;
      });
      $("drill").hidden = true;
    } catch (err) { showError(err); }
  }

  function withTotals(result) {
    const totals = result.totals || {};
    const keys = result.table.columns.map((c) => c.key);
    if (!keys.some((k) => k in totals)) return result.table;
    const row = { [keys[0]]: w("total") };
    for (const k of keys.slice(1)) if (k in totals) row[k] = totals[k];
    return { columns: result.table.columns, rows: [...result.table.rows, row] };
  }

  async function drill(bucket, series, bucketLabel, seriesLabel) {
    const p = Object.assign(params(), { bucket });
    if (series !== null && series !== undefined) p.series = series;
    try {
      const table = await api("/drill/" + kind + qs(p));
      let heading = w("rows_of", { series: seriesLabel || w("total"), bucket: bucketLabel,
        n: num.format(table.rows.length) });
      if (table.rows.length >= opts.drill_limit) heading += " " + w("truncated", { n: num.format(opts.drill_limit) });
      $("drill-h").textContent = heading;
      renderTable($("drill-table"), table);
      for (const fmt of ["csv", "xlsx", "pdf"]) {
        $("drill-" + fmt).href = config.export_url + "/" + kind + "." + fmt + qs(p);
      }
      $("drill").hidden = false;
      $("drill").scrollIntoView({ block: "nearest" });
    } catch (err) { showError(err); }
  }

  async function loadSaved() {
    try {
      const list = await api("/saved");
      replace($("saved"), ...list.map((s) => h("li", null,
        h("button", { type: "button", class: "linklike", onclick: () => choose(s.kind, s.args) }, s.name),
        s.shared || s.team_id ? h("span", { class: "muted" }, " · " + w("shared")) : null,
        s.mine ? h("button", { type: "button", class: "small secondary", onclick: () => remove(s.id),
          "aria-label": w("delete") + " " + s.name }, "×") : null)));
    } catch (err) { showError(err); }
  }

  async function save() {
    const p = params();
    if ($("s-rolling").checked) {
      const days = Math.round((new Date(p.to) - new Date(p.from)) / 86400000) + 1;
      delete p.from; delete p.to;
      p.days = String(days);
    }
    const team = $("s-team").value;
    try {
      await api("/saved", { json: { name: $("s-name").value, kind, definition: p,
        shared: $("s-shared").checked, team_id: team ? Number(team) : null } });
      toast(w("saved"));
      loadSaved();
    } catch (err) { showError(err); }
  }

  async function remove(id) {
    try {
      await api("/saved/" + id, { method: "DELETE" });
      toast(w("deleted"));
      loadSaved();
    } catch (err) { showError(err); }
  }

  setup();
})();
