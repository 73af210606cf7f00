// A Haystack client over the browser's WebSocket (or any object shaped like
// it): the subprotocol, the token, the capability handshake and its fallback,
// request ids, one promise per request, error grids as errors, pushes as
// events. Written by hand; every wire value comes from the generated module.

import {
  AUTH_TOKEN_FIELD,
  FLAG_ERROR,
  FLAG_PUSH,
  FLAG_RESPONSE,
  HANDSHAKE_FALLBACK_TIMEOUT,
  HANDSHAKE_TYPE,
  HANDSHAKE_VERSION,
  MESSAGE_TYPES,
  MESSAGE_TYPE_FIELD,
  PUSH_REQUEST_ID,
  SUBPROTOCOL,
  decodeHeader,
} from "./haystack_wire.js";
import {
  BadPayloadError,
  ConnectionClosedError,
  HaystackError,
  RequestIdsExhaustedError,
  RequestTimeoutError,
  UnsupportedAlgorithmError,
} from "./errors.js";
import { FrameDecoder } from "./assembler.js";
import { FrameEncoder, baseHeader, compressionId, opCode, opName, supportedAlgorithms } from "./frame.js";

/** The most request ids a connection has: they are 16 bits on the wire. */
const REQUEST_ID_SPACE = 0x10000;

/** A server's push: the op, the grid and, for watch updates, the watch id from the grid's meta. */
export class PushEvent extends Event {
  constructor(op, grid) {
    super("push");
    this.op = op;
    this.grid = grid;
    this.watchId = grid && grid.meta && typeof grid.meta.watchId === "string" ? grid.meta.watchId : undefined;
  }
}

/** A frame or message that could not be read; the connection went on unless `error.scope` is `connection`. */
export class FrameErrorEvent extends Event {
  constructor(error) {
    super("frameerror");
    this.error = error;
  }
}

/** The connection closed, with the WebSocket's code and reason. */
export class HaystackCloseEvent extends Event {
  constructor(code, reason) {
    super("close");
    this.code = code;
    this.reason = reason;
  }
}

/** A Haystack 4 JSON grid: `rows` are objects, the columns are their keys in order of appearance. */
export function makeGrid(rows = [], meta = {}) {
  const names = [];
  for (const row of rows) {
    for (const name of Object.keys(row)) {
      if (!names.includes(name)) names.push(name);
    }
  }
  return {
    _kind: "grid",
    meta: { ver: "3.0", ...meta },
    cols: (names.length === 0 ? ["empty"] : names).map((name) => ({ name })),
    rows,
  };
}

/** A Haystack 4 JSON ref. */
export function ref(id, dis) {
  const val = id.startsWith("@") ? id.slice(1) : id;
  return dis === undefined ? { _kind: "ref", val } : { _kind: "ref", val, dis };
}

/**
 * A connection to a Haystack server in binary mode.
 *
 * ```js
 * const socket = new HaystackSocket("ws://127.0.0.1:8080/");
 * const session = await socket.connect(); // { compression: "zlib", chunked: true, version: 2 }
 * const about = await socket.about();
 * socket.addEventListener("push", (event) => console.log(event.watchId, event.grid.rows));
 * ```
 *
 * Options: `token` (sent as the first message), `compression` (the algorithm
 * names offered, in order; by default every one this runtime can do, which is
 * zlib where the Compression Streams API exists), `chunked` (default true),
 * `handshakeTimeoutMs` (the spec's fallback timeout), `requestTimeoutMs`
 * (30 s), `limits` (see `DEFAULT_LIMITS`) and `WebSocket` (the constructor to
 * use; the global one by default).
 */
export class HaystackSocket extends EventTarget {
  #ws = null;
  #pending = new Map();
  #nextId = PUSH_REQUEST_ID + 1;
  #encoder = new FrameEncoder();
  #decoder;
  #closed = null;

  constructor(url, options = {}) {
    super();
    this.url = url;
    const offered = options.compression ?? supportedAlgorithms();
    for (const name of offered) {
      if (!supportedAlgorithms().includes(name)) throw new UnsupportedAlgorithmError(name);
    }
    this.options = {
      token: options.token,
      compression: [...offered],
      chunked: options.chunked ?? true,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? HANDSHAKE_FALLBACK_TIMEOUT * 1000,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      WebSocket: options.WebSocket ?? globalThis.WebSocket,
    };
    this.#decoder = new FrameDecoder({ limits: options.limits });
    /** What the handshake agreed: set by `connect`. */
    this.session = null;
    /** Counters of what came in. */
    this.stats = { frames: 0, bytes: 0, compressedFrames: 0, chunkedFrames: 0, messages: 0, pushes: 0 };
  }

  /** Whether the connection is open and its handshake done. */
  get connected() {
    return this.session !== null && this.#closed === null;
  }

  /**
   * Opens the connection, sends the token if there is one, and makes the
   * capability handshake: resolves to `{ compression, chunked, version }`, what
   * the server agreed to, or v1 (no compression, no chunking) when it does not
   * answer in time.
   */
  connect() {
    if (this.#ws !== null) return Promise.reject(new Error("connect() was already called"));
    return new Promise((resolve, reject) => {
      const ws = new this.options.WebSocket(this.url, SUBPROTOCOL);
      ws.binaryType = "arraybuffer";
      this.#ws = ws;
      let settled = false;
      let fallback = null;
      const agree = (session) => {
        if (settled) return;
        settled = true;
        clearTimeout(fallback);
        this.session = session;
        this.#encoder = new FrameEncoder({
          compression: session.compression === null ? null : compressionId(session.compression),
          chunked: session.chunked,
        });
        resolve(session);
      };
      const v1 = { compression: null, chunked: false, version: 1 };
      ws.addEventListener("open", () => {
        if (this.options.token !== undefined) {
          ws.send(JSON.stringify({ [AUTH_TOKEN_FIELD]: this.options.token }));
        }
        if (this.options.compression.length === 0 && !this.options.chunked) {
          agree(v1);
          return;
        }
        ws.send(
          JSON.stringify({
            type: HANDSHAKE_TYPE,
            compression: this.options.compression,
            chunked: this.options.chunked,
            version: HANDSHAKE_VERSION,
          }),
        );
        fallback = setTimeout(() => agree(v1), this.options.handshakeTimeoutMs);
      });
      ws.addEventListener("message", (event) => {
        if (typeof event.data === "string") {
          let message;
          try {
            message = JSON.parse(event.data);
          } catch {
            message = undefined;
          }
          if (!settled) {
            // The reference's client takes any other first answer as a server without v2.
            if (message && message.type === HANDSHAKE_TYPE) {
              const compression = this.options.compression.includes(message.compression) ? message.compression : null;
              agree({
                compression,
                chunked: message.chunked === true && this.options.chunked,
                version: typeof message.version === "number" ? message.version : HANDSHAKE_VERSION,
              });
            } else {
              agree(v1);
            }
            return;
          }
          this.#text(message);
          return;
        }
        this.#binary(new Uint8Array(event.data));
      });
      ws.addEventListener("close", (event) => {
        this.#closed = { code: event.code, reason: event.reason };
        clearTimeout(fallback);
        const error = new ConnectionClosedError(event.code, event.reason);
        for (const [, request] of this.#pending) {
          clearTimeout(request.timer);
          request.reject(error);
        }
        this.#pending.clear();
        if (!settled) {
          settled = true;
          reject(error);
        }
        this.dispatchEvent(new HaystackCloseEvent(event.code, event.reason));
      });
    });
  }

  /** Closes the connection (1000, normal closure). */
  close(code = 1000, reason = "") {
    if (this.#ws !== null && this.#closed === null) this.#ws.close(code, reason);
  }

  /**
   * Sends `op` (a name or a code) with `grid` (default: an empty grid) in binary
   * frames, compressed and chunked as agreed; resolves to the response grid,
   * rejects with `HaystackError` when the server answers with an error grid.
   */
  async request(op, grid = makeGrid()) {
    if (this.#ws === null || this.session === null) throw new Error("connect() first");
    if (this.#closed !== null) throw new ConnectionClosedError(this.#closed.code, this.#closed.reason);
    const code = opCode(op);
    const requestId = this.#allocateId();
    const payload = new TextEncoder().encode(JSON.stringify(grid));
    const answer = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(requestId);
        this.#decoder.assembler.discard(requestId, code);
        reject(new RequestTimeoutError(opName(code), requestId, this.options.requestTimeoutMs));
      }, this.options.requestTimeoutMs);
      this.#pending.set(requestId, { op: code, resolve, reject, timer });
    });
    try {
      const frames = await this.#encoder.frames(baseHeader("request", requestId, code), payload);
      for (const frame of frames) this.#ws.send(frame);
    } catch (error) {
      const request = this.#pending.get(requestId);
      if (request !== undefined) {
        clearTimeout(request.timer);
        this.#pending.delete(requestId);
      }
      throw error;
    }
    return answer;
  }

  /** The server's `about` grid. */
  about() {
    return this.request("about");
  }

  /** The records matching a Haystack `filter`, at most `limit` of them when given. */
  read(filter, limit) {
    return this.request("read", makeGrid([limit === undefined ? { filter } : { filter, limit }]));
  }

  /** The records of these ids (strings or refs). */
  readByIds(ids) {
    return this.request("read", makeGrid(ids.map((id) => ({ id: typeof id === "string" ? ref(id) : id }))));
  }

  /** The history of point `id` over `range` (`today`, `yesterday`, a date, or `start,end` dates). */
  hisRead(id, range) {
    return this.request("hisRead", makeGrid([{ id: typeof id === "string" ? ref(id) : id, range }]));
  }

  /**
   * Opens a watch on `ids` (or adds them to `watchId`); `lease` in seconds. The
   * answer's meta holds the `watchId`; updates then come as `push` events.
   */
  watchSub(ids, { watchId, watchDis = "haystack-wire", lease } = {}) {
    const meta = watchId === undefined ? { watchDis } : { watchId };
    if (lease !== undefined) meta.lease = { _kind: "number", val: lease, unit: "s" };
    const rows = ids.map((id) => ({ id: typeof id === "string" ? ref(id) : id }));
    return this.request("watchSub", makeGrid(rows, meta));
  }

  /** Removes `ids` from a watch, or closes it with `{ close: true }`. */
  watchUnsub(watchId, ids = [], { close = false } = {}) {
    const meta = close ? { watchId, close: { _kind: "marker" } } : { watchId };
    const rows = ids.map((id) => ({ id: typeof id === "string" ? ref(id) : id }));
    return this.request("watchUnsub", makeGrid(rows, meta));
  }

  /** Polls a watch (renewing its lease): its changes, or all its records with `refresh`. */
  watchPoll(watchId, refresh = false) {
    return this.request("watchPoll", makeGrid([], refresh ? { watchId, refresh: { _kind: "marker" } } : { watchId }));
  }

  #allocateId() {
    for (let tries = 0; tries < REQUEST_ID_SPACE; tries++) {
      const id = this.#nextId;
      this.#nextId = (id + 1) % REQUEST_ID_SPACE;
      if (id !== PUSH_REQUEST_ID && !this.#pending.has(id)) return id;
    }
    throw new RequestIdsExhaustedError(this.#pending.size);
  }

  /** A text message after the handshake: the JSON form of a watch push, or nothing this client asked for. */
  #text(message) {
    if (message && message[MESSAGE_TYPE_FIELD] === MESSAGE_TYPES.watch_push && message.grid) {
      this.stats.pushes++;
      this.dispatchEvent(new PushEvent("watchPoll", message.grid));
    }
  }

  #binary(bytes) {
    this.stats.frames++;
    this.stats.bytes += bytes.byteLength;
    let header;
    try {
      header = decodeHeader(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)).header;
    } catch (error) {
      // An unknown op in a response or a push is dropped: nothing was asked under it.
      if (error.reason === "unknown_op") return;
      this.#refuse(error, undefined);
      return;
    }
    if (header.algorithm !== undefined) this.stats.compressedFrames++;
    if (header.total !== undefined) this.stats.chunkedFrames++;
    this.#decoder.decode(bytes).then(
      (message) => {
        if (message !== null) this.#message(message);
      },
      (error) => this.#refuse(error, header),
    );
  }

  #message(message) {
    this.stats.messages++;
    const op = opName(message.op);
    let grid;
    try {
      grid = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(message.payload));
    } catch (error) {
      this.#refuse(new BadPayloadError(op, message.requestId, error.message), message);
      return;
    }
    if ((message.flags & FLAG_PUSH) !== 0) {
      this.stats.pushes++;
      this.dispatchEvent(new PushEvent(op, grid));
      return;
    }
    if ((message.flags & FLAG_RESPONSE) === 0) return;
    const request = this.#pending.get(message.requestId);
    if (request === undefined || request.op !== message.op) return;
    this.#pending.delete(message.requestId);
    clearTimeout(request.timer);
    if ((message.flags & FLAG_ERROR) !== 0) {
      request.reject(new HaystackError(op, message.requestId, grid));
    } else {
      request.resolve(grid);
    }
  }

  /** A frame refused: its request fails, listeners hear of it, and a connection-scope error closes the socket. */
  #refuse(error, header) {
    if (header !== undefined && (header.flags & FLAG_RESPONSE) !== 0) {
      const request = this.#pending.get(header.requestId);
      if (request !== undefined && request.op === header.op) {
        this.#pending.delete(header.requestId);
        clearTimeout(request.timer);
        request.reject(error);
      }
    }
    this.dispatchEvent(new FrameErrorEvent(error));
    // Browsers let a page close only with 1000 or 3000-4999: the reason says why.
    if (error.scope !== "message") this.close(1000, "unreadable frame");
  }
}
