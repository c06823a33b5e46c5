// hubd dashboard: one small app, hash routing, no framework, no inline code
// (the CSP forbids it). Talks to the daemon's own /api/ with the session cookie.
"use strict";

const $ = (s) => document.querySelector(s);

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of kids) if (c !== null && c !== undefined) e.append(c);
  return e;
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body, contentType) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = contentType || "application/json";
    opts.body = contentType ? body : JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (r.status === 401 && path !== "/api/login") showLogin();
  if (!r.ok) throw new ApiError(r.status, data && data.error ? data.error.message : r.statusText);
  return data;
}

// --- state -----------------------------------------------------------------
const devices = new Map(); // id -> {dto, card}
let events = null;

function showLogin() {
  $("#nav").hidden = true;
  for (const p of document.querySelectorAll(".page")) p.hidden = true;
  $("#login").hidden = false;
  if (events) { events.close(); events = null; }
  $("#token").focus();
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("#login-error").textContent = "";
  try {
    await api("POST", "/api/login", { token: $("#token").value });
    $("#token").value = "";
    $("#login").hidden = true;
    start();
  } catch (e) {
    $("#login-error").textContent = e.status === 401 ? "Wrong token." : e.message;
  }
});

$("#logout").addEventListener("click", async () => {
  await api("POST", "/api/logout").catch(() => {});
  devices.clear();
  showLogin();
});

// --- routing ---------------------------------------------------------------
const pages = { home: showHome, talk: () => $("#say-text").focus(), history: loadHistory,
  cameras: loadCameras, automations: loadAutomations, system: loadSystem };

function route() {
  if (!$("#login").hidden) return;
  const name = (location.hash.match(/^#\/(\w+)/) || [])[1] || "home";
  const page = pages[name] ? name : "home";
  for (const p of document.querySelectorAll(".page")) p.hidden = p.id !== "page-" + page;
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("href") === "#/" + page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  Promise.resolve(pages[page]()).catch((e) => console.error(e));
}
window.addEventListener("hashchange", route);

async function start() {
  try {
    await api("GET", "/api/status");
  } catch (e) {
    if (e.status === 401) return;
    throw e;
  }
  $("#nav").hidden = false;
  connectEvents();
  route();
}

// --- live events -----------------------------------------------------------
function connectEvents() {
  if (events) return;
  events = new EventSource("/api/events");
  events.onopen = () => { $("#live").textContent = "live"; };
  events.onerror = () => { $("#live").textContent = "reconnecting…"; };
  events.addEventListener("state_changed", (m) => {
    const e = JSON.parse(m.data);
    const d = devices.get(e.entity_id);
    if (d) { d.dto.state = e.new; renderState(d); }
  });
  events.addEventListener("command_status", (m) => {
    const e = JSON.parse(m.data);
    const d = devices.get(e.entity_id);
    if (d) setStatus(d, e.status, e.command_id);
    for (const s of document.querySelectorAll(`[data-command="${e.command_id}"]`)) {
      s.textContent = e.status; s.dataset.status = e.status;
    }
  });
  // Cameras: motion flips the card live; a new or ended event refreshes the list.
  events.addEventListener("motion", (m) => {
    const e = JSON.parse(m.data);
    const card = document.querySelector(`[data-camera="${CSS.escape(e.camera)}"]`);
    if (card) { card.dataset.motion = e.on ? "on" : "off"; renderCamera(card); }
  });
  events.addEventListener("camera_event", (m) => {
    const e = JSON.parse(m.data);
    if (e.event_type !== "update" && !$("#page-cameras").hidden) refreshCameraEvents();
  });
}

// --- home --------------------------------------------------------------------
async function loadHome() {
  const [list, layout] = await Promise.all([api("GET", "/api/devices"), api("GET", "/api/layout")]);
  const root = $("#floors");
  root.replaceChildren();
  devices.clear();
  const byArea = new Map();
  for (const dto of list) {
    const k = dto.area || "";
    if (!byArea.has(k)) byArea.set(k, []);
    byArea.get(k).push(dto);
  }
  const floors = [...layout.floors, { id: null, name: layout.floors.length ? "Other" : "" }];
  for (const f of floors) {
    const areas = layout.areas.filter((a) => (a.floor || null) === f.id);
    if (f.id === null) areas.push({ id: "", name: "Unassigned" });
    const sec = el("section", { "aria-label": f.name || "Devices" });
    if (f.name) sec.append(el("h3", { text: f.name }));
    let any = false;
    for (const a of areas) {
      const devs = byArea.get(a.id) || [];
      if (!devs.length) continue;
      any = true;
      const grid = el("div", { class: "grid" });
      for (const dto of devs) grid.append(card(dto));
      sec.append(el("h4", { text: a.name }), grid);
    }
    if (any) root.append(sec);
  }
  if (!list.length) root.append(el("p", { text: "No devices are configured." }));
}

// The home page lists every device, or those a search found: by their
// words first, then by the meaning of their names when the daemon has
// [store] semantic_search on. Each found card says how it matched.
function showHome() {
  return $("#find-q").value.trim() ? findDevices() : loadHome();
}

async function findDevices() {
  const q = $("#find-q").value.trim();
  if (!q) return loadHome();
  const root = $("#floors");
  let hits;
  try {
    hits = await api("GET", `/api/devices?${new URLSearchParams({ q, limit: "12" })}`);
  } catch (e) {
    root.replaceChildren(el("p", { class: "error", role: "alert", text: `Search failed: ${e.message}` }));
    return;
  }
  root.replaceChildren();
  devices.clear();
  const grid = el("div", { class: "grid" });
  for (const dto of hits) {
    const c = card(dto);
    const how = dto.match === "text" ? "words" : `meaning ${dto.score.toFixed(2)}`;
    c.querySelector(".name").after(el("span", { class: "st", "data-match": dto.match, text: `(${how})` }));
    grid.append(c);
  }
  root.append(el("section", { "aria-label": "Found devices" }, el("h3", { text: `Found for “${q}”` }),
    hits.length ? grid : el("p", { text: "No device matches." })));
}
$("#find-form").addEventListener("submit", (e) => { e.preventDefault(); findDevices(); });
$("#find-q").addEventListener("search", () => { if (!$("#find-q").value.trim()) loadHome(); });

function send(d, action, label) {
  setStatus(d, "sending", null);
  return api("POST", `/api/devices/${encodeURIComponent(d.dto.id)}/command`, { action })
    .then((r) => { const c = r.commands[0]; if (c) setStatus(d, c.status, c.id); })
    .catch((e) => setStatus(d, "failed: " + e.message, null));
}

function setStatus(d, status, id) {
  if (id !== null && d.lastCommand && id < d.lastCommand) return;
  if (id !== null) d.lastCommand = id;
  d.status.textContent = status;
  d.status.dataset.status = status;
}

function card(dto) {
  const d = { dto, lastCommand: 0 };
  const f = dto.features || {};
  const id = dto.id.replace(/[^\w-]/g, "_");
  d.status = el("span", { class: "st", "aria-live": "polite", "data-testid": "status" });
  d.stateText = el("span", { class: "st" });
  const c = el("article", { class: "card dev", "data-device": dto.id, "aria-label": dto.name });
  const top = el("div", { class: "top" }, el("span", { class: "name", text: dto.name }));
  c.append(top);
  const kind = dto.kind;
  if (["light", "switch", "fan"].includes(kind)) {
    d.toggle = el("button", { type: "button", "aria-pressed": "false", "aria-label": `${dto.name} on/off`,
      onclick: () => send(d, { action: d.toggle.getAttribute("aria-pressed") === "true" ? "turn_off" : "turn_on" }) }, "Off");
    top.append(d.toggle);
  }
  if (kind === "light" && f.dimmable) {
    d.bri = el("input", { type: "range", min: 1, max: 100, id: `bri-${id}`,
      onchange: () => send(d, { action: "brightness", percent: Number(d.bri.value) }) });
    c.append(el("label", { for: `bri-${id}`, text: "Brightness" }), d.bri);
  }
  if (kind === "light" && f.color_temp) {
    d.ct = el("input", { type: "range", min: 2000, max: 6500, step: 100, id: `ct-${id}`,
      onchange: () => send(d, { action: "color_temp", kelvin: Number(d.ct.value) }) });
    c.append(el("label", { for: `ct-${id}`, text: "Colour temperature" }), d.ct);
  }
  if (kind === "light" && f.color) {
    d.rgb = el("input", { type: "color", id: `rgb-${id}`, onchange: () => {
      const v = d.rgb.value;
      send(d, { action: "color", rgb: { r: parseInt(v.slice(1, 3), 16), g: parseInt(v.slice(3, 5), 16), b: parseInt(v.slice(5, 7), 16) } });
    } });
    c.append(el("label", { for: `rgb-${id}`, text: "Colour" }), d.rgb);
  }
  if (kind === "climate") {
    d.target = el("input", { type: "number", min: 5, max: 35, step: 0.5, id: `tt-${id}`,
      onchange: () => send(d, { action: "target_temperature", celsius: Number(d.target.value) }) });
    c.append(el("label", { for: `tt-${id}`, text: "Target °C" }), d.target);
  }
  if (kind === "cover") {
    c.append(el("div", { class: "row" },
      el("button", { type: "button", onclick: () => send(d, { action: "open" }) }, "Open"),
      el("button", { type: "button", onclick: () => send(d, { action: "stop" }) }, "Stop"),
      el("button", { type: "button", onclick: () => send(d, { action: "close" }) }, "Close")));
    if (f.position) {
      d.pos = el("input", { type: "range", min: 0, max: 100, id: `pos-${id}`,
        onchange: () => send(d, { action: "position", percent: Number(d.pos.value) }) });
      c.append(el("label", { for: `pos-${id}`, text: "Position" }), d.pos);
    }
  }
  if (kind === "lock") {
    const ask = (what, action) => () => { if (confirm(`${what} ${dto.name}?`)) send(d, { action }); };
    c.append(el("div", { class: "row" },
      el("button", { type: "button", onclick: ask("Lock", "lock") }, "Lock"),
      el("button", { type: "button", onclick: ask("Unlock", "unlock") }, "Unlock")));
  }
  c.append(el("div", { class: "top" }, d.stateText, d.status));
  devices.set(dto.id, d);
  renderState(d);
  return c;
}

function renderState(d) {
  const s = d.dto.state || {};
  const parts = [];
  if (s.available === false) parts.push("unavailable");
  if (d.toggle) {
    d.toggle.setAttribute("aria-pressed", s.on ? "true" : "false");
    d.toggle.textContent = s.on ? "On" : "Off";
  }
  if (d.bri && s.brightness_pct != null && document.activeElement !== d.bri) d.bri.value = s.brightness_pct;
  if (s.brightness_pct != null) parts.push(`${s.brightness_pct}%`);
  if (d.ct && s.color_temp_kelvin != null) d.ct.value = s.color_temp_kelvin;
  if (d.target && s.target_temperature != null && document.activeElement !== d.target) d.target.value = s.target_temperature;
  if (s.current_temperature != null) parts.push(`${s.current_temperature} °C`);
  if (d.pos && s.position != null) d.pos.value = s.position;
  if (s.position != null) parts.push(`position ${s.position}%`);
  if (s.locked != null) parts.push(s.locked ? "locked" : "unlocked");
  if (s.value != null) parts.push(String(s.value));
  d.stateText.textContent = parts.join(" · ");
  d.stateText.dataset.on = s.on ? "true" : "false";
}

// --- talk --------------------------------------------------------------------
function turn(outcome, via) {
  const cmds = (outcome.commands || []).map((c) =>
    el("span", {}, ` ${c.device_id}: `, el("span", { class: "st", "data-command": c.id, "data-status": c.status, text: c.status })));
  const meta = [
    `intent: ${outcome.intent || "none"}`,
    Object.keys(outcome.slots || {}).length ? `slots: ${JSON.stringify(outcome.slots)}` : null,
    outcome.source ? `source: ${typeof outcome.source === "string" ? outcome.source : JSON.stringify(outcome.source)}` : null,
    `latency: ${Math.round(outcome.total_ms)} ms${via ? ` (${via})` : ""}`,
  ].filter(Boolean).join(" · ");
  $("#chat").append(el("li", { class: "hub" },
    el("div", { class: "reply", text: outcome.reply || outcome.error || "" }),
    el("div", { class: "meta", text: meta }),
    cmds.length ? el("div", { class: "meta" }, "commands:", ...cmds) : null));
}

$("#say-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = $("#say-text").value.trim();
  if (!text) return;
  $("#say-text").value = "";
  $("#chat").append(el("li", { class: "user", text }));
  try {
    const outcome = await api("POST", "/api/say", { text, session: "dashboard" });
    turn(outcome);
    // Not a home command (no intent matched): the language model answers,
    // streamed as it writes.
    if (!outcome.intent) await chat(text);
  } catch (e) {
    $("#chat").append(el("li", { class: "hub error", text: e.message }));
  }
});

// The language model behind /v1/chat/completions, read as Server-Sent Events.
async function chat(text) {
  const reply = el("div", { class: "reply" });
  const meta = el("div", { class: "meta", text: "language model · writing…" });
  const li = el("li", { class: "hub llm", "aria-live": "polite", "data-chunks": "0" }, reply, meta);
  $("#chat").append(li);
  const t0 = performance.now();
  const r = await fetch("/v1/chat/completions", {
    method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ model: "hubd", stream: true, max_tokens: 96,
      messages: [{ role: "system", content: "You are hubd, a home assistant. Answer in one or two short sentences." },
        { role: "user", content: text }] }),
  });
  if (!r.ok) {
    const body = await r.json().catch(() => null);
    li.classList.add("error");
    meta.textContent = `language model: ${(body && body.error && body.error.message) || r.statusText}`;
    return;
  }
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let buf = "", chunks = 0, first = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      for (const line of block.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") continue;
        const delta = (((JSON.parse(data).choices || [])[0] || {}).delta || {}).content;
        if (!delta) continue;
        if (first === null) first = performance.now() - t0;
        reply.textContent += delta;
        li.dataset.chunks = String(++chunks);
      }
    }
  }
  li.dataset.done = "true";
  meta.textContent = `source: language model · first token ${Math.round(first || 0)} ms · ${Math.round(performance.now() - t0)} ms`;
}

async function listen(wav, label) {
  $("#chat").append(el("li", { class: "user", text: label }));
  try {
    const r = await api("POST", "/api/listen", wav, "audio/wav");
    $("#chat").lastChild.textContent = `${label}: “${r.transcript}”`;
    turn(r.outcome, "voice");
  } catch (e) {
    $("#chat").append(el("li", { class: "hub error", text: e.message }));
  }
}

$("#wav-file").addEventListener("change", async () => {
  const f = $("#wav-file").files[0];
  if (f) await listen(await f.arrayBuffer(), `🎤 ${f.name}`);
  $("#wav-file").value = "";
});

// Push-to-talk: PCM from the microphone while the button is held, sent as a 16-bit WAV.
let rec = null;
async function pttDown() {
  if (rec) return;
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const ctx = new AudioContext();
    const src = ctx.createMediaStreamSource(stream);
    const proc = ctx.createScriptProcessor(4096, 1, 1);
    const chunks = [];
    proc.onaudioprocess = (e) => chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
    src.connect(proc); proc.connect(ctx.destination);
    rec = { stream, ctx, chunks };
    $("#ptt").setAttribute("aria-pressed", "true");
  } catch (e) {
    $("#chat").append(el("li", { class: "hub error", text: `microphone: ${e.message}` }));
  }
}
async function pttUp() {
  if (!rec) return;
  const { stream, ctx, chunks } = rec;
  rec = null;
  $("#ptt").setAttribute("aria-pressed", "false");
  stream.getTracks().forEach((t) => t.stop());
  const rate = ctx.sampleRate;
  await ctx.close();
  await listen(wavFromFloat(chunks, rate), "🎤 recording");
}
function wavFromFloat(chunks, rate) {
  const n = chunks.reduce((a, c) => a + c.length, 0);
  const buf = new ArrayBuffer(44 + n * 2);
  const v = new DataView(buf);
  const str = (o, s) => { for (let i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i)); };
  str(0, "RIFF"); v.setUint32(4, 36 + n * 2, true); str(8, "WAVE"); str(12, "fmt ");
  v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
  v.setUint32(24, rate, true); v.setUint32(28, rate * 2, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true);
  str(36, "data"); v.setUint32(40, n * 2, true);
  let o = 44;
  for (const c of chunks) for (const x of c) { v.setInt16(o, Math.max(-1, Math.min(1, x)) * 32767, true); o += 2; }
  return buf;
}
const ptt = $("#ptt");
ptt.addEventListener("pointerdown", pttDown);
ptt.addEventListener("pointerup", pttUp);
ptt.addEventListener("pointerleave", pttUp);
ptt.addEventListener("keydown", (e) => { if ((e.key === " " || e.key === "Enter") && !e.repeat) { e.preventDefault(); pttDown(); } });
ptt.addEventListener("keyup", (e) => { if (e.key === " " || e.key === "Enter") { e.preventDefault(); pttUp(); } });

// --- history -------------------------------------------------------------------
let histBefore = null;
function when(ms) { return new Date(ms).toLocaleString(); }
async function loadHistory(more) {
  const kind = $("#hist-kind").value;
  const q = $("#hist-q").value.trim();
  const p = new URLSearchParams({ limit: "50" });
  if (q) p.set(kind === "turns" ? "q" : kind === "commands" ? "device" : "kind", q);
  if (more === true && histBefore) p.set("before", histBefore);
  const rows = await api("GET", `/api/history/${kind}?${p}`);
  const list = $("#hist");
  if (more !== true) list.replaceChildren();
  // A search by meaning comes ranked (each row says how it matched), not paged.
  const ranked = rows.length > 0 && "match" in rows[0];
  for (const r of rows) {
    let text;
    if (kind === "turns") text = `${r.role} (${r.modality}): ${r.text}`;
    else if (kind === "commands") text = `${r.device_id} ${JSON.stringify(r.action)} → ${r.status}`;
    else text = `${r.kind} ${r.source}${r.label ? " " + r.label : ""}`;
    if (ranked) text += r.match === "text" ? " (words)" : ` (meaning ${r.score.toFixed(2)})`;
    list.append(el("li", { "data-id": r.id }, el("span", { class: "st", text: when(r.created_at) + " " }), text));
  }
  if (more !== true && !rows.length) list.append(el("li", { text: "Nothing found." }));
  histBefore = rows.length ? rows[rows.length - 1].id : null;
  $("#hist-more").hidden = ranked || rows.length < 50;
}
$("#hist-form").addEventListener("submit", (e) => { e.preventDefault(); loadHistory(); });
$("#hist-kind").addEventListener("change", () => {
  const kind = $("#hist-kind").value;
  $("#hist-q").value = "";
  $("#hist-q").placeholder = kind === "turns" ? "Search" : kind === "commands" ? "Device id, e.g. light.kitchen" : "Kind, e.g. device";
  $("label[for=hist-q]").textContent = kind === "turns" ? "Search" : kind === "commands" ? "Device" : "Kind";
  loadHistory();
});
$("#hist-more").addEventListener("click", () => loadHistory(true));

// --- cameras and automations (tolerate their absence) --------------------------
async function optional(path) {
  try { return await api("GET", path); } catch (e) { if (e.status === 404) return null; throw e; }
}
async function loadCameras() {
  const cams = await optional("/api/cameras");
  const root = $("#cams");
  root.replaceChildren();
  if (!cams || !cams.length) { root.append(el("p", { text: "No cameras are configured." })); return; }
  const grid = el("div", { class: "grid" });
  for (const c of cams) {
    const card = el("article", { class: "card cam", "aria-label": c.name, "data-camera": c.id,
      "data-motion": c.motion ? "on" : "off", "data-available": c.available ? "true" : "false", "data-fps": c.fps || 0 },
      el("img", { src: `/api/${encodeURIComponent(c.id)}/latest.jpg`, alt: `Latest frame of ${c.name}`, loading: "lazy" }),
      el("div", { class: "top" }, el("span", { class: "name", text: c.name }), el("span", { class: "st", role: "status" })));
    renderCamera(card);
    grid.append(card);
  }
  root.append(grid, el("h3", { text: "Events" }), el("div", { id: "cam-events" }));
  await refreshCameraEvents();
}
function renderCamera(card) {
  const d = card.dataset;
  card.querySelector(".st").textContent =
    `${d.available === "true" ? "online" : "offline"}${d.motion === "on" ? " · motion" : ""} · ${Number(d.fps).toFixed(1)} fps`;
}
// The newest events, Frigate-shaped, with their snapshots (the box drawn) and zones.
async function refreshCameraEvents() {
  const box = $("#cam-events");
  if (!box) return;
  const events = await optional("/api/cameras/events?limit=20");
  if (!events || !events.length) { box.replaceChildren(el("p", { text: "No camera events yet." })); return; }
  const ul = el("ul", { class: "list events" });
  for (const e of events) {
    const zones = (e.entered_zones || []).length ? ` · zones ${e.entered_zones.join(", ")}` : "";
    const span = e.end_time ? ` – ${when(e.end_time * 1000)}` : " · in progress";
    const text = `${e.label} on ${e.camera} · ${Math.round((e.top_score || 0) * 100)} %${zones} · ${when(e.start_time * 1000)}${span}`;
    const img = e.has_snapshot
      ? el("img", { src: `/api/events/${encodeURIComponent(e.id)}/snapshot.jpg?bbox=1`, alt: `Snapshot: ${e.label} on ${e.camera}`, loading: "lazy", class: "snap" })
      : null;
    ul.append(el("li", { "data-event": e.id }, img, el("span", { text })));
  }
  box.replaceChildren(ul);
}
async function loadAutomations() {
  const list = await optional("/api/automations");
  const root = $("#autos");
  root.replaceChildren();
  if (list === null) { root.append(el("p", { text: "Automations are not available." })); return; }
  if (!list.length) { root.append(el("p", { text: "No automations are configured." })); return; }
  const ul = el("ul", { class: "list" });
  const post = async (a, verb) => { await api("POST", `/api/automations/${encodeURIComponent(a.id)}/${verb}`, {}).catch(() => {}); loadAutomations(); };
  for (const a of list) {
    const btn = el("button", { type: "button", "aria-pressed": a.enabled ? "true" : "false",
      onclick: () => post(a, a.enabled ? "disable" : "enable") }, a.enabled ? "Enabled" : "Disabled");
    const run = el("button", { type: "button", onclick: () => post(a, "trigger") }, "Run now");
    const trace = el("div", { class: "trace" });
    const show = el("button", { type: "button", onclick: () => showRuns(a.id, trace) }, "Runs");
    const r = a.last_run;
    const last = r ? ` · last run ${when(r.started_at)}: ${r.outcome} (${(r.trigger && r.trigger.platform) || "?"})` : " · never run";
    ul.append(el("li", {}, el("span", { class: "name", text: a.alias || a.id }), ` (${a.mode})${last} `, btn, " ", run, " ", show, trace));
  }
  root.append(ul);
}
async function showRuns(id, box) {
  const runs = await api("GET", `/api/automations/${encodeURIComponent(id)}/runs?limit=5`).catch(() => []);
  box.replaceChildren();
  for (const r of runs || []) {
    const t = r.trigger || {};
    const what = t.entity_id || t.topic || t.sentence || t.camera || "";
    const steps = el("ol", {});
    for (const c of r.conditions || []) steps.append(el("li", { text: `condition ${c.condition} → ${c.result}` }));
    for (const st of r.steps || []) {
      const ids = (st.command_ids || []).length ? ` · commands ${st.command_ids.join(", ")}` : "";
      steps.append(el("li", { text: `${st.kind} ${st.path} ${JSON.stringify(st.detail)}${ids}${st.error ? " · error " + st.error : ""}` }));
    }
    box.append(el("details", {}, el("summary", { text: `${when(r.started_at)} ${r.outcome} · ${t.platform || "?"} ${what}${r.error ? " · " + r.error : ""}` }), steps));
  }
  if (!box.childNodes.length) box.append(el("p", { text: "No runs yet." }));
}

// --- system ----------------------------------------------------------------------
function uptime(sec) {
  const d = Math.floor(sec / 86400), h = Math.floor(sec / 3600) % 24, m = Math.floor(sec / 60) % 60;
  return `${d ? d + " d " : ""}${d || h ? h + " h " : ""}${m} min ${sec % 60} s`;
}
async function loadSystem() {
  const s = await api("GET", "/api/status");
  const rows = [
    ["Version", s.version], ["Uptime", uptime(s.uptime_s)], ["MQTT link", s.mqtt_connected ? "connected" : "down"],
    ["Devices", s.devices],
    ["Outbox", Object.entries(s.outbox || {}).map(([k, v]) => `${k} ${v}`).join(", ")],
    ["Events", Object.entries(s.events || {}).map(([k, v]) => `${k} ${v}`).join(", ")],
    ["Language model", JSON.stringify(s.llm)], ["Audio", JSON.stringify(s.audio)],
  ];
  $("#sys").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: String(v) })]));
  const table = (id, head, body) => $(id).replaceChildren(
    el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, ...body.map((r) => el("tr", {}, ...r.map((c, i) =>
      i === 0 ? el("th", { scope: "row", text: c }) : el("td", { class: typeof c === "number" ? "num" : null, text: String(c) }))))));
  const counters = (c) => c ? Object.entries(c).map(([k, v]) => `${k.replace(/_/g, " ")} ${v}`).join(", ") : "";
  table("#branches", ["Branch", "On", "Models", "Devices", "Pre-gate", "Counters"], (s.models || []).map((b) =>
    [b.branch, b.enabled ? "yes" : "no", (b.models || []).join(", ") || "none",
      `${(b.devices || []).join(", ")}${b.split && b.split !== "none" ? ` (${b.split} split)` : ""}`, b.gate, counters(b.counters)]));
  const lat = Object.entries(s.latency || {});
  table("#latency", ["Path", "Requests", "p50 ms", "p95 ms", "p99 ms", "max ms"], lat.length
    ? lat.map(([k, v]) => [k, v.n, v.p50_ms, v.p95_ms, v.p99_ms, v.max_ms])
    : [["No requests yet", "", "", "", "", ""]]);
}

start();
