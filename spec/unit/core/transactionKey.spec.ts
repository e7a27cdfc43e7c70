import assert from "node:assert/strict";
import { transactionKey } from "../../../src/core/MatrixIntake";

describe("transactionKey: what makes two homeserver transactions the same", () => {
  const ev = (id: string) => ({
    event_id: id,
    type: "m.room.message",
    room_id: "!r:x",
    sender: "@a:x",
    content: {},
  });

  it("a transaction sent again after a restart, without the typing and key counts of its first try, is the same", () => {
    const first = {
      events: [ev("$1"), ev("$2")],
      ephemeral: [{ type: "m.typing", room_id: "!r:x", content: { user_ids: ["@a:x"] } }],
      "org.matrix.msc3202.device_one_time_keys_count": { "@bot:x": { DEV: { signed_curve25519: 50 } } },
    };
    const again = {
      events: [ev("$1"), ev("$2")],
      "org.matrix.msc3202.device_one_time_keys_count": { "@bot:x": { DEV: { signed_curve25519: 49 } } },
    };
    assert.equal(transactionKey("7", first), transactionKey("7", again));
  });

  it("a reused id with other events is another transaction", () => {
    assert.notEqual(transactionKey("7", { events: [ev("$1")] }), transactionKey("7", { events: [ev("$3")] }));
    assert.notEqual(transactionKey("7", { events: [ev("$1")] }), transactionKey("8", { events: [ev("$1")] }));
  });

  it("without events, what it carries tells two transactions apart", () => {
    const typing = (who: string) => ({
      events: [],
      ephemeral: [{ type: "m.typing", room_id: "!r:x", content: { user_ids: [who] } }],
    });
    assert.notEqual(transactionKey("7", typing("@a:x")), transactionKey("7", typing("@b:x")));
    assert.equal(transactionKey("7", typing("@a:x")), transactionKey("7", typing("@a:x")));
  });

  it("never throws, whatever the body holds", () => {
    const deep: Record<string, unknown> = {};
    let at = deep;
    for (let i = 0; i < 20_000; i++) at = at.x = {} as Record<string, unknown>;
    assert.match(transactionKey("1", { events: [], ephemeral: [deep] } as never), /^1:/);
    assert.match(transactionKey("1", { events: [null, 5, "x"] } as never), /^1:/);
  });
});
