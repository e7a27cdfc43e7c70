import assert from "node:assert/strict";
import type { proto } from "@whiskeysockets/baileys";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { pollVoteMessage, readVote } from "../../standins/whatsapp/polls";
import { user } from "../core/coreRig";
import { startWaRig, type WaRig, waAlias, waGhost } from "./waRig";

const ME = "15550000071";
const VOTER = "15552220071";
const OTHER = "15552220072";
const GROUP = "120363000000000071@g.us";
const WAIT = { timeoutMs: 30_000 };

const POLL_START = "org.matrix.msc3381.poll.start";
const POLL_RESPONSE = "org.matrix.msc3381.poll.response";
const TEXT = "org.matrix.msc1767.text";
const jid = (n: string) => `${n}@s.whatsapp.net`;
const pollOf = (m: proto.IMessage) =>
  m.pollCreationMessage ?? m.pollCreationMessageV2 ?? m.pollCreationMessageV3 ?? m.pollCreationMessageV5;

describe("WhatsApp polls end to end (baileys ↔ wire-level stand-in, real Synapse)", function () {
  this.timeout(180_000);
  let core: WaRig;
  let alice: MatrixTestClient;
  let group: string;

  before(async () => {
    core = await startWaRig({
      owner: "@alice:localhost",
      number: ME,
      name: "Alice P",
      setup: (wa) => {
        wa.contact(VOTER, "Vera");
        wa.contact(OTHER, "Otto");
        wa.group(GROUP, { subject: "Poll club", participants: [ME, VOTER, OTHER] });
      },
    });
    alice = await user("alice");
    await core.wa.until(() => core.wa.connected().includes(ME), 30_000, "the bridge's device to log in");
    await core.wa.until(() => core.wa.keysUploaded(ME), 30_000, "the bridge's device keys");
    await core.wa.sendGroupText(GROUP, VOTER, ME, "poll club opens");
    const invite = await alice.waitForInvite(
      (i) => i.events.some((e) => e.type === "m.room.canonical_alias" && e.content.alias === waAlias(GROUP)),
      30_000,
    );
    group = await alice.join(invite.roomId);
    await alice.waitFor((e) => e.room_id === group && e.content.body === "poll club opens", WAIT);
  });
  after(async () => core?.stop());

  let start: string;
  let sent: { id: string; message: proto.IMessage };

  it("the owner's Matrix poll goes out as a native WhatsApp poll with its key", async () => {
    start = await alice.sendEvent(group, POLL_START, {
      [POLL_START]: {
        question: { [TEXT]: "Where to?" },
        kind: "org.matrix.msc3381.poll.disclosed",
        max_selections: 1,
        answers: [
          { id: "beach", [TEXT]: "Beach" },
          { id: "hills", [TEXT]: "Hills" },
        ],
      },
      [TEXT]: "Where to?",
      body: "Where to?",
    });
    const got = await core.wa.waitFor((m) => m.to === GROUP && !!pollOf(m.message), 30_000, "the poll");
    const poll = pollOf(got.message)!;
    assert.equal(poll.name, "Where to?");
    assert.deepEqual(
      poll.options?.map((o) => o.optionName),
      ["Beach", "Hills"],
    );
    assert.equal(poll.selectableOptionsCount, 1);
    assert.equal(got.message.messageContextInfo?.messageSecret?.length, 32);
    sent = { id: got.id, message: got.message };
  });

  it("a member's encrypted vote arrives as their ghost's poll response; a changed vote replaces it", async () => {
    const vote = (chosen: string[]) =>
      pollVoteMessage({
        pollKey: { remoteJid: GROUP, id: sent.id, fromMe: false, participant: jid(ME) },
        creatorJid: jid(ME),
        voterJid: jid(VOTER),
        secret: sent.message.messageContextInfo!.messageSecret!,
        chosen,
      });
    await core.wa.sendGroupMessage(GROUP, VOTER, ME, await vote(["Hills"]));
    const isResponse = (answers: string[]) => (e: MatrixEvent) =>
      e.room_id === group &&
      e.type === POLL_RESPONSE &&
      JSON.stringify((e.content[POLL_RESPONSE] as { answers?: unknown }).answers) === JSON.stringify(answers);
    const first = await alice.waitFor(isResponse(["hills"]), WAIT);
    assert.equal(first.sender, waGhost(VOTER));
    assert.deepEqual(first.content["m.relates_to"], { rel_type: "m.reference", event_id: start });
    await core.wa.sendGroupMessage(GROUP, VOTER, ME, await vote(["Beach"]));
    await alice.waitFor(isResponse(["beach"]), WAIT);
    await core.wa.sendGroupMessage(GROUP, VOTER, ME, await vote([]));
    await alice.waitFor(isResponse([]), WAIT);
  });

  it("the owner's vote in Matrix goes out as their own encrypted WhatsApp vote", async () => {
    await alice.sendEvent(group, POLL_RESPONSE, {
      "m.relates_to": { rel_type: "m.reference", event_id: start },
      [POLL_RESPONSE]: { answers: ["beach"] },
    });
    const got = await core.wa.waitFor(
      (m) => m.to === GROUP && m.message.pollUpdateMessage?.pollCreationMessageKey?.id === sent.id,
      30_000,
      "the owner's vote",
    );
    const update = got.message.pollUpdateMessage!;
    assert.equal(update.pollCreationMessageKey?.remoteJid, GROUP);
    const chosen = await readVote(update, {
      creatorJid: jid(ME),
      voterJid: jid(ME),
      secret: sent.message.messageContextInfo!.messageSecret!,
      options: ["Beach", "Hills"],
    });
    assert.deepEqual(chosen, ["Beach"]);
  });

  it("a vote made with the wrong key is dropped; the next message still arrives", async () => {
    const forged = await pollVoteMessage({
      pollKey: { remoteJid: GROUP, id: sent.id, fromMe: false, participant: jid(ME) },
      creatorJid: jid(ME),
      voterJid: jid(OTHER),
      secret: Buffer.alloc(32, 7),
      chosen: ["Beach"],
    });
    await core.wa.sendGroupMessage(GROUP, OTHER, ME, forged);
    await core.wa.sendGroupText(GROUP, OTHER, ME, "after the forgery");
    await alice.waitFor((e) => e.room_id === group && e.content.body === "after the forgery", WAIT);
    const events = await alice.messages(group, { limit: 30 });
    assert.equal(
      events.filter((e) => e.type === POLL_RESPONSE && e.sender === waGhost(OTHER)).length,
      0,
      "no response for a vote that does not decrypt",
    );
  });
});
