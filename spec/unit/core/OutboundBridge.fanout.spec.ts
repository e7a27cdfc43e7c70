import assert from "node:assert/strict";
import { configFromObject } from "../../../src/config/Config";
import { PORTAL_TARGET, targetOf } from "../../../src/core/fanOut";
import { GhostService } from "../../../src/core/GhostService";
import { DELETED_IN } from "../../../src/core/InboundBridge";
import { OutboundBridge } from "../../../src/core/OutboundBridge";
import { PortalService } from "../../../src/core/PortalService";
import { MatrixApi, type RoomEvent } from "../../../src/matrix/MatrixApi";
import type { Store } from "../../../src/store/Store";
import type { NewQueueItem, Portal, QueueItem } from "../../../src/store/types";

const config = configFromObject({
  homeserver: { url: "http://127.0.0.1:1", domain: "hs.test" },
  platforms: { telegram: { enabled: true }, discord: { enabled: true }, slack: { enabled: true } },
});
const HUB = "!hub:hs.test";
const portal = (platform: string): Portal => ({
  platform,
  chatId: `${platform}-chat`,
  roomId: HUB,
  loginId: `${platform}-login`,
  kind: "group",
  linked: true,
});
const PORTALS = [portal("discord"), portal("slack"), portal("telegram")];
const store = {
  getPortalsByRoom: async (roomId: string) => PORTALS.filter((p) => p.roomId === roomId),
} as unknown as Store;
const api = new MatrixApi(config.homeserver.url, "as-token-unused", "hs.test");
const bot = api.intent("@clawbridge:hs.test");
let fanned: Array<{ item: QueueItem; items: NewQueueItem[] }> = [];
let commands: string[] = [];
const outbound = new OutboundBridge({
  config,
  api,
  store,
  bot,
  portals: new PortalService({ config, api, store, bot }),
  ghosts: new GhostService({ config, api, store, bot }),
  metrics: undefined as never,
  registry: undefined as never,
  permissions: { allows: () => true } as never,
  commands: async (ev) => {
    const body = String(ev.content.body ?? "");
    if (!body.startsWith("!cb")) return false;
    commands.push(body);
    return true;
  },
  fanOut: async (item, items) => {
    fanned.push({ item, items });
  },
});

const ev = (over: Partial<RoomEvent>): RoomEvent => ({
  event_id: "$e",
  type: "m.room.message",
  sender: "@alice:hs.test",
  room_id: HUB,
  origin_server_ts: 0,
  content: { msgtype: "m.text", body: "hello" },
  ...over,
});
const item = (e: RoomEvent): QueueItem => ({
  id: "1",
  queueKey: OutboundBridge.queueKey(e),
  kind: "matrix",
  payload: e,
  attempts: 0,
  createdAt: new Date(),
});
/** The chats `e` was fanned out to ("" when it was not fanned out at all). */
async function chatsFor(e: RoomEvent): Promise<string> {
  fanned = [];
  await outbound.handle(item(e));
  return fanned.flatMap((f) => f.items.map((i) => targetOf(i.payload)?.platform)).join(",");
}

describe("OutboundBridge: one queue item per linked chat", () => {
  beforeEach(() => {
    commands = [];
  });

  it("fans a Matrix user's message out to every linked chat, each in a lane of its own, the event kept whole", async () => {
    fanned = [];
    const e = ev({});
    const it0 = item(e);
    await outbound.handle(it0);
    assert.equal(fanned.length, 1);
    assert.equal(fanned[0]!.item, it0, "the room's item is the one replaced");
    const items = fanned[0]!.items;
    assert.deepEqual(
      items.map((i) => i.queueKey),
      PORTALS.map((p) => `matrix:${HUB}|${p.platform}|${p.chatId}`),
    );
    assert.ok(items.every((i) => i.kind === "matrix"));
    const { [PORTAL_TARGET]: target, ...rest } = items[0]!.payload as Record<string, unknown>;
    assert.deepEqual(target, { platform: "discord", chat_id: "discord-chat" });
    assert.deepEqual(rest, e);
  });

  it("never back to the ghost's own platform", async () => {
    assert.equal(await chatsFor(ev({ sender: "@_telegram_42:hs.test" })), "discord,slack");
    assert.equal(
      await chatsFor(
        ev({
          type: "m.reaction",
          sender: "@_discord_7:hs.test",
          content: { "m.relates_to": { rel_type: "m.annotation", event_id: "$x", key: "👍" } },
        }),
      ),
      "slack,telegram",
    );
  });

  it("sends a redaction everywhere but the chat the deletion was made in, the bot's included", async () => {
    const deleted = (sender: string) =>
      ev({
        type: "m.room.redaction",
        sender,
        redacts: "$x",
        content: { redacts: "$x", [DELETED_IN]: { platform: "slack", chat_id: "slack-chat" } },
      });
    assert.equal(await chatsFor(deleted("@_telegram_42:hs.test")), "discord,telegram");
    assert.equal(await chatsFor(deleted(bot.userId)), "discord,telegram");
    // A moderator's redaction goes to every chat, the message's own platform included.
    assert.equal(
      await chatsFor(ev({ type: "m.room.redaction", redacts: "$x", content: { redacts: "$x" } })),
      "discord,slack,telegram",
    );
  });

  it("keeps in Matrix: the bot's own messages, the AI's notices, live edits, commands, and memberships nothing mirrors", async () => {
    assert.equal(
      await chatsFor(ev({ sender: bot.userId, content: { msgtype: "m.notice", body: "Mode set" } })),
      "",
    );
    assert.equal(
      await chatsFor(
        ev({ sender: "@ai:hs.test", content: { msgtype: "m.notice", body: "Mode set to always." } }),
      ),
      "",
    );
    assert.equal(
      await chatsFor(ev({ sender: "@ai:hs.test", content: { msgtype: "m.text", body: "An answer" } })),
      "discord,slack,telegram",
    );
    assert.equal(
      await chatsFor(
        ev({
          sender: "@ai:hs.test",
          content: {
            msgtype: "m.text",
            body: "* An ans",
            "m.new_content": { msgtype: "m.text", body: "An ans" },
            "m.relates_to": { rel_type: "m.replace", event_id: "$a" },
            "org.matrix.msc4357.live": {},
          },
        }),
      ),
      "",
    );
    assert.equal(await chatsFor(ev({ content: { msgtype: "m.text", body: "!cb status" } })), "");
    assert.deepEqual(commands, ["!cb status"]);
    assert.equal(
      await chatsFor(
        ev({ type: "m.room.member", state_key: "@bob:hs.test", content: { membership: "join" } }),
      ),
      "",
    );
    assert.equal(
      await chatsFor(
        ev({ type: "m.room.member", state_key: "@_slack_t_u1:hs.test", content: { membership: "ban" } }),
      ),
      "slack",
    );
    assert.equal(await chatsFor(ev({ type: "m.room.server_acl", state_key: "", content: {} })), "");
  });
});
