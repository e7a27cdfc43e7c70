/**
 * The kept-alive HTTP client on a real socket: a stop (abort signal) ends a request at once,
 * before or while it runs; an upload streamed from a Readable arrives whole and is not sent a
 * second time; a failing upload stream fails the request.
 */
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { HttpCallError, httpCall, onConnectionClosed } from "../../../src/core/httpCall";
import { localHttp } from "../../harness/localHttp";

const server = localHttp;

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof HttpCallError, String(err));
    return err.code;
  }
  assert.fail("resolved");
}

describe("httpCall: stops and streamed uploads", () => {
  it("ends a request when its signal aborts, before it starts or while it waits", async () => {
    const srv = await server(() => undefined); // never answers: a long poll
    try {
      const stopped = new AbortController();
      stopped.abort();
      assert.equal(
        await codeOf(
          httpCall(srv.url, { method: "GET", headers: {}, timeoutMs: 60_000, signal: stopped.signal }),
        ),
        "ABORT_ERR",
      );
      const stop = new AbortController();
      const started = Date.now();
      const pending = httpCall(srv.url, {
        method: "GET",
        headers: {},
        timeoutMs: 60_000,
        signal: stop.signal,
      });
      setTimeout(() => stop.abort(), 50);
      assert.equal(await codeOf(pending), "ABORT_ERR");
      assert.ok(Date.now() - started < 5_000, "ended at the stop, not at the timeout");
    } finally {
      await srv.close();
    }
  });

  it("streams an upload from a Readable (chunked), and fails the request when the stream fails", async () => {
    const got: Array<{ body: Buffer; chunked: boolean }> = [];
    const srv = await server((req, body, res) => {
      got.push({ body, chunked: req.headers["transfer-encoding"] === "chunked" });
      res.end(JSON.stringify({ ok: true, size: body.length }));
    });
    try {
      const parts = [Buffer.from("--b\r\n"), Buffer.alloc(300_000, 7), Buffer.from("\r\n--b--\r\n")];
      const res = await httpCall(srv.url, {
        method: "POST",
        headers: { "content-type": "multipart/form-data; boundary=b" },
        body: Readable.from(parts),
        timeoutMs: 10_000,
      });
      assert.equal(res.status, 200);
      assert.deepEqual(JSON.parse(res.body.toString()), { ok: true, size: 300_000 + 5 + 9 });
      assert.equal(got.length, 1);
      assert.ok(got[0]!.chunked);
      assert.ok(got[0]!.body.equals(Buffer.concat(parts)));
      const broken = new Readable({
        read() {
          this.destroy(new Error("disk gone"));
        },
      });
      assert.equal(
        await codeOf(httpCall(srv.url, { method: "POST", headers: {}, body: broken, timeoutMs: 10_000 })),
        "ERR_BODY",
      );
    } finally {
      await srv.close();
    }
  });
});

describe("httpCall: a server closing the connections kept open to it", () => {
  it("is told to the watchers of that server only, each time, until they stop watching", async () => {
    const srv = await server((_req, _body, res) => res.end("{}"));
    const other = await server((_req, _body, res) => res.end("{}"));
    const GET = { method: "GET", headers: {}, timeoutMs: 5_000 };
    const told: string[] = [];
    const stop = onConnectionClosed(`${srv.url}/some/path`, () => told.push("srv"));
    const stopOther = onConnectionClosed(other.url, () => told.push("other"));
    try {
      await httpCall(`${srv.url}/a`, GET);
      await httpCall(`${other.url}/a`, GET);
      assert.equal(srv.sockets.size, 1, "the connection is kept open");
      for (const s of srv.sockets) s.destroy(); // the server goes away
      while (told.length < 1) await new Promise((r) => setTimeout(r, 5));
      // A new connection, closed again: told again.
      await httpCall(`${srv.url}/b`, GET);
      for (const s of srv.sockets) s.destroy();
      while (told.length < 2) await new Promise((r) => setTimeout(r, 5));
      stop();
      await httpCall(`${srv.url}/c`, GET);
      for (const s of srv.sockets) s.destroy();
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(told, ["srv", "srv"], "the other server's watcher is not told; a stopped one no more");
    } finally {
      stop();
      stopOther();
      await srv.close();
      await other.close();
    }
  });
});
