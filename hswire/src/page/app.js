// The live page `hswire serve` answers plain HTTP GETs with: the server's
// about, a table of points from a read, a month of history of one point as an
// SVG chart, and live values from watch pushes. It speaks to the server only
// through the haystack-wire JavaScript module, over the page's own origin.
//
// `<output id="hw-status">` holds the page's state as JSON, for people and
// for tests. A token, when the server wants one, and the filter to start
// with go in the address's fragment (never sent over HTTP):
// `http://host:port/#token=SECRET&filter=point%20and%20temp`.

import { HaystackSocket, ref } from "./socket.js";

/** The most points the table shows. */
const MAX_ROWS = 40;
/** The watch's lease, in seconds; it is renewed by a poll three times per lease. */
const LEASE_SECS = 120;
/** Days of history in the chart. */
const HISTORY_DAYS = 30;
/** The most errors the status keeps (the latest). */
const MAX_ERRORS = 20;
const SVG = "http://www.w3.org/2000/svg";

const status = {
  connected: false,
  compression: null,
  chunked: false,
  points: 0,
  historySamples: 0,
  pushes: 0,
  frames: 0,
  compressedFrames: 0,
  chunkedFrames: 0,
  errors: [],
};

let socket = null;
let watchId = null;
let leaseTimer = null;
let reconnectDelay = 1000;
/** Bumped on every new table or chart, so that a late answer to an old one is dropped. */
let tableTurn = 0;
let chartTurn = 0;
let selected = null;
/** The value cells of the table, by point id. */
const cells = new Map();

const $ = (id) => document.getElementById(id);

function publish() {
  if (socket !== null) {
    status.frames = socket.stats.frames;
    status.compressedFrames = socket.stats.compressedFrames;
    status.chunkedFrames = socket.stats.chunkedFrames;
  }
  $("hw-status").textContent = JSON.stringify(status);
  const link = $("link");
  link.textContent = status.connected ? "live" : "offline";
  link.className = `pill ${status.connected ? "pill-on" : "pill-off"}`;
  const wire = [status.compression ?? "uncompressed", status.chunked ? "chunked" : "single frames"];
  $("wire").textContent = status.connected ? wire.join(" · ") : "—";
  fill($("counters"), [
    ["Pushes", count(status.pushes)],
    ["Frames in", count(status.frames)],
    ["Compressed", count(status.compressedFrames)],
    ["Chunked", count(status.chunkedFrames)],
    ["Bytes in", socket === null ? "—" : bytes(socket.stats.bytes)],
  ]);
}

function fail(what, error) {
  const text = `${what}: ${error && error.message ? error.message : String(error)}`;
  status.errors.push(text);
  if (status.errors.length > MAX_ERRORS) status.errors.splice(0, status.errors.length - MAX_ERRORS);
  publish();
}

function count(n) {
  return n.toLocaleString("en-US");
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** A Haystack 4 JSON value as text. */
function show(value) {
  if (value === undefined || value === null) return "—";
  if (typeof value === "number") return formatNumber(value);
  if (typeof value !== "object") return String(value);
  switch (value._kind) {
    case "number":
      return `${typeof value.val === "number" ? formatNumber(value.val) : value.val}${value.unit ? ` ${value.unit}` : ""}`;
    case "marker":
      return "✓";
    case "ref":
      return value.dis ?? `@${value.val}`;
    case "dateTime":
      return new Date(value.val.split(" ")[0]).toLocaleString("en-GB", {
        day: "numeric",
        month: "short",
        year: "numeric",
        hour: "2-digit",
        minute: "2-digit",
        timeZone: "UTC",
        timeZoneName: "short",
      });
    case "uri":
      return value.val;
    default:
      return value.val !== undefined ? String(value.val) : JSON.stringify(value);
  }
}

function formatNumber(n) {
  return Math.abs(n) >= 1000 ? n.toFixed(0) : n.toFixed(2);
}

/** The number of a Haystack value, or NaN. */
function numeric(value) {
  if (typeof value === "number") return value;
  if (value && value._kind === "number" && typeof value.val === "number") return value.val;
  return Number.NaN;
}

function fill(list, pairs) {
  list.replaceChildren(
    ...pairs.flatMap(([term, detail]) => {
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      dd.textContent = detail;
      return [dt, dd];
    }),
  );
}

function wsUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/`;
}

/** A parameter of the address's fragment (`#token=...&filter=...`), which the browser never sends. */
function fragment(name) {
  const match = new RegExp(`(?:^#|&)${name}=([^&]*)`).exec(location.hash);
  return match ? decodeURIComponent(match[1]) : undefined;
}

async function start() {
  const current = new HaystackSocket(wsUrl(), { token: fragment("token") });
  socket = current;
  current.addEventListener("push", onPush);
  current.addEventListener("frameerror", (event) => fail("frame refused", event.error));
  current.addEventListener("close", (event) => {
    if (socket !== current) return;
    const wasConnected = status.connected;
    status.connected = false;
    clearInterval(leaseTimer);
    watchId = null;
    if (wasConnected) fail("connection closed", new Error(`${event.code} ${event.reason}`.trim()));
    publish();
    setTimeout(start, reconnectDelay);
    reconnectDelay = Math.min(reconnectDelay * 2, 30_000);
  });
  try {
    const session = await current.connect();
    reconnectDelay = 1000;
    status.connected = true;
    status.compression = session.compression;
    status.chunked = session.chunked;
    publish();
    const about = await current.about();
    showAbout(about.rows[0] ?? {});
    await showPoints($("filter").value);
    leaseTimer = setInterval(renewLease, (LEASE_SECS * 1000) / 3);
  } catch (error) {
    if (socket === current && status.connected) fail("start", error);
  }
}

function showAbout(about) {
  $("server-name").textContent = about.serverName ?? "Haystack server";
  document.title = `${about.serverName ?? "Haystack"} · live`;
  fill($("about"), [
    ["Product", `${about.productName ?? "—"} ${about.productVersion ?? ""}`.trim()],
    ["Haystack", show(about.haystackVersion)],
    ["Vendor", show(about.vendorName)],
    ["Time zone", show(about.tz)],
    ["Booted", show(about.serverBootTime)],
  ]);
}

async function showPoints(filter) {
  const turn = ++tableTurn;
  const current = socket;
  let grid;
  try {
    grid = await current.read(filter, MAX_ROWS);
  } catch (error) {
    if (turn === tableTurn) {
      fail(`read ${filter}`, error);
      const note = $("points-note");
      note.textContent = error.dis ?? error.message;
      note.classList.add("note-error");
    }
    return;
  }
  if (turn !== tableTurn || current !== socket) return;
  const rows = grid.rows.filter((row) => row.id && row.id._kind === "ref");
  renderTable(rows);
  const note = $("points-note");
  note.classList.remove("note-error");
  note.textContent =
    rows.length === MAX_ROWS ? `The first ${MAX_ROWS} matching records.` : `${rows.length} matching records.`;
  status.points = rows.length;
  publish();
  await rewatch(rows.map((row) => row.id));
  const shown = rows.find((row) => selected !== null && row.id.val === selected.val);
  const chartable = shown ?? rows.find((row) => row.his && (row.kind === "Number" || Number.isFinite(numeric(row.curVal))));
  if (chartable) await showChart(chartable.id);
}

function renderTable(rows) {
  cells.clear();
  const body = $("points");
  body.replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement("tr");
      tr.dataset.id = row.id.val;
      const name = document.createElement("td");
      name.textContent = row.navName ?? row.dis ?? row.id.dis ?? `@${row.id.val}`;
      const where = document.createElement("span");
      where.className = "sub";
      where.textContent = show(row.equipRef ?? row.siteRef ?? "");
      name.append(where);
      const value = document.createElement("td");
      value.className = "num";
      value.textContent = show(row.curVal);
      const state = document.createElement("td");
      state.textContent = show(row.curStatus);
      state.className = row.curStatus === "ok" ? "status-ok" : "status-other";
      tr.append(name, value, state);
      tr.addEventListener("click", () => {
        showChart(row.id).catch((error) => fail("history", error));
      });
      cells.set(row.id.val, { value, state, row: tr });
      return tr;
    }),
  );
  markSelected();
}

function markSelected() {
  for (const [id, cell] of cells) cell.row.classList.toggle("selected", selected !== null && id === selected.val);
}

/** Closes the watch of the previous table and opens one on `ids`. */
async function rewatch(ids) {
  const current = socket;
  if (watchId !== null) {
    const old = watchId;
    watchId = null;
    try {
      await current.watchUnsub(old, [], { close: true });
    } catch (error) {
      fail("watchUnsub", error);
    }
  }
  if (ids.length === 0) return;
  try {
    const answer = await current.watchSub(ids, { watchDis: "hswire live page", lease: LEASE_SECS });
    watchId = typeof answer.meta.watchId === "string" ? answer.meta.watchId : null;
    update(answer.rows, false);
  } catch (error) {
    fail("watchSub", error);
  }
}

async function renewLease() {
  if (watchId === null || socket === null || !status.connected) return;
  try {
    const changes = await socket.watchPoll(watchId);
    update(changes.rows, true);
  } catch (error) {
    fail("watchPoll", error);
  }
}

function onPush(event) {
  status.pushes++;
  if (event.watchId === watchId) update(event.grid.rows, true);
  publish();
}

function update(rows, flash) {
  for (const row of rows) {
    const cell = row.id && cells.get(row.id.val);
    if (!cell) continue;
    cell.value.textContent = show(row.curVal);
    if (row.curStatus !== undefined) cell.state.textContent = show(row.curStatus);
    if (flash) {
      cell.value.classList.remove("changed");
      // Reading the layout restarts the animation.
      void cell.value.offsetWidth;
      cell.value.classList.add("changed");
    }
  }
}

function isoDate(date) {
  return date.toISOString().slice(0, 10);
}

async function showChart(id) {
  const turn = ++chartTurn;
  selected = id;
  markSelected();
  const end = new Date();
  const start = new Date(end.getTime() - (HISTORY_DAYS - 1) * 86_400_000);
  const range = `${isoDate(start)},${isoDate(end)}`;
  $("chart-point").textContent = id.dis ?? `@${id.val}`;
  $("chart-range").textContent = `${range.replace(",", " to ")} (UTC)`;
  const grid = await socket.hisRead(ref(id.val), range);
  if (turn !== chartTurn) return;
  const unit = grid.rows.map((row) => row.val && row.val.unit).find((u) => typeof u === "string") ?? "";
  const samples = grid.rows.map((row) => [Date.parse(String(row.ts && row.ts.val).split(" ")[0]), numeric(row.val)]);
  drawChart(samples, unit);
}

function svg(name, attributes, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/** The chart's samples and unit, to draw it again at a new size. */
let drawn = null;

function drawChart(samples, unit) {
  drawn = { samples, unit };
  const chart = $("chart");
  // One user unit per pixel, so that the labels keep the page's type size.
  const width = Math.max(200, Math.round(chart.clientWidth));
  const height = Math.max(120, Math.round(chart.clientHeight));
  chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const em = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
  const margin = { left: 4 * em, right: 0.8 * em, top: 0.8 * em, bottom: 1.9 * em };
  const good = samples.filter(([t, v]) => Number.isFinite(t) && Number.isFinite(v));
  status.historySamples = good.length;
  publish();
  if (good.length < 2) {
    chart.replaceChildren(svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "empty" }, "No history"));
    fill($("chart-figures"), []);
    return;
  }
  const t0 = good[0][0];
  const t1 = good[good.length - 1][0];
  const values = good.map(([, v]) => v);
  const min = values.reduce((a, b) => Math.min(a, b));
  const max = values.reduce((a, b) => Math.max(a, b));
  let lo = min;
  let hi = max;
  if (hi === lo) {
    hi += 1;
    lo -= 1;
  }
  const pad = (hi - lo) * 0.08;
  lo -= pad;
  hi += pad;
  const x = (t) => margin.left + ((t - t0) / Math.max(1, t1 - t0)) * (width - margin.left - margin.right);
  const y = (v) => margin.top + (1 - (v - lo) / (hi - lo)) * (height - margin.top - margin.bottom);
  const parts = [];
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    parts.push(svg("line", { x1: margin.left, x2: width - margin.right, y1: y(v), y2: y(v), class: "grid" }));
    parts.push(svg("text", { x: margin.left - 0.5 * em, y: y(v) + 0.3 * em, "text-anchor": "end", class: "axis" }, v.toFixed(1)));
  }
  const days = Math.max(1, Math.round((t1 - t0) / 86_400_000));
  const step = Math.max(1, Math.round(days / 6));
  for (let day = 0; day <= days; day += step) {
    const t = t0 + day * 86_400_000;
    if (t > t1) break;
    const label = new Date(t).toLocaleDateString("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });
    parts.push(svg("line", { x1: x(t), x2: x(t), y1: margin.top, y2: height - margin.bottom, class: "grid" }));
    parts.push(svg("text", { x: x(t), y: height - 0.5 * em, "text-anchor": "middle", class: "axis" }, label));
  }
  // The server simulates whole days: past the present, the series is a forecast.
  const now = Date.now();
  if (now > t0 && now < t1) {
    parts.push(svg("line", { x1: x(now), x2: x(now), y1: margin.top, y2: height - margin.bottom, class: "now" }));
    parts.push(svg("text", { x: x(now) - 0.4 * em, y: margin.top + 0.9 * em, "text-anchor": "end", class: "axis" }, "now"));
  }
  // A gap (a sample that is no number) breaks the line.
  let d = "";
  let pen = "M";
  for (const [t, v] of samples) {
    if (!Number.isFinite(t) || !Number.isFinite(v)) {
      pen = "M";
      continue;
    }
    d += `${pen}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
    pen = "L";
  }
  parts.push(svg("path", { d, class: "series" }));
  chart.replaceChildren(...parts);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const suffix = unit ? ` ${unit}` : "";
  fill($("chart-figures"), [
    ["Min", `${formatNumber(min)}${suffix}`],
    ["Max", `${formatNumber(max)}${suffix}`],
    ["Mean", `${formatNumber(mean)}${suffix}`],
    ["Samples", count(values.length)],
  ]);
}

function tick() {
  $("clock").textContent = new Date().toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

$("filter-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (socket === null || !status.connected) return;
  showPoints($("filter").value.trim()).catch((error) => fail("read", error));
});

new ResizeObserver(() => {
  if (drawn !== null) drawChart(drawn.samples, drawn.unit);
}).observe($("chart"));

const initialFilter = fragment("filter");
if (initialFilter !== undefined) $("filter").value = initialFilter;

tick();
setInterval(tick, 1000);
publish();
start();
