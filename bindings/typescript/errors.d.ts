// Declarations of `errors.js`: the errors of the frame codec, the chunk
// assembler and the client.

/** What an error means for the connection: one message refused, or the peer condemned. */
export type ErrorScope = "message" | "connection";

/** What every error of this package shares. */
export declare class WireError extends Error {
  constructor(message: string, scope?: ErrorScope);
  readonly scope: ErrorScope;
}

/** The frame is larger than `limit` bytes. */
export declare class FrameTooLargeError extends WireError {
  constructor(len: number, limit: number);
  readonly len: number;
  readonly limit: number;
}

/** The frame announces an algorithm this runtime cannot do (LZMA in a browser). */
export declare class UnsupportedAlgorithmError extends WireError {
  constructor(algorithm: string);
  readonly algorithm: string;
}

/** The compressed data is not a valid stream of its algorithm. */
export declare class CorruptCompressedError extends WireError {
  constructor(algorithm: string, reason: string);
  readonly algorithm: string;
  readonly reason: string;
}

/** The payload decompresses to more than `limit` bytes; decompression stopped once it crossed it. */
export declare class DecompressedTooLargeError extends WireError {
  constructor(algorithm: string, limit: number, read: number);
  readonly algorithm: string;
  readonly limit: number;
  /** The bytes decompressed when the stream was cancelled. */
  readonly read: number;
}

/** The chunk size given to the encoder is not a positive integer. */
export declare class ChunkSizeError extends WireError {
  constructor(chunkSize: number);
  readonly chunkSize: number;
}

/** The payload needs more chunks than the chunk header can count. */
export declare class TooManyChunksError extends WireError {
  constructor(len: number, chunkSize: number, needed: number, max: number);
  readonly len: number;
  readonly chunkSize: number;
  readonly needed: number;
  readonly max: number;
}

/** What the errors of one chunked sequence share. */
export declare class SequenceError extends WireError {
  constructor(message: string, requestId: number, op: string, scope?: ErrorScope);
  readonly requestId: number;
  /** The op's name (or its code as text when the spec does not know it). */
  readonly op: string;
}

/** A chunk announces a total of 0 chunks. */
export declare class ZeroChunkTotalError extends SequenceError {
  constructor(requestId: number, op: string);
}

/** A chunk's index is at or past its total. */
export declare class ChunkIndexOutOfRangeError extends SequenceError {
  constructor(requestId: number, op: string, index: number, total: number);
  readonly index: number;
  readonly total: number;
}

/** A chunk arrived twice. */
export declare class DuplicateChunkError extends SequenceError {
  constructor(requestId: number, op: string, index: number);
  readonly index: number;
}

/** A chunk disagrees with the first chunk of its sequence. */
export declare class InconsistentChunkError extends SequenceError {
  constructor(
    requestId: number,
    op: string,
    index: number,
    what: "total" | "flags" | "compression",
    first: number | string,
    current: number | string,
  );
  readonly index: number;
  readonly what: "total" | "flags" | "compression";
  /** The value the sequence's first chunk set. */
  readonly first: number | string;
  /** The value in this chunk. */
  readonly current: number | string;
}

/** A sequence announces more chunks than a message may have. */
export declare class ChunkTotalTooLargeError extends SequenceError {
  constructor(requestId: number, op: string, total: number, limit: number);
  readonly total: number;
  readonly limit: number;
}

/** A new sequence would exceed the number of incomplete sequences allowed. */
export declare class TooManyPendingError extends SequenceError {
  constructor(requestId: number, op: string, limit: number);
  readonly limit: number;
}

/** A chunk would take the bytes held by all incomplete sequences past the budget. */
export declare class PendingBytesExceededError extends SequenceError {
  constructor(requestId: number, op: string, limit: number);
  readonly limit: number;
}

/** A message would exceed the limit. */
export declare class MessageTooLargeError extends SequenceError {
  constructor(requestId: number, op: string, limit: number);
  readonly limit: number;
}

/** The server answered a request with an error grid. */
export declare class HaystackError extends WireError {
  constructor(op: string, requestId: number, grid: unknown);
  readonly op: string;
  readonly requestId: number;
  /** The error grid's `dis`. */
  readonly dis: string;
  /** The error grid's `errTrace`, if it has one. */
  readonly errTrace: string | undefined;
  readonly grid: unknown;
}

/** No answer to a request came in time. */
export declare class RequestTimeoutError extends WireError {
  constructor(op: string, requestId: number, timeoutMs: number);
  readonly op: string;
  readonly requestId: number;
  readonly timeoutMs: number;
}

/** Every request id is waiting for an answer. */
export declare class RequestIdsExhaustedError extends WireError {
  constructor(pending: number);
  readonly pending: number;
}

/** The connection is closed, or closed before the request was answered. */
export declare class ConnectionClosedError extends WireError {
  constructor(code: number, reason: string);
  readonly code: number;
  readonly reason: string;
}

/** A response's payload is not a JSON grid. */
export declare class BadPayloadError extends WireError {
  constructor(op: string, requestId: number, reason: string);
  readonly op: string;
  readonly requestId: number;
  readonly reason: string;
}
