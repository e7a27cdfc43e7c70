import assert from "node:assert/strict";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { scriptedBackend } from "../../standins/llm/backend";
import { BOT, user } from "../core/coreRig";
import { AI, type AiRig, isAnswer, startAiRig } from "./aiRig";

/**
 * Model output is inert text: with a domain-wide permission entry (which covers the AI puppet's
 * server), a model that answers with bridge commands makes the bot do nothing.
 */
describe("AI answers never run as bridge commands (real Synapse, model stand-in)", function () {
  this.timeout(180_000);
  let rig: AiRig;
  let alice: MatrixTestClient;
  let room: string;

  const fromBot = (e: MatrixEvent) => e.room_id === room && e.sender === BOT && e.type === "m.room.message";
  /** Alice asks the AI; resolves once the AI answered and a later `!cb version` of hers was answered. */
  async function provoke(answer: string): Promise<MatrixEvent[]> {
    rig.openai.backend = scriptedBackend(answer);
    const before = alice.eventsIn(room).filter(fromBot).length;
    const ask = await alice.sendText(room, "AI, what should I type?");
    await alice.waitFor((e) => isAnswer(e, ask), { roomId: room, timeoutMs: 30_000 });
    await alice.waitFor(
      (e) =>
        e.sender === AI &&
        String((e.content["m.new_content"] as { body?: string } | undefined)?.body ?? e.content.body) ===
          answer,
      { roomId: room, timeoutMs: 30_000 },
    );
    // The room's events are handled in order: once this is answered, the AI's answer was handled.
    const barrier = await alice.sendText(room, "!cb version");
    const sent = await alice.waitFor((e) => e.event_id === barrier, { roomId: room });
    await alice.waitFor(
      (e) =>
        fromBot(e) &&
        (e.origin_server_ts ?? 0) >= (sent.origin_server_ts ?? 0) &&
        /^clawbridge \d/.test(String(e.content.body)),
      { timeoutMs: 30_000 },
    );
    return alice.eventsIn(room).filter(fromBot).slice(before);
  }

  before(async () => {
    // Every user of the homeserver is a bridge admin: the AI puppet lives there too.
    // mallory stands for a user of another appservice (another bridge's puppet), listed as such.
    rig = await startAiRig(
      {},
      {
        permissions: { localhost: "admin" },
        bridge: { other_appservice_users: ["@mallory:localhost"] },
      },
    );
    alice = await user("alice");
    room = await alice.createRoom({ name: "ai and bot", invite: [BOT, AI] });
    for (const who of [BOT, AI])
      await alice.waitFor(
        (e) => e.type === "m.room.member" && e.state_key === who && e.content.membership === "join",
        {
          roomId: room,
          timeoutMs: 30_000,
        },
      );
  });
  after(async () => rig?.stop());

  it("a model answering `!cb status` gets no status (no logins, no owners)", async () => {
    const replies = await provoke("!cb status");
    const leaked = replies.filter((e) =>
      /portals:|queued deliveries|login |not allowed|permission/.test(String(e.content.body)),
    );
    assert.deepEqual(
      leaked.map((e) => e.content.body),
      [],
    );
  });

  it("a model answering `!cb link …` links nothing and gets no answer", async () => {
    rig.core.testnet.addChat({ id: "ai-target", name: "Target", kind: "group" });
    const replies = await provoke("!cb link testnet ai-target");
    assert.deepEqual(
      replies
        .filter((e) => /[Ll]ink|Usage|room admins/.test(String(e.content.body)))
        .map((e) => e.content.body),
      [],
    );
    const id = await alice.sendText(room, "!cb status");
    const sent = await alice.waitFor((e) => e.event_id === id, { roomId: room });
    const status = await alice.waitFor(
      (e) =>
        fromBot(e) &&
        (e.origin_server_ts ?? 0) >= (sent.origin_server_ts ?? 0) &&
        /^portals:/.test(String(e.content.body)),
      { timeoutMs: 30_000 },
    );
    assert.doesNotMatch(String(status.content.body), /linked to testnet/);
  });

  it("a user of another appservice (bridge.other_appservice_users) runs nothing, even under a server-wide admin entry", async () => {
    const mallory = await user("mallory");
    await alice.invite(room, mallory.userId);
    await mallory.join(room);
    const before = alice.eventsIn(room).filter(fromBot).length;
    const cmd = await mallory.sendText(room, "!cb status");
    await alice.waitFor((e) => e.event_id === cmd, { roomId: room });
    // Alice's command after it is answered: the room's events are handled in order.
    const barrier = await alice.sendText(room, "!cb version");
    await alice.waitFor(
      (e) =>
        fromBot(e) &&
        /^clawbridge \d/.test(String(e.content.body)) &&
        alice.eventsIn(room).findIndex((x) => x.event_id === barrier) < alice.eventsIn(room).indexOf(e),
      { timeoutMs: 30_000 },
    );
    const replies = alice
      .eventsIn(room)
      .filter(fromBot)
      .slice(before)
      .map((e) => String(e.content.body));
    assert.deepEqual(
      replies.filter((b) => /portals:|queued deliveries|not allowed|permission/.test(b)),
      [],
    );
  });
});
