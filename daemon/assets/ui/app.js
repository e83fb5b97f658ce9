// The variantd dashboard. Polls /ui/api/overview every 2 s (and
// /ui/api/admin, shown only when it answers). Every string from the daemon
// (decision, group, route, plugin names come from config and specs files)
// goes into the page as text nodes or attribute values, never as HTML.
"use strict";

const POLL_MS = 2000;
const TOKEN_KEY = "variantd-admin-token";

// el("td", {class: "num"}, "12", child) builds an element; strings become
// text nodes, so nothing given here is parsed as markup.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function replaceChildren(node, children) {
  while (node.firstChild) node.removeChild(node.firstChild);
  for (const c of children) node.appendChild(c);
}

const fmt = {
  pct: (x) => (x === null || x === undefined ? "–" : (100 * x).toFixed(1) + "%"),
  signedPct: (x) => (x === null || x === undefined ? "–" : (x >= 0 ? "+" : "") + (100 * x).toFixed(1) + "%"),
  p: (x) => (x === null || x === undefined ? "–" : x < 0.0001 ? "<0.0001" : x.toFixed(4)),
  num: (x, d) => (x === null || x === undefined ? "–" : Number(x).toFixed(d === undefined ? 2 : d)),
  ms: (x) => (x === null || x === undefined ? "–" : x < 1 ? x.toFixed(3) + " ms" : x.toFixed(1) + " ms"),
  ci: (ci, f) => (ci ? "[" + f(ci[0]) + ", " + f(ci[1]) + "]" : ""),
  time: (ms) => new Date(ms).toLocaleTimeString(),
};

// A horizontal bar from lo to hi on [min, max]: the interval, an optional
// wider always-valid interval behind it, the point estimate and a zero line.
function intervalBar(min, max, point, ci, seq, zero) {
  const span = max - min || 1;
  const pos = (x) => Math.max(0, Math.min(100, (100 * (x - min)) / span));
  const bar = el("div", { class: "bar" });
  const piece = (cls, lo, hi) => {
    const d = el("div", { class: cls });
    d.style.left = pos(lo) + "%";
    d.style.width = Math.max(0.5, pos(hi) - pos(lo)) + "%";
    bar.appendChild(d);
  };
  if (seq) piece("seq", seq[0], seq[1]);
  if (ci) piece("ci", ci[0], ci[1]);
  if (zero) {
    const z = el("div", { class: "zero" });
    z.style.left = pos(0) + "%";
    bar.appendChild(z);
  }
  if (point !== null && point !== undefined) {
    const m = el("div", { class: "pt" });
    m.style.left = pos(point) + "%";
    bar.appendChild(m);
  }
  return bar;
}

function verdicts(decision) {
  const byEvent = new Map();
  for (const row of decision.metrics) {
    if (!byEvent.has(row.event)) byEvent.set(row.event, []);
    byEvent.get(row.event).push(row);
  }
  const lines = [];
  for (const [event, rows] of byEvent) {
    const treated = rows.filter((r) => r.group !== decision.control && r.lift !== null);
    if (!treated.length) {
      lines.push(el("p", { class: "verdict", "data-event": event }, event + ": not enough data to compare with " + (decision.control || "a control")));
      continue;
    }
    const best = treated.reduce((a, b) => ((b.rate || 0) > (a.rate || 0) ? b : a));
    const significant = best.p_value !== null && best.p_value < 0.05;
    const safe = best.sequential_ci && (best.sequential_ci[0] > 0 || best.sequential_ci[1] < 0);
    const ahead = best.lift > 0 ? "ahead of" : "behind";
    let words = event + ": " + best.group + " " + ahead + " " + decision.control + " by " + fmt.signedPct(best.lift) +
      " (p = " + fmt.p(best.p_value) + "): " + (significant ? "significant" : "not significant");
    words += safe ? ", and significant with peeking (always-valid interval excludes 0)" : significant ? ", but not yet with peeking (always-valid interval includes 0)" : "";
    const cls = "verdict" + (significant ? (best.lift > 0 ? " significant" : " negative") : "");
    lines.push(el("p", { class: cls, "data-event": event }, words));
  }
  return lines;
}

function renderDecision(d) {
  const units = d.groups.reduce((n, g) => n + g.units, 0);
  const head = el("h3", {}, d.name, " ", el("span", { class: "muted" }, d.kind + " · control " + (d.control || "–") + " · ", el("span", { class: "total-units" }, String(units)), " units"));
  const groups = el("table", { class: "groups" },
    el("thead", {}, el("tr", {}, el("th", {}, "group"), el("th", {}, "variants"), el("th", { class: "num" }, "units"))),
    el("tbody", {}, d.groups.map((g) =>
      el("tr", { "data-group": g.group },
        el("td", { class: "group" }, g.group + (g.group === d.control ? " (control)" : "")),
        el("td", { class: "variants" }, g.variants.join(", ") || "–"),
        el("td", { class: "num units" }, String(g.units))))));
  const srm = d.srm;
  const srmLine = srm.mismatch
    ? el("p", { class: "srm-warning" }, "WARNING sample ratio mismatch: p = " + fmt.p(srm.p_value) + " (χ² = " + fmt.num(srm.chi2) + ", " + srm.units + " units tested): the split is not the configured one; do not trust these results")
    : srm.p_value === null
      ? el("p", { class: "muted" }, "SRM: nothing to test (no percentage rule with units)")
      : el("p", { class: "srm-ok" }, "SRM ok: p = " + fmt.p(srm.p_value) + " over " + srm.units + " units");

  const parts = [head, groups, srmLine];
  if (d.metrics.length) {
    const rateMax = Math.max(0.01, ...d.metrics.map((r) => (r.rate_ci ? r.rate_ci[1] : r.rate || 0)));
    const liftAbs = Math.max(0.05, ...d.metrics.flatMap((r) => [r.lift_ci, r.sequential_ci].filter(Boolean).flat().map(Math.abs)));
    const rows = d.metrics.map((r) =>
      el("tr", { "data-event": r.event, "data-group": r.group },
        el("td", {}, r.event),
        el("td", {}, r.group),
        el("td", { class: "num" }, String(r.units)),
        el("td", { class: "num converted" }, String(r.converted)),
        el("td", { class: "num" }, fmt.pct(r.rate), el("div", { class: "ci-text" }, fmt.ci(r.rate_ci, fmt.pct))),
        el("td", {}, intervalBar(0, rateMax, r.rate, r.rate_ci, null, false)),
        el("td", { class: "num" }, fmt.signedPct(r.lift), el("div", { class: "ci-text" }, fmt.ci(r.lift_ci, fmt.signedPct))),
        el("td", {}, r.lift === null ? el("span", { class: "muted" }, r.group === d.control ? "control" : "–") : intervalBar(-liftAbs, liftAbs, r.lift, r.lift_ci, r.sequential_ci, true)),
        el("td", { class: "num" }, fmt.p(r.p_value)),
        el("td", { class: "num" }, fmt.num(r.value_mean), el("div", { class: "ci-text" }, fmt.ci(r.value_ci, (x) => fmt.num(x))))));
    parts.push(el("table", { class: "metrics" },
      el("thead", {}, el("tr", {}, ["event", "group", "units", "converted", "rate (95% CI)", "", "lift (95% CI)", "lift: 95% CI dark, always-valid light", "p", "value / unit"].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows)));
    parts.push(...verdicts(d));
  } else {
    parts.push(el("p", { class: "muted" }, "no events from exposed units yet (POST /events)"));
  }
  return el("div", { class: "decision", "data-decision": d.name }, parts);
}

function renderResults(results) {
  const state = document.getElementById("results-state");
  const words = [];
  if (results.state === "computing") words.push("computing the first results…");
  if (results.state === "error") words.push("the last computation failed: " + results.error);
  if (results.computed_at_ms) words.push("computed " + fmt.time(results.computed_at_ms) + " from " + ((results.input && results.input.files.length) || 0) + " file(s), refreshed at most every " + results.refresh_interval_secs + " s when they change");
  if (results.note) words.push(results.note);
  state.textContent = words.join(" · ");
  state.className = results.note || results.state === "error" ? "note" : "muted";
  state.setAttribute("data-state", results.state);
  const box = document.getElementById("results");
  const decisions = results.decisions.filter((d) => d.groups.length);
  replaceChildren(box, decisions.length ? decisions.map(renderDecision) : [el("p", { class: "muted" }, results.state === "computing" ? "" : "no exposures yet: send traffic through a gated route")]);
}

let chart = null;
let chartKey = "";
function renderTraffic(traffic) {
  const empty = document.getElementById("traffic-empty");
  const holder = document.getElementById("traffic-chart");
  if (!traffic.times.length || !traffic.series.length) {
    empty.textContent = "no routed requests yet";
    return;
  }
  empty.textContent = "";
  const key = traffic.series.map((s) => s.route + "\u0000" + s.variant).join("\u0001");
  const data = [traffic.times, ...traffic.series.map((s) => s.rps)];
  if (typeof uPlot === "undefined") {
    empty.textContent = "chart library did not load";
    return;
  }
  if (chart && key === chartKey) {
    chart.setData(data);
    return;
  }
  if (chart) chart.destroy();
  const palette = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f", "#be185d"];
  chart = new uPlot({
    width: Math.max(400, holder.clientWidth || 900),
    height: 240,
    series: [{}, ...traffic.series.map((s, i) => ({ label: s.route + " → " + s.variant, stroke: palette[i % palette.length], width: 1.5, value: (u, v) => (v === null ? "–" : v.toFixed(1) + "/s") }))],
    axes: [{}, { label: "req/s" }],
    scales: { x: { time: true } },
  }, data, holder);
  chartKey = key;
}

function renderHealth(variants) {
  const body = document.querySelector("#health tbody");
  replaceChildren(body, variants.length ? variants.map((v) =>
    el("tr", { "data-variant": v.variant },
      el("td", {}, v.variant), el("td", { class: "num" }, String(v.requests)), el("td", { class: "num" }, fmt.num(v.rps, 1)),
      el("td", { class: "num" }, fmt.ms(v.p50_ms)), el("td", { class: "num" }, fmt.ms(v.p99_ms)),
      el("td", { class: "num" }, String(v.errors)), el("td", { class: "num" }, fmt.pct(v.error_rate)))) :
    [el("tr", {}, el("td", { colspan: 7, class: "muted" }, "no requests in the last minute"))]);
}

function renderRoutes(routes) {
  const body = document.querySelector("#routes tbody");
  replaceChildren(body, routes.map((r) => {
    const d = r.decision;
    let by, variants;
    if (d.kind === "variant") { by = "always"; variants = d.variant; }
    else if (d.kind === "gate") { by = "gate " + d.name; variants = "pass → " + d.pass + ", fail → " + d.fail; }
    else {
      by = d.kind.replace("_", " ") + " " + d.name + " (" + d.parameter + ")";
      variants = Object.entries(d.map).sort().map(([k, v]) => k + " → " + v).join(", ") + "; default " + d.default;
    }
    return el("tr", {}, el("td", {}, r.path), el("td", {}, r.methods.length ? r.methods.join(", ") : "any"), el("td", {}, r.response), el("td", {}, by), el("td", {}, variants));
  }));
}

function renderAdmin(admin) {
  const c = admin.control;
  replaceChildren(document.querySelector("#plugins tbody"), c.plugins.map((p) =>
    el("tr", { "data-plugin": p.name },
      el("td", {}, p.name), el("td", {}, p.version), el("td", { title: p.sha256 }, p.sha256.slice(0, 12) + "…"),
      el("td", {}, p.loaded_at), el("td", { class: "num" }, String(p.in_flight)), el("td", {}, p.variants.join(", ")),
      el("td", {}, p.retained_old_versions.map((o) => o.version + " (" + o.state + ")").join(", ") || "–"))));
  replaceChildren(document.querySelector("#refused tbody"), c.refused.length ? c.refused.map((r) => el("tr", {}, el("td", {}, r.file), el("td", {}, r.reason))) : [el("tr", {}, el("td", { colspan: 2, class: "muted" }, "none"))]);
  const history = admin.history.slice().reverse();
  replaceChildren(document.querySelector("#history tbody"), history.length ? history.map((h) =>
    el("tr", {}, el("td", {}, fmt.time(h.at_ms)), el("td", {}, h.kind), el("td", {}, h.subject),
      el("td", {}, [h.from_version, h.to_version].filter(Boolean).join(" → ")), el("td", {}, h.reason || ""))) :
    [el("tr", {}, el("td", { colspan: 5, class: "muted" }, "nothing yet"))]);
}

async function pollAdmin() {
  const stateLine = document.getElementById("admin-state");
  const body = document.getElementById("admin-body");
  const token = sessionStorage.getItem(TOKEN_KEY);
  try {
    const resp = await fetch("/ui/api/admin", { headers: token ? { Authorization: "Bearer " + token } : {}, cache: "no-store" });
    if (!resp.ok) {
      body.hidden = true;
      stateLine.textContent = "admin parts hidden: " + (resp.status === 404 ? "admin is on its own listener (server.admin_listen); open /ui there" : "this client may not use admin (a loopback caller without forwarding headers, or the admin token)");
      return;
    }
    renderAdmin(await resp.json());
    body.hidden = false;
    stateLine.textContent = "";
  } catch (e) {
    stateLine.textContent = "admin status unavailable: " + e;
  }
}

async function poll() {
  try {
    const resp = await fetch("/ui/api/overview", { cache: "no-store" });
    if (!resp.ok) throw new Error("HTTP " + resp.status);
    const o = await resp.json();
    document.getElementById("engine").textContent = "Statsig " + o.engine.mode + ", specs from " + o.engine.source + (o.engine.ready ? "" : " (not ready)");
    renderResults(o.results);
    renderTraffic(o.traffic);
    renderHealth(o.traffic.variants);
    renderRoutes(o.routes);
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    document.body.setAttribute("data-loaded", "true");
  } catch (e) {
    document.getElementById("updated").textContent = "cannot reach the daemon: " + e.message;
  }
  await pollAdmin();
}

document.getElementById("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const v = document.getElementById("token").value;
  if (v) sessionStorage.setItem(TOKEN_KEY, v); else sessionStorage.removeItem(TOKEN_KEY);
  pollAdmin();
});

poll();
setInterval(poll, POLL_MS);
