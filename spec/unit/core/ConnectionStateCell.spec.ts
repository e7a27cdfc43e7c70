import assert from "node:assert/strict";
import { ConnectionStateCell } from "../../../src/core/ConnectionStateCell";
import { ConnectionState } from "../../../src/core/connector";

describe("ConnectionStateCell", () => {
  it("reports changes and new messages, not repeats; every Connecting is reported", () => {
    const seen: string[] = [];
    const cell = new ConnectionStateCell((s, m) => seen.push(m ? `${s}:${m}` : s));
    assert.equal(cell.get(), ConnectionState.Connecting);
    cell.set(ConnectionState.Connecting);
    cell.set(ConnectionState.Connected);
    cell.set(ConnectionState.Connected);
    cell.set(ConnectionState.TransientDisconnect, "reset");
    cell.set(ConnectionState.TransientDisconnect, "reset");
    cell.set(ConnectionState.TransientDisconnect, "timeout");
    cell.set(ConnectionState.Connecting);
    cell.set(ConnectionState.Connecting);
    assert.deepEqual(seen, [
      "CONNECTING",
      "CONNECTED",
      "TRANSIENT_DISCONNECT:reset",
      "TRANSIENT_DISCONNECT:timeout",
      "CONNECTING",
      "CONNECTING",
    ]);
    assert.equal(cell.reason, undefined);
  });
});
