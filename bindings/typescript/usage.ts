// Type-checked by `tsc --noEmit` in CI (scripts/check-bindings.sh): how a
// TypeScript program uses the modules, through their declarations only.
// Nothing runs it.

import { CHUNK_SIZE, FLAG_RESPONSE, OP_CODES, type OpName } from "./haystack_wire.js";
import { DEFAULT_LIMITS, FrameDecoder, type Limits, type Message } from "./assembler.js";
import { DecompressedTooLargeError, HaystackError, SequenceError, WireError } from "./errors.js";
import { FrameEncoder, baseHeader, supportedAlgorithms, type BaseHeader } from "./frame.js";
import { HaystackSocket, makeGrid, ref, type Grid, type PushEvent, type Session } from "./socket.js";

export async function live(url: string): Promise<number> {
  const limits: Partial<Limits> = { maxMessage: DEFAULT_LIMITS.maxMessage / 2 };
  const socket = new HaystackSocket(url, { token: "secret", compression: ["zlib"], chunked: true, limits });
  const session: Session = await socket.connect();
  const compression: "zlib" | "lzma" | null = session.compression;
  socket.addEventListener("push", (event: PushEvent) => {
    const changed: number = event.grid.rows.length;
    const watch: string | undefined = event.watchId;
    void changed;
    void watch;
  });
  const points: Grid = await socket.read("point and sensor", 10);
  const first = points.rows[0];
  try {
    const history = await socket.hisRead(ref("p-1-1-1", "a point"), "today");
    return history.rows.length + (compression === null ? 0 : 1) + (first ? 1 : 0);
  } catch (error) {
    if (error instanceof HaystackError) return error.dis.length;
    throw error;
  } finally {
    socket.close();
  }
}

export async function frames(): Promise<Message | null> {
  const op: OpName = "hisRead";
  const base: BaseHeader = baseHeader("response", 7, op);
  const encoder = new FrameEncoder({ compression: supportedAlgorithms()[0] ?? null, chunked: true, chunkSize: CHUNK_SIZE });
  const payload = new TextEncoder().encode(JSON.stringify(makeGrid([{ id: ref("p1") }], { watchId: "w" })));
  const decoder = new FrameDecoder({ limits: { maxFramePayload: 1 << 20 }, ttlMs: 1000, now: () => Date.now() });
  let message: Message | null = null;
  for (const frame of await encoder.frames(base, payload)) {
    try {
      message = await decoder.decode(frame);
    } catch (error) {
      if (error instanceof DecompressedTooLargeError) return null;
      if (error instanceof SequenceError && error.scope === "connection") throw error;
      if (error instanceof WireError) return null;
    }
  }
  if (message !== null && (message.flags & FLAG_RESPONSE) !== 0 && message.op === OP_CODES.hisRead) return message;
  return null;
}
