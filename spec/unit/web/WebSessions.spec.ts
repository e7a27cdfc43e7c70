import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { PermissionLevel } from "../../../src/config/types";
import { WebSessions } from "../../../src/web/WebSessions";

/** The homeserver's OpenID userinfo endpoint, as Synapse answers it, counting its requests. */
async function userinfo(tokens: Record<string, string>, status = 200) {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    assert.equal(url.pathname, "/_matrix/federation/v1/openid/userinfo");
    const token = url.searchParams.get("access_token") ?? "";
    seen.push(token);
    const sub = tokens[token];
    const [code, body] =
      status !== 200
        ? [status, { errcode: "M_UNKNOWN" }]
        : sub
          ? [200, { sub }]
          : [401, { errcode: "M_UNKNOWN_TOKEN", error: "Access Token unknown or expired" }];
    res.writeHead(code, { "Content-Type": "application/json" });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => server.close(),
  };
}

const levels: Record<string, PermissionLevel> = { "@ann:hs.test": "user", "@root:hs.test": "admin" };
const permissions = { levelOf: (mxid: string) => levels[mxid] };

describe("WebSessions: OpenID sign-in and short-lived bridge sessions", () => {
  it("exchanges a token the homeserver vouches for; remembers it briefly; sessions expire", async () => {
    const hs = await userinfo({ good: "@ann:hs.test", rooty: "@root:hs.test" });
    let now = 1_000_000;
    try {
      const s = new WebSessions({
        homeserverUrl: hs.url,
        domain: "hs.test",
        permissions,
        sessionMs: 60_000,
        now: () => now,
      });
      const a = await s.signIn("good");
      assert.ok("token" in a);
      assert.deepEqual(a.user, { userId: "@ann:hs.test", level: "user" });
      assert.deepEqual(s.user(`Bearer ${a.token}`), a.user);
      const b = await s.signIn("good");
      assert.ok("token" in b && b.token !== a.token, "each sign-in is its own session");
      assert.equal(hs.seen.length, 1, "the second sign-in with the same token asked no one");
      now += 60_001;
      assert.equal(s.user(`Bearer ${a.token}`), undefined, "expired");
      await s.signIn("good");
      assert.equal(hs.seen.length, 2, "a minute on, the token is checked again");
      const root = await s.signIn("rooty");
      assert.ok("token" in root);
      s.end(`Bearer ${root.token}`);
      assert.equal(s.user(`Bearer ${root.token}`), undefined);
      assert.equal(s.user(undefined), undefined);
      assert.equal(s.user(root.token), undefined, "no Bearer, no session");
    } finally {
      hs.close();
    }
  });

  it("refuses unknown tokens (401), users without a level or of another server (403 / 401), and says when the homeserver cannot tell", async () => {
    const hs = await userinfo({ nobody: "@eve:hs.test", foreign: "@ann:elsewhere.test" });
    try {
      const s = new WebSessions({ homeserverUrl: hs.url, domain: "hs.test", permissions, sessionMs: 60_000 });
      assert.deepEqual(await s.signIn("made-up"), {
        status: 401,
        errcode: "M_UNKNOWN_TOKEN",
        text: "The homeserver does not know this OpenID token (it lasts about an hour): get a new one and sign in again.",
      });
      const eve = await s.signIn("nobody");
      assert.ok("errcode" in eve && eve.status === 403 && /bridge\.permissions/.test(eve.text));
      const foreign = await s.signIn("foreign");
      assert.ok(
        "errcode" in foreign && foreign.status === 401,
        "a user of another server is not vouched for here",
      );
    } finally {
      hs.close();
    }
    const down = await userinfo({}, 404);
    try {
      const s = new WebSessions({
        homeserverUrl: down.url,
        domain: "hs.test",
        permissions,
        sessionMs: 60_000,
      });
      await assert.rejects(s.signIn("any"), (err: Error & { status?: number }) => err.status === 503);
    } finally {
      down.close();
    }
  });
});
