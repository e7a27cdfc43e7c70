import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { freePort } from "../../../scripts/lib/ports";
import { BridgeError } from "../../../src/core/errors";
import { waitForHomeserver } from "../../../src/matrix/waitForHomeserver";

/** A homeserver stand-in answering /_matrix/client/versions with the given statuses in turn (the last one repeats). */
async function serve(
  statuses: number[],
): Promise<{ url: string; calls: () => number; close(): Promise<void> }> {
  let calls = 0;
  const server = http.createServer((req, res) => {
    // As Synapse: any token on this endpoint, even an empty one, must be valid.
    if (req.headers.authorization !== undefined) {
      res.writeHead(401, { "content-type": "application/json" });
      res.end(JSON.stringify({ errcode: "M_UNKNOWN_TOKEN" }));
      return;
    }
    const status = statuses[Math.min(calls++, statuses.length - 1)];
    res.writeHead(status, { "content-type": "application/json" });
    res.end(
      status === 200 ? JSON.stringify({ versions: ["v1.11"] }) : JSON.stringify({ errcode: "M_UNKNOWN" }),
    );
    assert.equal(req.url, "/_matrix/client/versions");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls: () => calls,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

describe("waitForHomeserver", function () {
  this.timeout(20_000);

  it("returns once the homeserver answers, retrying while it says 502/503", async () => {
    const hs = await serve([502, 503, 200]);
    try {
      await waitForHomeserver(hs.url, 15_000);
      assert.equal(hs.calls(), 3);
    } finally {
      await hs.close();
    }
  });

  it("waits for a homeserver that starts listening later", async () => {
    const port = await freePort();
    const server = http.createServer((_req, res) => res.end(JSON.stringify({ versions: ["v1.11"] })));
    const later = setTimeout(() => server.listen(port, "127.0.0.1"), 700);
    try {
      await waitForHomeserver(`http://127.0.0.1:${port}`, 15_000);
      assert.ok(server.listening);
    } finally {
      clearTimeout(later);
      await new Promise<void>((r) => (server.listening ? server.close(() => r()) : r()));
    }
  });

  it("gives up after the time given, saying what to do", async () => {
    const port = await freePort();
    await assert.rejects(waitForHomeserver(`http://127.0.0.1:${port}`, 600), (err: unknown) => {
      assert.ok(err instanceof BridgeError);
      assert.match(err.userMessage, /is unreachable after waiting 1 s: start it \(or fix homeserver\.url\)/);
      return true;
    });
  });

  it("stops at once when the URL answers like no homeserver (404)", async () => {
    const hs = await serve([404]);
    try {
      await assert.rejects(waitForHomeserver(hs.url, 15_000), /answered 404 .* check homeserver\.url/);
      assert.equal(hs.calls(), 1);
    } finally {
      await hs.close();
    }
  });
});
