import { strict as assert } from "node:assert";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { HomeserverProxy } from "../../standins/homeserver/HomeserverProxy";

/** A tiny upstream that echoes what it got. */
async function echoServer(): Promise<{ server: Server; url: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          method: req.method,
          url: req.url,
          auth: req.headers.authorization,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe("HomeserverProxy stand-in", () => {
  let upstream: Awaited<ReturnType<typeof echoServer>>;
  let proxy: HomeserverProxy;

  beforeEach(async () => {
    upstream = await echoServer();
    proxy = await HomeserverProxy.start({ target: upstream.url });
  });
  afterEach(async () => {
    await proxy.close();
    upstream.server.closeAllConnections();
    await new Promise((r) => upstream.server.close(r));
  });

  it("forwards method, path, query, headers and body, and records the call", async () => {
    const res = await fetch(`${proxy.url}/_matrix/client/v3/x?user_id=%40a%3Ab`, {
      method: "PUT",
      headers: { authorization: "Bearer t", "content-type": "application/json" },
      body: '{"body":"hi"}',
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      method: "PUT",
      url: "/_matrix/client/v3/x?user_id=%40a%3Ab",
      auth: "Bearer t",
      body: '{"body":"hi"}',
    });
    assert.equal(proxy.calls.length, 1);
    assert.deepEqual(proxy.calls[0]!.body, { body: "hi" });
    assert.equal(proxy.calls[0]!.refused, false);
  });

  it("answers matching requests itself until the rule is removed, counting them", async () => {
    const stop = proxy.refuse((c) => (c.body as { body?: string } | undefined)?.body === "bad", {
      status: 400,
      errcode: "M_UNKNOWN",
    });
    const send = (body: string) =>
      fetch(`${proxy.url}/send`, { method: "PUT", body: JSON.stringify({ body }) });
    const refused = await send("bad");
    assert.equal(refused.status, 400);
    assert.equal(((await refused.json()) as { errcode: string }).errcode, "M_UNKNOWN");
    assert.equal((await send("good")).status, 200);
    assert.equal(stop.hits(), 1);
    assert.deepEqual(upstream.seen, ["PUT /send"], "the refused request never reached upstream");
    stop();
    assert.equal((await send("bad")).status, 200);
  });

  it("refuses connections while stopped, on the same port afterwards; 502 when upstream is down", async () => {
    await proxy.stopListening();
    await assert.rejects(fetch(`${proxy.url}/x`), (err: Error & { cause?: { code?: string } }) => {
      assert.equal(err.cause?.code, "ECONNREFUSED");
      return true;
    });
    await proxy.listenAgain();
    assert.equal((await fetch(`${proxy.url}/x`)).status, 200);
    upstream.server.closeAllConnections();
    await new Promise((r) => upstream.server.close(r));
    const res = await fetch(`${proxy.url}/x`);
    assert.equal(res.status, 502);
    await res.arrayBuffer();
    upstream = await echoServer(); // for afterEach
  });
});
