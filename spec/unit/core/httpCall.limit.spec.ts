/**
 * httpCall's body limit on a real socket (a node:http server on 127.0.0.1): a body past
 * `maxBodyBytes` fails with ERR_TOO_LARGE or, with `truncate`, comes back as its first bytes,
 * whether it is framed by Content-Length or chunked, sent at once or trickled without end; it
 * is cut while streaming (the server never gets to finish), and the cut connection is closed,
 * never handed to the next request, while a body read whole keeps its connection for reuse.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type net from "node:net";
import fc from "fast-check";
import { type HttpAnswer, HttpCallError, httpCall } from "../../../src/core/httpCall";
import { fuzzParams } from "../../harness/fuzz";

/** What the server sends: the body's bytes are `pattern(n)`, in `chunks` (sizes), framed so. */
interface Plan {
  size: number;
  chunks: number[];
  contentLength: boolean;
  /** Sent in separate writes, each after a turn of the event loop. */
  spaced: boolean;
}

/** Bytes that differ from one offset to the next, so a wrong prefix cannot pass as a right one. */
function pattern(n: number, from = 0): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (from + i) % 251;
  return b;
}

interface Served {
  socket: number;
  /** Bytes the server handed to the socket before it finished or the client went away. */
  written: number;
  finished: boolean;
  closed: Promise<void>;
}

/**
 * A server that answers `/plan` as `next` says, `/endless` with a body that never ends (until
 * the client goes or `cap` bytes), `/ping` with "pong"; it records which socket served each.
 */
async function server(): Promise<{
  url: string;
  next: Plan;
  served: Served[];
  close(): Promise<void>;
}> {
  const sockets = new Set<net.Socket>();
  const ids = new WeakMap<net.Socket, { id: number; closed: Promise<void> }>();
  const state = {
    next: { size: 0, chunks: [], contentLength: true, spaced: false } as Plan,
    served: [] as Served[],
  };
  const srv = http.createServer(async (req, res) => {
    res.on("error", () => undefined);
    const socket = req.socket;
    const record: Served = {
      socket: ids.get(socket)?.id ?? -1,
      written: 0,
      finished: false,
      closed: ids.get(socket)?.closed ?? Promise.resolve(),
    };
    state.served.push(record);
    const gone = () => res.destroyed || socket.destroyed;
    const write = (b: Buffer) =>
      new Promise<void>((resolve) => {
        record.written += b.length;
        if (res.write(b)) resolve();
        else {
          // Backpressure: go on when drained, or stop when the client has gone.
          const done = () => {
            res.off("drain", done);
            socket.off("close", done);
            resolve();
          };
          res.once("drain", done);
          socket.once("close", done);
        }
      });
    if (req.url === "/ping") {
      res.end("pong");
      record.finished = true;
      return;
    }
    if (req.url?.startsWith("/endless")) {
      const q = new URL(req.url, "http://x").searchParams;
      const chunk = Number(q.get("chunk") ?? 65536);
      const pause = Number(q.get("pause") ?? 0);
      const cap = Number(q.get("cap") ?? 64 << 20);
      const declared = q.get("declared");
      res.writeHead(200, declared ? { "Content-Length": declared } : {});
      let offset = 0;
      while (!gone() && offset < cap) {
        await write(pattern(chunk, offset));
        offset += chunk;
        if (pause) await new Promise((r) => setTimeout(r, pause));
      }
      if (!gone()) {
        record.finished = true;
        res.end();
      }
      return;
    }
    const plan = state.next;
    const body = pattern(plan.size);
    res.writeHead(200, plan.contentLength ? { "Content-Length": String(plan.size) } : {});
    let at = 0;
    for (const c of plan.chunks) {
      if (gone() || at >= plan.size) break;
      await write(body.subarray(at, at + c));
      at += c;
      if (plan.spaced) await new Promise((r) => setImmediate(r));
    }
    if (!gone() && at < plan.size) await write(body.subarray(at));
    if (!gone()) {
      record.finished = true;
      res.end();
    }
  });
  let nextId = 0;
  srv.on("connection", (s) => {
    ids.set(s, { id: nextId++, closed: new Promise<void>((r) => s.once("close", () => r())) });
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(srv.address() as net.AddressInfo).port}`,
    get next() {
      return state.next;
    },
    set next(p: Plan) {
      state.next = p;
    },
    served: state.served,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

const get = (url: string, more: { maxBodyBytes?: number; truncate?: boolean } = {}) =>
  httpCall(url, { method: "GET", headers: {}, timeoutMs: 20_000, ...more });

async function tooLarge(p: Promise<HttpAnswer>): Promise<HttpCallError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof HttpCallError, String(err));
    assert.equal(err.code, "ERR_TOO_LARGE", err.message);
    return err;
  }
  assert.fail("resolved");
}

describe("httpCall: the body limit", () => {
  let srv: Awaited<ReturnType<typeof server>>;
  beforeEach(async () => {
    srv = await server();
  });
  afterEach(() => srv.close());

  /** The next request on the shared agent is answered, on a new connection after a cut one. */
  async function nextRequestWorks(cut: boolean): Promise<void> {
    const before = srv.served[srv.served.length - 1]!;
    if (cut) await before.closed; // the client closed the connection it stopped reading
    const pong = await get(`${srv.url}/ping`);
    assert.equal(pong.status, 200);
    assert.equal(pong.body.toString(), "pong");
    const after = srv.served[srv.served.length - 1]!;
    if (cut) assert.notEqual(after.socket, before.socket, "a cut connection went back to the pool");
    else assert.equal(after.socket, before.socket, "a connection read whole was not kept");
  }

  it("fails at once on a Content-Length past the limit, without reading the body", async () => {
    // 1 GB announced, then 1 KB every 200 ms: the header decided, not the body's length.
    const err = await tooLarge(
      get(`${srv.url}/endless?declared=${1 << 30}&chunk=1024&pause=200`, { maxBodyBytes: 4096 }),
    );
    assert.equal(err.status, 200);
    assert.match(err.message, /larger than 4096 bytes/);
    await srv.served[0]!.closed;
    assert.ok(srv.served[0]!.written < 4096, `${srv.served[0]!.written} bytes sent before the stop`);
    await nextRequestWorks(true);
  });

  it("fails a chunked body once it passes the limit, long before the server is done", async () => {
    await tooLarge(get(`${srv.url}/endless?chunk=65536`, { maxBodyBytes: 1_000_000 }));
    const served = srv.served[0]!;
    await served.closed;
    assert.equal(served.finished, false, "the server sent all 64 MB: the client read on");
    await nextRequestWorks(true);
  });

  it("fails a slow trickle as soon as it passes the limit, and truncates one to its first bytes", async () => {
    // 100 bytes every 5 ms without end: waiting for the end would never finish.
    await tooLarge(get(`${srv.url}/endless?chunk=100&pause=5`, { maxBodyBytes: 1_050 }));
    await nextRequestWorks(true);
    const cut = await get(`${srv.url}/endless?chunk=100&pause=5`, { maxBodyBytes: 1_050, truncate: true });
    assert.equal(cut.status, 200);
    assert.equal(cut.truncated, true);
    assert.ok(cut.body.equals(pattern(1_050)));
    await nextRequestWorks(true);
  });

  it("truncates a body past the limit to its first bytes, framed by Content-Length or chunked", async () => {
    for (const contentLength of [true, false]) {
      srv.next = { size: 300_000, chunks: [70_000, 70_000], contentLength, spaced: true };
      const cut = await get(`${srv.url}/plan`, { maxBodyBytes: 100_001, truncate: true });
      assert.equal(cut.truncated, true);
      assert.ok(cut.body.equals(pattern(100_001)));
      await nextRequestWorks(true);
    }
  });

  it("reads a body up to the limit whole, in either framing, and keeps its connection", async () => {
    for (const contentLength of [true, false])
      for (const truncate of [false, true]) {
        srv.next = { size: 50_000, chunks: [1, 20_000, 9_999], contentLength, spaced: true };
        const whole = await get(`${srv.url}/plan`, { maxBodyBytes: 50_000, truncate });
        assert.equal(whole.truncated, undefined);
        assert.ok(whole.body.equals(pattern(50_000)));
        await nextRequestWorks(false);
      }
  });

  it("gives exactly the first min(n, limit) bytes or ERR_TOO_LARGE, and the next request works (fuzzed sizes and chunkings)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 200_000 }),
        fc.array(fc.integer({ min: 1, max: 70_000 }), { maxLength: 8 }),
        fc.oneof(fc.integer({ min: 0, max: 250_000 }), fc.integer({ min: 0, max: 64 })),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        async (size, chunks, limit, truncate, contentLength, spaced) => {
          srv.next = { size, chunks, contentLength, spaced };
          const call = get(`${srv.url}/plan`, { maxBodyBytes: limit, truncate });
          if (size > limit && !truncate) await tooLarge(call);
          else {
            const res = await call;
            assert.equal(res.status, 200);
            assert.ok(res.body.equals(pattern(Math.min(size, limit))), `${res.body.length} bytes`);
            assert.equal(res.truncated, size > limit ? true : undefined);
          }
          await nextRequestWorks(size > limit);
        },
      ),
      fuzzParams(60),
    );
  });

  it("reads any size whole without a limit", async () => {
    srv.next = { size: 3_000_000, chunks: [65_536, 1], contentLength: false, spaced: true };
    const res = await get(`${srv.url}/plan`);
    assert.ok(res.body.equals(pattern(3_000_000)));
    assert.equal(res.truncated, undefined);
  });
});
