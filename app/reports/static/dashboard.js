// hyperlaw dashboard: keeps a study's runs table and loss curves current without a reload, and
// sends its writes (submit a sweep, start a fit, cancel a run) to the REST API.
// Polls the JSON API every 2 s: GET /v1/runs?study=ID for the table, GET /v1/runs/{id}/curve for
// the curves of running runs (and once more for each run after it finishes). Every request carries
// the bearer token entered once in the page's header (sessionStorage; localStorage when remembered),
// so reads and writes meet the API's own access checks. No library, no build.
(function () {
  "use strict";
  const TOKEN_KEY = "hyperlaw-token";

  const COOKIE = "hyperlaw_token";
  const MONTH_S = 30 * 24 * 3600;

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || localStorage.getItem(TOKEN_KEY) || "";
  }

  // The same token as a cookie, which only the dashboard's pages read: a browser sends no header
  // when it follows a link, so with public reads off this is how a page knows its reader.
  function setCookie(value, remembered) {
    const life = value ? (remembered ? "; max-age=" + MONTH_S : "") : "; max-age=0";
    document.cookie = COOKIE + "=" + encodeURIComponent(value) + "; path=/; SameSite=Strict" + life;
  }

  function hasCookie() {
    return document.cookie.split("; ").some(function (c) { return c.indexOf(COOKIE + "=") === 0; });
  }

  // The header's token field: kept for this tab, or on this browser when "remember" is ticked.
  function setupToken() {
    const form = document.getElementById("token-form");
    if (!form) return;
    const input = document.getElementById("token");
    const remember = document.getElementById("token-remember");
    const forget = document.getElementById("token-forget");
    const state = document.getElementById("token-state");
    function show() {
      const held = token();
      if (held && !hasCookie()) setCookie(held, Boolean(localStorage.getItem(TOKEN_KEY)));
      state.textContent = held ? "token " + held.split("_").slice(0, 2).join("_") + "_… in use" + (localStorage.getItem(TOKEN_KEY) ? " (remembered)" : "") : "no token: reads only";
      form.classList.toggle("held", Boolean(held));
      forget.hidden = !held;
      remember.checked = Boolean(localStorage.getItem(TOKEN_KEY));
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const value = input.value.trim();
      if (!value) { input.focus(); return; }
      sessionStorage.removeItem(TOKEN_KEY);
      localStorage.removeItem(TOKEN_KEY);
      (remember.checked ? localStorage : sessionStorage).setItem(TOKEN_KEY, value);
      setCookie(value, remember.checked);
      input.value = "";
      show();
      if (document.getElementById("locked")) location.reload(); // the page refused without it
    });
    forget.addEventListener("click", function () {
      sessionStorage.removeItem(TOKEN_KEY);
      localStorage.removeItem(TOKEN_KEY);
      setCookie("", false);
      show();
    });
    show();
  }

  // With public reads off, the API's links (reports) need the token too: fetched with it, then saved.
  function setupPrivateLinks() {
    if (!document.body.dataset.privateReads) return;
    document.addEventListener("click", async function (event) {
      const link = event.target.closest('a[href^="/v1/"]');
      if (!link || !token()) return;
      event.preventDefault();
      try {
        const response = await fetch(link.getAttribute("href"), { headers: { Authorization: "Bearer " + token() } });
        if (!response.ok) throw new Error(problem(response.status, await response.json().catch(function () { return null; })));
        const named = /filename="?([^";]+)"?/.exec(response.headers.get("Content-Disposition") || "");
        const save = document.createElement("a");
        save.href = URL.createObjectURL(await response.blob());
        save.download = named ? named[1] : link.pathname.split("/").filter(Boolean).join("-");
        document.body.appendChild(save);
        save.click();
        save.remove();
        setTimeout(function () { URL.revokeObjectURL(save.href); }, 60000);
      } catch (error) {
        alert("The download failed: " + error.message);
      }
    });
  }

  // The API's error as one line: its detail, or each validation error's field and message.
  function problem(status, body) {
    const detail = body && body.detail;
    let text = typeof detail === "string" ? detail : "";
    if (Array.isArray(detail)) {
      text = detail.map(function (e) {
        const where = (e.loc || []).slice(1).join(".");
        return (where ? where + ": " : "") + e.msg;
      }).join("; ");
    }
    return status + ": " + (text || "the API answered " + status);
  }

  // One API call with the token: the parsed JSON body, or an Error carrying the API's message.
  async function api(method, url, body, headers) {
    const sent = Object.assign({ Accept: "application/json" }, headers || {});
    const held = token();
    if (held) sent.Authorization = "Bearer " + held;
    if (body !== undefined) sent["Content-Type"] = "application/json";
    const response = await fetch(url, {
      method: method,
      headers: sent,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
    let parsed = null;
    try { parsed = await response.json(); } catch (ignored) { parsed = null; }
    if (!response.ok) throw new Error(problem(response.status, parsed));
    return parsed;
  }

  setupToken();
  setupPrivateLinks();

  // Writes report here (the study page's and the index's status line).
  const status = document.getElementById("write-status");

  function say(text, kind) {
    if (!status) return;
    status.textContent = text;
    status.className = "write-status " + (kind || "");
  }

  function needToken() {
    if (token()) return false;
    say("Enter a token with the write scope at the top of the page first (hyperlaw token create --scope write).", "bad");
    document.getElementById("token").focus();
    return true;
  }

  // The index's form: a new study, then its page.
  const studyForm = document.getElementById("study-form");
  if (studyForm) {
    studyForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      if (needToken()) return;
      const button = studyForm.querySelector("button[type=submit]");
      button.disabled = true;
      const fields = studyForm.elements;
      try {
        const created = await api("POST", "/v1/studies", {
          name: fields.name.value.trim(),
          data: fields.data.value.trim(),
          description: fields.description.value.trim(),
        });
        say("Study " + created.id + " created.", "ok");
        location.assign("/studies/" + created.id);
      } catch (error) {
        say("The study was not created: " + error.message, "bad");
      } finally {
        button.disabled = false;
      }
    });
  }
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
  const ACTIVE = new Set(["queued", "running"]);
  const armed = new Set(); // runs whose Cancel was clicked once: the second click cancels

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
      const action = document.createElement("td");
      if (ACTIVE.has(run.status)) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "small" + (armed.has(run.id) ? " armed" : "");
        button.dataset.cancel = run.id;
        button.textContent = armed.has(run.id) ? "Confirm cancel" : "Cancel";
        action.appendChild(button);
      }
      tr.appendChild(action);
      rows.appendChild(tr);
    });
    table.replaceChildren(rows);
    const cancelAll = document.getElementById("cancel-all");
    if (cancelAll) cancelAll.hidden = !items.some(function (r) { return ACTIVE.has(r.status); });
    const counts = {};
    items.forEach(function (r) { counts[r.status] = (counts[r.status] || 0) + 1; });
    summary.textContent = total + " runs: " + Object.keys(counts).map(function (k) { return counts[k] + " " + k; }).join(", ") +
      "; updated " + new Date().toLocaleTimeString() + ".";
  }

  function getJSON(url) {
    return api("GET", url);
  }

  async function refreshCurve(id, entry) {
    const curve = await getJSON("/v1/runs/" + id + "/curve?max_points=2000");
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

  let timer = null;
  let polling = false;

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(poll, delay);
  }

  async function poll() {
    if (polling) { schedule(300); return; }
    polling = true;
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
      polling = false;
      schedule(2000);
    }
  }

  // ---------------------------------------------------------------- writes, through the REST API

  function values(text) {
    return String(text || "").split(/[\s,;]+/).filter(Boolean);
  }

  function numbers(text, name, integral) {
    return values(text).map(function (v) {
      const x = Number(v);
      if (!isFinite(x) || x <= 0 || (integral && !Number.isInteger(x))) throw new Error(name + ": " + v + " is not a positive " + (integral ? "integer" : "number"));
      return x;
    });
  }

  function shapes(text) {
    return values(text).map(function (v) {
      const parts = v.split(/[x×*]/).map(Number);
      if (parts.length !== 3 || !parts.every(function (x) { return Number.isInteger(x) && x > 0; })) {
        throw new Error("shapes: " + v + " is not n_layer×d_model×n_head, e.g. 2x64x2");
      }
      return { n_layer: parts[0], d_model: parts[1], n_head: parts[2] };
    });
  }

  // A button that acts on its second click within 5 s (the first shows `confirm` on it).
  function armed2(button, confirm) {
    const disarm = function () {
      clearTimeout(Number(button.dataset.armed));
      delete button.dataset.armed;
      button.classList.remove("armed");
      button.textContent = button.dataset.label;
    };
    if (button.dataset.armed) {
      disarm();
      return true;
    }
    button.dataset.label = button.textContent;
    button.classList.add("armed");
    button.textContent = confirm;
    button.dataset.armed = String(setTimeout(disarm, 5000));
    return false;
  }

  function runs(count) {
    return count + (count === 1 ? " run" : " runs");
  }

  // Bulk cancel (POST /v1/studies/{id}/runs/cancel): the whole study, or one submission by its key.
  async function cancelRuns(selection, what) {
    if (needToken()) return;
    try {
      const answer = await api("POST", "/v1/studies/" + study + "/runs/cancel", selection);
      say("Cancelled " + runs(answer.count) + " of " + what + (answer.count ? " (ids " + answer.ids.join(", ") + ")." : ": none was queued or running."), "ok");
    } catch (error) {
      say("Nothing was cancelled: " + error.message, "bad");
    }
    schedule(0);
  }

  const cancelAll = document.getElementById("cancel-all");
  if (cancelAll) {
    cancelAll.addEventListener("click", function () {
      if (armed2(cancelAll, "Confirm: cancel them all")) cancelRuns({}, "the study");
    });
  }

  function key() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "dashboard-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  function sweepBody(form) {
    const grid = {
      shapes: shapes(form.elements.shapes.value),
      tokens: numbers(form.elements.tokens.value, "tokens", true),
      lr: numbers(form.elements.lr.value, "learning rates", false),
      batch_tokens: numbers(form.elements.batch_tokens.value, "batch sizes", true),
    };
    if (!grid.shapes.length || !grid.tokens.length) throw new Error("give at least one shape and one token count");
    return { grid: grid };
  }

  const sweepForm = document.getElementById("sweep-form");
  const cancelSweep = document.getElementById("cancel-sweep");
  if (cancelSweep) {
    cancelSweep.addEventListener("click", function () {
      if (!armed2(cancelSweep, "Confirm: cancel the sweep")) return;
      cancelSweep.hidden = true;
      cancelRuns({ idempotency_key: cancelSweep.dataset.key }, "the sweep");
    });
  }
  if (sweepForm) {
    const size = document.getElementById("sweep-size");
    const count = function () {
      try {
        const grid = sweepBody(sweepForm).grid;
        size.textContent = grid.shapes.length * grid.tokens.length * Math.max(1, grid.lr.length) * Math.max(1, grid.batch_tokens.length) + " runs.";
      } catch (error) {
        size.textContent = error.message;
      }
    };
    sweepForm.addEventListener("input", count);
    count();
    sweepForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      if (needToken()) return;
      const button = sweepForm.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const body = sweepBody(sweepForm);
        const sent = key();
        const answer = await api("POST", "/v1/studies/" + study + "/sweeps", body, { "Idempotency-Key": sent });
        say("Queued " + runs(answer.count) + " (ids " + answer.ids[0] + "–" + answer.ids[answer.ids.length - 1] + ").", "ok");
        cancelSweep.dataset.key = sent;
        cancelSweep.hidden = false;
        schedule(0);
      } catch (error) {
        say("The sweep was not queued: " + error.message, "bad");
      } finally {
        button.disabled = false;
      }
    });
  }

  const FIT_DONE = new Set(["done", "failed"]);

  function fitRow(fit) {
    const tr = document.createElement("tr");
    tr.dataset.fit = fit.id;
    tr.appendChild(cell(String(fit.id)));
    tr.appendChild(cell(fit.law));
    const state = document.createElement("td");
    const badge = document.createElement("span");
    badge.className = "status " + fit.status;
    badge.textContent = fit.status;
    state.appendChild(badge);
    tr.appendChild(state);
    const links = document.createElement("td");
    links.className = "downloads";
    if (fit.status === "done") {
      links.innerHTML = '<a href="/v1/fits/' + fit.id + '/report?format=html">HTML</a><a href="' + location.pathname + "#fit-" + fit.id + '">reload to see it below</a>';
    } else if (fit.status === "failed") {
      links.textContent = fit.error || "";
    }
    tr.appendChild(links);
    return tr;
  }

  async function followFit(id) {
    const table = document.getElementById("started-fits");
    let fit = await getJSON("/v1/fits/" + id);
    for (;;) {
      const row = fitRow(fit);
      const old = table.querySelector('tr[data-fit="' + id + '"]');
      if (old) old.replaceWith(row); else table.tBodies[0].prepend(row);
      table.hidden = false;
      if (FIT_DONE.has(fit.status)) break;
      await new Promise(function (resolve) { setTimeout(resolve, 1500); });
      fit = await getJSON("/v1/fits/" + id);
    }
    if (fit.status === "done") say("Fit " + id + " (" + fit.law + ") is done" + (fit.warnings.length ? ", with " + fit.warnings.length + " warnings." : "."), "ok");
    else say("Fit " + id + " (" + fit.law + ") failed: " + (fit.error || "no reason given"), "bad");
  }

  const fitForm = document.getElementById("fit-form");
  const OPTIMUM_LAWS = new Set(["lr_opt", "batch_opt"]); // the laws that take a form
  if (fitForm) {
    const choice = document.getElementById("fit-form-choice");
    const showChoice = function () { choice.hidden = !OPTIMUM_LAWS.has(fitForm.elements.law.value); };
    fitForm.elements.law.addEventListener("change", showChoice);
    showChoice();
    fitForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      if (needToken()) return;
      const button = fitForm.querySelector("button[type=submit]");
      button.disabled = true;
      const law = fitForm.elements.law.value;
      try {
        const bootstrap = Number(fitForm.elements.bootstrap.value || 0);
        const body = { law: law, bootstrap: bootstrap, seed: 0 };
        if (OPTIMUM_LAWS.has(law)) body.form = fitForm.elements.form.value;
        const answer = await api("POST", "/v1/studies/" + study + "/fits", body);
        say("Fit " + answer.id + " (" + law + ") started.", "ok");
        await followFit(answer.id);
      } catch (error) {
        say("The " + law + " fit was not started: " + error.message, "bad");
      } finally {
        button.disabled = false;
      }
    });
  }

  // Cancel: a run's first click arms its button, the second (within 5 s) cancels it.
  table.addEventListener("click", async function (event) {
    const button = event.target.closest("button[data-cancel]");
    if (!button) return;
    const id = Number(button.dataset.cancel);
    if (!armed.has(id)) {
      armed.add(id);
      button.classList.add("armed");
      button.textContent = "Confirm cancel";
      setTimeout(function () { armed.delete(id); }, 5000);
      return;
    }
    armed.delete(id);
    if (needToken()) return;
    button.disabled = true;
    try {
      const run = await api("POST", "/v1/runs/" + id + "/cancel");
      say("Run " + id + " is " + run.status + ".", "ok");
    } catch (error) {
      say("Run " + id + " was not cancelled: " + error.message, "bad");
    }
    schedule(0);
  });

  window.addEventListener("resize", draw);
  poll();
})();
