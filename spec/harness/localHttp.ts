import assert from "node:assert/strict";
import http from "node:http";
import type net from "node:net";

/**
 * A node:http server on 127.0.0.1 (port 0) for HTTP client tests: `handler` gets each request
 * with its body read whole; `close()` ends every connection, kept-alive ones included.
 */
export async function localHttp(
  handler: (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse) => void,
): Promise<{ url: string; sockets: Set<net.Socket>; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = http.createServer((req, res) => {
    res.on("error", () => undefined);
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => handler(req, Buffer.concat(chunks), res));
  });
  srv.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(srv.address() as net.AddressInfo).port}`,
    sockets,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

/** What `p` rejects with, which must be a `type`; fails the test when it resolves. */
// biome-ignore lint/suspicious/noExplicitAny: any error class
export async function rejection<E>(p: Promise<unknown>, type: new (...args: any[]) => E): Promise<E> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof type, `not a ${type.name}: ${String(err)}`);
    return err;
  }
  assert.fail("resolved");
}
