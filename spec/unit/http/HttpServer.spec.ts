/**
 * The bridge's listener on a real socket (127.0.0.1, port 0): authentication before any body
 * is read, per-route body limits, and bad input answered 4xx with a JSON errcode, never 5xx.
 * The provisioning API behind it is the real one, over a PgStore whose database is down (its
 * pool points at a closed port), so a request that reaches the store is answered 503.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import net from "node:net";
import fc from "fast-check";
import pg from "pg";
import { type AppserviceTransaction, DEFAULT_BODY_LIMITS, HttpServer } from "../../../src/http/HttpServer";
import { Provisioning } from "../../../src/http/Provisioning";
import { PgStore } from "../../../src/store/PgStore";
import { fuzzParams } from "../../harness/fuzz";
import { type Answer, assertMatrixError, collectGarbage, rawUpload, request } from "./wire";

const MiB = 1024 * 1024;
const PREFIX = "/_clawbridge/provisioning";

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** A request head for a raw upload of `length` bytes (chunked when length is undefined). */
function head(method: string, path: string, length: number | undefined, auth?: string): string {
  return [
    `${method} ${path} HTTP/1.1`,
    "Host: 127.0.0.1",
    "Content-Type: application/json",
    length === undefined ? "Transfer-Encoding: chunked" : `Content-Length: ${length}`,
    ...(auth ? [`Authorization: Bearer ${auth}`] : []),
    "",
    "",
  ].join("\r\n");
}

/** Segment pieces a path may carry: safe characters, valid and broken escapes, NUL, encoded lone surrogates. */
const segmentPiece = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@-]{0,12}$/),
  fc.string({ unit: "binary", maxLength: 12 }).map(wtf8Percent),
  fc.constantFrom(
    "%",
    "%%",
    "%zz",
    "%4",
    "%00",
    "%0A",
    "%7F",
    "%E0%A4",
    "%ED%A0%80",
    "%ED%B0%80",
    "%C0%AF",
    "%FF",
    "%2F",
    "/",
    "..",
    "@",
    ":",
  ),
  fc.integer({ min: 200, max: 20_000 }).map((n) => "x".repeat(n)),
);
const segment = fc.array(segmentPiece, { minLength: 1, maxLength: 6 }).map((p) => p.join(""));

/** Percent-encodes every UTF-16 code point as (generalised) UTF-8, so lone surrogates survive as %ED%xx%xx. */
function wtf8Percent(s: string): string {
  let out = "";
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    const bytes =
      cp < 0x80
        ? [cp]
        : cp < 0x800
          ? [0xc0 | (cp >> 6), 0x80 | (cp & 63)]
          : cp < 0x10000
            ? [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)]
            : [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)];
    for (const b of bytes) out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

describe("HttpServer", function () {
  this.timeout(60_000);
  const hsToken = randomBytes(24).toString("hex");
  const secret = randomBytes(24).toString("hex");
  const txns: Array<{ id: string; txn: AppserviceTransaction }> = [];
  const users: string[] = [];
  const cut: string[] = [];
  let txnFailure: (() => Promise<void>) | undefined;
  let server: HttpServer;
  let small: HttpServer;
  let port: number;
  let smallPort: number;
  let deadPool: pg.Pool;

  const hs = { Authorization: `Bearer ${hsToken}` };
  const prov = { Authorization: `Bearer ${secret}` };
  const put = (id: string, body: unknown, headers: Record<string, string> = hs) =>
    request(port, "PUT", `/_matrix/app/v1/transactions/${id}`, {
      headers: { "Content-Type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  const portals = (query: string, headers: Record<string, string> = prov) =>
    request(port, "GET", `${PREFIX}/v1/portals${query}`, { headers });

  before(async () => {
    deadPool = new pg.Pool({ host: "127.0.0.1", port: await closedPort(), user: "x", database: "x", max: 1 });
    deadPool.on("error", () => undefined);
    const handlers = {
      onTransaction: async (id: string, txn: AppserviceTransaction) => {
        if (txnFailure) await txnFailure();
        txns.push({ id, txn });
      },
      onTransactionCut: (id: string) => cut.push(id),
      onPing: () => undefined,
      onUserQuery: async (userId: string) => {
        users.push(userId);
        return userId.startsWith("@known");
      },
      health: () => ({ ok: true, detail: {} }),
      provisioning: new Provisioning(PREFIX, secret, new PgStore(deadPool)),
    };
    server = new HttpServer(hsToken, handlers);
    port = await server.listen(0, "127.0.0.1");
    small = new HttpServer(hsToken, handlers, { transaction: MiB });
    smallPort = await small.listen(0, "127.0.0.1");
  });
  after(async () => {
    await server?.close();
    await small?.close();
    await deadPool?.end();
  });
  beforeEach(() => {
    txns.length = 0;
    users.length = 0;
    cut.length = 0;
    txnFailure = undefined;
  });

  describe("refuses an unauthenticated body without reading it", () => {
    const cases: Array<[string, string, string, string | undefined, number]> = [
      ["provisioning, no secret", "POST", `${PREFIX}/v1/portals`, undefined, 401],
      ["provisioning, wrong secret", "POST", `${PREFIX}/v1/portals`, "wrong-secret-value", 403],
      ["a transaction, no token", "PUT", "/_matrix/app/v1/transactions/1", undefined, 401],
      ["a transaction, wrong token", "PUT", "/_matrix/app/v1/transactions/2", "wrong-token-value", 403],
    ];
    for (const [name, method, path, auth, status] of cases) {
      it(`${name}: ${status} while the client is 1 of 50 MiB in, connection closed, memory flat`, async () => {
        collectGarbage();
        const r = await rawUpload(port, head(method, path, 50 * MiB, auth), 50 * MiB);
        assert.equal(r.status, status, r.response.slice(0, 300));
        assert.ok(
          r.sentWhenAnswered >= 0 && r.sentWhenAnswered <= MiB,
          `answered after ${r.sentWhenAnswered} bytes`,
        );
        assert.match(r.response, /\r\nConnection: close\r\n/i);
        assert.ok(r.cutOff, `the server read all ${r.sent} bytes instead of closing`);
        assert.ok(r.peakGrowth < 16 * MiB, `memory grew by ${(r.peakGrowth / MiB).toFixed(1)} MiB`);
        assert.equal(txns.length, 0);
      });
    }
  });

  describe("body limits", () => {
    it("a declared Content-Length over the limit is refused 413 before any body is sent", async () => {
      const r = await rawUpload(
        smallPort,
        head("PUT", "/_matrix/app/v1/transactions/big", 2 * MiB, hsToken),
        2 * MiB,
        {
          pauseAfter: 0,
        },
      );
      assert.equal(r.status, 413);
      assert.equal(r.sentWhenAnswered, 0);
      assert.match(r.response, /"errcode":"M_TOO_LARGE"/);
      assert.equal(txns.length, 0);
    });

    it("a chunked body that grows past the limit is refused 413 and not read further", async () => {
      collectGarbage();
      const r = await rawUpload(
        smallPort,
        head("PUT", "/_matrix/app/v1/transactions/big2", undefined, hsToken),
        50 * MiB,
        {
          pauseAfter: 2 * MiB,
          chunked: true,
        },
      );
      assert.equal(r.status, 413);
      assert.ok(r.cutOff, `the server read all ${r.sent} bytes`);
      assert.ok(r.peakGrowth < 16 * MiB, `memory grew by ${(r.peakGrowth / MiB).toFixed(1)} MiB`);
      assert.equal(txns.length, 0);
    });

    it("provisioning and ping bodies are small: 100 KiB is refused 413 once authenticated", async () => {
      const body = JSON.stringify({ pad: "x".repeat(100 * 1024) });
      const p = await request(port, "POST", `${PREFIX}/v1/portals`, { headers: prov, body });
      assert.equal(p.status, 413);
      assert.equal(p.json?.errcode, "M_TOO_LARGE");
      const ping = await request(port, "POST", "/_matrix/app/v1/ping", { headers: hs, body });
      assert.equal(ping.status, 413);
      const unauth = await request(port, "POST", `${PREFIX}/v1/portals`, { body });
      assert.equal(unauth.status, 401);
    });

    it("a Synapse-sized transaction (100 PDUs of 64 KiB and 100 EDUs) fits the default limit", async () => {
      const pdu = (i: number) => ({
        type: "m.room.message",
        room_id: "!r:hs",
        sender: "@a:hs",
        event_id: `$e${i}`,
        content: { msgtype: "m.text", body: "é".repeat(30_000) },
      });
      const edu = (i: number) => ({
        type: "m.typing",
        room_id: `!r${i}:hs`,
        content: { user_ids: ["@a:hs"] },
      });
      const txn = {
        events: Array.from({ length: 100 }, (_, i) => pdu(i)),
        ephemeral: Array.from({ length: 100 }, (_, i) => edu(i)),
      };
      const body = JSON.stringify(txn);
      assert.ok(
        Buffer.byteLength(body) > 5 * MiB && Buffer.byteLength(body) < DEFAULT_BODY_LIMITS.transaction,
      );
      const r = await put("synapse-sized", body);
      assert.equal(r.status, 200, r.text);
      assert.equal(txns[0]?.txn.events?.length, 100);
      assert.equal(txns[0]?.txn.ephemeral?.length, 100);
    });
  });

  describe("bad parameters are 400, never 500", () => {
    const badQueries: Array<[string, string]> = [
      ["?limit=-5", "limit"],
      ["?limit=abc", "limit"],
      ["?limit=0", "limit"],
      ["?limit=1001", "limit"],
      ["?limit=1.5", "limit"],
      ["?limit=", "limit"],
      ["?limit=1e2", "limit"],
      ["?limit=%20%205", "limit"],
      ["?limit=5&limit=6", "limit"],
      ["?offset=1e20", "offset"],
      ["?offset=-1", "offset"],
      ["?offset=100000000000", "offset"],
      ["?offset=NaN", "offset"],
      ["?platform=%00", "platform"],
      ["?platform=Telegram%27--", "platform"],
    ];
    for (const [query, param] of badQueries) {
      it(`provisioning ${query} → 400 M_INVALID_PARAM naming ${param} and its range`, async () => {
        const r = await portals(query);
        assert.equal(r.status, 400, r.text);
        assert.equal(r.json?.errcode, "M_INVALID_PARAM");
        assert.match(String(r.json?.error), new RegExp(`^${param} must be `));
        if (param === "limit") assert.match(String(r.json?.error), /from 1 to 1000 \(default 100\)/);
        if (param === "offset") assert.match(String(r.json?.error), /from 0 to 1000000000/);
      });
    }

    it("valid parameters reach the store (down here: 503 M_UNAVAILABLE, not 500)", async () => {
      for (const q of ["", "?limit=1&offset=0", "?limit=1000&offset=1000000000&platform=telegram"]) {
        const r = await portals(q);
        assert.equal(r.status, 503, r.text);
        assert.equal(r.json?.errcode, "M_UNAVAILABLE");
      }
    });

    it("provisioning: bad JSON is 400 M_NOT_JSON; no secret 401, a wrong one 403", async () => {
      const r = await request(port, "POST", `${PREFIX}/v1/portals`, { headers: prov, body: "{nope" });
      assert.equal(r.status, 400);
      assert.equal(r.json?.errcode, "M_NOT_JSON");
      assert.equal((await portals("?limit=-5", {})).status, 401);
      assert.equal((await portals("?limit=-5", { Authorization: "Bearer wrong-wrong" })).status, 403);
    });

    for (const id of ["%", "%zz", "%E0%A4", "%ED%A0%80", "%00", "a%0Ab", "x".repeat(300)]) {
      it(`transaction id ${id.slice(0, 12)} → 400 M_INVALID_PARAM, nothing processed`, async () => {
        const r = await put(id, { events: [] });
        assert.equal(r.status, 400, r.text);
        assert.equal(r.json?.errcode, "M_INVALID_PARAM");
        assert.match(String(r.json?.error), /^txnId must be /);
        assert.equal(txns.length, 0);
      });
    }

    for (const id of ["%", "%40a%3A%E0", "%40a%00%3Ahs", "no-at-sign", "%40nocolon"]) {
      it(`user id ${id} → 400 M_INVALID_PARAM`, async () => {
        const r = await request(port, "GET", `/_matrix/app/v1/users/${id}`, { headers: hs });
        assert.equal(r.status, 400, r.text);
        assert.equal(r.json?.errcode, "M_INVALID_PARAM");
        assert.match(String(r.json?.error), /^userId must be a Matrix user id/);
        assert.deepEqual(users, []);
      });
    }

    it("a well-formed user id reaches the handler decoded", async () => {
      assert.equal(
        (await request(port, "GET", "/_matrix/app/v1/users/%40known%3Ahs", { headers: hs })).status,
        200,
      );
      assert.equal(
        (await request(port, "GET", "/_matrix/app/v1/users/%40other%3Ahs", { headers: hs })).status,
        404,
      );
      assert.deepEqual(users, ["@known:hs", "@other:hs"]);
    });

    it("a transaction that is not JSON is M_NOT_JSON; JSON that is not an object M_BAD_JSON", async () => {
      assert.equal((await put("nj", "{")).json?.errcode, "M_NOT_JSON");
      for (const body of ["[]", "null", "5", '"txn"', '{"events":"x"}', '{"events":{}}']) {
        const r = await put("bj", body);
        assert.equal(r.status, 400, body);
        assert.equal(r.json?.errcode, "M_BAD_JSON", body);
      }
      assert.equal(txns.length, 0);
    });

    it("ephemeral that is not a list (null, a number, an object) is treated as absent: 200", async () => {
      const ev = { type: "m.room.message", event_id: "$1", room_id: "!r:hs", sender: "@a:hs", content: {} };
      const r = await put("eph", { events: [ev], ephemeral: null, "de.sorunome.msc2409.ephemeral": 5 });
      assert.equal(r.status, 200, r.text);
      const r2 = await put("eph2", { events: [], "de.sorunome.msc2409.ephemeral": { no: 1 } });
      assert.equal(r2.status, 200, r2.text);
      assert.equal(txns.length, 2);
      assert.deepEqual(txns[0]?.txn, { events: [ev] });
      assert.deepEqual(txns[1]?.txn, { events: [] });
    });

    it("the hs_token: missing 401 M_UNAUTHORIZED, wrong 403 M_FORBIDDEN, legacy query parameter accepted", async () => {
      const missing = await put("a1", { events: [] }, {});
      assert.equal(missing.status, 401);
      assert.equal(missing.json?.errcode, "M_UNAUTHORIZED");
      const wrong = await put("a2", { events: [] }, { Authorization: "Bearer nope-nope" });
      assert.equal(wrong.status, 403);
      assert.equal(wrong.json?.errcode, "M_FORBIDDEN");
      assert.equal(txns.length, 0);
      const legacy = await request(port, "PUT", `/transactions/a3?access_token=${hsToken}`, {
        body: '{"events":[]}',
      });
      assert.equal(legacy.status, 200);
      assert.equal(txns[0]?.id, "a3");
    });

    it("malformed HTTP and odd request targets get a JSON 4xx", async () => {
      for (const target of ["//[", "http://[::1", "*"]) {
        const r = await request(port, "GET", target, { headers: hs });
        assert.ok(r.status >= 400 && r.status < 500, `${target}: ${r.status}`);
        assertMatrixError(r);
      }
      const sock = net.connect(port, "127.0.0.1");
      sock.end("NOT HTTP AT ALL\r\n\r\n");
      let got = "";
      for await (const d of sock) got += String(d);
      assert.match(got, /^HTTP\/1\.1 400 [\s\S]*"errcode":"M_UNRECOGNIZED"/);
    });
  });

  describe("failures", () => {
    it("a handler error is 500 M_UNKNOWN; a database that is down is 503 M_UNAVAILABLE", async () => {
      txnFailure = async () => {
        throw new TypeError("a bug");
      };
      const bug = await put("f1", { events: [] });
      assert.equal(bug.status, 500);
      assert.equal(bug.json?.errcode, "M_UNKNOWN");
      txnFailure = async () => {
        await deadPool.query("SELECT 1");
      };
      const down = await put("f2", { events: [] });
      assert.equal(down.status, 503, down.text);
      assert.equal(down.json?.errcode, "M_UNAVAILABLE");
    });

    it("a client that disconnects mid-body: nothing processed, the server keeps serving", async () => {
      for (let i = 0; i < 5; i++) {
        const sock = net.connect(port, "127.0.0.1");
        await new Promise((r) => sock.once("connect", r));
        sock.write(head("PUT", `/_matrix/app/v1/transactions/cut${i}`, MiB, hsToken));
        sock.write(Buffer.alloc(100 * 1024, "{"));
        await new Promise((r) => setTimeout(r, 20));
        sock.destroy();
      }
      const h = await request(port, "GET", "/health");
      assert.equal(h.status, 200);
      assert.equal(txns.length, 0);
    });

    it("a transaction whose connection the homeserver closes before the answer is told as cut; answered ones are not", async () => {
      let release!: () => void;
      const held = new Promise<void>((r) => {
        release = r;
      });
      txnFailure = () => held;
      const body = JSON.stringify({ events: [] });
      const sock = net.connect(port, "127.0.0.1");
      await new Promise((r) => sock.once("connect", r));
      sock.write(head("PUT", "/_matrix/app/v1/transactions/held1", Buffer.byteLength(body), hsToken) + body);
      await new Promise((r) => setTimeout(r, 50));
      sock.destroy(); // the homeserver stopped while the bridge was still recording it
      for (let i = 0; i < 100 && !cut.length; i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(cut, ["held1"]);
      release();
      txnFailure = undefined;
      const ok = await put("answered1", { events: [] });
      assert.equal(ok.status, 200);
      const refused = await put("bad1", "not json");
      assert.equal(refused.status, 400);
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(cut, ["held1"]);
    });
  });

  describe("fuzzed path segments", () => {
    it("transaction ids: never 5xx, a JSON errcode on every refusal, the decoded id when accepted", async () => {
      await fc.assert(
        fc.asyncProperty(segment, async (seg) => {
          txns.length = 0;
          const r = await put(seg, { events: [] });
          assert.ok(r.status < 500, `${r.status} for ${seg.slice(0, 80)}: ${r.text}`);
          assertMatrixError(r);
          if (r.status === 200) assert.equal(txns[0]?.id, decodeURIComponent(seg));
          else assert.equal(txns.length, 0);
        }),
        fuzzParams(150),
      );
    });

    it("user ids: never 5xx, a JSON errcode on every refusal", async () => {
      await fc.assert(
        fc.asyncProperty(segment, async (seg) => {
          const r: Answer = await request(port, "GET", `/_matrix/app/v1/users/${seg}`, { headers: hs });
          assert.ok(r.status < 500, `${r.status} for ${seg.slice(0, 80)}: ${r.text}`);
          assertMatrixError(r);
        }),
        fuzzParams(150),
      );
    });
  });
});
