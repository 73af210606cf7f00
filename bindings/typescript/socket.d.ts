// Declarations of `socket.js`: a Haystack client over WebSocket.

import type { CompressionName, OpName } from "./haystack_wire.js";
import type { Limits } from "./assembler.js";

/** A Haystack 4 JSON grid. */
export interface Grid {
  _kind?: "grid";
  meta: { ver?: string; [tag: string]: unknown };
  cols: { name: string; meta?: Record<string, unknown> }[];
  rows: Record<string, unknown>[];
}

/** A Haystack 4 JSON ref. */
export interface Ref {
  _kind: "ref";
  val: string;
  dis?: string;
}

/** What the capability handshake agreed. */
export interface Session {
  /** The algorithm agreed, or null. */
  compression: CompressionName | null;
  chunked: boolean;
  version: number;
}

/** What a `HaystackSocket` takes. */
export interface HaystackSocketOptions {
  /** Sent as the first message, `{"authToken": ...}`. */
  token?: string;
  /** The algorithms offered, in order (default: every one this runtime can do). */
  compression?: CompressionName[];
  /** Whether chunked frames are offered (default true). */
  chunked?: boolean;
  /** How long to wait for the handshake's answer before falling back to v1. */
  handshakeTimeoutMs?: number;
  /** How long a request waits for its answer (default 30 s). */
  requestTimeoutMs?: number;
  /** Limits on what the server sends. */
  limits?: Partial<Limits>;
  /** The WebSocket constructor (default: the global one). */
  WebSocket?: new (url: string, protocols?: string | string[]) => WebSocket;
}

/** Counters of what came in. */
export interface SocketStats {
  frames: number;
  bytes: number;
  compressedFrames: number;
  chunkedFrames: number;
  messages: number;
  pushes: number;
}

/** A server's push. */
export declare class PushEvent extends Event {
  constructor(op: string, grid: Grid);
  readonly op: string;
  readonly grid: Grid;
  /** The watch id of a watch update (from the grid's meta). */
  readonly watchId: string | undefined;
}

/** A frame or message that could not be read. */
export declare class FrameErrorEvent extends Event {
  constructor(error: Error);
  readonly error: Error;
}

/** The connection closed. */
export declare class HaystackCloseEvent extends Event {
  constructor(code: number, reason: string);
  readonly code: number;
  readonly reason: string;
}

/** The events a `HaystackSocket` dispatches. */
export interface HaystackSocketEventMap {
  push: PushEvent;
  frameerror: FrameErrorEvent;
  close: HaystackCloseEvent;
}

/** A Haystack 4 JSON grid of `rows`, its columns the rows' keys in order of appearance. */
export declare function makeGrid(rows?: Record<string, unknown>[], meta?: Record<string, unknown>): Grid;

/** A Haystack 4 JSON ref (a leading `@` is dropped). */
export declare function ref(id: string, dis?: string): Ref;

/** A connection to a Haystack server in binary mode. */
export declare class HaystackSocket extends EventTarget {
  constructor(url: string, options?: HaystackSocketOptions);
  readonly url: string;
  /** What the handshake agreed, once `connect` resolved. */
  readonly session: Session | null;
  readonly stats: SocketStats;
  /** Whether the connection is open and its handshake done. */
  readonly connected: boolean;
  /** Opens the connection, sends the token, makes the handshake. */
  connect(): Promise<Session>;
  /** Closes the connection. */
  close(code?: number, reason?: string): void;
  /** Sends a request; resolves to the response grid, rejects with `HaystackError` on an error grid. */
  request(op: OpName | number, grid?: Grid): Promise<Grid>;
  about(): Promise<Grid>;
  read(filter: string, limit?: number): Promise<Grid>;
  readByIds(ids: (string | Ref)[]): Promise<Grid>;
  hisRead(id: string | Ref, range: string): Promise<Grid>;
  watchSub(ids: (string | Ref)[], options?: { watchId?: string; watchDis?: string; lease?: number }): Promise<Grid>;
  watchUnsub(watchId: string, ids?: (string | Ref)[], options?: { close?: boolean }): Promise<Grid>;
  watchPoll(watchId: string, refresh?: boolean): Promise<Grid>;
  addEventListener<K extends keyof HaystackSocketEventMap>(
    type: K,
    listener: (event: HaystackSocketEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
}
