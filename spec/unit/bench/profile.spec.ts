import assert from "node:assert/strict";
import { type CpuProfile, originOf, summarizeProfile, wasmName } from "../../../scripts/bench/profile";

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

describe("bench CPU profile summary, WebAssembly", () => {
  const WASM = "wasm://wasm/matrix_sdk_crypto_wasm.wasm-01dc68ba";
  const rust = (name: string) => frame(name, WASM);

  it("names one origin per module, without the hash", () => {
    assert.equal(originOf(WASM, "$f"), "wasm matrix_sdk_crypto_wasm");
    assert.equal(originOf("wasm://wasm/0a1b2c3d", "$f"), "wasm 0a1b2c3d");
  });

  it("strips Rust crate hashes from function names", () => {
    assert.equal(
      wasmName("<curve25519_dalek[b6e99de4be5b2f13]::Field as core[ed718c3d60ebd546]::Mul>::mul"),
      "<curve25519_dalek::Field as core::Mul>::mul",
    );
    assert.equal(wasmName("x".repeat(300)).length, 160);
  });

  it("lists WebAssembly functions by inclusive time, each once per sample", () => {
    // promise glue → receive_sync_changes → from_pickle → mul (twice on one stack: recursion)
    const p: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame("(root)"), children: [2, 7] },
        {
          id: 2,
          callFrame: frame("invoke", "file:///a/node_modules/@matrix-org/matrix-sdk-crypto-wasm/index.js"),
          children: [3],
        },
        {
          id: 3,
          callFrame: rust("<matrix_sdk_crypto[0123456789abcdef]::OlmMachine>::receive_sync_changes"),
          children: [4, 6],
        },
        { id: 4, callFrame: rust("<Account>::from_pickle"), children: [5] },
        { id: 5, callFrame: rust("mul"), children: [8] },
        { id: 8, callFrame: rust("mul") },
        { id: 6, callFrame: rust("<Store>::save_changes") },
        { id: 7, callFrame: frame("query", "file:///a/node_modules/pg/lib/client.js") },
      ],
      samples: [8, 8, 5, 4, 6, 7, 3],
      timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 1000],
    };
    const s = summarizeProfile(p);
    assert.deepEqual(
      s.topWasmInclusive.map((l) => [l.name, l.ms]),
      [
        ["<matrix_sdk_crypto::OlmMachine>::receive_sync_changes", 6],
        ["<Account>::from_pickle", 4],
        ["mul", 3],
        ["<Store>::save_changes", 1],
      ],
    );
    assert.equal(s.topSelf[0]!.name, "mul (wasm)");
    assert.equal(s.byOrigin[0]!.name, "wasm matrix_sdk_crypto_wasm");
    assert.equal(s.byOrigin[0]!.ms, 6);
    assert.deepEqual(summarizeProfile(PROFILE).topWasmInclusive, []);
  });
});
