/**
 * A room's links, end to end: the bridge process on the shared Synapse with two platforms (the
 * testnet stand-in and Telegram's Bot API stand-in). `status` lists a room's links, a second
 * chat of one platform is refused, `unlink <platform>` removes one, and an unlinked chat stays
 * unlinked across its next messages and a restart until someone links it again.
 */
import assert from "node:assert/strict";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { startTelegramRig, type TelegramRig } from "../telegram/telegramRig";
import { BOT, ghostId, portalRoomFor } from "./coreRig";

const HUB_TG = -1001700000001;
const OTHER_TG = -1001700000002;
const WAIT = { timeoutMs: 30_000 };
const isText = (room: string, body: string) => (e: MatrixEvent) =>
  e.room_id === room && e.type === "m.room.message" && e.content.body === body;

describe("A room's links: status, one chat per platform, unlink that stays (testnet + Telegram, real Synapse)", function () {
  this.timeout(180_000);
  let r: TelegramRig;
  let alice: MatrixTestClient;

  /** Sends a command and resolves with the bot's answer matching `re`, posted after it. */
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

  /** A new room of alice's with the bot joined. */
  const roomWithBot = async (name: string): Promise<string> => {
    const room = await alice.createRoom({ name, invite: [BOT] });
    await alice.waitFor(
      (e) => e.type === "m.room.member" && e.state_key === BOT && e.content.membership === "join",
      { roomId: room, ...WAIT },
    );
    return room;
  };

  /** Waits until the running bridge logged that it dropped a message of the unlinked `chat`. */
  const dropped = async (chat: string, times: number) => {
    const count = () =>
      r.core.bridge
        .output()
        .split("\n")
        .filter((l) => l.includes("message of an unlinked chat not bridged") && l.includes(`"${chat}"`))
        .length;
    const deadline = Date.now() + 30_000;
    while (count() < times) {
      if (Date.now() > deadline) assert.fail(`the bridge never dropped ${times} message(s) of ${chat}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  };

  before(async () => {
    r = await startTelegramRig("links_test_bot", { poll_timeout_seconds: 1 }, (tg) => {
      tg.addChat({ id: HUB_TG, type: "supergroup", title: "Hub TG", username: "HubFolk" });
      tg.addChat({ id: OTHER_TG, type: "supergroup", title: "Other TG" });
    });
    alice = r.alice;
  });
  after(async () => r?.stop());

  it("links chats of two platforms to one room (Telegram by @name), lists both in status, refuses a second chat of one platform, unlinks one", async () => {
    r.core.testnet.addChat({ id: "hub1", name: "Hub testnet", kind: "group" });
    const room = await roomWithBot("The hub");
    assert.match(
      await ask(room, "!cb link testnet hub1", /Linked|not/),
      /^Linked this room to testnet chat "Hub testnet" \(hub1\)/,
    );
    assert.match(
      await ask(room, "!cb link telegram @hubfolk", /Linked|not|could/),
      new RegExp(`^Linked this room to telegram chat "Hub TG" \\(${HUB_TG}\\)`),
    );

    // The Telegram login may still be starting: ask until both links say connected.
    let status = await ask(room, "!cb status", /^portals:/);
    for (const deadline = Date.now() + 30_000; (status.match(/, connected$/gm) ?? []).length < 2; ) {
      assert.match(
        status,
        /through the login of @alice:localhost.*, (connected|not connected \(\w+( \w+)?\))$/m,
      );
      if (Date.now() > deadline) assert.fail(`the links never both said connected:\n${status}`);
      await new Promise((res) => setTimeout(res, 500));
      status = await ask(room, "!cb status", /^portals:/);
    }
    assert.match(
      status,
      new RegExp(
        `this room is linked to telegram chat ${HUB_TG} \\("Hub TG"\\) through the login of @alice:localhost( \\([^)]*\\))?, connected`,
      ),
    );
    assert.match(
      status,
      /this room is linked to testnet chat hub1 \("Hub testnet"\) through the login of @alice:localhost.*, connected/,
    );

    const second = await ask(room, `!cb link telegram ${OTHER_TG}`, /already linked/);
    assert.match(
      second,
      new RegExp(
        `already linked to telegram chat "Hub TG" \\(${HUB_TG}\\).*one chat per platform.*unlink telegram`,
      ),
    );
    const none = await ask(room, "!cb unlink discord", /no discord link/);
    assert.match(none, /telegram chat "Hub TG"/);
    assert.match(none, /testnet chat "Hub testnet"/);

    const gone = await ask(room, "!cb unlink telegram", /^Unlinked/);
    assert.match(gone, new RegExp(`^Unlinked telegram chat "Hub TG" \\(${HUB_TG}\\)\\.`));
    assert.match(gone, /no longer bridged.*until someone links it again/);
    assert.match(gone, /still linked to testnet chat "Hub testnet" \(hub1\)/);
    const after = await ask(room, "!cb status", /^portals:/);
    assert.doesNotMatch(after, /linked to telegram/);
    assert.match(after, /linked to testnet chat hub1/);

    // The other Telegram chat may now be linked here, and messages still reach the room from testnet.
    assert.match(
      await ask(room, `!cb link telegram ${OTHER_TG}`, /Linked|not/),
      /^Linked this room to telegram chat "Other TG"/,
    );
    r.core.testnet.injectMessage({ chat: "hub1", sender: "u7", text: "testnet still here" });
    assert.equal((await alice.waitFor(isText(room, "testnet still here"), WAIT)).sender, ghostId("u7"));
  });

  it("refuses a chat bridged to another room, whichever way it is named", async () => {
    const other = await roomWithBot("Wants the hub chat");
    for (const typed of [`${OTHER_TG}`, "https://t.me/c/1700000002/17"])
      assert.match(
        await ask(other, `!cb link telegram ${typed}`, /already bridged/),
        new RegExp(`telegram chat "Other TG" \\(${OTHER_TG}\\) is already bridged to !`),
      );
    assert.match(
      await ask(other, "!cb link telegram hello there", /not a Telegram chat/),
      /'hello there' is not a Telegram chat: give the chat id/,
    );
  });

  it("an unlinked chat stays unlinked across its next messages and a restart, until someone links it again", async () => {
    r.core.testnet.addChat({ id: "auto1", name: "Auto chat", kind: "group" });
    r.core.testnet.injectMessage({ chat: "auto1", sender: "u8", text: "makes the portal" });
    const portal = await portalRoomFor(alice, "auto1");
    await alice.waitFor(isText(portal, "makes the portal"), WAIT);

    const answer = await ask(portal, "!cb unlink", /^Unlinked/);
    assert.match(answer, /^Unlinked testnet chat "Auto chat" \(auto1\)\./);
    assert.match(
      answer,
      /no new room is made for it, until someone links it again \(`link testnet auto1` in a room\)/,
    );

    r.core.testnet.injectMessage({ chat: "auto1", sender: "u8", text: "after unlink" });
    await dropped("auto1", 1);
    await r.core.restart();
    r.core.testnet.injectMessage({ chat: "auto1", sender: "u8", text: "after restart" });
    await dropped("auto1", 1);

    assert.match(
      await ask(portal, "!cb link testnet auto1", /Linked|not/),
      /^Linked this room to testnet chat/,
    );
    r.core.testnet.injectMessage({ chat: "auto1", sender: "u8", text: "linked again" });
    await alice.waitFor(isText(portal, "linked again"), WAIT);
    const bodies = alice.eventsIn(portal).map((e) => e.content.body);
    assert.ok(
      !bodies.includes("after unlink") && !bodies.includes("after restart"),
      "nothing of the unlinked time",
    );
    await assert.rejects(
      alice.waitForInvite(
        (i) => i.roomId !== portal && i.events.some((e) => e.content.alias === "#_testnet_auto1:localhost"),
        2000,
      ),
      "no new portal room was created for the unlinked chat",
    );
  });
});
