import assert from "node:assert/strict";
import type { DeliveryQueue } from "../../../src/core/DeliveryQueue";
import { MatrixIntake } from "../../../src/core/MatrixIntake";
import type { OutboundBridge } from "../../../src/core/OutboundBridge";
import type { AppserviceTransaction } from "../../../src/http/HttpServer";
import { Metrics } from "../../../src/http/Metrics";
import type { MatrixApi, RoomEvent } from "../../../src/matrix/MatrixApi";
import type { Store } from "../../../src/store/Store";
import type { NewQueueItem, QueueItem } from "../../../src/store/types";

function ev(n: number, ts: unknown): RoomEvent {
  return {
    event_id: `$e${n}`,
    room_id: "!room:hs",
    sender: "@alice:hs",
    type: "m.room.message",
    origin_server_ts: ts,
    content: { msgtype: "m.text", body: `message ${n}` },
  } as RoomEvent;
}

/** An intake whose store records every transaction and whose queue keeps what it is handed. */
function intake() {
  let next = 0;
  const accepted: QueueItem[] = [];
  const store = {
    recordTransaction: async (_key: string, items: NewQueueItem[]) => items.map(() => String(++next)),
  } as unknown as Store;
  const it = new MatrixIntake({
    api: {} as MatrixApi,
    botUserId: "@bot:hs",
    users: ["@bot:hs"],
    store,
    metrics: new Metrics(),
    queue: () => ({ accept: (items: QueueItem[]) => accepted.push(...items) }) as unknown as DeliveryQueue,
    outbound: () => ({ isEcho: async () => false }) as unknown as OutboundBridge,
    encryption: () => undefined,
    ping: async () => {},
  });
  return { it, accepted };
}

describe("MatrixIntake: events an earlier process may have handed on", () => {
  it("marks events older than the process resumed (checked against the message map), and only those", async () => {
    const { it, accepted } = intake();
    const now = Date.now();
    const txn = {
      events: [ev(1, now - 3_600_000), ev(2, now + 60_000), ev(3, "yesterday"), ev(4, undefined)],
    } as AppserviceTransaction;
    await it.transaction("1", txn);
    it.stop();
    assert.deepEqual(
      accepted.map((i) => [(i.payload as RoomEvent).event_id, i.resumed === true]),
      [
        ["$e1", true],
        // Newer than the process (beyond the clock margin): pushed for the first time.
        ["$e2", false],
        // A timestamp that is not a number decides nothing: the event is taken as new.
        ["$e3", false],
        ["$e4", false],
      ],
    );
  });
});
