/**
 * Media downloads on a real socket (127.0.0.1, port 0), through the same HTTP client as every
 * other homeserver call: the authenticated media path as the given user, the content type, the
 * size limit (413 or the first bytes), error answers kept as theirs, redirects followed with
 * the token kept on the homeserver's origin only, a stop and an unreachable homeserver as
 * MatrixErrors, and encrypted media decrypted whole (AES-CTR from the Rust crypto).
 */
import assert from "node:assert/strict";
import type http from "node:http";
import { Attachment, EncryptedAttachment } from "@matrix-org/matrix-sdk-crypto-wasm";
import { type EncryptedFile, MatrixApi, MatrixError, type RoomCrypto } from "../../../src/matrix/MatrixApi";
import { localHttp, rejection } from "../../harness/localHttp";

interface Seen {
  url: string;
  auth?: string;
}

async function server(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const srv = await localHttp((req, _body, res) => {
    seen.push({ url: req.url ?? "", auth: req.headers.authorization });
    handler(req, res);
  });
  return { url: srv.url, seen, close: srv.close };
}

const failure = (p: Promise<unknown>) => rejection(p, MatrixError);

const MEDIA = "/_matrix/client/v1/media/download/hs/abc";
const bytes = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => i % 251));

describe("MatrixApi: media downloads", () => {
  it("downloads by mxc URI from the authenticated media API, as the given user, with the content type", async () => {
    const hs = await server((req, res) => {
      if (req.url?.startsWith(`${MEDIA}`)) {
        res.writeHead(200, { "Content-Type": "image/png" });
        res.end(bytes(1000));
      } else {
        res.writeHead(200); // no content type
        res.end("raw");
      }
    });
    try {
      const api = new MatrixApi(hs.url, "as-secret", "hs");
      const got = await api.download("mxc://hs/abc", { userId: "@ai:hs" });
      assert.ok(got.data.equals(bytes(1000)));
      assert.equal(got.contentType, "image/png");
      assert.equal(got.truncated, undefined);
      assert.deepEqual(hs.seen[0], { url: `${MEDIA}?user_id=%40ai%3Ahs`, auth: "Bearer as-secret" });
      const plain = await api.downloadMedia({ url: "mxc://hs/other" });
      assert.equal(plain.data.toString(), "raw");
      assert.equal(plain.contentType, "application/octet-stream");
      assert.equal(hs.seen[1]!.url, "/_matrix/client/v1/media/download/hs/other");
      const notMxc = await failure(api.download("https://elsewhere/x"));
      assert.equal(notMxc.status, 400);
      assert.equal((await failure(api.downloadMedia({ body: "no media" } as { url?: unknown }))).status, 400);
      assert.equal(hs.seen.length, 2, "nothing was requested for a non-mxc URI");
    } finally {
      await hs.close();
    }
  });

  it("fails past maxBytes with a 413 (Content-Length or chunked), or returns the first bytes with truncate", async () => {
    const hs = await server((req, res) => {
      res.writeHead(200, req.url?.includes("chunked") ? {} : { "Content-Length": "5000" });
      res.write(bytes(2500));
      setImmediate(() => res.end(bytes(5000).subarray(2500)));
    });
    try {
      const api = new MatrixApi(hs.url, "t", "hs");
      for (const id of ["length", "chunked"]) {
        const big = await failure(api.download(`mxc://hs/${id}`, { maxBytes: 4999 }));
        assert.equal(big.status, 413);
        assert.match(big.message, /larger than 4999 bytes/);
        const cut = await api.download(`mxc://hs/${id}`, { maxBytes: 3000, truncate: true });
        assert.equal(cut.truncated, true);
        assert.ok(cut.data.equals(bytes(3000)));
        const fits = await api.download(`mxc://hs/${id}`, { maxBytes: 5000 });
        assert.equal(fits.truncated, undefined);
        assert.ok(fits.data.equals(bytes(5000)));
      }
    } finally {
      await hs.close();
    }
  });

  it("reports an error answer with its own status, even one with a body past maxBytes", async () => {
    const hs = await server((req, res) => {
      res.writeHead(req.url?.includes("gone") ? 404 : 502, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ errcode: "M_NOT_FOUND", error: "x".repeat(10_000) }));
    });
    try {
      const api = new MatrixApi(hs.url, "t", "hs");
      assert.equal((await failure(api.download("mxc://hs/gone"))).status, 404);
      assert.equal((await failure(api.download("mxc://hs/gone", { maxBytes: 100 }))).status, 404);
      const proxy = await failure(api.download("mxc://hs/busy", { maxBytes: 100, truncate: true }));
      assert.equal(proxy.status, 502);
      assert.equal(proxy.retryable, true);
    } finally {
      await hs.close();
    }
  });

  it("follows redirects, with the token on the homeserver's origin only, and gives up on a loop", async () => {
    const closed = await server(() => undefined);
    await closed.close(); // a port nothing listens on: a media store that is down
    const cdn = await server((req, res) => {
      if (req.url === "/loop") {
        res.writeHead(302, { Location: "/loop" });
        res.end();
        return;
      }
      res.writeHead(200, { "Content-Type": "video/mp4" });
      res.end("from the cdn");
    });
    const hs = await server((req, res) => {
      const path = req.url?.split("?")[0];
      if (path === `${MEDIA}`)
        res.writeHead(302, { Location: "/moved/abc" }); // relative, same origin
      else if (path === "/moved/abc") res.writeHead(307, { Location: `${cdn.url}/signed/abc?sig=1` });
      else if (path?.endsWith("/looping")) res.writeHead(308, { Location: `${cdn.url}/loop` });
      else if (path?.endsWith("/down")) res.writeHead(307, { Location: `${closed.url}/x?sig=secret` });
      else res.writeHead(301); // no Location: the answer as it is
      res.end();
    });
    try {
      const api = new MatrixApi(hs.url, "as-secret", "hs");
      const got = await api.download("mxc://hs/abc", { userId: "@g:hs" });
      assert.equal(got.data.toString(), "from the cdn");
      assert.equal(got.contentType, "video/mp4");
      assert.deepEqual(
        hs.seen.map((s) => s.auth),
        ["Bearer as-secret", "Bearer as-secret"],
      );
      assert.deepEqual(cdn.seen, [{ url: "/signed/abc?sig=1", auth: undefined }]);
      const loop = await failure(api.download("mxc://hs/looping"));
      assert.equal(loop.status, 508);
      assert.equal(cdn.seen.length, 1 + 20);
      assert.equal((await failure(api.download("mxc://hs/nowhere"))).status, 301);
      // The store being down is not the homeserver being down; its signed URL stays out of the text.
      let lost = 0;
      api.onUnreachable = () => lost++;
      const down = await failure(api.download("mxc://hs/down"));
      assert.equal(down.status, 0);
      assert.match(down.message, /unreachable \(ECONNREFUSED\)/);
      assert.doesNotMatch(down.message, /secret/);
      assert.equal(lost, 0);
    } finally {
      await hs.close();
      await cdn.close();
    }
  });

  it("turns a stop into a MatrixError without marking the homeserver lost; an unreachable one is marked", async () => {
    const hs = await server(() => undefined); // never answers
    let lost = 0;
    try {
      const api = new MatrixApi(hs.url, "t", "hs");
      api.onUnreachable = () => lost++;
      const stop = new AbortController();
      setTimeout(() => stop.abort(), 30);
      const stopped = await failure(api.download("mxc://hs/abc", { signal: stop.signal }));
      assert.equal(stopped.status, 0);
      assert.match(stopped.message, /stopped/);
      assert.equal(lost, 0);
      const slow = await failure(api.download("mxc://hs/abc", { timeoutMs: 100 }));
      assert.match(slow.message, /homeserver unreachable \(TIMEOUT\)/);
      assert.equal(lost, 1);
    } finally {
      await hs.close();
    }
    const api = new MatrixApi(hs.url, "t", "hs");
    api.onUnreachable = () => lost++;
    const gone = await failure(api.download("mxc://hs/abc"));
    assert.equal(gone.status, 0);
    assert.match(gone.message, /homeserver unreachable \(ECONNREFUSED\)/);
    assert.equal(lost, 2);
  });

  it("downloads encrypted media whole and decrypts it; never truncates a ciphertext", async () => {
    const plain = bytes(20_000);
    const sealed = Attachment.encrypt(new Uint8Array(plain));
    const keys = JSON.parse(sealed.mediaEncryptionInfo ?? "{}") as Record<string, unknown>;
    const ciphertext = Buffer.from(sealed.encryptedData);
    const hs = await server((_req, res) => {
      res.writeHead(200, { "Content-Type": "application/octet-stream" });
      res.end(ciphertext);
    });
    try {
      const api = new MatrixApi(hs.url, "t", "hs");
      const file = { ...keys, url: "mxc://hs/sealed" } as EncryptedFile;
      assert.equal((await failure(api.downloadMedia({ file }))).status, 400, "no crypto: refused");
      api.crypto = {
        decryptAttachment: (data: Buffer, f: EncryptedFile) =>
          Buffer.from(Attachment.decrypt(new EncryptedAttachment(new Uint8Array(data), JSON.stringify(f)))),
      } as Pick<RoomCrypto, "decryptAttachment"> as RoomCrypto;
      const got = await api.downloadMedia({ file, url: "mxc://hs/ignored" }, { maxBytes: 20_000 });
      assert.ok(got.data.equals(plain));
      assert.equal(hs.seen[0]!.url, "/_matrix/client/v1/media/download/hs/sealed");
      const big = await failure(api.downloadMedia({ file }, { maxBytes: 10_000, truncate: true }));
      assert.equal(big.status, 413);
    } finally {
      await hs.close();
    }
  });
});
