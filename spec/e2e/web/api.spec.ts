import assert from "node:assert/strict";
import fc from "fast-check";
import { fuzzParams } from "../../harness/fuzz";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import type { Obj } from "../../standins/telegram/BotWorld";
import { BOT } from "../core/coreRig";
import { API, openIdToken, startWebRig, WebApi, type WebRig } from "./webRig";

// Chat ids and people of this suite only (the Synapse is shared across suites).
const GROUP = -1001500077001;
const GROUP2 = -1001500077002;
const OWNER = 7701;
const WRITER = 7702;

/** Percent-encodes `s`; a lone surrogate becomes its (invalid) CESU-8 bytes, as a hostile client sends them. */
function encodeLoosely(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return "%ED%A0%80";
  }
}

type Portals = { portals: Array<{ platform: string; chat_id: string; room_id: string }> };
type Logins = { logins: Array<{ platform: string; owner: string; state: string; shared: boolean }> };

/**
 * The web API against the real bridge and Synapse: sign-in with OpenID tokens, who sees what,
 * the actions that run the management commands, and hostile input. Every answer is checked
 * against docs/web-api.openapi.yaml (WebApi.call).
 */
describe("web API: OpenID sign-in, own logins and rooms, commands' code paths (real Synapse)", function () {
  this.timeout(180_000);
  let rig: WebRig;
  const newApi = () => new WebApi(rig.base);
  let asAdmin: WebApi;
  let asMember: WebApi;
  let adminRoom: string;
  let memberRoom: string;

  const joinedBot = (who: MatrixTestClient, room: string) =>
    who.waitFor(
      (e) =>
        e.room_id === room &&
        e.type === "m.room.member" &&
        e.state_key === BOT &&
        e.content.membership === "join",
      { timeoutMs: 30_000 },
    );

  before(async () => {
    rig = await startWebRig("api", (tg) => {
      tg.addUser({ id: OWNER, first_name: "Wanda", last_name: "Owner" });
      tg.addUser({ id: WRITER, first_name: "Walt", last_name: "Writer" });
      tg.addChat({
        id: GROUP,
        type: "supergroup",
        title: "Web API group",
        members: { [OWNER]: "creator", [WRITER]: "member" },
      });
      tg.addChat({
        id: GROUP2,
        type: "supergroup",
        title: "Web API second group",
        members: { [OWNER]: "creator", [WRITER]: "member" },
      });
    });
    asAdmin = newApi();
    asMember = newApi();
    adminRoom = await rig.admin.createRoom({ name: "Admin's web room", invite: [BOT] });
    memberRoom = await rig.member.createRoom({ name: "Member's web room", invite: [BOT] });
    await Promise.all([joinedBot(rig.admin, adminRoom), joinedBot(rig.member, memberRoom)]);
  });
  after(async () => rig?.stop());

  it("signs in with an OpenID token only: a wrong one is 401, a user without a bridge level 403, no cookies", async () => {
    const anon = new WebApi(rig.base);
    const info = await anon.call<{ homeserver_url: string }>("GET", "/v1/info");
    assert.equal(info.body.homeserver_url, rig.core.rig.synapse.url);
    const none = await anon.call("GET", "/v1/me");
    assert.equal(none.status, 401);
    assert.equal(none.body.errcode, "M_MISSING_TOKEN");
    anon.session = "made-up";
    assert.equal((await anon.call("GET", "/v1/me")).body.errcode, "M_UNKNOWN_TOKEN");
    anon.session = undefined;
    const wrong = await anon.call("POST", "/v1/session", {
      openid_token: "not-a-token-the-homeserver-issued",
    });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.errcode, "M_UNKNOWN_TOKEN");
    // A Matrix access token is not an OpenID token: refused too.
    const access = await anon.call("POST", "/v1/session", { openid_token: rig.admin.accessToken });
    assert.equal(access.status, 401);
    const stranger = await anon.call("POST", "/v1/session", {
      openid_token: await openIdToken(rig.stranger),
    });
    assert.equal(stranger.status, 403);
    assert.match(String(stranger.body.error), /bridge\.permissions/);

    const ok = await anon.call<{ session_token: string; user_id: string; level: string }>(
      "POST",
      "/v1/session",
      {
        openid_token: await openIdToken(rig.member),
      },
    );
    assert.equal(ok.status, 200);
    assert.equal(ok.body.user_id, rig.member.userId);
    assert.equal(ok.body.level, "user");
    assert.equal(ok.headers.get("set-cookie"), null);
    assert.equal(ok.headers.get("cache-control"), "no-store");
    assert.ok(ok.body.session_token.length >= 40);
    await asMember.signIn(rig.member);
    await asAdmin.signIn(rig.admin);
    const me = await asAdmin.call<{ level: string; platforms: Array<{ name: string }> }>("GET", "/v1/me");
    assert.equal(me.body.level, "admin");
    assert.ok(me.body.platforms.some((p) => p.name === "telegram"));
    // Signing out ends that session only.
    anon.session = ok.body.session_token;
    assert.equal((await anon.call("DELETE", "/v1/session")).status, 200);
    assert.equal((await anon.call("GET", "/v1/me")).status, 401);
    assert.equal((await asMember.call("GET", "/v1/me")).status, 200);
  });

  it("nobody sees another user's logins; an admin sees everyone's with all=1", async () => {
    const own = await asAdmin.call<Logins>("GET", "/v1/logins");
    const tg = own.body.logins.find((l) => l.platform === "telegram");
    assert.ok(tg, "the admin owns the configured Telegram bot");
    assert.equal(tg.owner, rig.admin.userId);
    assert.equal(tg.shared, true);
    for (const q of ["", "?all=1"]) {
      const theirs = await asMember.call<Logins>("GET", `/v1/logins${q}`);
      assert.deepEqual(theirs.body.logins, [], `member sees no login with '${q}'`);
    }
    const all = await asAdmin.call<Logins>("GET", "/v1/logins?all=1");
    assert.ok(all.body.logins.length >= own.body.logins.length);
    assert.equal((await asMember.call("GET", "/v1/portals")).status, 200);
    assert.equal((await asMember.call("GET", "/v1/admin/connections")).status, 403);
    assert.equal((await asMember.call("GET", "/v1/admin/failures")).status, 403);
    assert.equal((await asMember.call("GET", "/v1/admin/audit")).status, 403);
  });

  it("token login is the command's: admins only, a refused token is said; logout of nothing is 404", async () => {
    const byMember = await asMember.call("POST", "/v1/logins", { platform: "telegram", token: "123:abc" });
    assert.equal(byMember.status, 403);
    assert.match(String(byMember.body.error), /Only bridge admins/);
    const refused = await asAdmin.call("POST", "/v1/logins", { platform: "telegram", token: "999:wrong" });
    assert.equal(refused.status, 400);
    assert.match(String(refused.body.error), /telegram refused the token/);
    const unknown = await asAdmin.call("POST", "/v1/logins", { platform: "nosuchnet", token: "x" });
    assert.equal(unknown.status, 404);
    const noQr = await asMember.call("POST", "/v1/logins/interactive", { platform: "telegram" });
    assert.equal(noQr.status, 400);
    const out = await asMember.call("DELETE", "/v1/logins/telegram");
    assert.equal(out.status, 404);
    assert.ok(
      (await asAdmin.call<Logins>("GET", "/v1/logins")).body.logins.some((l) => l.platform === "telegram"),
    );
  });

  it("links a room as `link` does, the room hears it, and a message from the chat arrives", async () => {
    const linked = await asAdmin.call<{ messages: string[] } & Portals>(
      "POST",
      `/v1/rooms/${encodeURIComponent(adminRoom)}/links`,
      { platform: "telegram", chat: String(GROUP) },
    );
    assert.equal(linked.status, 200, JSON.stringify(linked.body));
    assert.match(linked.body.messages.join("\n"), /Linked this room to telegram chat "Web API group"/);
    assert.deepEqual(
      linked.body.portals.map((p) => [p.platform, p.chat_id]),
      [["telegram", String(GROUP)]],
    );
    await rig.admin.waitFor(
      (e) => e.room_id === adminRoom && e.sender === BOT && /Linked this room/.test(String(e.content.body)),
      { timeoutMs: 30_000 },
    );
    rig.tg.injectMessage({ chat: GROUP, from: WRITER, text: "hello through the web link" });
    await rig.admin.waitFor(
      (e) => e.room_id === adminRoom && e.content.body === "hello through the web link",
      {
        timeoutMs: 30_000,
      },
    );
    const mine = await asAdmin.call<Portals>("GET", "/v1/portals");
    assert.ok(mine.body.portals.some((p) => p.room_id === adminRoom));
    const theirs = await asMember.call<Portals>("GET", "/v1/portals");
    assert.ok(
      !theirs.body.portals.some((p) => p.room_id === adminRoom),
      "the member's portals are their own",
    );
    // The same refusals as the command: the chat is bridged already.
    const again = await asAdmin.call<{ messages: string[] }>(
      "POST",
      `/v1/rooms/${encodeURIComponent(adminRoom)}/links`,
      {
        platform: "telegram",
        chat: String(GROUP),
      },
    );
    assert.match(again.body.messages.join("\n"), /already linked/);
  });

  it("a room the user is not in is refused; through the shared bot the chat's admin approves", async () => {
    const notIn = await asMember.call("GET", `/v1/rooms/${encodeURIComponent(adminRoom)}/links`);
    assert.equal(notIn.status, 403);
    const notInLink = await asMember.call("POST", `/v1/rooms/${encodeURIComponent(adminRoom)}/links`, {
      platform: "telegram",
      chat: String(GROUP2),
    });
    assert.equal(notInLink.status, 403);
    const n = rig.tg.calls.length;
    const asked = await asMember.call<{ messages: string[] } & Portals>(
      "POST",
      `/v1/rooms/${encodeURIComponent(memberRoom)}/links`,
      { platform: "telegram", chat: String(GROUP2) },
    );
    assert.equal(asked.status, 200);
    assert.match(asked.body.messages.join("\n"), /asked the admins/);
    assert.deepEqual(asked.body.portals, []);
    const call = await rig.tg.waitFor(
      (c) =>
        rig.tg.calls.indexOf(c) >= n &&
        c.method === "sendMessage" &&
        Number(c.params.chat_id) === GROUP2 &&
        c.result !== undefined,
    );
    const message = call.result as Obj;
    const rows = (
      message.reply_markup as { inline_keyboard: Array<Array<{ text: string; callback_data: string }>> }
    ).inline_keyboard;
    rig.tg.injectCallbackQuery({
      chat: GROUP2,
      message_id: message.message_id as number,
      from: OWNER,
      data: rows.flat().find((b) => b.text === "Approve")!.callback_data,
    });
    await rig.member.waitFor(
      (e) => e.room_id === memberRoom && /approved: linked this room/.test(String(e.content.body)),
      {
        timeoutMs: 30_000,
      },
    );
    const links = await asMember.call<Portals>("GET", `/v1/rooms/${encodeURIComponent(memberRoom)}/links`);
    assert.deepEqual(
      links.body.portals.map((p) => p.chat_id),
      [String(GROUP2)],
    );
  });

  it("relay and unlink run their commands; bad bodies are 400 with an errcode", async () => {
    const room = encodeURIComponent(memberRoom);
    const relay = await asMember.call<{ messages: string[] }>("PUT", `/v1/rooms/${room}/relay`, {
      enabled: true,
    });
    assert.equal(relay.status, 200);
    assert.match(relay.body.messages.join("\n"), /no portal whose platform relays per chat/);
    assert.deepEqual(
      (await asMember.call<{ relay: unknown[] }>("GET", `/v1/rooms/${room}/relay`)).body.relay,
      [],
    );
    const bad = await asMember.call("PUT", `/v1/rooms/${room}/relay`, { enabled: "yes" });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.errcode, "M_BAD_JSON");
    const gone = await asMember.call<{ messages: string[] } & Portals>(
      "DELETE",
      `/v1/rooms/${room}/links/telegram`,
    );
    assert.equal(gone.status, 200);
    assert.match(gone.body.messages.join("\n"), /Unlinked telegram chat/);
    assert.deepEqual(gone.body.portals, []);
  });

  it("a room's AI settings are the !ai command's; usage and health answer", async () => {
    const room = encodeURIComponent(memberRoom);
    const before = await asMember.call<{ mode: string | null; defaults: { mode: string } }>(
      "GET",
      `/v1/rooms/${room}/ai`,
    );
    assert.equal(before.status, 200);
    assert.equal(before.body.mode, null);
    const set = await asMember.call<{ mode: string; model: string; messages: string[] }>(
      "PUT",
      `/v1/rooms/${room}/ai`,
      {
        mode: "always",
        model: "tiny",
      },
    );
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.deepEqual(set.body.messages, ["Mode set to always.", "Model set to tiny."]);
    assert.equal(set.body.mode, "always");
    for (const [body, errcode] of [
      [{ mode: "sometimes" }, "M_INVALID_PARAM"],
      [{ provider: "nosuch" }, "M_INVALID_PARAM"],
      [{ colour: "red" }, "M_BAD_JSON"],
      [{}, "M_BAD_JSON"],
      [{ prompt: "" }, "M_BAD_JSON"],
    ] as const) {
      const r = await asMember.call("PUT", `/v1/rooms/${room}/ai`, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.errcode, errcode, JSON.stringify(body));
    }
    assert.equal((await asMember.call("GET", `/v1/rooms/${encodeURIComponent(adminRoom)}/ai`)).status, 403);
    assert.equal((await asMember.call("GET", "/v1/ai/usage")).status, 200);
    const health = await asAdmin.call<{ latency: Array<{ count: number }>; queue_depth: number }>(
      "GET",
      "/v1/health",
    );
    assert.equal(health.body.latency.length, 60);
    assert.ok(
      health.body.latency.reduce((n, m) => n + m.count, 0) > 0,
      "the deliveries of this suite are counted",
    );
    for (const p of ["/v1/admin/connections", "/v1/admin/failures?limit=5", "/v1/admin/audit?limit=5"])
      assert.equal((await asAdmin.call("GET", p)).status, 200, p);
  });

  it("a relay-level user signs in but may not act: no logins, links or AI settings", async () => {
    const room = await rig.relayed.createRoom({ name: "Relay user's room", invite: [BOT] });
    await joinedBot(rig.relayed, room);
    const asRelayed = newApi();
    await asRelayed.signIn(rig.relayed);
    assert.equal((await asRelayed.call<{ level: string }>("GET", "/v1/me")).body.level, "relay");
    const qr = await asRelayed.call("POST", "/v1/logins/interactive", { platform: "telegram" });
    assert.equal(qr.status, 403);
    const link = await asRelayed.call("POST", `/v1/rooms/${encodeURIComponent(room)}/links`, {
      platform: "telegram",
      chat: String(GROUP2),
    });
    assert.equal(link.status, 403);
    assert.match(String(link.body.error), /needs the bridge permission level 'user'/);
    const ai = await asRelayed.call("PUT", `/v1/rooms/${encodeURIComponent(room)}/ai`, { mode: "always" });
    assert.equal(ai.status, 403);
    assert.deepEqual(
      (await asRelayed.call<Portals>("GET", `/v1/rooms/${encodeURIComponent(room)}/links`)).body.portals,
      [],
    );
  });

  it("hostile input: bodies and path parameters of every shape get 4xx with an errcode, never a 5xx, and touch no one else", async () => {
    const before = await asAdmin.call<Logins>("GET", "/v1/logins?all=1");
    const adminLinks = await asAdmin.call<Portals>("GET", `/v1/rooms/${encodeURIComponent(adminRoom)}/links`);
    const routes: Array<[string, string]> = [
      ["POST", "/v1/session"],
      ["POST", "/v1/logins"],
      ["POST", "/v1/logins/interactive"],
      ["POST", "/v1/pm"],
      ["PUT", "/v1/rooms/{room}/ai"],
      ["PUT", "/v1/rooms/{room}/relay"],
      ["POST", "/v1/rooms/{room}/links"],
      ["DELETE", "/v1/rooms/{room}/links/{seg}"],
      ["GET", "/v1/logins/interactive/{seg}"],
      ["DELETE", "/v1/logins/{seg}"],
      ["GET", "/v1/portals?limit={seg}"],
    ];
    const weird = fc.oneof(
      fc.string({ unit: "grapheme", maxLength: 40 }),
      fc.string({ unit: "binary", maxLength: 40 }),
      fc.constantFrom("!x", "!a:b", "..", "%", "%ZZ", "%00", "a/b", "\u0000", "\ud800", "x".repeat(300), ""),
    );
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      fc
        .record(
          {
            platform: fc.oneof(fc.constant("telegram"), weird),
            token: weird,
            chat: weird,
            phone: weird,
            enabled: fc.anything({ maxDepth: 1 }),
            mode: weird,
            openid_token: weird,
            prompt: weird,
            user: fc.oneof(fc.constantFrom("599", "1", "tg://user?id=2"), weird),
          },
          { requiredKeys: [] },
        )
        .map((v) => JSON.stringify(v)),
      fc.constantFrom("{", "[]", "null", '"x"', "1e999", `{"a":${"[".repeat(200)}`, "\u0000"),
    );
    // The member's room only: what the fuzz may change is theirs.
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), body, weird, async ([method, template], raw, seg) => {
        const p = template
          .replace("{room}", encodeURIComponent(memberRoom))
          .replace("{seg}", encodeLoosely(seg));
        const res = await fetch(`${rig.base}${API}${p}`, {
          method,
          headers: { Authorization: `Bearer ${asMember.session}`, "Content-Type": "application/json" },
          body: method === "GET" ? undefined : raw,
        });
        const text = await res.text();
        assert.ok(res.status < 500, `${method} ${p} ${raw.slice(0, 200)} → ${res.status} ${text}`);
        if (res.status >= 400) assert.match(JSON.parse(text).errcode, /^M_[A-Z_]+$/, text);
      }),
      fuzzParams(150),
    );
    const after = await asAdmin.call<Logins>("GET", "/v1/logins?all=1");
    assert.deepEqual(
      after.body.logins.map((l) => [l.platform, l.owner]),
      before.body.logins.map((l) => [l.platform, l.owner]),
    );
    const adminAfter = await asAdmin.call<Portals>("GET", `/v1/rooms/${encodeURIComponent(adminRoom)}/links`);
    assert.deepEqual(adminAfter.body, adminLinks.body);
    assert.equal((await asAdmin.call("GET", "/v1/me")).status, 200);
  });

  it("hostile input: the people an admin starts a direct chat with reach Telegram's own parser, and get a 4xx, never a 5xx", async () => {
    const portalsBefore = (await asAdmin.call<Portals>("GET", "/v1/portals?all=1")).body.portals.length;
    const person = fc.oneof(
      fc.string({ unit: "grapheme", maxLength: 40 }),
      fc.string({ unit: "binary", maxLength: 40 }),
      fc.stringMatching(/^[0-9]{1,20}$/),
      fc.constantFrom(
        "tg://user?id=",
        "tg://user?id=-1",
        "@name",
        "-100",
        "1e9",
        " 0 ",
        "\u0000",
        "x".repeat(300),
      ),
    );
    await fc.assert(
      fc.asyncProperty(person, async (user) => {
        const res = await fetch(`${rig.base}${API}/v1/pm`, {
          method: "POST",
          headers: { Authorization: `Bearer ${asAdmin.session}`, "Content-Type": "application/json" },
          body: JSON.stringify({ platform: "telegram", user }),
        });
        const text = await res.text();
        assert.ok(res.status >= 400 && res.status < 500, `${JSON.stringify(user)} → ${res.status} ${text}`);
        assert.match(JSON.parse(text).errcode, /^M_[A-Z_]+$/, text);
      }),
      fuzzParams(40),
    );
    const portalsAfter = (await asAdmin.call<Portals>("GET", "/v1/portals?all=1")).body.portals.length;
    assert.equal(portalsAfter, portalsBefore, "no portal was made for a made-up person");
  });
});
