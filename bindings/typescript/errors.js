// The errors of the frame codec, the chunk assembler and the client, one
// class each, carrying the values at fault. Written by hand: nothing here
// depends on the spec.

/**
 * What every error of this package shares. `scope` says what it means for the
 * connection: `"message"` refuses one frame or one request and the connection
 * goes on; `"connection"` means the peer is broken or abusive and the
 * connection should close.
 */
export class WireError extends Error {
  constructor(message, scope = "message") {
    super(message);
    this.name = new.target.name;
    this.scope = scope;
  }
}

/** The frame is larger than `limit` bytes. */
export class FrameTooLargeError extends WireError {
  constructor(len, limit) {
    super(`frame of ${len} bytes exceeds the limit of ${limit} bytes`, "connection");
    this.len = len;
    this.limit = limit;
  }
}

/** The frame announces an algorithm this runtime cannot decompress or compress (LZMA in a browser). */
export class UnsupportedAlgorithmError extends WireError {
  constructor(algorithm) {
    super(`${algorithm} is not supported here; only zlib is (Compression Streams API)`);
    this.algorithm = algorithm;
  }
}

/** The compressed data is not a valid stream of its algorithm. */
export class CorruptCompressedError extends WireError {
  constructor(algorithm, reason) {
    super(`corrupt ${algorithm} data: ${reason}`);
    this.algorithm = algorithm;
    this.reason = reason;
  }
}

/** The payload decompresses to more than `limit` bytes; decompression stopped once it crossed it. */
export class DecompressedTooLargeError extends WireError {
  constructor(algorithm, limit, read) {
    super(`${algorithm} payload decompresses to more than the limit of ${limit} bytes`);
    this.algorithm = algorithm;
    this.limit = limit;
    /** The bytes decompressed when the stream was cancelled. */
    this.read = read;
  }
}

/** The chunk size given to the encoder is not a positive integer. */
export class ChunkSizeError extends WireError {
  constructor(chunkSize) {
    super(`the chunk size must be a whole number of bytes, at least one; it is ${chunkSize}`);
    this.chunkSize = chunkSize;
  }
}

/** The payload needs more chunks than the chunk header can count. */
export class TooManyChunksError extends WireError {
  constructor(len, chunkSize, needed, max) {
    super(`a payload of ${len} bytes needs ${needed} chunks of ${chunkSize} bytes; the chunk header counts at most ${max}`);
    this.len = len;
    this.chunkSize = chunkSize;
    this.needed = needed;
    this.max = max;
  }
}

/** What the errors of one chunked sequence share: the sequence's request id and op name. */
export class SequenceError extends WireError {
  constructor(message, requestId, op, scope = "message") {
    super(message, scope);
    this.requestId = requestId;
    this.op = op;
  }
}

/** A chunk announces a total of 0 chunks, which can never complete. */
export class ZeroChunkTotalError extends SequenceError {
  constructor(requestId, op) {
    super(`chunk of request ${requestId} (${op}) announces a total of 0 chunks`, requestId, op);
  }
}

/** A chunk's index is at or past its total. */
export class ChunkIndexOutOfRangeError extends SequenceError {
  constructor(requestId, op, index, total) {
    super(`chunk index ${index} of request ${requestId} (${op}) is not below its total ${total}`, requestId, op);
    this.index = index;
    this.total = total;
  }
}

/** A chunk arrived twice. */
export class DuplicateChunkError extends SequenceError {
  constructor(requestId, op, index) {
    super(`chunk ${index} of request ${requestId} (${op}) arrived twice`, requestId, op);
    this.index = index;
  }
}

/** A chunk disagrees with the first chunk of its sequence about `what`: `total`, `flags` or `compression`. */
export class InconsistentChunkError extends SequenceError {
  constructor(requestId, op, index, what, first, current) {
    super(
      `chunk ${index} of request ${requestId} (${op}) changes the sequence's ${what} from ${first} to ${current}`,
      requestId,
      op,
    );
    this.index = index;
    this.what = what;
    this.first = first;
    this.current = current;
  }
}

/** A sequence announces more chunks than a message may have. */
export class ChunkTotalTooLargeError extends SequenceError {
  constructor(requestId, op, total, limit) {
    super(`chunk of request ${requestId} (${op}) announces ${total} chunks, more than the limit of ${limit}`, requestId, op);
    this.total = total;
    this.limit = limit;
  }
}

/** A new sequence would exceed the number of incomplete sequences allowed. */
export class TooManyPendingError extends SequenceError {
  constructor(requestId, op, limit) {
    super(
      `chunk of request ${requestId} (${op}) would start a sequence past the limit of ${limit} pending`,
      requestId,
      op,
      "connection",
    );
    this.limit = limit;
  }
}

/** A chunk would take the bytes held by all incomplete sequences past the budget. */
export class PendingBytesExceededError extends SequenceError {
  constructor(requestId, op, limit) {
    super(
      `chunk of request ${requestId} (${op}) would take pending sequences past ${limit} bytes`,
      requestId,
      op,
      "connection",
    );
    this.limit = limit;
  }
}

/** A message would exceed the limit of `limit` bytes. */
export class MessageTooLargeError extends SequenceError {
  constructor(requestId, op, limit) {
    super(`message of request ${requestId} (${op}) exceeds the limit of ${limit} bytes`, requestId, op);
    this.limit = limit;
  }
}

/** The server answered a request with an error grid: `dis` is its text, `errTrace` its trace if any. */
export class HaystackError extends WireError {
  constructor(op, requestId, grid) {
    const meta = (grid && grid.meta) || {};
    const dis = typeof meta.dis === "string" ? meta.dis : "the server answered with an error grid";
    super(`${op} (request ${requestId}): ${dis}`);
    this.op = op;
    this.requestId = requestId;
    this.dis = dis;
    this.errTrace = typeof meta.errTrace === "string" ? meta.errTrace : undefined;
    this.grid = grid;
  }
}

/** No answer to a request came within `timeoutMs`. */
export class RequestTimeoutError extends WireError {
  constructor(op, requestId, timeoutMs) {
    super(`no answer to ${op} (request ${requestId}) within ${timeoutMs} ms`);
    this.op = op;
    this.requestId = requestId;
    this.timeoutMs = timeoutMs;
  }
}

/** Every request id is waiting for an answer; none is free for another request. */
export class RequestIdsExhaustedError extends WireError {
  constructor(pending) {
    super(`all ${pending} request ids are waiting for answers`);
    this.pending = pending;
  }
}

/** The connection is closed, or closed before the request was answered. */
export class ConnectionClosedError extends WireError {
  constructor(code, reason) {
    super(`the connection is closed (${code}${reason ? `: ${reason}` : ""})`, "connection");
    this.code = code;
    this.reason = reason;
  }
}

/** A response's payload is not a JSON grid. */
export class BadPayloadError extends WireError {
  constructor(op, requestId, reason) {
    super(`the payload of ${op} (request ${requestId}) is not a JSON grid: ${reason}`);
    this.op = op;
    this.requestId = requestId;
    this.reason = reason;
  }
}
