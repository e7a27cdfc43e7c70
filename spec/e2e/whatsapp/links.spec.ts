/**
 * `link whatsapp <chat>` end to end (baileys against the wire-level stand-in, real Synapse): the
 * forms of a WhatsApp id a person types all name the chat's one portal key, so a chat bridged
 * to one room is refused in another however it is written, and its messages keep going to the
 * room it is bridged to; after `unlink` it may be linked again, under any form.
 */
import assert from "node:assert/strict";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { BOT, user } from "../core/coreRig";
import { startWaRig, type WaRig, waAlias, waGhost } from "./waRig";

const ME = "15550000011";
const CONTACT = "15551234577";
const GROUP = "120363000000000077@g.us";
const CHAT = `${ME}_${CONTACT}@s.whatsapp.net`;
const WAIT = { timeoutMs: 30_000 };
const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const isText = (room: string, body: string) => (e: MatrixEvent) =>
  e.room_id === room && e.type === "m.room.message" && e.content.body === body;

describe("WhatsApp link: one key per chat, however it is typed (baileys ↔ stand-in, real Synapse)", function () {
  this.timeout(180_000);
  let core: WaRig;
  let alice: MatrixTestClient;
  let portal: string;
  let other: string;

  const ask = async (room: string, command: string, re: RegExp): Promise<string> => {
    const id = await alice.sendText(room, command);
    const sent = await alice.waitFor((e) => e.event_id === id, WAIT);
    const answer = await alice.waitFor(
      (e) =>
        e.room_id === room &&
        e.sender === BOT &&
        e.type === "m.room.message" &&
        (e.origin_server_ts ?? 0) >= (sent.origin_server_ts ?? 0) &&
        re.test(String(e.content.body)),
      { timeoutMs: 40_000 },
    );
    return String(answer.content.body);
  };

  before(async () => {
    core = await startWaRig({
      owner: "@alice:localhost",
      number: ME,
      name: "Alice L",
      setup: (wa) => {
        wa.contact(CONTACT, "Carla");
        wa.group(GROUP, { subject: "Links group", participants: [ME, CONTACT] });
      },
    });
    alice = await user("alice");
    await core.wa.until(() => core.wa.connected().includes(ME), 30_000, "the bridge's device to log in");
    await core.wa.until(() => core.wa.keysUploaded(ME), 30_000, "the bridge's device to upload its keys");
    await core.wa.sendText(CONTACT, ME, "first from Carla");
    const invite = await alice.waitForInvite(
      (i) => i.events.some((e) => e.type === "m.room.canonical_alias" && e.content.alias === waAlias(CHAT)),
      30_000,
    );
    portal = await alice.join(invite.roomId);
    await alice.waitFor(isText(portal, "first from Carla"), WAIT);
    other = await alice.createRoom({ name: "Another room", invite: [BOT] });
    await alice.waitFor(
      (e) => e.type === "m.room.member" && e.state_key === BOT && e.content.membership === "join",
      { roomId: other, ...WAIT },
    );
  });
  after(async () => core?.stop());

  it("refuses the chat bridged elsewhere under its JID, its number spelt any way, or a wa.me link", async () => {
    for (const typed of [
      `${CONTACT}@s.whatsapp.net`,
      "+1 555 123 4577",
      `00${CONTACT}`,
      `https://wa.me/${CONTACT}`,
      CHAT,
    ]) {
      const answer = await ask(other, `!cb link whatsapp ${typed}`, /already bridged|Linked/);
      const where = `${literal(CHAT)}\\) is already bridged to ${literal(portal)}; unlink it there first\\.$`;
      assert.match(answer, new RegExp(`^whatsapp chat (".*" )?\\(${where}`), typed);
    }
    assert.match(
      await ask(other, "!cb link whatsapp 0555 1234577", /not a WhatsApp chat/),
      /'0555 1234577' is not a WhatsApp chat: give a phone number with its country code/,
    );
    // The chat's messages still go to the room it is bridged to, and only there.
    await core.wa.sendText(CONTACT, ME, "still to the portal");
    const m = await alice.waitFor(isText(portal, "still to the portal"), WAIT);
    assert.equal(m.sender, waGhost(CONTACT));
    assert.ok(!alice.eventsIn(other).some((e) => e.content.body === "still to the portal"));
  });

  it("refuses a group bridged elsewhere in any case; after unlink the chat links again under another form", async () => {
    await core.wa.sendGroupText(GROUP, CONTACT, ME, "group hello");
    const invite = await alice.waitForInvite(
      (i) => i.events.some((e) => e.type === "m.room.canonical_alias" && e.content.alias === waAlias(GROUP)),
      30_000,
    );
    const group = await alice.join(invite.roomId);
    await alice.waitFor(isText(group, "group hello"), WAIT);
    assert.match(
      await ask(other, `!cb link whatsapp ${GROUP.toUpperCase()}`, /already bridged|Linked/),
      new RegExp(
        `whatsapp chat "Links group" \\(${literal(GROUP)}\\) is already bridged to ${literal(group)}`,
      ),
    );

    assert.match(await ask(portal, "!cb unlink whatsapp", /^Unlinked/), /no longer bridged/);
    assert.match(
      await ask(other, "!cb link whatsapp +1 (555) 123-4577", /Linked|already|not/),
      new RegExp(`^Linked this room to whatsapp chat .*\\(${literal(CHAT)}\\)`),
    );
    await core.wa.sendText(CONTACT, ME, "now to the other room");
    await alice.waitFor(isText(other, "now to the other room"), WAIT);
    assert.ok(!alice.eventsIn(portal).some((e) => e.content.body === "now to the other room"));
  });
});
