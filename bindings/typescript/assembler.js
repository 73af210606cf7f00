// Reassembly of chunked sequences and decoding of whole messages under
// limits, with the Rust crate's rules (its `assembler` and `limits`
// modules). Written by hand; every wire value comes from the generated module.

import { CHUNK_HEADER_FLAG, COMPRESSION_NAMES, REASSEMBLY_TTL } from "./haystack_wire.js";
import {
  ChunkIndexOutOfRangeError,
  ChunkTotalTooLargeError,
  DecompressedTooLargeError,
  DuplicateChunkError,
  FrameTooLargeError,
  InconsistentChunkError,
  MessageTooLargeError,
  PendingBytesExceededError,
  TooManyPendingError,
  ZeroChunkTotalError,
} from "./errors.js";
import { SECTION_FLAGS, decodeFrame, decompress, opName } from "./frame.js";

/**
 * How much a receiver accepts from its peer: the Rust crate's `Limits::DEFAULT`,
 * for the same reasons (see its `limits` module).
 *
 * - `maxFrame` 64 MiB: one frame is one WebSocket message, and 64 MiB is
 *   tungstenite's message limit; a v1 peer that never chunks still fits.
 * - `maxFramePayload` 64 MiB: an unchunked compressed message decompresses in
 *   one piece, so it gets the message limit too.
 * - `maxMessage` 64 MiB: the same bound, for reassembled messages.
 * - `maxChunks` 1,024: 64 MiB in the reference's 256 KiB chunks is 256 chunks;
 *   four times that leaves room for peers that cut smaller ones, and no more.
 * - `maxPending` 64: incomplete sequences at once. A client has a few chunked
 *   responses in flight, not hundreds; a flood of first chunks stops here.
 * - `maxPendingBytes` 128 MiB: all incomplete sequences together, two
 *   full-size messages in flight.
 */
export const DEFAULT_LIMITS = Object.freeze({
  maxFrame: 64 * 1024 * 1024,
  maxFramePayload: 64 * 1024 * 1024,
  maxMessage: 64 * 1024 * 1024,
  maxChunks: 1024,
  maxPending: 64,
  maxPendingBytes: 128 * 1024 * 1024,
});

/** The flags of the message a frame belongs to: its section flags dropped. */
export function messageFlags(flags) {
  return flags & ~SECTION_FLAGS;
}

function algorithmName(header) {
  return header.algorithm === undefined ? "none" : (COMPRESSION_NAMES[header.algorithm] ?? String(header.algorithm));
}

/**
 * Collects the chunks of chunked sequences, keyed by (request id, op), and
 * hands back each message once all its chunks are in, within the limits.
 *
 * `admit` checks a chunk's header against its sequence and the limits before
 * its payload is decompressed and returns the bytes the chunk may bring;
 * `store` keeps the decompressed chunk. Every refusal drops the offending
 * sequence and releases its memory; other sequences are untouched. A
 * sequence older than the TTL, counted from its first chunk, is dropped on
 * the next `admit` (or `sweepExpired`). Memory grows only with chunks that
 * arrive: an announced total is checked, never allocated for.
 */
export class ChunkAssembler {
  #pending = new Map();
  #held = 0;

  constructor({ limits = DEFAULT_LIMITS, ttlMs = REASSEMBLY_TTL * 1000, now = () => Date.now() } = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.ttlMs = ttlMs;
    this.now = now;
  }

  /** How many sequences are incomplete. */
  get pendingCount() {
    return this.#pending.size;
  }

  /** How many payload bytes the incomplete sequences hold. */
  get pendingBytes() {
    return this.#held;
  }

  /** Drops the sequences older than the TTL; returns how many there were. */
  sweepExpired() {
    const now = this.now();
    let dropped = 0;
    for (const [key, seq] of this.#pending) {
      if (now - seq.started > this.ttlMs) {
        this.#pending.delete(key);
        this.#held -= seq.bytes;
        dropped++;
      }
    }
    return dropped;
  }

  /** Forgets the sequence of (`requestId`, `op` code), if there is one. */
  discard(requestId, op) {
    const key = `${requestId}/${op}`;
    const seq = this.#pending.get(key);
    if (seq === undefined) return;
    this.#pending.delete(key);
    this.#held -= seq.bytes;
  }

  /**
   * Checks a frame header against its sequence and the limits; returns the
   * bytes its payload may bring. A header that is not chunked belongs to no
   * sequence: the message limit. Throws, and drops the sequence, on a refusal.
   */
  admit(header) {
    this.sweepExpired();
    if (header.total === undefined) return this.limits.maxMessage;
    try {
      this.#check(header);
    } catch (error) {
      this.discard(header.requestId, header.op);
      throw error;
    }
    const [message, budget] = this.#room(header);
    return Math.min(message, budget);
  }

  #check(header) {
    const { requestId, index, total } = header;
    const op = opName(header.op);
    if (total === 0) throw new ZeroChunkTotalError(requestId, op);
    if (index >= total) throw new ChunkIndexOutOfRangeError(requestId, op, index, total);
    if (total > this.limits.maxChunks) throw new ChunkTotalTooLargeError(requestId, op, total, this.limits.maxChunks);
    const seq = this.#pending.get(`${requestId}/${header.op}`);
    if (seq === undefined) {
      if (this.#pending.size >= this.limits.maxPending) {
        throw new TooManyPendingError(requestId, op, this.limits.maxPending);
      }
      return;
    }
    if (seq.total !== total) throw new InconsistentChunkError(requestId, op, index, "total", seq.total, total);
    if (seq.flags !== header.flags) {
      throw new InconsistentChunkError(requestId, op, index, "flags", seq.flags, header.flags);
    }
    if (seq.algorithm !== algorithmName(header)) {
      throw new InconsistentChunkError(requestId, op, index, "compression", seq.algorithm, algorithmName(header));
    }
    if (seq.chunks.has(index)) throw new DuplicateChunkError(requestId, op, index);
  }

  /** The bytes the sequence may still take: under the message limit, and under the pending budget. */
  #room(header) {
    const seq = this.#pending.get(`${header.requestId}/${header.op}`);
    const bytes = seq === undefined ? 0 : seq.bytes;
    return [Math.max(0, this.limits.maxMessage - bytes), Math.max(0, this.limits.maxPendingBytes - this.#held)];
  }

  /** Drops the sequence of a chunk that brought more than its room, and names the limit it hit. */
  refuseOversized(header) {
    const [message, budget] = this.#room(header);
    this.discard(header.requestId, header.op);
    const op = opName(header.op);
    if (message <= budget) return new MessageTooLargeError(header.requestId, op, this.limits.maxMessage);
    return new PendingBytesExceededError(header.requestId, op, this.limits.maxPendingBytes);
  }

  /** `admit` then `store`, for a payload that needs no decompression. */
  insert(header, payload) {
    const room = this.admit(header);
    return this.store(header, room, payload);
  }

  /**
   * Stores a chunk whose header `admit` accepted with `room` bytes left;
   * returns the message it completes, or null.
   */
  store(header, room, payload) {
    if (header.total === undefined) return null;
    if (payload.byteLength > room) throw this.refuseOversized(header);
    const key = `${header.requestId}/${header.op}`;
    let seq = this.#pending.get(key);
    if (seq === undefined) {
      seq = {
        total: header.total,
        flags: header.flags,
        algorithm: algorithmName(header),
        chunks: new Map(),
        bytes: 0,
        started: this.now(),
      };
      this.#pending.set(key, seq);
    }
    seq.chunks.set(header.index, payload);
    seq.bytes += payload.byteLength;
    this.#held += payload.byteLength;
    if (seq.chunks.size !== seq.total) return null;
    this.#pending.delete(key);
    this.#held -= seq.bytes;
    const out = new Uint8Array(seq.bytes);
    let at = 0;
    for (let index = 0; index < seq.total; index++) {
      const chunk = seq.chunks.get(index);
      out.set(chunk, at);
      at += chunk.byteLength;
    }
    return { flags: messageFlags(seq.flags), requestId: header.requestId, op: header.op, payload: out };
  }
}

/**
 * Turns the frames of one connection into messages: a frame that is not
 * chunked is a message on its own; a chunked frame joins its sequence, and the
 * message comes out with the sequence's last chunk. Calls to `decode` are
 * handled one after the other, in the order they were made, whatever the
 * decompression takes. On a refusal only the offending frame's sequence is
 * dropped.
 */
export class FrameDecoder {
  #tail = Promise.resolve();

  constructor({ limits = DEFAULT_LIMITS, ttlMs, now } = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.assembler = new ChunkAssembler({ limits: this.limits, ttlMs, now });
  }

  /** Feeds one frame (a Uint8Array); resolves to the message it completes, or null. */
  decode(bytes) {
    const result = this.#tail.then(() => this.#decode(bytes));
    this.#tail = result.then(
      () => {},
      () => {},
    );
    return result;
  }

  async #decode(bytes) {
    const limits = this.limits;
    if (bytes.byteLength > limits.maxFrame) throw new FrameTooLargeError(bytes.byteLength, limits.maxFrame);
    const { header, payload } = decodeFrame(bytes);
    if ((header.flags & CHUNK_HEADER_FLAG) === 0) {
      if (header.algorithm === undefined && payload.byteLength > limits.maxMessage) {
        throw new MessageTooLargeError(header.requestId, opName(header.op), limits.maxMessage);
      }
      const body = await this.#payload(header, payload, Math.min(limits.maxFramePayload, limits.maxMessage));
      return { flags: messageFlags(header.flags), requestId: header.requestId, op: header.op, payload: body };
    }
    const room = this.assembler.admit(header);
    let body;
    try {
      body = await this.#payload(header, payload, Math.min(limits.maxFramePayload, room));
    } catch (error) {
      // The chunk did not fit its sequence's room, which was tighter than the frame limit.
      if (error instanceof DecompressedTooLargeError && room < limits.maxFramePayload) {
        throw this.assembler.refuseOversized(header);
      }
      this.assembler.discard(header.requestId, header.op);
      throw error;
    }
    return this.assembler.store(header, room, body);
  }

  async #payload(header, payload, limit) {
    if (header.algorithm === undefined) return payload;
    return decompress(header.algorithm, payload, limit);
  }
}
