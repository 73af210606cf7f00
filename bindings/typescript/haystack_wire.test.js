// Checks the generated browser binding against the Rust crate, through the
// `hswire` command: HSWIRE must name its binary (`cargo build -p hswire`).
//
//   HSWIRE=target/debug/hswire node --test bindings/typescript/

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";

import {
  CHUNK_HEADER_SIZE,
  CODE_OPS,
  COMP_ZLIB,
  FLAG_CHUNKED,
  FLAG_COMPRESSED,
  FLAG_ERROR,
  FLAG_PUSH,
  FLAG_RESPONSE,
  HeaderError,
  LOGIN_HASH,
  LOGIN_REFUSAL,
  LOGIN_STEPS,
  MAX_BATCH_SIZE,
  MESSAGE_FIELDS,
  MESSAGE_REQUIRED_FIELDS,
  MESSAGE_SENDERS,
  MESSAGE_TYPE_FIELD,
  MESSAGE_TYPES,
  OP_CODES,
  UNKNOWN_OP_ANSWERED_UNLESS,
  UNKNOWN_OP_POLICY,
  decodeHeader,
  encodeHeader,
  headerSize,
} from "./haystack_wire.js";

function hswire(args, input) {
  const binary = process.env.HSWIRE;
  assert.ok(binary, "HSWIRE must name the hswire binary");
  return execFileSync(binary, args, { input, encoding: "utf8" });
}

/** Frames `hswire encode` makes from `payload`, as DataViews. */
function rustFrames(args, payload) {
  return hswire(["encode", ...args], payload)
    .trim()
    .split("\n")
    .map((hex) => new DataView(Uint8Array.from(Buffer.from(hex, "hex")).buffer));
}

test("decodes a plain response made by the Rust crate", () => {
  const payload = '{"_kind":"grid"}';
  const [view] = rustFrames(["--op", "hisRead", "--request-id", "300", "--kind", "response"], payload);
  const { header, payloadOffset } = decodeHeader(view);
  assert.deepEqual(header, { flags: FLAG_RESPONSE, requestId: 300, op: OP_CODES.hisRead });
  assert.equal(CODE_OPS[header.op], "hisRead");
  assert.equal(payloadOffset, headerSize(header.flags));
  assert.equal(Buffer.from(view.buffer, payloadOffset).toString(), payload);
});

test("decodes compressed chunks made by the Rust crate", () => {
  const payload = "z".repeat(10_000);
  const frames = rustFrames(
    ["--op", "read", "--request-id", "9", "--kind", "response", "--compression", "zlib", "--chunk-size", "4096"],
    payload,
  );
  assert.equal(frames.length, 3);
  frames.forEach((view, index) => {
    const { header, payloadOffset } = decodeHeader(view);
    assert.deepEqual(header, {
      flags: FLAG_RESPONSE | FLAG_COMPRESSED | FLAG_CHUNKED,
      requestId: 9,
      op: OP_CODES.read,
      algorithm: COMP_ZLIB,
      index,
      total: 3,
    });
    assert.equal(payloadOffset, 9);
  });
});

test("a header it encodes is read by the Rust crate", () => {
  const payload = Buffer.from('{"ok":true}');
  const flags = FLAG_RESPONSE | FLAG_CHUNKED;
  const frame = new Uint8Array(headerSize(flags) + payload.length);
  const view = new DataView(frame.buffer);
  const written = encodeHeader(view, { flags, requestId: 65535, op: OP_CODES.watchSub, index: 0, total: 1 });
  assert.equal(written, 4 + CHUNK_HEADER_SIZE);
  frame.set(payload, written);
  const [line] = hswire(["decode"], Buffer.from(frame).toString("hex") + "\n").trim().split("\n");
  // The message a one-chunk sequence reassembles into keeps the frame's kind
  // flags; the chunked flag describes the frame, not the message.
  assert.deepEqual(JSON.parse(line), {
    request_id: 65535,
    op: "watchSub",
    flags: FLAG_RESPONSE,
    payload_hex: payload.toString("hex"),
  });
});

test("refuses what the Rust decoder refuses, with a reason", () => {
  const reason = (bytes) => {
    try {
      decodeHeader(new DataView(Uint8Array.from(bytes).buffer));
    } catch (error) {
      assert.ok(error instanceof HeaderError);
      return error.reason;
    }
    return "accepted";
  };
  assert.equal(reason([0x01, 0x00]), "truncated");
  assert.equal(reason([0x20, 0x00, 0x01, 0x01]), "unused_bits");
  assert.equal(reason([0x01, 0x00, 0x01, 0x63]), "unknown_op");
  assert.equal(reason([0x08, 0x00, 0x01, 0x01, 0x07]), "unknown_algorithm");
  assert.equal(reason([0x10, 0x00, 0x01, 0x01, 0x00]), "truncated");
  assert.equal(reason([0x01, 0x00, 0x01, 0x01]), "accepted");
});

test("an unknown op carries the base header and whether to answer it", () => {
  assert.equal(UNKNOWN_OP_POLICY, "answer");
  assert.equal(UNKNOWN_OP_ANSWERED_UNLESS, FLAG_RESPONSE | FLAG_PUSH);
  assert.equal(CODE_OPS[200], undefined);
  const refusal = (flags) => {
    try {
      decodeHeader(new DataView(Uint8Array.from([flags, 0x01, 0x2c, 200, 0x7b, 0x7d]).buffer));
    } catch (error) {
      assert.ok(error instanceof HeaderError);
      return error;
    }
    assert.fail("op 200 was accepted");
  };
  const request = refusal(0);
  assert.equal(request.reason, "unknown_op");
  assert.deepEqual(request.header, { flags: 0, requestId: 300, op: 200 });
  assert.equal(request.answerable, true);
  assert.equal(refusal(FLAG_COMPRESSED).answerable, true, "the sections after the base header are not read");
  for (const flags of [FLAG_RESPONSE, FLAG_RESPONSE | FLAG_ERROR, FLAG_PUSH]) {
    const error = refusal(flags);
    assert.deepEqual(error.header, { flags, requestId: 300, op: 200 });
    assert.equal(error.answerable, false, `flags ${flags}`);
  }

  // The answer: an error response echoing the id and the op byte.
  const view = new DataView(new ArrayBuffer(headerSize(FLAG_RESPONSE | FLAG_ERROR)));
  encodeHeader(view, { ...request.header, flags: FLAG_RESPONSE | FLAG_ERROR });
  assert.deepEqual([...new Uint8Array(view.buffer)], [0x03, 0x01, 0x2c, 200]);
});

test("refuses to encode a field that is missing or out of range", () => {
  const view = new DataView(new ArrayBuffer(16));
  assert.throws(() => encodeHeader(view, { flags: FLAG_COMPRESSED, requestId: 1, op: 1 }), {
    reason: "missing_field",
  });
  assert.throws(() => encodeHeader(view, { flags: 0, requestId: 70000, op: 1 }), { reason: "out_of_range" });
  assert.throws(() => encodeHeader(new DataView(new ArrayBuffer(3)), { flags: 0, requestId: 1, op: 1 }), {
    reason: "truncated",
  });
});

test("every typed text message carries its type in a required key", () => {
  assert.equal(MESSAGE_TYPE_FIELD, "type");
  for (const [name, keys] of Object.entries(MESSAGE_FIELDS)) {
    assert.ok(Object.isFrozen(keys), name);
    for (const key of MESSAGE_REQUIRED_FIELDS[name]) {
      assert.ok(keys.includes(key), `${name}.${key}`);
    }
    if (name in MESSAGE_TYPES) {
      assert.equal(keys[0], MESSAGE_TYPE_FIELD, name);
      assert.ok(MESSAGE_REQUIRED_FIELDS[name].includes(MESSAGE_TYPE_FIELD), name);
    } else {
      assert.ok(!keys.includes(MESSAGE_TYPE_FIELD), name);
    }
  }
  // The reference's envelopes: {"id", "op", "grid"} out, {"grid", "id"} back.
  assert.deepEqual(MESSAGE_REQUIRED_FIELDS.request, ["id", "op"]);
  assert.deepEqual(MESSAGE_FIELDS.response.slice(0, 2), ["grid", "id"]);
  assert.deepEqual(MESSAGE_FIELDS.watch_push, ["type", "watchId", "grid"]);
  assert.equal(MAX_BATCH_SIZE, 1000);
});

test("the login alternates from the client, ends with the server, and is refused by the server", () => {
  assert.equal(LOGIN_HASH, "SHA-256");
  assert.equal(LOGIN_STEPS.length % 2, 0);
  LOGIN_STEPS.forEach((step, index) => {
    assert.equal(MESSAGE_SENDERS[step], index % 2 === 0 ? "client" : "server", step);
  });
  assert.equal(MESSAGE_SENDERS[LOGIN_REFUSAL], "server");
  assert.deepEqual(
    LOGIN_STEPS.map((step) => MESSAGE_TYPES[step]),
    ["hello", "hello", "scram", "scram", "scram", "authOk"],
  );
  assert.equal(MESSAGE_TYPES[LOGIN_REFUSAL], "authErr");
  // A hello as the reference's client writes it: the user name in unpadded base64url.
  const hello = { [MESSAGE_TYPE_FIELD]: MESSAGE_TYPES.hello, username: Buffer.from("ann").toString("base64url") };
  assert.deepEqual(Object.keys(hello), MESSAGE_FIELDS.hello);
  assert.equal(hello.username, "YW5u");
});
