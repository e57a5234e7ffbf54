// hyperlaw dashboard: keeps a study's runs table and loss curves current without a reload.
// Polls the JSON API every 2 s: GET /v1/runs?study=ID for the table, GET /v1/runs/{id}/curve for
// the curves of running runs (and once more for each run after it finishes). No library, no build.
(function () {
  "use strict";
  const root = document.querySelector("[data-study]");
  const chart = document.getElementById("curves");
  if (!root || !chart) return;
  const study = root.dataset.study;
  const table = document.querySelector("#runs tbody");
  const legend = document.getElementById("curves-legend");
  const summary = document.getElementById("runs-summary");
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#637939"];
  const TERMINAL = new Set(["done", "failed", "diverged", "cancelled"]);
  const MAX_CURVES = 12;
  const SVG = "http://www.w3.org/2000/svg";
  // run id -> {points: [[tokens, loss]], status, settled: curve fetched after the run finished}
  const curves = new Map();
  JSON.parse(chart.dataset.runs || "[]").forEach(function (id) {
    curves.set(id, { points: [], status: null, settled: false });
  });

  function fmt(x, digits) {
    if (x === null || x === undefined || !isFinite(x)) return "-";
    const d = digits || 4;
    // As the server prints numbers: 1.000e+07 (two exponent digits).
    if (x !== 0 && (Math.abs(x) >= 1e6 || Math.abs(x) < 1e-3)) return x.toExponential(d - 1).replace(/e([+-])(\d)$/, function (_, sign, digit) { return "e" + sign + "0" + digit; });
    return Number(x.toPrecision(d)).toString();
  }

  function cell(text, numeric) {
    const td = document.createElement("td");
    if (numeric) td.className = "num";
    td.textContent = text;
    return td;
  }

  const ORDER = { running: 0, queued: 1 };

  function renderRuns(items, total) {
    const rows = document.createDocumentFragment();
    const rank = function (run) { return run.status in ORDER ? ORDER[run.status] : 2; };
    items.slice().sort(function (a, b) { return rank(a) - rank(b) || a.id - b.id; }).forEach(function (run) {
      const tr = document.createElement("tr");
      tr.dataset.run = run.id;
      tr.appendChild(cell(String(run.id)));
      const status = document.createElement("td");
      const badge = document.createElement("span");
      badge.className = "status " + run.status;
      badge.textContent = run.status;
      status.appendChild(badge);
      tr.appendChild(status);
      [run.n_params, run.tokens, run.lr, run.batch_tokens].forEach(function (v) { tr.appendChild(cell(fmt(v), true)); });
      const progress = document.createElement("td");
      const share = Math.min(1, run.progress || 0);
      progress.innerHTML = '<span class="progress"><span style="width:' + (100 * share).toFixed(1) + '%"></span></span> ' + Math.round(100 * share) + "%";
      tr.appendChild(progress);
      tr.appendChild(cell(fmt(run.loss), true));
      tr.appendChild(cell(fmt(run.tokens_per_s), true));
      rows.appendChild(tr);
    });
    table.replaceChildren(rows);
    const counts = {};
    items.forEach(function (r) { counts[r.status] = (counts[r.status] || 0) + 1; });
    summary.textContent = total + " runs: " + Object.keys(counts).map(function (k) { return counts[k] + " " + k; }).join(", ") +
      "; updated " + new Date().toLocaleTimeString() + ".";
  }

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (!response.ok) throw new Error(url + " answered " + response.status);
    return response.json();
  }

  async function refreshCurve(id, entry) {
    const curve = await getJSON("/v1/runs/" + id + "/curve");
    entry.points = curve.points
      .map(function (p) { return [p.tokens, p.eval_loss !== null ? p.eval_loss : p.train_loss]; })
      .filter(function (p) { return p[0] > 0 && p[1] !== null && isFinite(p[1]); });
    entry.status = curve.status;
    if (TERMINAL.has(curve.status)) entry.settled = true;
  }

  function ticks(lo, hi, log) {
    if (log) {
      const out = [];
      for (let e = Math.ceil(Math.log10(lo)); e <= Math.floor(Math.log10(hi)); e++) out.push(Math.pow(10, e));
      if (out.length >= 2) return out;
      return [0, 1, 2, 3].map(function (i) { return lo * Math.pow(hi / lo, i / 3); });
    }
    return [0, 1, 2, 3, 4].map(function (i) { return lo + (hi - lo) * i / 4; });
  }

  function element(name, attributes, text) {
    const node = document.createElementNS(SVG, name);
    Object.keys(attributes).forEach(function (k) { node.setAttribute(k, attributes[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function draw() {
    const shown = Array.from(curves.entries()).filter(function (e) { return e[1].points.length > 0; }).slice(-MAX_CURVES);
    const width = chart.clientWidth || 800;
    const height = chart.clientHeight || 340;
    chart.setAttribute("viewBox", "0 0 " + width + " " + height);
    chart.replaceChildren();
    if (!shown.length) return;
    const all = [].concat.apply([], shown.map(function (e) { return e[1].points; }));
    let x0 = Math.min.apply(null, all.map(function (p) { return p[0]; }));
    let x1 = Math.max.apply(null, all.map(function (p) { return p[0]; }));
    let y0 = Math.min.apply(null, all.map(function (p) { return p[1]; }));
    let y1 = Math.max.apply(null, all.map(function (p) { return p[1]; }));
    if (x1 <= x0) x1 = x0 * 10;
    if (y1 <= y0) { y1 = y0 + 1; }
    const pad = (y1 - y0) * 0.05;
    y0 -= pad; y1 += pad;
    const m = { left: 56, right: 16, top: 12, bottom: 36 };
    const sx = function (x) { return m.left + (Math.log(x / x0) / Math.log(x1 / x0)) * (width - m.left - m.right); };
    const sy = function (y) { return height - m.bottom - ((y - y0) / (y1 - y0)) * (height - m.top - m.bottom); };
    ticks(x0, x1, true).forEach(function (t) {
      chart.appendChild(element("line", { x1: sx(t), x2: sx(t), y1: m.top, y2: height - m.bottom, stroke: "#eee" }));
      chart.appendChild(element("text", { x: sx(t), y: height - m.bottom + 16, "text-anchor": "middle" }, fmt(t, 2)));
    });
    ticks(y0, y1, false).forEach(function (t) {
      chart.appendChild(element("line", { x1: m.left, x2: width - m.right, y1: sy(t), y2: sy(t), stroke: "#eee" }));
      chart.appendChild(element("text", { x: m.left - 6, y: sy(t) + 4, "text-anchor": "end" }, fmt(t, 3)));
    });
    chart.appendChild(element("text", { x: (width + m.left) / 2, y: height - 4, "text-anchor": "middle" }, "tokens seen (log scale)"));
    chart.appendChild(element("text", { x: 12, y: m.top + (height - m.top - m.bottom) / 2, transform: "rotate(-90 12 " + (m.top + (height - m.top - m.bottom) / 2) + ")", "text-anchor": "middle" }, "loss"));
    legend.replaceChildren();
    shown.forEach(function (e, i) {
      const id = e[0], entry = e[1], colour = PALETTE[i % PALETTE.length];
      const points = entry.points.map(function (p) { return sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1); }).join(" ");
      chart.appendChild(element("polyline", { points: points, fill: "none", stroke: colour, "stroke-width": 1.8, "data-run": id, "data-points": entry.points.length }));
      const item = document.createElement("span");
      item.innerHTML = '<i style="background:' + colour + '"></i>';
      item.appendChild(document.createTextNode("run " + id + " (" + (entry.status || "") + ", " + entry.points.length + " points, loss " + fmt(entry.points[entry.points.length - 1][1]) + ")"));
      legend.appendChild(item);
    });
  }

  async function poll() {
    try {
      const page = await getJSON("/v1/runs?study=" + study + "&limit=1000");
      renderRuns(page.items, page.total);
      page.items.forEach(function (run) {
        if (run.status === "running" && !curves.has(run.id)) curves.set(run.id, { points: [], status: run.status, settled: false });
        if (curves.has(run.id)) curves.get(run.id).status = run.status;
      });
      const pending = [];
      curves.forEach(function (entry, id) { if (!entry.settled) pending.push(refreshCurve(id, entry)); });
      await Promise.allSettled(pending);
      draw();
      chart.dataset.updated = String(Date.now());
    } catch (error) {
      summary.textContent = "Could not update: " + error.message;
    } finally {
      setTimeout(poll, 2000);
    }
  }

  window.addEventListener("resize", draw);
  poll();
})();
