import assert from "node:assert/strict";
import { configFromObject } from "../../../src/config/Config";
import { ChatRelay } from "../../../src/core/ChatRelay";
import type { MatrixSender, OutboundMessage } from "../../../src/core/connector";
import { GhostService } from "../../../src/core/GhostService";
import { PortalService } from "../../../src/core/PortalService";
import { MatrixApi, type RoomEvent } from "../../../src/matrix/MatrixApi";
import type { Store } from "../../../src/store/Store";
import type { Portal } from "../../../src/store/types";

const config = configFromObject({
  homeserver: { url: "http://127.0.0.1:1", domain: "hs.test" },
  platforms: { discord: { enabled: true } },
});
const portal: Portal = {
  platform: "discord",
  chatId: "c1",
  roomId: "!r:hs.test",
  loginId: "l1",
  kind: "group",
  linked: false,
};
const store = {} as unknown as Store;
const api = new MatrixApi(config.homeserver.url, "as-token-unused", "hs.test");
const bot = api.intent("@clawbridge:hs.test");
const relay = new ChatRelay({
  config,
  api,
  store,
  bot,
  portals: new PortalService({ config, api, store, bot }),
  ghosts: new GhostService({ config, api, store, bot }),
  metrics: undefined as never,
  registry: undefined as never,
  permissions: undefined as never,
  commands: async () => false,
});
// What `build` sees of the core's internals: the sender's profile is cached (no homeserver here).
const inside = relay as unknown as {
  profiles: Map<string, MatrixSender>;
  build(portal: Portal, ev: RoomEvent, c: Record<string, unknown>): Promise<OutboundMessage>;
};
inside.profiles.set("!r:hs.test|@alice:hs.test", { mxid: "@alice:hs.test", displayName: "Alice" });

const build = (content: Record<string, unknown>) =>
  inside.build(
    portal,
    {
      event_id: "$e",
      type: "m.room.message",
      sender: "@alice:hs.test",
      room_id: "!r:hs.test",
      origin_server_ts: 0,
      content,
    },
    content,
  );

describe("ChatRelay: m.location to the connectors", () => {
  it("a readable geo URI becomes OutboundMessage.location, with the body as text for connectors without places", async () => {
    const msg = await build({ msgtype: "m.location", body: "Here", geo_uri: "geo:52.52,13.405;u=12" });
    assert.deepEqual(msg.location, { lat: 52.52, lon: 13.405, accuracyM: 12 });
    assert.equal(msg.text, "Here");
    assert.equal(msg.msgtype, "text");
  });

  it("an unreadable or missing geo URI leaves only the body as text", async () => {
    for (const geo_uri of ["geo:200,0", "geo:1;2", "", 42, undefined, "geo:1,2;crs=utm"]) {
      const msg = await build({ msgtype: "m.location", body: "Somewhere", geo_uri });
      assert.equal(msg.location, undefined, String(geo_uri));
      assert.equal(msg.text, "Somewhere");
    }
  });

  it("a geo URI on any other msgtype is not a location", async () => {
    const msg = await build({ msgtype: "m.text", body: "geo:1,2", geo_uri: "geo:1,2" });
    assert.equal(msg.location, undefined);
  });
});
