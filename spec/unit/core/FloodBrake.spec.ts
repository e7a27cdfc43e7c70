import assert from "node:assert/strict";
import { FloodBrake, FloodCounter } from "../../../src/core/FloodBrake";
import type { RemotePayload } from "../../../src/core/InboundBridge";

const T0 = 1_700_000_000_000;

describe("FloodCounter", () => {
  const config = { ghost_per_minute: 3, chat_per_minute: 5, mute_seconds: 60 };

  it("mutes a sender on the first message over the limit, drops until the mute ends, then lets them through", () => {
    const f = new FloodCounter(config, () => T0 + 600_000);
    const verdicts = [0, 1, 2, 3, 4].map((i) => f.check(`m${i}`, "g", "c", T0 + i * 100));
    assert.deepEqual(
      verdicts.map((v) => v.pass),
      [true, true, true, false, false],
    );
    assert.deepEqual(verdicts[3], { pass: false, muted: { scope: "ghost", until: T0 + 300 + 60_000 } });
    assert.deepEqual(verdicts[4], { pass: false }, "one notice per mute");
    // Another sender in the chat is not muted.
    assert.equal(f.check("o1", "other", "c", T0 + 500).pass, true);
    assert.equal(f.check("m5", "g", "c", T0 + 300 + 59_999).pass, false);
    assert.equal(f.check("m6", "g", "c", T0 + 300 + 60_000).pass, true, "the mute ends by itself");
  });

  it("mutes a chat when all its senders together go over the chat limit", () => {
    const f = new FloodCounter(config, () => T0 + 600_000);
    const senders = ["a", "b", "c", "a", "b", "c"];
    const verdicts = senders.map((s, i) => f.check(`m${i}`, s, "chat", T0 + i));
    assert.deepEqual(
      verdicts.map((v) => v.pass),
      [true, true, true, true, true, false],
    );
    assert.equal(verdicts[5]!.pass === false && verdicts[5]!.muted?.scope, "chat");
    assert.equal(f.check("x", "new", "chat", T0 + 10).pass, false, "a new sender in a muted chat");
    assert.equal(f.check("y", "new", "elsewhere", T0 + 10).pass, true);
  });

  it("counts a one-minute window: a steady sender under the limit is never muted", () => {
    const f = new FloodCounter(config, () => T0 + 3_600_000);
    for (let i = 0; i < 100; i++) assert.equal(f.check(`m${i}`, "g", `c${i}`, T0 + i * 21_000).pass, true);
  });

  it("gives a retried message the verdict it had, without a second notice", () => {
    const f = new FloodCounter({ ...config, ghost_per_minute: 1 }, () => T0 + 600_000);
    assert.equal(f.check("m1", "g", "c", T0).pass, true);
    assert.equal(f.check("m1", "g", "c", T0).pass, true, "a retry of an admitted message passes again");
    const first = f.check("m2", "g", "c", T0 + 1);
    assert.equal(first.pass === false && first.muted?.scope, "ghost");
    assert.deepEqual(f.check("m2", "g", "c", T0 + 1), { pass: false });
  });

  it("clamps timestamps from the future and nonsense to now, so a sender cannot date their way out", () => {
    let now = T0;
    const f = new FloodCounter({ ...config, ghost_per_minute: 2 }, () => now);
    assert.equal(f.check("a", "g", "c", T0 + 10_000_000).pass, true);
    assert.equal(f.check("b", "g", "c", Number.NaN).pass, true);
    const third = f.check("c", "g", "c", T0 + 99_000_000);
    assert.equal(third.pass === false && third.muted?.until, T0 + 60_000);
    now = T0 + 30_000;
    assert.equal(f.check("d", "g", "c", T0 + 99_000_000).pass, false, "still muted at now");
  });

  it("is off when both limits are 0", () => {
    const f = new FloodCounter({ ghost_per_minute: 0, chat_per_minute: 0, mute_seconds: 60 });
    assert.equal(f.enabled, false);
  });
});

describe("FloodBrake", () => {
  const message = (id: string, sender: string, ts: number): RemotePayload => ({
    platform: "testnet",
    loginId: "l",
    event: {
      kind: "message",
      id,
      chat: { id: "chat" },
      sender: { id: sender },
      senderInfo: { displayName: "Spammy" },
      timestamp: ts,
      text: "x",
    },
  });

  it("tells the portal's room once per mute, naming the sender, and leaves other events alone", async () => {
    const notices: Array<[string, string]> = [];
    const brake = new FloodBrake({
      config: { ghost_per_minute: 2, chat_per_minute: 0, mute_seconds: 30 },
      roomOf: async (platform, chat) => (platform === "testnet" && chat === "chat" ? "!room:hs" : undefined),
      notice: async (room, text) => {
        notices.push([room, text]);
      },
      now: () => T0 + 600_000,
    });
    const drops = [];
    for (let i = 0; i < 6; i++) drops.push(await brake.drop(message(`m${i}`, "u1", T0 + i)));
    assert.deepEqual(drops, [false, false, true, true, true, true]);
    assert.deepEqual(notices, [
      ["!room:hs", "⏸️ Spammy (testnet) is sending too fast: their messages are not bridged for 30 s."],
    ]);
    const typing: RemotePayload = {
      platform: "testnet",
      loginId: "l",
      event: { kind: "typing", chat: { id: "chat" }, sender: { id: "u1" }, timestamp: T0, typing: true },
    };
    assert.equal(await brake.drop(typing), false);
  });

  it("drops without a notice when the chat has no room yet, and survives a failing notice", async () => {
    const brake = new FloodBrake({
      config: { ghost_per_minute: 1, chat_per_minute: 0, mute_seconds: 30 },
      roomOf: async () => "!room:hs",
      notice: async () => {
        throw new Error("homeserver down");
      },
      now: () => T0 + 600_000,
    });
    assert.equal(await brake.drop(message("a", "u", T0)), false);
    assert.equal(await brake.drop(message("b", "u", T0 + 1)), true);
  });
});
