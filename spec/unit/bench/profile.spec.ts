import assert from "node:assert/strict";
import { type CpuProfile, originOf, summarizeProfile } from "../../../scripts/bench/profile";

const frame = (functionName: string, url = "", lineNumber = 0) => ({ functionName, url, lineNumber });

/** root → handle (project) → query (pg) ; root → (idle) ; root → (garbage collector) */
const PROFILE: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame("(root)"), children: [2, 4, 5] },
    { id: 2, callFrame: frame("handle", "file:///app/dist/src/core/OutboundBridge.js", 9), children: [3] },
    { id: 3, callFrame: frame("query", "file:///app/node_modules/pg/lib/client.js", 99) },
    { id: 4, callFrame: frame("(idle)") },
    { id: 5, callFrame: frame("(garbage collector)") },
  ],
  samples: [2, 3, 3, 4, 4, 4, 4, 5],
  timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
};

describe("bench CPU profile summary", () => {
  it("names the origin of a frame", () => {
    assert.equal(originOf("node:internal/streams", "x"), "node internals");
    assert.equal(originOf("file:///a/node_modules/@scope/pkg/x.js", "f"), "npm @scope/pkg");
    assert.equal(originOf("file:///a/node_modules/pg/lib/client.js", "f"), "npm pg");
    assert.equal(originOf("file:///a/dist/src/core/Bridge.js", "f"), "src/core/");
    assert.equal(originOf("", "(garbage collector)"), "(gc)");
    assert.equal(originOf("", "(idle)"), "(idle)");
  });

  it("splits idle from busy time and attributes self and inclusive time", () => {
    const s = summarizeProfile(PROFILE);
    assert.equal(s.totalMs, 8);
    assert.equal(s.idleMs, 4);
    assert.equal(s.busyMs, 4);
    assert.deepEqual(
      s.byOrigin.map((l) => [l.name, l.ms]),
      [
        ["npm pg", 2],
        ["src/core/", 1],
        ["(gc)", 1],
      ],
    );
    assert.deepEqual(
      s.byCaller.map((l) => [l.name, l.ms]),
      [
        ["npm pg", 2],
        ["src/core/", 1],
        ["(gc)", 1],
      ],
    );
    assert.equal(s.topSelf[0]!.name, "query node_modules/pg/lib/client.js:100");
    assert.equal(s.topSelf[0]!.share, 0.5);
    // handle is on the stack of its own sample and of both pg samples.
    assert.deepEqual(
      s.topInclusive.map((l) => [l.name, l.ms, l.share]),
      [["handle src/core/OutboundBridge.js:10", 3, 0.75]],
    );
  });
});

describe("bench CPU profile summary, native work", () => {
  it("charges a native leaf (a socket write) to the nearest package frame above node internals", () => {
    const p: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame("(root)"), children: [2] },
        { id: 2, callFrame: frame("query", "file:///app/node_modules/pg/lib/client.js", 1), children: [3] },
        { id: 3, callFrame: frame("_writeGeneric", "node:net", 1), children: [4] },
        { id: 4, callFrame: frame("writev") },
      ],
      samples: [4, 4, 2],
      timeDeltas: [500, 500, 1000],
    };
    const s = summarizeProfile(p);
    assert.deepEqual(
      s.byOrigin.map((l) => [l.name, l.ms]),
      [
        ["(native)", 1],
        ["npm pg", 1],
      ],
    );
    assert.deepEqual(
      s.byCaller.map((l) => [l.name, l.ms]),
      [["npm pg", 2]],
    );
  });
});
