// HaystackSocket against a live `hswire serve` (HSWIRE names the binary;
// each server listens on 127.0.0.1, on a free port, and is stopped by pid)
// and against a scripted WebSocket for what a live server does not show.
// The live tests need a global WebSocket: Node 22, or Node 20.10+ with
// --experimental-websocket (scripts/check-bindings.sh passes it).

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { after, test } from "node:test";

import {
  AUTH_TOKEN_FIELD,
  HANDSHAKE_FIELDS,
  HANDSHAKE_TYPE,
  HANDSHAKE_VERSION,
  PUSH_REQUEST_ID,
  SUBPROTOCOL,
} from "./haystack_wire.js";
import { ConnectionClosedError, HaystackError, RequestTimeoutError } from "./errors.js";
import { baseHeader, decodeFrame, encodeFrame } from "./frame.js";
import { HaystackSocket, makeGrid, ref } from "./socket.js";

const live = typeof WebSocket === "function" ? false : "no global WebSocket (Node 20 needs --experimental-websocket)";
const servers = [];

/** Starts `hswire serve` with `args`; resolves to its ws:// URL. */
function serve(args) {
  const binary = process.env.HSWIRE;
  assert.ok(binary, "HSWIRE must name the hswire binary");
  const child = spawn(binary, ["serve", "--listen", "127.0.0.1:0", ...args], { stdio: ["ignore", "pipe", "inherit"] });
  servers.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("hswire serve did not listen within 20 s")), 20_000);
    let out = "";
    child.stdout.on("data", (data) => {
      out += data;
      const match = /listening on (ws:\/\/\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.on("exit", (code) => reject(new Error(`hswire serve exited with ${code}`)));
  });
}

after(() => {
  for (const child of servers) {
    if (child.exitCode === null) process.kill(child.pid, "SIGTERM");
  }
});

function hswire(args) {
  return execFileSync(process.env.HSWIRE, args, { encoding: "utf8", maxBuffer: 64 << 20 });
}

function monthRange() {
  const end = new Date();
  const start = new Date(end.getTime() - 29 * 86_400_000);
  return `${start.toISOString().slice(0, 10)},${end.toISOString().slice(0, 10)}`;
}

test("a month of history from hswire serve arrives in compressed chunks and reassembles to the server's grid", { skip: live }, async () => {
  const url = await serve(["--compression", "zlib", "--chunked"]);
  const socket = new HaystackSocket(url);
  try {
    assert.deepEqual(await socket.connect(), { compression: "zlib", chunked: true, version: HANDSHAKE_VERSION });
    const about = await socket.about();
    assert.equal(about.rows[0].serverName, "hswire sample site");
    const points = await socket.read("point and sensor and his", 5);
    assert.equal(points.rows.length, 5);
    const id = points.rows[0].id;
    const range = monthRange();
    const before = { ...socket.stats };
    const history = await socket.hisRead(id, range);
    const chunked = socket.stats.chunkedFrames - before.chunkedFrames;
    const compressed = socket.stats.compressedFrames - before.compressedFrames;
    assert.ok(chunked >= 2, `the history came in ${chunked} chunks`);
    assert.equal(compressed, chunked, "every chunk compressed");
    assert.ok(history.rows.length >= 29 * 288, `${history.rows.length} samples`);
    // The Rust client reads the same grid from the same server.
    const grid = JSON.stringify(makeGrid([{ id: ref(id.val), range }]));
    const rust = JSON.parse(hswire(["call", "--url", url, "--compression", "zlib", "--chunked", "hisRead", "--grid", grid]));
    assert.deepEqual(history, rust);
  } finally {
    socket.close();
  }
});

test("an error grid rejects its request with a HaystackError and the connection goes on", { skip: live }, async () => {
  const url = await serve([]);
  const socket = new HaystackSocket(url);
  try {
    assert.deepEqual(await socket.connect(), { compression: null, chunked: false, version: HANDSHAKE_VERSION });
    await assert.rejects(socket.hisRead("no-such-point", "today"), (error) => {
      assert.ok(error instanceof HaystackError, error.message);
      assert.equal(error.op, "hisRead");
      assert.match(error.dis, /no-such-point/);
      return true;
    });
    assert.equal((await socket.about()).rows.length, 1);
  } finally {
    socket.close();
  }
});

test("a watch on hswire serve pushes changes as events until it is closed", { skip: live }, async () => {
  const url = await serve(["--compression", "zlib", "--chunked", "--push-interval-ms", "50"]);
  const socket = new HaystackSocket(url);
  try {
    await socket.connect();
    const points = await socket.read("point and sensor", 20);
    const watch = await socket.watchSub(points.rows.map((row) => row.id), { watchDis: "test", lease: 60 });
    const watchId = watch.meta.watchId;
    assert.equal(typeof watchId, "string");
    const ids = new Set(points.rows.map((row) => row.id.val));
    const pushes = await new Promise((resolve, reject) => {
      const seen = [];
      const timer = setTimeout(() => reject(new Error(`only ${seen.length} pushes in 10 s`)), 10_000);
      socket.addEventListener("push", (event) => {
        seen.push(event);
        if (seen.length === 3) {
          clearTimeout(timer);
          resolve(seen);
        }
      });
    });
    for (const push of pushes) {
      assert.equal(push.op, "watchPoll");
      assert.equal(push.watchId, watchId);
      assert.ok(push.grid.rows.every((row) => ids.has(row.id.val)));
    }
    await socket.watchUnsub(watchId, [], { close: true });
    await assert.rejects(socket.watchPoll(watchId), HaystackError);
  } finally {
    socket.close();
  }
});

test("a server that wants a token lets in the client that sends it, and closes on one that does not", { skip: live }, async () => {
  const url = await serve(["--auth-token", "s3cret", "--handshake-timeout", "2"]);
  const good = new HaystackSocket(url, { token: "s3cret" });
  await good.connect();
  assert.equal((await good.about()).rows.length, 1);
  good.close();
  const bad = new HaystackSocket(url, { token: "wrong", handshakeTimeoutMs: 10_000 });
  await assert.rejects(bad.connect(), ConnectionClosedError);
});

/**
 * A WebSocket that records what the client sends and answers requests the
 * way `respond` says, so that the handshake and the ids can be shown without
 * a server.
 */
function scripted({ answerHandshake = true, respond = () => true } = {}) {
  const sent = [];
  class Scripted extends EventTarget {
    constructor(url, protocol) {
      super();
      this.url = url;
      this.protocol = protocol;
      this.binaryType = "blob";
      Scripted.last = this;
      queueMicrotask(() => this.dispatchEvent(new Event("open")));
    }

    send(data) {
      sent.push(data);
      if (typeof data === "string") {
        const message = JSON.parse(data);
        if (message.type === HANDSHAKE_TYPE && answerHandshake) {
          const answer = { type: HANDSHAKE_TYPE, compression: null, chunked: false, version: HANDSHAKE_VERSION };
          queueMicrotask(() => this.#message(JSON.stringify(answer)));
        }
        return;
      }
      const { header } = decodeFrame(data);
      if (respond(header)) {
        const frame = encodeFrame(baseHeader("response", header.requestId, header.op), new TextEncoder().encode(JSON.stringify(makeGrid())));
        queueMicrotask(() => this.#message(frame.buffer));
      }
    }

    push(grid) {
      this.#message(encodeFrame(baseHeader("push", 99, "watchPoll"), new TextEncoder().encode(JSON.stringify(grid))).buffer);
    }

    close(code = 1000, reason = "") {
      queueMicrotask(() => {
        const event = new Event("close");
        event.code = code;
        event.reason = reason;
        this.dispatchEvent(event);
      });
    }

    #message(data) {
      const event = new Event("message");
      event.data = data;
      this.dispatchEvent(event);
    }
  }
  return { Scripted, sent };
}

test("the client names the subprotocol, sends the token first and then its offer", async () => {
  const { Scripted, sent } = scripted();
  const socket = new HaystackSocket("ws://example.invalid/", { token: "t0k", WebSocket: Scripted });
  await socket.connect();
  assert.equal(Scripted.last.protocol, SUBPROTOCOL);
  assert.equal(Scripted.last.binaryType, "arraybuffer");
  assert.deepEqual(JSON.parse(sent[0]), { [AUTH_TOKEN_FIELD]: "t0k" });
  assert.deepEqual(JSON.parse(sent[1]), { type: HANDSHAKE_TYPE, compression: ["zlib"], chunked: true, version: HANDSHAKE_VERSION });
  assert.deepEqual(Object.keys(JSON.parse(sent[1])), HANDSHAKE_FIELDS, "the spec's keys, in its order");
});

test("a server that does not answer the offer in time is spoken to in v1", async () => {
  const { Scripted } = scripted({ answerHandshake: false });
  const socket = new HaystackSocket("ws://example.invalid/", { WebSocket: Scripted, handshakeTimeoutMs: 20 });
  assert.deepEqual(await socket.connect(), { compression: null, chunked: false, version: 1 });
});

test("request ids wrap within 16 bits and skip the push id and the ids still pending", async () => {
  const stuck = 1;
  const { Scripted, sent } = scripted({ respond: (header) => header.requestId !== stuck });
  const socket = new HaystackSocket("ws://example.invalid/", { WebSocket: Scripted, requestTimeoutMs: 600_000 });
  await socket.connect();
  const first = socket.about().catch((error) => error);
  for (let i = 0; i < 0xffff; i++) await socket.about();
  const ids = sent.filter((data) => typeof data !== "string").map((frame) => decodeFrame(frame).header.requestId);
  assert.equal(ids[0], 1);
  assert.equal(ids[0xfffe], 0xffff);
  assert.equal(ids[0xffff], 2, "after 65535 comes 2: 0 is the push id and 1 is still pending");
  assert.ok(!ids.includes(PUSH_REQUEST_ID));
  socket.close();
  assert.ok((await first) instanceof ConnectionClosedError, "the pending request fails when the connection closes");
});

test("a push is an event with its op and grid; an unanswered request times out with its id", async () => {
  const { Scripted } = scripted({ respond: () => false });
  const socket = new HaystackSocket("ws://example.invalid/", { WebSocket: Scripted, requestTimeoutMs: 20 });
  await socket.connect();
  const pushed = new Promise((resolve) => socket.addEventListener("push", resolve, { once: true }));
  Scripted.last.push(makeGrid([{ id: ref("p1"), curVal: 1 }], { watchId: "w-1" }));
  const event = await pushed;
  assert.deepEqual([event.op, event.watchId, event.grid.rows[0].curVal], ["watchPoll", "w-1", 1]);
  assert.equal(socket.stats.pushes, 1);
  await assert.rejects(socket.about(), (error) => {
    assert.ok(error instanceof RequestTimeoutError);
    assert.deepEqual([error.op, error.timeoutMs], ["about", 20]);
    return true;
  });
});
