import { strict as assert } from "node:assert";
import { configFromObject } from "../../../src/config/Config";
import type { NetworkClient } from "../../../src/core/connector";
import { PortalService } from "../../../src/core/PortalService";
import { type Intent, MatrixApi } from "../../../src/matrix/MatrixApi";
import type { Store } from "../../../src/store/Store";
import type { Portal } from "../../../src/store/types";

const config = configFromObject({
  homeserver: { url: "http://127.0.0.1:1", domain: "hs.test" },
  platforms: { discord: { enabled: true } },
});

describe("PortalService.ensure: one portal per chat when callers race", () => {
  it("shares the creation under way (a `pm` outside the chat's lane and its first message inside it)", async () => {
    const saved: Portal[] = [];
    const due: string[] = [];
    const store = {
      getPortal: async (platform: string, chatId: string) =>
        saved.find((p) => p.platform === platform && p.chatId === chatId),
      isChatUnlinked: async () => false,
      upsertPortal: async (p: Portal) => void saved.push(p),
    } as unknown as Store;
    let rooms = 0;
    let release: () => void = () => undefined;
    const slow = new Promise<void>((r) => {
      release = r;
    });
    const bot = {
      userId: "@clawbridge:hs.test",
      createRoom: async () => {
        rooms++;
        await slow;
        return `!room${rooms}:hs.test`;
      },
    } as unknown as Intent;
    const portals = new PortalService({
      config,
      api: new MatrixApi(config.homeserver.url, "unused", "hs.test"),
      store,
      bot,
      beforeCreate: async (_p, chatId) => void due.push(chatId),
    });
    const client = {
      chatInfo: async () => ({ kind: "dm" as const, name: "Bob" }),
    } as unknown as NetworkClient;
    const login = { id: "l1", platform: "discord", ownerMxid: "@alice:hs.test", credentials: {} };
    const a = portals.ensure("discord", login, client, { id: "D1" });
    const b = portals.ensure("discord", login, client, { id: "D1" });
    await new Promise((r) => setTimeout(r, 10));
    release();
    const [pa, pb] = await Promise.all([a, b]);
    assert.equal(rooms, 1, "one room made");
    assert.deepEqual(due, ["D1"], "its backfill marked due once");
    assert.equal(pa?.roomId, "!room1:hs.test");
    assert.equal(pb?.roomId, pa?.roomId);
    // Made: later callers find it, nothing is made again.
    assert.equal((await portals.ensure("discord", login, client, { id: "D1" }))?.roomId, pa?.roomId);
    assert.equal(rooms, 1);
  });
});
