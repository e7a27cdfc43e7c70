/**
 * The media proxy on the bridge's real listener, in front of a small local HTTP server that
 * answers the homeserver's authenticated download endpoint the ways a homeserver can (bytes,
 * 404, 429, 5xx, a wrong token, too much data). The real Synapse path is in spec/e2e/core/media.spec.ts.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { HttpServer } from "../../../src/http/HttpServer";
import { MEDIA_PREFIX, MediaProxy } from "../../../src/http/MediaProxy";

interface Upstream {
  url: string;
  calls: Array<{ path: string; auth?: string }>;
  answer: (res: http.ServerResponse) => void;
  close(): Promise<void>;
}

async function upstream(): Promise<Upstream> {
  const self: Upstream = {
    url: "",
    calls: [],
    answer: (res) => res.writeHead(500).end(),
    close: () => new Promise((r) => server.close(() => r())),
  };
  const server = http.createServer((req, res) => {
    self.calls.push({ path: req.url ?? "", auth: req.headers.authorization });
    self.answer(res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  self.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return self;
}

describe("MediaProxy", () => {
  const asToken = randomBytes(24).toString("hex");
  const png = randomBytes(4096);
  let hs: Upstream;
  let http_: HttpServer;
  let proxy: MediaProxy;
  /** The proxy the listener serves (normally `proxy`). */
  let mounted: MediaProxy;
  let base: string;

  before(async () => {
    hs = await upstream();
    // The public URL is this listener here; in production a reverse proxy in front of it.
    http_ = new HttpServer(randomBytes(24).toString("hex"), {
      onTransaction: async () => undefined,
      onPing: () => undefined,
      onUserQuery: async () => false,
      health: () => ({ ok: true, detail: {} }),
      media: {
        prefix: MEDIA_PREFIX,
        handle: (req, res, path) => mounted.handle(req, res, path),
      },
    });
    const port = await http_.listen(0, "127.0.0.1");
    base = `http://127.0.0.1:${port}`;
    proxy = new MediaProxy({ homeserverUrl: `${hs.url}/`, asToken, publicUrl: `${base}/`, maxBytes: 10_000 });
    mounted = proxy;
  });
  after(async () => {
    await http_.close();
    await hs.close();
  });
  beforeEach(() => {
    hs.calls.length = 0;
    mounted = proxy;
  });

  it("builds signed URLs under the public URL, only for mxc URIs", () => {
    const url = proxy.urlFor("mxc://example.org:8448/AbC_1")!;
    assert.match(url, new RegExp(`^${base}${MEDIA_PREFIX}/example.org%3A8448/AbC_1/[A-Za-z0-9_-]{22}$`));
    assert.equal(proxy.urlFor("https://example.org/x"), undefined);
    assert.equal(proxy.urlFor("mxc://example.org/a/b"), undefined);
  });

  it("streams the media from the authenticated endpoint with the as_token, cacheable and sandboxed", async () => {
    hs.answer = (res) =>
      res.writeHead(200, { "Content-Type": "image/png", "Content-Length": png.length }).end(png);
    const res = await fetch(proxy.urlFor("mxc://example.org:8448/AbC_1")!);
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), png);
    assert.equal(res.headers.get("content-type"), "image/png");
    assert.equal(res.headers.get("content-length"), String(png.length));
    assert.equal(res.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assert.equal(res.headers.get("content-disposition"), "inline");
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.match(String(res.headers.get("content-security-policy")), /sandbox/);
    assert.deepEqual(hs.calls, [
      { path: "/_matrix/client/v1/media/download/example.org:8448/AbC_1", auth: `Bearer ${asToken}` },
    ]);
  });

  it("answers HEAD with the headers only", async () => {
    hs.answer = (res) =>
      res.writeHead(200, { "Content-Type": "image/png", "Content-Length": png.length }).end(png);
    const res = await fetch(proxy.urlFor("mxc://example.org/head")!, { method: "HEAD" });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-length"), String(png.length));
    assert.equal((await res.arrayBuffer()).byteLength, 0);
  });

  it("serves types a browser could run as a download", async () => {
    hs.answer = (res) => res.writeHead(200, { "Content-Type": "text/html" }).end("<script>alert(1)</script>");
    const res = await fetch(proxy.urlFor("mxc://example.org/html")!);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-disposition"), "attachment");
    await res.arrayBuffer();
  });

  it("refuses wrong, missing or foreign signatures and malformed paths without fetching anything", async () => {
    const good = proxy.urlFor("mxc://example.org/media1")!;
    const sig = good.slice(good.lastIndexOf("/") + 1);
    const other = proxy.urlFor("mxc://example.org/media2")!;
    const foreign = new MediaProxy({ homeserverUrl: hs.url, asToken: "another-token", publicUrl: base });
    const cases: Array<[string, number]> = [
      [`${good.slice(0, -1)}${sig.endsWith("A") ? "B" : "A"}`, 403],
      [`${base}${MEDIA_PREFIX}/example.org/media2/${sig}`, 403],
      [foreign.urlFor("mxc://example.org/media1")!, 403],
      [`${base}${MEDIA_PREFIX}/example.org/media1/`, 404],
      [`${base}${MEDIA_PREFIX}/example.org/media1`, 404],
      [`${base}${MEDIA_PREFIX}/example.org/media1/${sig}/extra`, 404],
      [`${base}${MEDIA_PREFIX}/ex%20ample/media1/${sig}`, 404],
      [`${base}${MEDIA_PREFIX}/%E0%A4%A/media1/${sig}`, 404],
      [other, 200],
    ];
    hs.answer = (res) => res.writeHead(200, { "Content-Type": "image/png" }).end(png);
    for (const [url, status] of cases) {
      const res = await fetch(url);
      await res.arrayBuffer();
      assert.equal(res.status, status, url);
    }
    // Only the one validly signed URL reached the homeserver.
    assert.deepEqual(
      hs.calls.map((c) => c.path),
      ["/_matrix/client/v1/media/download/example.org/media2"],
    );
    const post = await fetch(good, { method: "POST" });
    assert.equal(post.status, 405);
  });

  it("maps homeserver errors: 404 stays 404, 429 becomes 503 with Retry-After, the rest 502", async () => {
    const cases: Array<[number, number]> = [
      [404, 404],
      [429, 503],
      [401, 502],
      [403, 502],
      [500, 502],
      [502, 502],
    ];
    for (const [upstreamStatus, status] of cases) {
      hs.answer = (res) =>
        res
          .writeHead(upstreamStatus, { "Content-Type": "application/json", "Retry-After": "7" })
          .end('{"errcode":"M_X"}');
      const res = await fetch(proxy.urlFor(`mxc://example.org/err${upstreamStatus}`)!);
      const body = (await res.json()) as { errcode: string };
      assert.equal(res.status, status, `homeserver ${upstreamStatus}`);
      assert.equal(res.headers.get("cache-control"), "no-store");
      assert.ok(body.errcode.startsWith("M_"));
      if (upstreamStatus === 429) assert.equal(res.headers.get("retry-after"), "7");
    }
  });

  it("answers 502 when the homeserver is unreachable", async () => {
    const dead = await upstream();
    await dead.close();
    mounted = new MediaProxy({ homeserverUrl: dead.url, asToken, publicUrl: base });
    const res = await fetch(mounted.urlFor("mxc://example.org/gone")!);
    await res.arrayBuffer();
    assert.equal(res.status, 502);
  });

  it("refuses media past the size cap, announced or not", async () => {
    const big = randomBytes(20_000);
    hs.answer = (res) =>
      res.writeHead(200, { "Content-Type": "image/png", "Content-Length": big.length }).end(big);
    const announced = await fetch(proxy.urlFor("mxc://example.org/big1")!);
    await announced.arrayBuffer();
    assert.equal(announced.status, 502);
    // Chunked: the headers are out before the size is known, so the response is cut short.
    hs.answer = (res) => {
      res.writeHead(200, { "Content-Type": "image/png" });
      res.write(big.subarray(0, 8000));
      setTimeout(() => res.end(big.subarray(8000)), 50);
    };
    const chunked = await fetch(proxy.urlFor("mxc://example.org/big2")!);
    await assert.rejects(chunked.arrayBuffer());
  });

  it("refuses requests past the in-flight limit with 503 and serves the others", async () => {
    const held: http.ServerResponse[] = [];
    hs.answer = (res) => held.push(res);
    mounted = new MediaProxy({ homeserverUrl: hs.url, asToken, publicUrl: base, maxInFlight: 2 });
    const first = [
      fetch(mounted.urlFor("mxc://example.org/slow1")!),
      fetch(mounted.urlFor("mxc://example.org/slow2")!),
    ];
    const deadline = Date.now() + 10_000;
    while (held.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(held.length, 2, "both downloads reached the homeserver");
    const third = await fetch(mounted.urlFor("mxc://example.org/slow3")!);
    await third.arrayBuffer();
    assert.equal(third.status, 503);
    assert.equal(third.headers.get("retry-after"), "1");
    for (const res of held) res.writeHead(200, { "Content-Type": "image/png" }).end(png);
    for (const r of await Promise.all(first)) {
      assert.equal(r.status, 200);
      assert.deepEqual(Buffer.from(await r.arrayBuffer()), png);
    }
    // Slots are given back once a download ends.
    hs.answer = (res) => res.writeHead(200, { "Content-Type": "image/png" }).end(png);
    const again = await fetch(mounted.urlFor("mxc://example.org/slow3")!);
    await again.arrayBuffer();
    assert.equal(again.status, 200);
  });
});
