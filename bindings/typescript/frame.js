// Whole frames over Uint8Array: header and payload, zlib through the
// Compression Streams API, single and chunked frames the way the reference
// sends them. Written by hand; every wire value comes from the generated
// module.

import {
  ALGORITHM_HEADER_FLAG,
  CHUNK_HEADER_FLAG,
  CHUNK_SIZE,
  CHUNK_THRESHOLD,
  CODE_OPS,
  COMPRESSION_IDS,
  COMPRESSION_NAMES,
  COMPRESS_THRESHOLD,
  FLAG_ERROR,
  FLAG_PUSH,
  FLAG_RESPONSE,
  OP_CODES,
  PUSH_REQUEST_ID,
  ZLIB_CONTAINER,
  decodeHeader,
  encodeHeader,
  headerSize,
} from "./haystack_wire.js";
import {
  ChunkSizeError,
  CorruptCompressedError,
  DecompressedTooLargeError,
  TooManyChunksError,
  UnsupportedAlgorithmError,
} from "./errors.js";

/** The flags of each kind of frame: a request has none of the kind flags. */
export const FRAME_KINDS = Object.freeze({
  request: 0,
  response: FLAG_RESPONSE,
  error: FLAG_RESPONSE | FLAG_ERROR,
  push: FLAG_PUSH,
});

/** The flags that describe a frame's sections, not its message: a message drops them once decoded. */
export const SECTION_FLAGS = ALGORITHM_HEADER_FLAG | CHUNK_HEADER_FLAG;

/** The most chunks the chunk header can count (its `total` is a u16). */
const MAX_CHUNK_TOTAL = 0xffff;

/**
 * The Compression Streams format of each algorithm this runtime can do. The
 * streams call the zlib container (RFC 1950) `deflate` and a bare DEFLATE
 * stream `deflate-raw`; the spec says which container zlib frames carry.
 */
const STREAM_FORMATS = Object.freeze({
  [COMPRESSION_IDS.zlib]: { zlib: "deflate", raw: "deflate-raw" }[ZLIB_CONTAINER],
});

/** The algorithm names this runtime compresses and decompresses, in order of preference. */
export function supportedAlgorithms() {
  if (typeof CompressionStream !== "function" || typeof DecompressionStream !== "function") {
    return [];
  }
  return Object.keys(STREAM_FORMATS).map((id) => COMPRESSION_NAMES[id]);
}

/** The op code of an op name, or the code itself. */
export function opCode(op) {
  if (typeof op === "number") return op;
  const code = OP_CODES[op];
  if (code === undefined) throw new TypeError(`unknown op ${JSON.stringify(op)}`);
  return code;
}

/** The op name of an op code (or the code as text, for one the spec does not know). */
export function opName(code) {
  return CODE_OPS[code] ?? String(code);
}

/** The base header of a frame of `kind` (`request`, `response`, `error` or `push`). */
export function baseHeader(kind, requestId, op) {
  const flags = FRAME_KINDS[kind];
  if (flags === undefined) throw new TypeError(`unknown frame kind ${JSON.stringify(kind)}`);
  return { flags, requestId: kind === "push" ? PUSH_REQUEST_ID : requestId, op: opCode(op) };
}

/** One frame: `header` (as `encodeHeader` takes it) and then `payload`. */
export function encodeFrame(header, payload = new Uint8Array(0)) {
  const size = headerSize(header.flags);
  const frame = new Uint8Array(size + payload.byteLength);
  encodeHeader(new DataView(frame.buffer), header, 0);
  frame.set(payload, size);
  return frame;
}

/** Reads a frame without copying: its header, and its payload as a view into `bytes`. */
export function decodeFrame(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { header, payloadOffset } = decodeHeader(view);
  return { header, payload: bytes.subarray(payloadOffset) };
}

function streamFormat(algorithm) {
  const format = STREAM_FORMATS[algorithm];
  const name = COMPRESSION_NAMES[algorithm] ?? String(algorithm);
  if (format === undefined || typeof DecompressionStream !== "function") {
    throw new UnsupportedAlgorithmError(name);
  }
  return { format, name };
}

function concat(parts, length) {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/** `bytes` compressed with `algorithm` (an id; zlib only). */
export async function compress(algorithm, bytes) {
  const { format } = streamFormat(algorithm);
  const stream = new CompressionStream(format);
  const writer = stream.writable.getWriter();
  // Not awaited before reading: the writer waits for the reader to drain.
  const written = writer.write(bytes).then(() => writer.close());
  const reader = stream.readable.getReader();
  const parts = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    length += value.byteLength;
  }
  await written;
  return concat(parts, length);
}

/**
 * `bytes` decompressed with `algorithm` (an id; zlib only), at most `limit`
 * bytes. The output is counted as it streams out: once it crosses `limit`, the
 * stream is cancelled and nothing more is inflated, whatever the input claims.
 */
export async function decompress(algorithm, bytes, limit) {
  const { format, name } = streamFormat(algorithm);
  const stream = new DecompressionStream(format);
  const writer = stream.writable.getWriter();
  // Errors surface on the reader too; this only keeps them from going unhandled.
  writer
    .write(bytes)
    .then(() => writer.close())
    .catch(() => {});
  const reader = stream.readable.getReader();
  const parts = [];
  let length = 0;
  for (;;) {
    let step;
    try {
      step = await reader.read();
    } catch (error) {
      throw new CorruptCompressedError(name, error instanceof Error ? error.message : String(error));
    }
    if (step.done) break;
    length += step.value.byteLength;
    if (length > limit) {
      await reader.cancel().catch(() => {});
      await writer.abort().catch(() => {});
      throw new DecompressedTooLargeError(name, limit, length);
    }
    parts.push(step.value);
  }
  return concat(parts, length);
}

/**
 * Builds frames the way the reference does: one frame per message, compressed
 * when an algorithm is set and the payload reaches the threshold; or, when
 * chunking is on and the payload is larger than the chunk threshold, chunks of
 * `chunkSize` bytes, each compressed on its own when an algorithm is set.
 */
export class FrameEncoder {
  constructor({
    compression = null,
    chunked = false,
    threshold = COMPRESS_THRESHOLD,
    chunkSize = CHUNK_SIZE,
    chunkThreshold = CHUNK_THRESHOLD,
  } = {}) {
    this.compression = compression === null ? null : compressionId(compression);
    // Refused here rather than at the first large payload.
    if (this.compression !== null) streamFormat(this.compression);
    this.chunked = chunked;
    this.threshold = threshold;
    this.chunkSize = chunkSize;
    this.chunkThreshold = chunkThreshold;
  }

  /** One frame carrying `payload`. */
  async encode(base, payload) {
    const algorithm = this.compression !== null && payload.byteLength >= this.threshold ? this.compression : null;
    return this.#frame(base, algorithm, undefined, payload);
  }

  /** The chunked frames of `payload`: ceil(len / chunk size) of them, one for an empty payload. */
  async encodeChunked(base, payload) {
    const size = this.chunkSize;
    if (!Number.isInteger(size) || size < 1) throw new ChunkSizeError(size);
    const total = Math.max(1, Math.ceil(payload.byteLength / size));
    if (total > MAX_CHUNK_TOTAL) throw new TooManyChunksError(payload.byteLength, size, total, MAX_CHUNK_TOTAL);
    const frames = [];
    for (let index = 0; index < total; index++) {
      const chunk = payload.subarray(index * size, (index + 1) * size);
      frames.push(await this.#frame(base, this.compression, { index, total }, chunk));
    }
    return frames;
  }

  /** The frames a message goes out in: chunked when chunking is on and the payload is over the threshold. */
  async frames(base, payload) {
    if (this.chunked && payload.byteLength > this.chunkThreshold) {
      return this.encodeChunked(base, payload);
    }
    return [await this.encode(base, payload)];
  }

  async #frame(base, algorithm, chunk, payload) {
    let flags = base.flags & ~SECTION_FLAGS;
    const header = { flags, requestId: base.requestId, op: base.op };
    let body = payload;
    if (algorithm !== null) {
      flags |= ALGORITHM_HEADER_FLAG;
      header.algorithm = algorithm;
      body = await compress(algorithm, payload);
    }
    if (chunk !== undefined) {
      flags |= CHUNK_HEADER_FLAG;
      header.index = chunk.index;
      header.total = chunk.total;
    }
    header.flags = flags;
    return encodeFrame(header, body);
  }
}

/** The algorithm id of a name or id. */
export function compressionId(algorithm) {
  if (typeof algorithm === "number" && algorithm in COMPRESSION_NAMES) return algorithm;
  const id = COMPRESSION_IDS[algorithm];
  if (id === undefined) throw new UnsupportedAlgorithmError(String(algorithm));
  return id;
}
