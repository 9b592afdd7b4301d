// The dashboard page: rooms as cards, live over a WebSocket, a plot per sensor, switches
// that show the state the gateway confirmed (not the one requested), and the ESP8266 nodes
// with their firmware and an update button.
"use strict";

const SPANS = { "24h": 86400, "7d": 7 * 86400 };
const CONFIRM_TIMEOUT_MS = 8000;

const state = {
  entities: new Map(),   // topic -> entity JSON from the server
  health: null,
  offset: 0,             // server clock - our clock, seconds
  range: "24h",
  history: new Map(),    // topic -> points [[t, avg, min, max]]
  pending: new Map(),    // topic -> {on, timer} for switches awaiting confirmation
  nodes: new Map(),      // node id (room/node) -> node JSON from the server
  updating: new Map(),   // node id -> timer, for update requests the gateway has not begun
  ws: null,
  retry: 1000,
  rendering: false,      // true while renderAll builds the page (plots load in one go)
  leaving: false,        // a sign-out or another page is loading: no redirect of our own
};

// Binary states in words that fit the thing: a door is open, a PIR sees motion.
const BINARY_WORDS = {
  door: ["Open", "Closed"], window: ["Open", "Closed"], opening: ["Open", "Closed"],
  garage_door: ["Open", "Closed"], motion: ["Motion", "Clear"], occupancy: ["Detected", "Clear"],
  presence: ["Home", "Away"], moisture: ["Wet", "Dry"], problem: ["Problem", "OK"],
  smoke: ["Smoke", "Clear"], lock: ["Unlocked", "Locked"], vibration: ["Vibration", "Still"],
};

function words(entity) {
  return BINARY_WORDS[entity.device_class] || ["On", "Off"];
}

function now() {
  return Date.now() / 1000 + state.offset;
}

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function age(seconds) {
  if (seconds < 0) seconds = 0;
  if (seconds < 60) return `${Math.round(seconds)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

function duration(seconds) {
  if (seconds == null) return "–";
  const d = Math.floor(seconds / 86400), hr = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return d ? `${d} d ${hr} h` : hr ? `${hr} h ${m} min` : `${m} min`;
}

function bytes(n) {
  if (n == null) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function valueText(entity) {
  if (entity.value == null) return "–";
  if (entity.kind === "sensor") {
    if (entity.device_class === "duration" && entity.unit === "s") return duration(Number(entity.value));
    return entity.unit ? `${entity.value} ${entity.unit}` : entity.value;
  }
  if (entity.level != null) return entity.level > 0 ? `${entity.level} %` : "Off";
  if (entity.on == null) return entity.value;
  const [on, off] = entity.kind === "binary_sensor" ? words(entity) : ["On", "Off"];
  return entity.on ? on : off;
}

// --- rendering -------------------------------------------------------------------------

function roomCard(room, title, diagnostic) {
  const id = `room-${room}`;
  let card = document.getElementById(id);
  if (!card) {
    // Rooms in title order; a room of only the Pi's own figures after the house.
    const key = `${diagnostic ? 1 : 0}${title}`;
    card = h("section", { class: "card room", id, "data-room": room, "data-key": key },
      h("h2", {}, title), h("ul", { class: "entities" }));
    const rooms = document.getElementById("rooms");
    const after = [...rooms.children].find((c) => c.dataset.key.localeCompare(key) > 0);
    rooms.insertBefore(card, after || null);
  }
  return card;
}

function entityRow(entity) {
  let row = document.getElementById(`e-${entity.topic}`);
  if (row && row.dataset.room !== entity.room) { row.remove(); row = null; }
  if (!row) {
    row = h("li", { id: `e-${entity.topic}`, class: `entity ${entity.kind}`, "data-topic": entity.topic,
                    "data-room": entity.room },
      h("div", { class: "line" },
        h("span", { class: "name" }),
        h("span", { class: "value" }),
        h("span", { class: "age" })));
    if (entity.switchable) {
      const button = h("button", { type: "button", class: "toggle", role: "switch", "aria-checked": "false",
                                   onclick: () => toggle(entity.topic) }, h("span", { class: "knob" }));
      // Before the age, which takes a line of its own under name and value.
      row.querySelector(".line").insertBefore(button, row.querySelector(".age"));
    }
    // Diagnostic figures (the Pi's load, memory...) get no plot: the house comes first.
    if ((entity.kind === "sensor" || entity.kind === "binary_sensor" || entity.level != null) &&
        entity.category !== "diagnostic") {
      row.append(h("div", { class: "plot-box" }));
    }
    roomCard(entity.room, entity.room_title, entity.category === "diagnostic")
      .querySelector("ul").append(row);
    if (row.querySelector(".plot-box") && !state.rendering) loadHistory([entity.topic]);
  }
  return row;
}

function renderEntity(entity) {
  const row = entityRow(entity);
  row.querySelector(".name").textContent = entity.name;
  row.querySelector(".value").textContent = valueText(entity);
  row.classList.toggle("offline", entity.online === false);
  row.classList.toggle("active", entity.on === true);
  row.title = entity.online === false ? "offline" : "";
  const button = row.querySelector(".toggle");
  if (button) {
    button.setAttribute("aria-checked", entity.on ? "true" : "false");
    button.setAttribute("aria-label", `${entity.name}: ${entity.on ? "on" : "off"}`);
    const pending = state.pending.get(entity.topic);
    if (pending && pending.on === entity.on) confirmSwitch(entity.topic);
    button.classList.toggle("pending", state.pending.has(entity.topic));
  }
  updateAge(row, entity);
}

function updateAge(row, entity) {
  const label = row.querySelector(".age");
  if (entity.online === false) label.textContent = "offline";
  else label.textContent = entity.updated ? age(now() - entity.updated) : "";
}

function removeEntity(topic) {
  const row = document.getElementById(`e-${topic}`);
  if (!row) return;
  const card = row.closest(".room");
  row.remove();
  if (card && !card.querySelector("li")) card.remove();
  state.entities.delete(topic);
}

function renderAll() {
  document.getElementById("rooms").replaceChildren();
  state.rendering = true;
  for (const entity of state.entities.values()) renderEntity(entity);
  state.rendering = false;
  loadHistory(plotted());
  renderHealth();
}

function renderHealth() {
  const health = state.health;
  if (!health) return;
  const b = health.broker, m = health.machine;
  const nodes = health.nodes || [];
  const online = nodes.filter((n) => n.online).length;
  const rate = (v) => (v == null ? "–" : `${v.toFixed(1)}/s`);
  const rows = [
    ["Uptime", duration(b.broker_uptime)],
    ["System uptime", duration(m.system_uptime)],
    ["CPU temperature", m.cpu_temperature == null ? "–" : `${m.cpu_temperature.toFixed(1)} °C`],
    ["Broker clients", b.clients == null ? "–" : String(b.clients)],
    ["Messages in / out", `${rate(b.received_per_s)} / ${rate(b.sent_per_s)}`],
    ["Nodes online", nodes.length ? `${online} of ${nodes.length}` : "–"],
    ...(b.serial_clients == null ? [] : [["Serial nodes", String(b.serial_clients)]]),
    ["Disk free", `${bytes(m.disk_free)} of ${bytes(m.disk_total)}`],
  ];
  document.getElementById("health-list").replaceChildren(
    ...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

// --- nodes and their firmware ----------------------------------------------------------

function firmwareText(node) {
  if (!node.installed) return "Firmware unknown";
  if (node.update_available) return `Firmware ${node.installed}, ${node.latest} available`;
  return node.latest ? `Firmware ${node.installed}, up to date` : `Firmware ${node.installed}`;
}

function progressText(node) {
  if (node.phase === "verify") return "Checking the new firmware…";
  if (node.phase === "reboot") return "Restarting into the new firmware…";
  if (node.percentage != null && (node.phase === "download" || node.percentage > 0)) {
    return `Updating: ${node.percentage} %`;
  }
  if (node.phase === "download") return "Updating…";
  // Offered, not yet begun: a node in deep sleep begins at its next wake-up.
  return "Waiting for the node to begin…";
}

function renderNode(node) {
  const list = document.getElementById("node-list");
  let row = document.getElementById(`n-${node.id}`);
  if (!row) {
    row = h("li", { id: `n-${node.id}`, class: "entity node", "data-node": node.id },
      h("div", { class: "line" },
        h("span", { class: "name" }),
        h("span", { class: "firmware" })));
    const after = [...list.children].find((c) => c.dataset.node.localeCompare(node.id) > 0);
    list.insertBefore(row, after || null);
  }
  row.querySelector(".name").textContent = `${node.name} (${node.room.replace(/_/g, " ")})`;
  row.querySelector(".firmware").textContent = firmwareText(node);
  row.classList.toggle("offline", node.online === false);
  row.title = node.online === false ? "offline" : "";
  if (node.in_progress) confirmUpdate(node.id);   // the gateway has begun: no longer waiting
  // Only a user who may publish the install topic gets a button (the server checks too).
  let button = row.querySelector(".update");
  if (node.can_update && !button) {
    button = h("button", { type: "button", class: "update", onclick: () => updateNode(node.id) },
      "Update");
    row.querySelector(".line").insertBefore(button, row.querySelector(".firmware"));
  } else if (!node.can_update && button) {
    button.remove();
    button = null;
  }
  if (button) {
    const waiting = state.updating.has(node.id);
    button.disabled = !node.update_available || node.in_progress || waiting;
    button.textContent = node.in_progress || waiting ? "Updating" : "Update";
    button.setAttribute("aria-label", `Update ${node.name} to ${node.latest || "the latest firmware"}`);
  }
  let bar = row.querySelector("progress");
  const status = row.querySelector(".progress-text");
  if (node.in_progress) {
    if (!bar) {
      bar = h("progress", { max: "100" });
      row.append(bar, h("div", { class: "firmware progress-text", role: "status" }));
    }
    if (node.percentage == null) bar.removeAttribute("value");
    else bar.value = node.percentage;
    row.querySelector(".progress-text").textContent = progressText(node);
  } else if (bar) {
    bar.remove();
    status.remove();
  }
  let failure = row.querySelector(".failure");
  if (node.error) {
    if (!failure) { failure = h("div", { class: "failure", role: "alert" }); row.append(failure); }
    const what = node.failed_version ? `Update to ${node.failed_version}` : "The update";
    failure.textContent = `${what} failed: ${node.error}`;
  } else if (failure) failure.remove();
  document.getElementById("nodes").hidden = false;
}

function removeNode(id) {
  const row = document.getElementById(`n-${id}`);
  if (row) row.remove();
  state.nodes.delete(id);
  document.getElementById("nodes").hidden = state.nodes.size === 0;
}

function renderNodes() {
  document.getElementById("node-list").replaceChildren();
  document.getElementById("nodes").hidden = state.nodes.size === 0;
  for (const node of state.nodes.values()) renderNode(node);
}

async function updateNode(id) {
  const node = state.nodes.get(id);
  if (!node || state.updating.has(id)) return;
  const timer = setTimeout(() => {
    state.updating.delete(id);
    const current = state.nodes.get(id);
    if (current) renderNode(current);
    banner(`${node.name}: the gateway did not start the update.`);
  }, CONFIRM_TIMEOUT_MS);
  state.updating.set(id, timer);
  renderNode(node);
  try {
    const res = await fetch("/api/nodes/update", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ node: id }),
    });
    if (!res.ok) throw new Error(res.status === 403 ? "not allowed to update nodes" : `HTTP ${res.status}`);
  } catch (err) {
    confirmUpdate(id);
    const current = state.nodes.get(id);
    if (current) renderNode(current);
    banner(`${node.name}: ${err.message}`);
  }
}

function confirmUpdate(id) {
  const timer = state.updating.get(id);
  if (timer === undefined) return;
  clearTimeout(timer);
  state.updating.delete(id);
}

// --- history and plots -----------------------------------------------------------------

// One request for any number of plots: the server reads them in one pass.
async function loadHistory(topics) {
  const range = state.range;
  if (!topics.length) return;
  const query = topics.map((t) => `topic=${encodeURIComponent(t)}`).join("&");
  try {
    const res = await fetch(`/api/history?${query}&range=${range}`);
    if (!res.ok) return;
    const data = await res.json();
    if (range !== state.range) return;
    for (const [topic, points] of Object.entries(data.series)) {
      state.history.set(topic, points);
      drawPlot(topic);
    }
  } catch (err) {
    // The live connection shows the problem; the plots load on the next attempt.
  }
}

function plotted() {
  return [...document.querySelectorAll(".plot-box")].map((b) => b.closest(".entity").dataset.topic);
}

function drawPlot(topic) {
  const entity = state.entities.get(topic);
  const row = document.getElementById(`e-${topic}`);
  const box = row && row.querySelector(".plot-box");
  if (!entity || !box) return;
  const [on, off] = words(entity);
  Plot.render(box, state.history.get(topic) || [], {
    span: SPANS[state.range], now: now(), step: entity.kind === "binary_sensor",
    onLabel: on, offLabel: off, label: `${entity.name} over ${state.range === "24h" ? "24 hours" : "7 days"}`,
  });
}

function appendPoint(entity) {
  if (entity.updated == null || entity.value == null) return;
  const v = entity.level != null ? entity.level : entity.kind === "sensor" ? Number(entity.value)
    : entity.on == null ? NaN : Number(entity.on);
  if (!Number.isFinite(v)) return;
  const points = state.history.get(entity.topic) || [];
  points.push([entity.updated, v, v, v]);
  state.history.set(entity.topic, points);
  drawPlot(entity.topic);
}

function setRange(range) {
  state.range = range;
  for (const b of document.querySelectorAll(".range button")) {
    b.setAttribute("aria-pressed", b.dataset.range === range ? "true" : "false");
  }
  state.history.clear();
  loadHistory(plotted());
}

// --- switches ----------------------------------------------------------------------------

async function toggle(topic) {
  const entity = state.entities.get(topic);
  if (!entity || state.pending.has(topic)) return;
  const on = !entity.on;
  const timer = setTimeout(() => {
    state.pending.delete(topic);
    renderEntity(entity);
    banner(`${entity.name}: the gateway did not confirm the switch.`);
  }, CONFIRM_TIMEOUT_MS);
  state.pending.set(topic, { on, timer });
  renderEntity(entity);
  try {
    const res = await fetch("/api/switch", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ topic, on }),
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
  } catch (err) {
    confirmSwitch(topic);
    renderEntity(entity);
    banner(`${entity.name}: ${err.message}`);
  }
}

function confirmSwitch(topic) {
  const pending = state.pending.get(topic);
  if (!pending) return;
  clearTimeout(pending.timer);
  state.pending.delete(topic);
}

// --- live connection ---------------------------------------------------------------------

function banner(text) {
  const el = document.getElementById("banner");
  el.textContent = text || "";
  el.hidden = !text;
}

function applyState(msg) {
  state.offset = msg.now - Date.now() / 1000;
  state.entities = new Map(msg.entities.map((e) => [e.topic, e]));
  state.health = msg.health;
  state.nodes = new Map((msg.nodes || []).map((n) => [n.id, n]));
  renderNodes();
  document.getElementById("logout").hidden = !msg.user || msg.user === "(local)";
  renderAll();
}

function onMessage(event) {
  const msg = JSON.parse(event.data);
  if (msg.type === "state") applyState(msg);
  else if (msg.type === "entity") {
    const previous = state.entities.get(msg.entity.topic);
    state.entities.set(msg.entity.topic, msg.entity);
    renderEntity(msg.entity);
    if (!previous || previous.updated !== msg.entity.updated) appendPoint(msg.entity);
  } else if (msg.type === "remove") removeEntity(msg.topic);
  else if (msg.type === "node") {
    state.nodes.set(msg.node.id, msg.node);
    renderNode(msg.node);
  } else if (msg.type === "node_remove") removeNode(msg.id);
  else if (msg.type === "health") {
    state.health = msg.health;
    state.offset = msg.now - Date.now() / 1000;
    renderHealth();
  }
}

async function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/api/live`);
  state.ws = ws;
  ws.onopen = () => { state.retry = 1000; banner(""); document.body.dataset.live = "yes"; };
  ws.onmessage = onMessage;
  ws.onclose = async () => {
    document.body.dataset.live = "no";
    // Signing out closes this socket before the browser loads the login page; a second
    // navigation of ours would cut into that one (and into the form the user fills next).
    if (state.leaving) return;
    // A refused upgrade may mean the session ended: ask the API, which answers 401.
    try {
      const res = await fetch("/api/state");
      if (res.status === 401) {
        if (!state.leaving) location.href = "/login";
        return;
      }
    } catch (err) { /* the gateway is restarting or out of reach */ }
    banner("Connection lost, reconnecting…");
    setTimeout(connect, state.retry);
    state.retry = Math.min(state.retry * 2, 30000);
  };
}

function tick() {
  for (const entity of state.entities.values()) {
    const row = document.getElementById(`e-${entity.topic}`);
    if (row) updateAge(row, entity);
  }
}

document.getElementById("logout").addEventListener("submit", () => { state.leaving = true; });
window.addEventListener("pagehide", () => { state.leaving = true; });
document.querySelectorAll(".range button").forEach((b) =>
  b.addEventListener("click", () => setRange(b.dataset.range)));
window.addEventListener("resize", () => { for (const t of state.history.keys()) drawPlot(t); });
setInterval(tick, 1000);
connect();
