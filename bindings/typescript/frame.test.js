// Whole frames against the Rust crate, through the `hswire` command: HSWIRE
// must name its binary (`cargo build -p hswire`).
//
//   HSWIRE=target/debug/hswire node --test bindings/typescript/

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";

import { CHUNK_HEADER_FLAG, COMPRESS_THRESHOLD, COMP_ZLIB, FLAG_COMPRESSED, OP_CODES } from "./haystack_wire.js";
import { FrameDecoder } from "./assembler.js";
import { CorruptCompressedError, UnsupportedAlgorithmError } from "./errors.js";
import { FRAME_KINDS, FrameEncoder, baseHeader, decodeFrame, decompress, encodeFrame } from "./frame.js";

function hswire(args, input) {
  const binary = process.env.HSWIRE;
  assert.ok(binary, "HSWIRE must name the hswire binary");
  return execFileSync(binary, args, { input, encoding: "utf8", maxBuffer: 64 << 20 });
}

/** The frames `hswire encode` makes, as lowercase hex. */
function rustHex(kind, requestId, op, payload, extra = []) {
  const args = ["encode", "--op", op, "--request-id", String(requestId), "--kind", kind, ...extra];
  return hswire(args, Buffer.from(payload)).trim().split("\n");
}

const hex = (bytes) => Buffer.from(bytes).toString("hex");
const text = (s) => new TextEncoder().encode(s);

// hswire spells the error kind `error`, as FRAME_KINDS does.
const KINDS = Object.keys(FRAME_KINDS);

test("every kind of single plain frame is byte for byte the one the Rust crate makes", async () => {
  const payload = text('{"_kind":"grid","meta":{"ver":"3.0"},"cols":[{"name":"empty"}],"rows":[]}');
  for (const kind of KINDS) {
    for (const op of ["about", "read", "hisRead", "watchPoll"]) {
      const requestId = kind === "push" ? 0 : 4242;
      const ours = await new FrameEncoder().encode(baseHeader(kind, requestId, op), payload);
      assert.deepEqual([hex(ours)], rustHex(kind, requestId, op, payload), `${kind} ${op}`);
    }
  }
});

test("every kind of chunked plain sequence is byte for byte the one the Rust crate makes", async () => {
  const payload = text("x".repeat(10_000));
  for (const kind of KINDS) {
    const requestId = kind === "push" ? 0 : 65535;
    const encoder = new FrameEncoder({ chunkSize: 4096 });
    const ours = await encoder.encodeChunked(baseHeader(kind, requestId, "hisRead"), payload);
    assert.equal(ours.length, 3);
    assert.deepEqual(ours.map(hex), rustHex(kind, requestId, "hisRead", payload, ["--chunk-size", "4096"]), kind);
  }
  // An empty payload is still one chunk.
  const empty = await new FrameEncoder({ chunkSize: 16 }).encodeChunked(baseHeader("response", 7, "read"), new Uint8Array(0));
  assert.deepEqual(empty.map(hex), rustHex("response", 7, "read", "", ["--chunk-size", "16"]));
});

test("a payload under the compression threshold goes out as the same v1 frame the Rust crate makes", async () => {
  const payload = text("y".repeat(COMPRESS_THRESHOLD - 1));
  const ours = await new FrameEncoder({ compression: "zlib" }).encode(baseHeader("request", 9, "read"), payload);
  assert.equal(ours[0] & FLAG_COMPRESSED, 0);
  assert.deepEqual([hex(ours)], rustHex("request", 9, "read", payload, ["--compression", "zlib"]));
});

test("compressed frames carry the Rust crate's headers, and each side reads the other's payload", async () => {
  // The Compression Streams API does not take a level: the zlib streams differ
  // from the reference's level-1 bytes, the headers and the payloads do not.
  const payload = text(JSON.stringify({ rows: Array.from({ length: 400 }, (_, i) => ({ i, v: i * 1.5 })) }));
  for (const kind of KINDS) {
    const requestId = kind === "push" ? 0 : 300;
    const encoder = new FrameEncoder({ compression: "zlib" });
    const ours = await encoder.encode(baseHeader(kind, requestId, "read"), payload);
    const [theirs] = rustHex(kind, requestId, "read", payload, ["--compression", "zlib"]);
    const theirBytes = Uint8Array.from(Buffer.from(theirs, "hex"));
    assert.deepEqual(decodeFrame(ours).header, decodeFrame(theirBytes).header, kind);
    assert.equal(decodeFrame(ours).header.algorithm, COMP_ZLIB);

    const message = await new FrameDecoder().decode(theirBytes);
    assert.deepEqual(message.payload, payload, `${kind}: ours reads theirs`);
    const [line] = hswire(["decode"], `${hex(ours)}\n`).trim().split("\n");
    assert.equal(JSON.parse(line).payload_hex, hex(payload), `${kind}: theirs reads ours`);
  }
});

test("compressed chunks the Rust crate makes are reassembled, and it reassembles ours", async () => {
  const payload = text("abcdefghij".repeat(30_000));
  const theirs = rustHex("response", 12, "hisRead", payload, ["--compression", "zlib", "--chunk-size", "65536"]);
  assert.equal(theirs.length, 5);
  const decoder = new FrameDecoder();
  const results = [];
  // Out of order: the last chunk first.
  for (const frame of [theirs[4], ...theirs.slice(0, 4)]) {
    results.push(await decoder.decode(Uint8Array.from(Buffer.from(frame, "hex"))));
  }
  assert.deepEqual(results.slice(0, 4), [null, null, null, null]);
  const message = results[4];
  assert.equal(message.flags, FRAME_KINDS.response, "the section flags are dropped");
  assert.equal(message.op, OP_CODES.hisRead);
  assert.deepEqual(message.payload, payload);

  const ours = await new FrameEncoder({ compression: "zlib", chunkSize: 65536 }).encodeChunked(
    baseHeader("response", 12, "hisRead"),
    payload,
  );
  assert.ok(ours.every((frame) => (frame[0] & (FLAG_COMPRESSED | CHUNK_HEADER_FLAG)) === (FLAG_COMPRESSED | CHUNK_HEADER_FLAG)));
  const lines = hswire(["decode"], `${ours.map(hex).join("\n")}\n`).trim().split("\n");
  assert.equal(lines.length, 1, "one message from five chunks");
  assert.equal(JSON.parse(lines[0]).payload_hex, hex(payload));
});

test("frames the encoder writes by hand round-trip through decodeFrame", () => {
  const header = { flags: FRAME_KINDS.error | CHUNK_HEADER_FLAG, requestId: 513, op: OP_CODES.nav, index: 2, total: 3 };
  const frame = encodeFrame(header, text("oops"));
  const decoded = decodeFrame(frame);
  assert.deepEqual(decoded.header, header);
  assert.equal(new TextDecoder().decode(decoded.payload), "oops");
  assert.equal(decoded.payload.buffer, frame.buffer, "the payload is a view, not a copy");
});

test("corrupt zlib data and an algorithm the runtime lacks are refused with typed errors", async () => {
  await assert.rejects(decompress(COMP_ZLIB, Uint8Array.from([1, 2, 3, 4]), 1 << 20), (error) => {
    assert.ok(error instanceof CorruptCompressedError);
    assert.equal(error.algorithm, "zlib");
    return true;
  });
  // An LZMA frame (algorithm id 1) from the Rust crate: no browser decodes raw LZMA2.
  const [lzma] = rustHex("response", 1, "read", "z".repeat(2000), ["--compression", "lzma"]);
  await assert.rejects(new FrameDecoder().decode(Uint8Array.from(Buffer.from(lzma, "hex"))), (error) => {
    assert.ok(error instanceof UnsupportedAlgorithmError);
    assert.equal(error.algorithm, "lzma");
    return true;
  });
  assert.throws(() => new FrameEncoder({ compression: "lzma" }), UnsupportedAlgorithmError);
});
