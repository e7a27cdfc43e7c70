/**
 * Wire-level clients for the listener's specs: requests with exactly the path given (no URL
 * normalisation), and a raw socket upload that records when the answer came.
 */
import http from "node:http";
import net from "node:net";
import v8 from "node:v8";
import vm from "node:vm";

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: Record<string, unknown> | undefined;
}

/** One request on its own connection; `path` goes on the request line as given. */
export function request(
  port: number,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, method, path, headers: opts.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: Record<string, unknown> | undefined;
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** Every non-2xx answer of the bridge is JSON with an `errcode`. */
export function assertMatrixError(a: Answer): void {
  if (a.status >= 200 && a.status < 300) return;
  if (typeof a.json?.errcode !== "string") {
    throw new Error(`status ${a.status} without a JSON errcode: ${a.text.slice(0, 200)}`);
  }
}

let gcFn: (() => void) | undefined;
/** A full garbage collection, so that a memory baseline is not inflated by earlier tests. */
export function collectGarbage(): void {
  if (!gcFn) {
    v8.setFlagsFromString("--expose-gc");
    gcFn = vm.runInNewContext("gc") as () => void;
  }
  gcFn();
}

/** Heap plus Buffer memory of this process (where a buffered request body would live). */
export function heldBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

export interface UploadResult {
  /** The status line's code, 0 when none came. */
  status: number;
  /** The answer as received (head and body). */
  response: string;
  /** Body bytes written when the answer arrived, or -1 if it never did. */
  sentWhenAnswered: number;
  /** Body bytes written before the connection ended (or all of them). */
  sent: number;
  /** Whether the server ended the connection before the whole body was written. */
  cutOff: boolean;
  /** Highest {@link heldBytes} above the starting point while the upload ran. */
  peakGrowth: number;
}

/**
 * Sends `head` then a body of `total` bytes over a raw socket. It sends `pauseAfter` bytes
 * first and waits (up to `waitMs`) for an answer, which proves the server answered without
 * the rest; then it keeps writing until done or the server closes.
 */
export async function rawUpload(
  port: number,
  head: string,
  total: number,
  opts: { pauseAfter?: number; waitMs?: number; chunked?: boolean } = {},
): Promise<UploadResult> {
  const pauseAfter = opts.pauseAfter ?? 1024 * 1024;
  const chunk = Buffer.alloc(64 * 1024, "{");
  const socket = net.connect(port, "127.0.0.1");
  socket.setNoDelay(true);
  const start = heldBytes();
  let peak = 0;
  const sample = () => {
    peak = Math.max(peak, heldBytes() - start);
  };
  let response = "";
  let sent = 0;
  let sentWhenAnswered = -1;
  let ended = false;
  let answered: () => void = () => undefined;
  const answer = new Promise<void>((r) => {
    answered = r;
  });
  socket.on("data", (d: Buffer) => {
    response += d.toString("latin1");
    if (sentWhenAnswered < 0 && response.includes("\r\n\r\n")) {
      sentWhenAnswered = sent;
      answered();
    }
  });
  const closed = new Promise<void>((r) => {
    socket.on("close", () => {
      ended = true;
      answered();
      r();
    });
  });
  socket.on("error", () => {
    ended = true;
  });
  await new Promise<void>((r, j) => {
    socket.once("connect", r);
    socket.once("error", j);
  });
  socket.write(head);
  const write = async (bytes: number) => {
    while (sent < bytes && !ended) {
      const n = Math.min(chunk.length, bytes - sent);
      const piece = n === chunk.length ? chunk : chunk.subarray(0, n);
      const framed = opts.chunked
        ? [Buffer.from(`${n.toString(16)}\r\n`), piece, Buffer.from("\r\n")]
        : [piece];
      let ok = true;
      for (const b of framed) ok = socket.write(b) && ok;
      sent += n;
      sample();
      if (!ok) {
        await Promise.race([new Promise((r) => socket.once("drain", r)), closed]);
      }
    }
  };
  await write(Math.min(pauseAfter, total));
  await Promise.race([answer, new Promise((r) => setTimeout(r, opts.waitMs ?? 5_000))]);
  sample();
  await write(total);
  const cutOff = ended && sent < total;
  if (!ended && opts.chunked) socket.write("0\r\n\r\n");
  if (!ended) socket.end();
  await Promise.race([closed, new Promise((r) => setTimeout(r, 5_000))]);
  socket.destroy();
  sample();
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
  return { status, response, sentWhenAnswered, sent, cutOff, peakGrowth: peak };
}
