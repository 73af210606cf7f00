// Declarations of `frame.js`: whole frames, zlib through the Compression
// Streams API, and the encoder.

import type { CompressionName, FrameHeader, OpName } from "./haystack_wire.js";

/** The kinds of frame, by the flags their base header carries. */
export type FrameKind = "request" | "response" | "error" | "push";

/** The flags of each kind of frame. */
export declare const FRAME_KINDS: Readonly<Record<FrameKind, number>>;

/** The flags that describe a frame's sections (compressed, chunked), not its message. */
export declare const SECTION_FLAGS: number;

/** The base header of a frame: flags, request id and op code. */
export interface BaseHeader {
  flags: number;
  requestId: number;
  op: number;
}

/** A frame read without copying. */
export interface DecodedFrame {
  header: FrameHeader;
  /** A view into the frame's bytes. */
  payload: Uint8Array;
}

/** The algorithm names this runtime compresses and decompresses (zlib where the Compression Streams API exists). */
export declare function supportedAlgorithms(): CompressionName[];

/** The op code of an op name, or the code itself. */
export declare function opCode(op: OpName | number): number;

/** The op name of an op code (the code as text for one the spec does not know). */
export declare function opName(code: number): string;

/** The base header of a frame of `kind`; a push takes the push request id whatever `requestId` is. */
export declare function baseHeader(kind: FrameKind, requestId: number, op: OpName | number): BaseHeader;

/** The algorithm id of a name or id. */
export declare function compressionId(algorithm: CompressionName | number): number;

/** One frame: the header, then the payload. */
export declare function encodeFrame(header: FrameHeader, payload?: Uint8Array): Uint8Array;

/** Reads a frame without copying. */
export declare function decodeFrame(bytes: Uint8Array): DecodedFrame;

/** `bytes` compressed with `algorithm` (an id; zlib only). */
export declare function compress(algorithm: number, bytes: Uint8Array): Promise<Uint8Array>;

/**
 * `bytes` decompressed with `algorithm` (an id; zlib only), at most `limit`
 * bytes: the stream is cancelled once the output crosses the limit.
 */
export declare function decompress(algorithm: number, bytes: Uint8Array, limit: number): Promise<Uint8Array>;

/** What a `FrameEncoder` does. */
export interface FrameEncoderOptions {
  /** Compress with this algorithm (default: never). */
  compression?: CompressionName | number | null;
  /** Chunk payloads larger than `chunkThreshold` (default false). */
  chunked?: boolean;
  /** Compress single-frame payloads of at least this many bytes (default `COMPRESS_THRESHOLD`). */
  threshold?: number;
  /** Payload bytes per chunk (default `CHUNK_SIZE`). */
  chunkSize?: number;
  /** Chunk payloads strictly larger than this (default `CHUNK_THRESHOLD`). */
  chunkThreshold?: number;
}

/** Builds frames the way the reference does. */
export declare class FrameEncoder {
  constructor(options?: FrameEncoderOptions);
  readonly compression: number | null;
  readonly chunked: boolean;
  readonly threshold: number;
  readonly chunkSize: number;
  readonly chunkThreshold: number;
  /** One frame carrying `payload`, compressed when it reaches the threshold. */
  encode(base: BaseHeader, payload: Uint8Array): Promise<Uint8Array>;
  /** The chunked frames of `payload`, each chunk compressed on its own when compression is on. */
  encodeChunked(base: BaseHeader, payload: Uint8Array): Promise<Uint8Array[]>;
  /** The frames a message goes out in. */
  frames(base: BaseHeader, payload: Uint8Array): Promise<Uint8Array[]>;
}
