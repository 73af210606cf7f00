// Opens the live page of a running `hswire serve` in a headless Chromium,
// drives it over the DevTools protocol (a plain WebSocket client, no
// library), waits until the page's status shows the session, points, a
// history chart and pushes, checks that the console stayed clean, and saves a
// screenshot. Run by scripts/check-browser.sh, which starts the server.
//
//   node --experimental-websocket scripts/browser-check.mjs CHROMIUM http://127.0.0.1:PORT/ OUT.png [WIDTHxHEIGHT]
//
// The window is 1280x800 (a wall screen) unless WIDTHxHEIGHT says otherwise.
//
// Exits 0 when every check holds, 1 otherwise, saying which and why.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [chromiumPath, pageUrl, screenshotPath, size = "1280x800"] = process.argv.slice(2);
const [WIDTH, HEIGHT] = size.split("x").map(Number);
if (!chromiumPath || !pageUrl || !screenshotPath || !(WIDTH > 0 && HEIGHT > 0)) {
  console.error("usage: browser-check.mjs CHROMIUM URL SCREENSHOT.png [WIDTHxHEIGHT]");
  process.exit(2);
}

/** How long the page has to show everything, in milliseconds. */
const DEADLINE_MS = 60_000;
const MIN_PUSHES = 5;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const profile = mkdtempSync(join(tmpdir(), "hswire-chromium-"));
const chromium = spawn(
  chromiumPath,
  [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    `--user-data-dir=${profile}`,
    "--remote-debugging-port=0",
    `--window-size=${WIDTH},${HEIGHT}`,
    "about:blank",
  ],
  { stdio: ["ignore", "ignore", "pipe"] },
);
// Whatever hangs (Chromium, the DevTools socket), the check ends: Chromium is
// stopped and the check fails.
const watchdog = setTimeout(() => {
  console.error("FAIL: the check took more than 150 s");
  stopChromium();
  process.exit(1);
}, 150_000);
let chromiumLog = "";
chromium.stderr.on("data", (data) => {
  chromiumLog = (chromiumLog + data.toString()).slice(-4000);
});

function stopChromium() {
  if (chromium.exitCode === null && chromium.pid !== undefined) {
    try {
      process.kill(chromium.pid, "SIGTERM");
    } catch {
      // Already gone.
    }
  }
}

/** The DevTools port Chromium picked, from the file it writes in its profile. */
async function devtoolsPort() {
  const file = join(profile, "DevToolsActivePort");
  for (let waited = 0; waited < 20_000; waited += 100) {
    if (existsSync(file)) {
      const [port] = readFileSync(file, "utf8").split("\n");
      if (port) return Number(port);
    }
    if (chromium.exitCode !== null) break;
    await sleep(100);
  }
  throw new Error(`Chromium did not open its DevTools port; its log ends with:\n${chromiumLog}`);
}

/** A DevTools protocol session over one WebSocket. */
class Cdp {
  #next = 1;
  #pending = new Map();
  #listeners = [];

  static open(url) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.addEventListener("open", () => resolve(new Cdp(ws)));
      ws.addEventListener("error", () => reject(new Error(`cannot reach DevTools at ${url}`)));
    });
  }

  constructor(ws) {
    this.ws = ws;
    ws.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.id !== undefined) {
        const call = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (message.error) call.reject(new Error(`${call.method}: ${message.error.message}`));
        else call.resolve(message.result);
        return;
      }
      for (const listener of this.#listeners) listener(message.method, message.params);
    });
  }

  send(method, params = {}) {
    const id = this.#next++;
    this.ws.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => this.#pending.set(id, { method, resolve, reject }));
  }

  on(listener) {
    this.#listeners.push(listener);
  }
}

async function check() {
  const port = await devtoolsPort();
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const page = targets.find((target) => target.type === "page");
  if (!page) throw new Error("Chromium has no page target");
  const cdp = await Cdp.open(page.webSocketDebuggerUrl);

  const problems = [];
  cdp.on((method, params) => {
    if (method === "Runtime.consoleAPICalled" && (params.type === "error" || params.type === "assert")) {
      problems.push(`console.${params.type}: ${params.args.map((arg) => arg.value ?? arg.description).join(" ")}`);
    } else if (method === "Runtime.exceptionThrown") {
      const details = params.exceptionDetails;
      problems.push(`uncaught: ${details.exception?.description ?? details.text}`);
    } else if (method === "Log.entryAdded" && params.entry.level === "error") {
      problems.push(`${params.entry.source}: ${params.entry.text}${params.entry.url ? ` (${params.entry.url})` : ""}`);
    }
  });
  await cdp.send("Runtime.enable");
  await cdp.send("Log.enable");
  await cdp.send("Page.enable");
  await cdp.send("Emulation.setDeviceMetricsOverride", {
    width: WIDTH,
    height: HEIGHT,
    deviceScaleFactor: 1,
    mobile: false,
  });
  await cdp.send("Page.navigate", { url: pageUrl });

  const started = Date.now();
  let status = null;
  let ready = false;
  while (Date.now() - started < DEADLINE_MS) {
    await sleep(500);
    const { result } = await cdp.send("Runtime.evaluate", {
      expression: "document.getElementById('hw-status')?.textContent ?? null",
      returnByValue: true,
    });
    if (typeof result.value === "string") {
      try {
        status = JSON.parse(result.value);
      } catch {
        status = null;
      }
    }
    ready =
      status !== null &&
      status.connected === true &&
      status.compression === "zlib" &&
      status.chunked === true &&
      status.points > 0 &&
      status.historySamples > 0 &&
      status.pushes >= MIN_PUSHES;
    if (ready) break;
  }
  // Let the last push's highlight fade so that the picture shows the page at rest.
  await sleep(1500);
  const shot = await cdp.send("Page.captureScreenshot", { format: "png" });
  writeFileSync(screenshotPath, Buffer.from(shot.data, "base64"));
  const { result: final } = await cdp.send("Runtime.evaluate", {
    expression: "document.getElementById('hw-status')?.textContent ?? null",
    returnByValue: true,
  });
  status = JSON.parse(final.value);
  console.log(`status after ${((Date.now() - started) / 1000).toFixed(1)} s: ${JSON.stringify(status)}`);
  console.log(`screenshot: ${screenshotPath}`);

  const failures = [];
  if (!ready) failures.push(`the status did not show the session, points, history and ${MIN_PUSHES} pushes within ${DEADLINE_MS / 1000} s`);
  if (status.chunkedFrames === 0) failures.push("no chunked frame arrived (the month of history should)");
  if (status.compressedFrames === 0) failures.push("no compressed frame arrived");
  if (status.errors.length > 0) failures.push(`the page reported errors: ${status.errors.join("; ")}`);
  for (const problem of problems) failures.push(problem);
  cdp.ws.close();
  return failures;
}

let failures;
try {
  failures = await check();
} catch (error) {
  failures = [error.message];
} finally {
  stopChromium();
  await sleep(300);
  rmSync(profile, { recursive: true, force: true });
}
clearTimeout(watchdog);
if (failures.length > 0) {
  for (const failure of failures) console.error(`FAIL: ${failure}`);
  process.exit(1);
}
console.log("ok: connected, zlib, chunked, points, history and pushes shown; no console errors");
