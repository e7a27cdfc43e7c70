import assert from "node:assert/strict";
import { configFromObject } from "../../../src/config/Config";
import { GhostService } from "../../../src/core/GhostService";
import { OutboundBridge } from "../../../src/core/OutboundBridge";
import { PortalService } from "../../../src/core/PortalService";
import { MatrixApi, type RoomEvent } from "../../../src/matrix/MatrixApi";
import type { Store } from "../../../src/store/Store";
import type { Portal } from "../../../src/store/types";

const config = configFromObject({
  homeserver: { url: "http://127.0.0.1:1", domain: "hs.test" },
  platforms: { telegram: { enabled: true }, discord: { enabled: true } },
});
const portal = (platform: string, roomId: string): Portal => ({
  platform,
  chatId: `${platform}-chat`,
  roomId,
  loginId: `${platform}-login`,
  kind: "group",
  linked: false,
});
const PORTALS: Portal[] = [
  portal("telegram", "!tg:hs.test"),
  portal("telegram", "!both:hs.test"),
  portal("discord", "!both:hs.test"),
];

/** Only what isEcho reads: the portals of a room. */
const store = {
  getPortalsByRoom: async (roomId: string) => PORTALS.filter((p) => p.roomId === roomId),
} as unknown as Store;
const api = new MatrixApi(config.homeserver.url, "as-token-unused", "hs.test");
const bot = api.intent("@clawbridge:hs.test");
const outbound = new OutboundBridge({
  config,
  api,
  store,
  bot,
  portals: new PortalService({ config, api, store, bot }),
  ghosts: new GhostService({ config, api, store, bot }),
  // Never reached by isEcho.
  metrics: undefined as never,
  registry: undefined as never,
  permissions: undefined as never,
  commands: async () => false,
});

const ev = (over: Partial<RoomEvent>): RoomEvent => ({
  event_id: "$e",
  type: "m.room.message",
  sender: "@_telegram_42:hs.test",
  room_id: "!tg:hs.test",
  origin_server_ts: 0,
  content: { msgtype: "m.text", body: "hello" },
  ...over,
});

describe("OutboundBridge.isEcho (events dropped before they are queued)", () => {
  it("drops a ghost's own message in a room bridged only to the ghost's platform", async () => {
    assert.equal(await outbound.isEcho(ev({})), true);
    assert.equal(
      await outbound.isEcho(ev({ type: "m.room.member", state_key: "@_telegram_42:hs.test" })),
      true,
    );
  });

  it("keeps it when the room is also linked to another platform (relayed there, not back)", async () => {
    assert.equal(await outbound.isEcho(ev({ room_id: "!both:hs.test" })), false);
  });

  it("keeps Matrix users' events, events in rooms without a portal and anything for the command handler", async () => {
    assert.equal(await outbound.isEcho(ev({ sender: "@alice:hs.test" })), false);
    assert.equal(await outbound.isEcho(ev({ room_id: "!plain:hs.test" })), false);
    assert.equal(await outbound.isEcho(ev({ content: { msgtype: "m.text", body: " !cb help" } })), false);
    assert.equal(await outbound.isEcho(ev({ type: "m.room.member", state_key: bot.userId })), false);
  });

  it("keeps a ghost of another platform in a room of this one", async () => {
    assert.equal(await outbound.isEcho(ev({ sender: "@_discord_7:hs.test" })), false);
  });
});
