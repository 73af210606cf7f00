// Declarations of `assembler.js`: reassembly of chunked sequences and
// decoding of messages under limits.

import type { FrameHeader } from "./haystack_wire.js";

/** How much a receiver accepts from its peer, in bytes or counts. */
export interface Limits {
  /** The largest frame accepted, in bytes on the wire. */
  maxFrame: number;
  /** The most bytes one frame's payload may decompress to. */
  maxFramePayload: number;
  /** The most bytes a reassembled message may hold. */
  maxMessage: number;
  /** The most chunks one message may have. */
  maxChunks: number;
  /** The most incomplete sequences held at once. */
  maxPending: number;
  /** The most payload bytes held across all incomplete sequences. */
  maxPendingBytes: number;
}

/** The Rust crate's default limits. */
export declare const DEFAULT_LIMITS: Readonly<Limits>;

/** A decoded message: flags without the section flags, request id, op code, payload. */
export interface Message {
  flags: number;
  requestId: number;
  op: number;
  payload: Uint8Array;
}

/** What an assembler or a decoder takes. */
export interface AssemblerOptions {
  /** Limits to enforce; missing ones take their default. */
  limits?: Partial<Limits>;
  /** Milliseconds an incomplete sequence is kept, from its first chunk (default: the spec's reassembly TTL). */
  ttlMs?: number;
  /** The clock, in milliseconds (default `Date.now`). */
  now?: () => number;
}

/** The flags of the message a frame belongs to. */
export declare function messageFlags(flags: number): number;

/** Collects the chunks of chunked sequences within the limits. */
export declare class ChunkAssembler {
  constructor(options?: AssemblerOptions);
  readonly limits: Readonly<Limits>;
  readonly ttlMs: number;
  /** How many sequences are incomplete. */
  readonly pendingCount: number;
  /** How many payload bytes the incomplete sequences hold. */
  readonly pendingBytes: number;
  /** Drops the sequences older than the TTL; returns how many there were. */
  sweepExpired(): number;
  /** Forgets the sequence of (`requestId`, `op` code). */
  discard(requestId: number, op: number): void;
  /** Checks a header against its sequence and the limits; returns the bytes its payload may bring. */
  admit(header: FrameHeader): number;
  /** Drops the sequence of a chunk that brought more than its room; returns the error naming the limit. */
  refuseOversized(header: FrameHeader): Error;
  /** `admit` then `store`. */
  insert(header: FrameHeader, payload: Uint8Array): Message | null;
  /** Stores an admitted chunk; returns the message it completes, or null. */
  store(header: FrameHeader, room: number, payload: Uint8Array): Message | null;
}

/** Turns the frames of one connection into messages, in order. */
export declare class FrameDecoder {
  constructor(options?: AssemblerOptions);
  readonly limits: Readonly<Limits>;
  readonly assembler: ChunkAssembler;
  /** Feeds one frame; resolves to the message it completes, or null. */
  decode(bytes: Uint8Array): Promise<Message | null>;
}
