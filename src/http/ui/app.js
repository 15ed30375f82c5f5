// converge console: builds the page from /status every few seconds.
//
// Every value from /status goes into the page as a text node (el() below), never as HTML, so
// a resource name, tag or error text that contains markup shows as text. The filters live in
// the URL (?q=&kind=&shard=&state=&sort=&dir=&sel=), so a view can be shared as a link.
"use strict";

const POLL_MS = 3000;
// Rows drawn at most; the counts and filters still cover every resource.
const MAX_ROWS = 2000;
const STATES = ["converged", "pending", "waiting", "failed", "conflict"];

let last = null;
let view = readView();

function readView() {
  const p = new URLSearchParams(location.search);
  return {
    q: p.get("q") || "",
    kind: p.get("kind") || "",
    shard: p.get("shard") || "",
    state: p.get("state") || "",
    sort: p.get("sort") || "",
    dir: p.get("dir") === "desc" ? "desc" : "asc",
    sel: p.get("sel") || "",
  };
}

function writeView() {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(view)) {
    if (v && !(k === "dir" && v === "asc")) p.set(k, v);
  }
  const qs = p.toString();
  history.replaceState(null, "", qs ? "?" + qs : location.pathname);
}

// An element with attributes and children; strings become text nodes.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const $ = (id) => document.getElementById(id);

// The state an operator reads: failed by a conflict (another owner) is "conflict"; pending on
// a dependency is "waiting".
function displayState(r) {
  if (r.state === "failed" && r.error_class === "conflict") return "conflict";
  if (r.state === "pending" && r.waiting_for) return "waiting";
  return r.state;
}

function rows(status) {
  const out = [];
  for (const s of status.shards || []) {
    for (const [kind, k] of Object.entries(s.kinds || {})) {
      for (const r of k.resources || []) {
        out.push(Object.assign({}, r, { shard: s.shard, kind, view_state: displayState(r) }));
      }
    }
  }
  return out;
}

function keyOf(r) {
  return r.shard + "|" + r.kind + "|" + r.name;
}

// "file:line:column" → [file, line].
function splitSource(src) {
  const m = /^(.*):(\d+):(\d+)$/.exec(src || "");
  return m ? [m[1], m[2]] : [src || "", null];
}

function sourceLink(src) {
  const [file, line] = splitSource(src);
  if (!file) return "";
  const href = "/source?file=" + encodeURIComponent(file) + (line ? "#L" + line : "");
  return el("a", { href }, src);
}

function ago(rfc3339) {
  if (!rfc3339) return "";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(rfc3339)) / 1000));
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.floor(s / 60) + "m ago";
  if (s < 86400) return Math.floor(s / 3600) + "h ago";
  return Math.floor(s / 86400) + "d ago";
}

function duration(secs) {
  const d = Math.floor(secs / 86400), h = Math.floor((secs % 86400) / 3600), m = Math.floor((secs % 3600) / 60);
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : `${m}m ${secs % 60}s`;
}

function stateBadge(state) {
  return el("span", { class: "state state-" + state }, state);
}

function fieldText(f) {
  return [f.field + ": ", el("span", { class: "from" }, f.from ?? "(none)"), " → ", el("span", { class: "to" }, f.to ?? "(none)")];
}

function renderHeader(status) {
  $("controller").textContent = status.controller_id + (status.observe_only ? " (observe-only)" : "");
  const d = status.desired || {};
  const load = d.last_load || {};
  const problems = load.problems || [];
  const valid = load.valid === true;
  $("desired").replaceChildren(
    (d.revision || "no revision") + " · " + (d.resources ?? 0) + " resources · ",
    el("span", { class: valid ? "state state-converged" : "state state-failed" }, valid ? "valid" : "invalid"));
  $("generation").textContent = d.generation ?? "–";
  $("uptime").textContent = duration(status.uptime_seconds || 0);
  $("updated").textContent = new Date().toLocaleTimeString();
  $("load-errors").hidden = valid;
  $("load-error-list").replaceChildren(...problems.map((p) => el("li", {}, p)));

  $("shards").tBodies[0].replaceChildren(...(status.shards || []).map((s) => el("tr", {},
    el("td", {}, s.shard),
    el("td", {}, s.state),
    el("td", {}, s.resources ?? ""),
    el("td", {}, s.holder || (status.lease ? "unheld" : "this process")),
    el("td", { class: "err" }, s.error || ""))));
}

function fillSelect(id, values) {
  const sel = $(id);
  const current = view[id];
  const want = ["", ...values];
  const have = Array.from(sel.options).map((o) => o.value);
  if (want.join("\n") !== have.join("\n")) {
    sel.replaceChildren(...want.map((v) => el("option", { value: v }, v || "all")));
  }
  sel.value = current;
}

function matches(r) {
  if (view.kind && r.kind !== view.kind) return false;
  if (view.shard && r.shard !== view.shard) return false;
  if (view.state && r.view_state !== view.state) return false;
  if (view.q) {
    const q = view.q.toLowerCase();
    const hay = [r.name, r.kind, r.shard, r.source, r.last_error, r.waiting_for].join(" ").toLowerCase();
    if (!hay.includes(q)) return false;
  }
  return true;
}

function compare(a, b) {
  const k = view.sort;
  let x = a[k === "state" ? "view_state" : k] ?? "", y = b[k === "state" ? "view_state" : k] ?? "";
  if (k === "drifts") { x = a.drifts || 0; y = b.drifts || 0; }
  const c = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
  return view.dir === "desc" ? -c : c;
}

function renderResources(status) {
  const all = rows(status);
  fillSelect("kind", [...new Set(all.map((r) => r.kind))].sort());
  fillSelect("shard", [...new Set(all.map((r) => r.shard))].sort());
  $("state").value = view.state;
  $("q").value === view.q || document.activeElement === $("q") || ($("q").value = view.q);

  const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
  for (const r of all) counts[r.view_state] = (counts[r.view_state] || 0) + 1;
  $("counts").replaceChildren(...STATES.map((s) => el("button", {
    type: "button", "aria-pressed": view.state === s ? "true" : "false",
    onclick: () => { view.state = view.state === s ? "" : s; update(); },
  }, stateBadge(s), " " + counts[s])));

  let shown = all.filter(matches);
  if (view.sort) shown.sort(compare);
  $("shown").textContent = `(${shown.length} of ${all.length}` + (shown.length > MAX_ROWS ? `, first ${MAX_ROWS} drawn` : "") + ")";
  shown = shown.slice(0, MAX_ROWS);
  for (const b of document.querySelectorAll("th button[data-sort]")) {
    b.setAttribute("aria-sort", b.dataset.sort === view.sort ? (view.dir === "desc" ? "descending" : "ascending") : "none");
  }
  $("resources").tBodies[0].replaceChildren(...shown.map((r) => el("tr", { "data-state": r.view_state, "data-key": keyOf(r) },
    el("td", { class: "nowrap" }, r.shard),
    el("td", {}, r.kind),
    el("td", { class: "name" }, el("button", { type: "button", onclick: () => { view.sel = keyOf(r); update(); } }, r.name)),
    el("td", {}, stateBadge(r.view_state)),
    el("td", { class: "drift" }, r.drifts || 0),
    el("td", { class: "nowrap" }, r.last_change ? `${r.last_action || "change"} ${ago(r.last_change)}` + (r.last_revision ? ` @ ${r.last_revision}` : "") : ""),
    el("td", { class: "err" }, r.waiting_for ? "waits for " + r.waiting_for : (r.last_error || "")),
    el("td", { class: "src" }, sourceLink(r.source)))));
  renderDetail(all, status);
}

function renderDetail(all, status) {
  const r = view.sel ? all.find((x) => keyOf(x) === view.sel) : null;
  $("detail").hidden = !r;
  if (!r) return;
  $("detail-title").replaceChildren(r.kind + " " + r.name + " ", stateBadge(r.view_state));
  const facts = [
    ["shard", r.shard], ["source", sourceLink(r.source)], ["drift found", r.drifts || 0],
    ["last change", r.last_change ? `${r.last_action || ""} at ${r.last_change}` + (r.last_revision ? ` (revision ${r.last_revision})` : "") : "none by this process"],
    ["waiting for", r.waiting_for || ""], ["last error", r.last_error ? `${r.last_error} (${r.error_class || ""})` : ""],
    ["failed attempts", r.attempts || 0],
  ];
  $("detail-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  const changes = (r.pending_changes || []).flatMap((c) => (c.fields || []).map((f) => el("li", {}, c.action + " ", ...fieldText(f))));
  $("detail-changes").replaceChildren(...(changes.length ? changes : [el("li", { class: "muted" }, "none")]));
  const audit = (status.activity || []).filter((a) => a.shard === r.shard && a.kind === r.kind && a.name === r.name);
  $("detail-audit").replaceChildren(...(audit.length ? audit.map(activityItem) : [el("li", { class: "muted" }, "none in memory")]));
}

function activityItem(a) {
  return el("li", {},
    a.time + " ", a.shard + " ", el("strong", {}, a.kind + "/" + a.name), " " + a.action + " ",
    el("span", { class: a.outcome === "ok" ? "" : "error" }, a.outcome),
    a.revision ? " @ " + a.revision : "",
    (a.fields || []).length ? " — " + a.fields.map((f) => `${f.field}: ${f.from ?? "(none)"} → ${f.to ?? "(none)"}`).join("; ") : "",
    a.error ? " — " + a.error : "");
}

function render(status) {
  renderHeader(status);
  renderResources(status);
  $("activity").replaceChildren(...((status.activity || []).length
    ? status.activity.slice(0, 100).map(activityItem)
    : [el("li", { class: "muted" }, "no change applied since this process started")]));
  document.body.dataset.loaded = "true";
}

function update() {
  writeView();
  if (last) render(last);
}

async function poll() {
  if (!document.hidden) {
    try {
      const res = await fetch("/status", { cache: "no-store", credentials: "same-origin" });
      if (!res.ok) throw new Error("HTTP " + res.status);
      last = await res.json();
      render(last);
    } catch (e) {
      $("updated").textContent = "cannot read /status: " + e.message;
    }
  }
  setTimeout(poll, POLL_MS);
}

function init() {
  $("q").addEventListener("input", (e) => { view.q = e.target.value; update(); });
  for (const id of ["kind", "shard", "state"]) {
    $(id).addEventListener("change", (e) => { view[id] = e.target.value; update(); });
  }
  for (const b of document.querySelectorAll("th button[data-sort]")) {
    b.addEventListener("click", () => {
      if (view.sort === b.dataset.sort) view.dir = view.dir === "asc" ? "desc" : "asc";
      else { view.sort = b.dataset.sort; view.dir = "asc"; }
      update();
    });
  }
  $("detail-close").addEventListener("click", () => { view.sel = ""; update(); });
  $("q").value = view.q;
  poll();
}

document.addEventListener("DOMContentLoaded", init);
