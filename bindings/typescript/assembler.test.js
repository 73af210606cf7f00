// The chunk assembler's rules and limits, and decompression capped while it
// streams: the same refusals as the Rust crate's assembler and decoder.

import assert from "node:assert/strict";
import { test } from "node:test";
import { deflateSync } from "node:zlib";

import { CHUNK_HEADER_FLAG, COMP_ZLIB, FLAG_COMPRESSED, FLAG_RESPONSE, OP_CODES, REASSEMBLY_TTL } from "./haystack_wire.js";
import { ChunkAssembler, DEFAULT_LIMITS, FrameDecoder } from "./assembler.js";
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
import { encodeFrame } from "./frame.js";

const READ = OP_CODES.read;
const chunk = (requestId, index, total, extra = {}) => ({
  flags: FLAG_RESPONSE | CHUNK_HEADER_FLAG,
  requestId,
  op: READ,
  index,
  total,
  ...extra,
});
const bytes = (n, fill = 0x61) => new Uint8Array(n).fill(fill);

/** The error `fn` throws, checked to be an instance of `type`. */
function refusal(fn, type) {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof type, `${error.name}: ${error.message}`);
    return error;
  }
  assert.fail(`no ${type.name}`);
}

test("the default limits are the Rust crate's", () => {
  assert.deepEqual(DEFAULT_LIMITS, {
    maxFrame: 64 << 20,
    maxFramePayload: 64 << 20,
    maxMessage: 64 << 20,
    maxChunks: 1024,
    maxPending: 64,
    maxPendingBytes: 128 << 20,
  });
  assert.equal(new ChunkAssembler().ttlMs, REASSEMBLY_TTL * 1000);
});

test("chunks in any order make one message; the chunked flag is dropped from it", () => {
  const assembler = new ChunkAssembler();
  assert.equal(assembler.insert(chunk(5, 2, 3), bytes(1, 0x63)), null);
  assert.equal(assembler.insert(chunk(5, 0, 3), bytes(1, 0x61)), null);
  assert.equal(assembler.pendingCount, 1);
  assert.equal(assembler.pendingBytes, 2);
  const message = assembler.insert(chunk(5, 1, 3), bytes(1, 0x62));
  assert.deepEqual(message, { flags: FLAG_RESPONSE, requestId: 5, op: READ, payload: new TextEncoder().encode("abc") });
  assert.equal(assembler.pendingCount, 0);
  assert.equal(assembler.pendingBytes, 0);
});

test("a total of zero and an index at or past the total are refused with the values at fault", () => {
  const assembler = new ChunkAssembler();
  const zero = refusal(() => assembler.insert(chunk(1, 0, 0), bytes(1)), ZeroChunkTotalError);
  assert.deepEqual([zero.requestId, zero.op, zero.scope], [1, "read", "message"]);
  const past = refusal(() => assembler.insert(chunk(2, 3, 3), bytes(1)), ChunkIndexOutOfRangeError);
  assert.deepEqual([past.requestId, past.index, past.total], [2, 3, 3]);
  assert.equal(assembler.pendingCount, 0);
});

test("a total over the chunk limit is refused on its first chunk, before anything is stored", () => {
  const assembler = new ChunkAssembler({ limits: { maxChunks: 8 } });
  const error = refusal(() => assembler.insert(chunk(1, 0, 9), bytes(10)), ChunkTotalTooLargeError);
  assert.deepEqual([error.total, error.limit], [9, 8]);
  assert.equal(assembler.pendingBytes, 0);
});

test("a duplicate chunk is refused and drops its sequence, not the others", () => {
  const assembler = new ChunkAssembler();
  assembler.insert(chunk(1, 0, 3), bytes(4));
  assembler.insert(chunk(2, 0, 2), bytes(4));
  const error = refusal(() => assembler.insert(chunk(1, 0, 3), bytes(4)), DuplicateChunkError);
  assert.deepEqual([error.requestId, error.index], [1, 0]);
  assert.equal(assembler.pendingCount, 1, "request 2's sequence is kept");
  assert.equal(assembler.pendingBytes, 4);
  assert.notEqual(assembler.insert(chunk(2, 1, 2), bytes(4)), null);
});

test("a chunk that changes the total, the flags or the compression mid-sequence is refused", () => {
  const assembler = new ChunkAssembler();
  const cases = [
    [chunk(1, 1, 4), "total", 3, 4],
    [chunk(1, 1, 3, { flags: FLAG_RESPONSE | 0x02 | CHUNK_HEADER_FLAG }), "flags", FLAG_RESPONSE | CHUNK_HEADER_FLAG, FLAG_RESPONSE | 0x02 | CHUNK_HEADER_FLAG],
    [chunk(1, 1, 3, { flags: FLAG_RESPONSE | CHUNK_HEADER_FLAG | FLAG_COMPRESSED, algorithm: COMP_ZLIB }), "flags", FLAG_RESPONSE | CHUNK_HEADER_FLAG, FLAG_RESPONSE | CHUNK_HEADER_FLAG | FLAG_COMPRESSED],
  ];
  for (const [header, what, first, current] of cases) {
    assembler.insert(chunk(1, 0, 3), bytes(2));
    const error = refusal(() => assembler.insert(header, bytes(2)), InconsistentChunkError);
    assert.deepEqual([error.what, error.first, error.current, error.index], [what, first, current, 1]);
    assert.equal(assembler.pendingCount, 0, "the sequence is dropped");
  }
  // Same flags, another algorithm byte: the compression changed.
  const zlibChunk = (index) => chunk(1, index, 2, { flags: FLAG_RESPONSE | CHUNK_HEADER_FLAG | FLAG_COMPRESSED, algorithm: COMP_ZLIB });
  assembler.insert(zlibChunk(0), bytes(2));
  const error = refusal(() => assembler.insert({ ...zlibChunk(1), algorithm: 1 }, bytes(2)), InconsistentChunkError);
  assert.deepEqual([error.what, error.first, error.current], ["compression", "zlib", "lzma"]);
});

test("more pending sequences than the limit are refused as a connection matter", () => {
  const assembler = new ChunkAssembler({ limits: { maxPending: 3 } });
  for (const id of [1, 2, 3]) assembler.insert(chunk(id, 0, 2), bytes(1));
  const error = refusal(() => assembler.insert(chunk(4, 0, 2), bytes(1)), TooManyPendingError);
  assert.deepEqual([error.requestId, error.limit, error.scope], [4, 3, "connection"]);
  assert.equal(assembler.pendingCount, 3);
  // A chunk of a sequence already pending still gets in.
  assert.notEqual(assembler.insert(chunk(1, 1, 2), bytes(1)), null);
});

test("chunks past the pending bytes budget or the message limit are refused, naming the limit hit", () => {
  const budget = new ChunkAssembler({ limits: { maxPendingBytes: 100, maxMessage: 1000 } });
  budget.insert(chunk(1, 0, 3), bytes(60));
  const bytesError = refusal(() => budget.insert(chunk(2, 0, 3), bytes(60)), PendingBytesExceededError);
  assert.deepEqual([bytesError.requestId, bytesError.limit, bytesError.scope], [2, 100, "connection"]);
  assert.equal(budget.pendingBytes, 60, "request 1 is kept");

  const message = new ChunkAssembler({ limits: { maxMessage: 100 } });
  message.insert(chunk(1, 0, 3), bytes(60));
  const tooLarge = refusal(() => message.insert(chunk(1, 1, 3), bytes(60)), MessageTooLargeError);
  assert.deepEqual([tooLarge.requestId, tooLarge.limit], [1, 100]);
  assert.equal(message.pendingBytes, 0, "its sequence is dropped");
});

test("a sequence expires a TTL after its first chunk, whatever came since", () => {
  let now = 1_000_000;
  const assembler = new ChunkAssembler({ ttlMs: 60_000, now: () => now });
  assembler.insert(chunk(1, 0, 3), bytes(5));
  now += 59_000;
  assembler.insert(chunk(1, 1, 3), bytes(5));
  now += 1_000;
  assert.equal(assembler.sweepExpired(), 0, "exactly the TTL is still within it");
  now += 1;
  // The last chunk comes too late: the sequence is gone, and it starts a new one.
  assert.equal(assembler.insert(chunk(1, 2, 3), bytes(5)), null);
  assert.equal(assembler.pendingBytes, 5);
  assert.equal(assembler.pendingCount, 1);
});

test("a frame over the frame limit is refused before its header is read", async () => {
  const decoder = new FrameDecoder({ limits: { maxFrame: 100 } });
  await assert.rejects(decoder.decode(new Uint8Array(101)), (error) => {
    assert.ok(error instanceof FrameTooLargeError);
    assert.deepEqual([error.len, error.limit], [101, 100]);
    return true;
  });
});

test("a zlib bomb is stopped at the cap while it streams, not after", async () => {
  const bomb = deflateSync(Buffer.alloc(256 << 20), { level: 9 });
  assert.ok(bomb.length < 300_000, "256 MiB of zeros compress to a few hundred KiB");
  const frame = encodeFrame(
    { flags: FLAG_RESPONSE | FLAG_COMPRESSED, requestId: 3, op: READ, algorithm: COMP_ZLIB },
    new Uint8Array(bomb),
  );
  const cap = 1 << 20;
  const decoder = new FrameDecoder({ limits: { maxFramePayload: cap } });
  await assert.rejects(decoder.decode(frame), (error) => {
    assert.ok(error instanceof DecompressedTooLargeError, error.message);
    assert.equal(error.limit, cap);
    assert.ok(error.read > cap, "it crossed the cap");
    assert.ok(error.read < 2 * cap, `it stopped soon after: ${error.read} bytes inflated of 256 MiB`);
    return true;
  });
  // The decoder goes on with the next frame.
  const next = encodeFrame({ flags: FLAG_RESPONSE, requestId: 4, op: READ }, new TextEncoder().encode("{}"));
  assert.equal((await decoder.decode(next)).requestId, 4);
});

test("a compressed chunk that inflates past its sequence's room is refused as the message's", async () => {
  const limits = { maxMessage: 200_000 };
  const decoder = new FrameDecoder({ limits });
  const zlibChunk = (index, size) =>
    encodeFrame(
      { flags: FLAG_RESPONSE | FLAG_COMPRESSED | CHUNK_HEADER_FLAG, requestId: 8, op: READ, algorithm: COMP_ZLIB, index, total: 3 },
      new Uint8Array(deflateSync(Buffer.alloc(size))),
    );
  assert.equal(await decoder.decode(zlibChunk(0, 150_000)), null);
  await assert.rejects(decoder.decode(zlibChunk(1, 150_000)), (error) => {
    assert.ok(error instanceof MessageTooLargeError, error.message);
    assert.deepEqual([error.requestId, error.limit], [8, 200_000]);
    return true;
  });
  assert.equal(decoder.assembler.pendingCount, 0);
});

test("frames are decoded in the order they were fed, whatever decompression takes", async () => {
  const decoder = new FrameDecoder();
  const big = encodeFrame(
    { flags: FLAG_RESPONSE | FLAG_COMPRESSED, requestId: 1, op: READ, algorithm: COMP_ZLIB },
    new Uint8Array(deflateSync(Buffer.alloc(8 << 20))),
  );
  const small = encodeFrame({ flags: FLAG_RESPONSE, requestId: 2, op: READ }, new Uint8Array(2));
  const order = [];
  await Promise.all([
    decoder.decode(big).then((m) => order.push(m.requestId)),
    decoder.decode(small).then((m) => order.push(m.requestId)),
  ]);
  assert.deepEqual(order, [1, 2]);
});
