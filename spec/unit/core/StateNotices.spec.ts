import assert from "node:assert/strict";
import { ConnectionState, type LoginRef } from "../../../src/core/connector";
import { StateNotices } from "../../../src/core/StateNotices";
import type { Intent } from "../../../src/matrix/MatrixApi";
import type { Store } from "../../../src/store/Store";

const login: LoginRef = {
  id: "wa-1",
  platform: "whatsapp",
  ownerMxid: "@o:hs",
  remoteId: "1555",
  credentials: {},
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("StateNotices", () => {
  const said: Array<{ room: string; body: string }> = [];
  const bot = {
    sendEvent: async (room: string, _type: string, content: { body: string }) => {
      said.push({ room, body: content.body });
      return "$e";
    },
  } as unknown as Intent;
  const store = {
    getUser: async (mxid: string) => (mxid === "@o:hs" ? { mxid, managementRoom: "!dm:hs" } : undefined),
  } as unknown as Store;
  beforeEach(() => {
    said.length = 0;
  });

  it("tells the owner at once when the login is logged out, and when it is back", async () => {
    const n = new StateNotices({ store, bot, graceMs: 20 });
    n.changed(login, ConnectionState.LoggedOut, "log in again");
    await sleep(5);
    n.changed(login, ConnectionState.Connected);
    await sleep(5);
    assert.deepEqual(said, [
      { room: "!dm:hs", body: "whatsapp (1555): LOGGED_OUT — log in again" },
      { room: "!dm:hs", body: "whatsapp (1555): connected again." },
    ]);
  });

  it("says nothing about a short blip; a long disconnect is reported after the grace time", async () => {
    const n = new StateNotices({ store, bot, graceMs: 30 });
    n.changed(login, ConnectionState.TransientDisconnect, "socket closed");
    await sleep(5);
    n.changed(login, ConnectionState.Connected);
    await sleep(50);
    assert.deepEqual(said, []);
    n.changed(login, ConnectionState.TransientDisconnect, "socket closed");
    await sleep(60);
    assert.match(
      String((said as Array<{ body: string }>)[0]?.body),
      /connection is down \(socket closed\); still trying/,
    );
    n.stop();
  });

  it("counts the grace time from the first report of a reconnect loop, giving the latest reason", async () => {
    const n = new StateNotices({ store, bot, graceMs: 60 });
    n.changed(login, ConnectionState.TransientDisconnect, "socket closed");
    for (let i = 0; i < 4; i++) {
      await sleep(20);
      n.changed(login, ConnectionState.Connecting);
      n.changed(login, ConnectionState.TransientDisconnect, `retry ${i} failed`);
    }
    // 80 ms of reports every 20 ms: restarting the grace time on each would say nothing yet.
    await sleep(10);
    assert.equal(said.length, 1);
    assert.match(String(said[0]?.body), /connection is down \(retry \d failed\); still trying/);
    n.stop();
  });
});
