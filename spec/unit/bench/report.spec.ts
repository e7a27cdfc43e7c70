import assert from "node:assert/strict";
import type { EncryptionResult } from "../../../scripts/bench/encryption";
import type { LatencyResult } from "../../../scripts/bench/latency";
import type { ProfileSummary } from "../../../scripts/bench/profile";
import { BEGIN, END, replaceBetweenMarkers } from "../../../scripts/bench/readme";
import { headline, profileText, table } from "../../../scripts/bench/report";
import { compare, type Summary, summarize } from "../../../scripts/bench/stats";

/** A summary whose p50/p95/p99 are exactly the given values. */
const s = (p50: number, p95: number, p99: number): Summary => ({ ...summarize([p50]), p50, p95, p99 });

const ENCRYPTION: EncryptionResult = {
  samples: 30,
  inbound: {
    encrypted: s(44.2, 54.4, 58.8),
    plain: s(42.4, 51.1, 53.9),
    added: { p50: 1.8, p95: 3.3, p99: 4.9 },
    addedPaired: s(3.1, 9, 9),
  },
  inboundUntilPush: {
    encrypted: s(12, 20, 22),
    plain: s(10, 15, 16),
    added: { p50: 2, p95: 5, p99: 6 },
    addedPaired: s(2.5, 6, 6),
  },
  outbound: {
    encrypted: s(21, 25, 27.8),
    plain: s(20, 28.6, 31.4),
    added: { p50: 1, p95: -3.6, p99: -3.6 },
    addedPaired: s(-0.5, 2, 2),
  },
  plainInboundWatcher: s(30, 40, 45),
  encrypted: { cpuMsPerMessage: 25.3, pgWritesPerMessage: 6 },
  plain: { cpuMsPerMessage: 21.8, pgWritesPerMessage: 4.5 },
  postgresCpuMsPerMessage: 4.1,
};

const LATENCY: LatencyResult = {
  samples: 30,
  inbound: { bridge: s(28, 50, 60), direct: s(25, 45, 55), addedPaired: s(3, 5, 6) },
  outbound: { bridge: s(24, 50, 70), probe: s(22, 48, 66), addedPaired: s(2, 4, 5) },
  cpuMsPerMessage: 3.5,
  postgresCpuMsPerMessage: 1.7,
  pgWritesPerMessage: 3.5,
};

const row = (text: string, start: string) => {
  const line = text.split("\n").find((l) => l.startsWith(`| ${start}`));
  assert.ok(line, `no row starting with ${start} in\n${text}`);
  return line.split("|").map((c) => c.trim());
};

describe("bench report, encryption", () => {
  it("puts the encrypted portal against the unencrypted one, both ways, with signed differences", () => {
    const t = table({ meta: {}, encryption: ENCRYPTION });
    const inb = row(t, "encrypted portal, platform → Matrix");
    assert.match(inb[1]!, /\(n=30\)/);
    assert.equal(inb[2], "44.2 / 54.4 / 58.8");
    assert.match(inb[3]!, /^42\.4 \/ 51\.1 \/ 53\.9 \(unencrypted portal/);
    assert.equal(inb[4], "+1.8 / +3.3 / +4.9 (paired p50 +3.1)");
    assert.equal(inb[5], "added p50 < 5");
    const push = row(t, "the same, only until Synapse pushes");
    assert.equal(push[2], "12.0 / 20.0 / 22.0");
    assert.equal(push[4], "+2.0 / +5.0 / +6.0 (paired p50 +2.5)");
    const out = row(t, "encrypted portal, Matrix → platform");
    assert.equal(out[4], "+1.0 / −3.6 / −3.6 (paired p50 −0.5)");
    const cpu = row(t, "bridge CPU ms per relayed message, encrypted portal");
    assert.equal(cpu[2], "25.3");
    assert.match(cpu[3]!, /^21\.8 /);
    assert.match(cpu[4]!, /^\+3\.5 ms; commits \/ message 6\.0 vs 4\.5; PostgreSQL 4\.1 ms/);
    assert.ok(!t.includes("encryption allowed:"), "no cross-scenario rows without the latency scenario");
  });

  it("compares the unencrypted portal with the latency scenario when both ran", () => {
    const t = table({ meta: {}, latency: [LATENCY], encryption: ENCRYPTION });
    const inb = row(t, "unencrypted portal, encryption allowed: platform → Matrix");
    assert.equal(inb[2], "30.0 / 40.0 / 45.0");
    assert.match(inb[3]!, /^28\.0 \/ 50\.0 \/ 60\.0 \(latency scenario/);
    assert.equal(inb[4], "+2.0 / −10.0 / −15.0");
    // Matrix → platform: the latency scenario's per-sample bridge − probe, as the encryption
    // scenario times it (from Synapse's push).
    const out = row(t, "unencrypted portal, encryption allowed: Matrix → platform");
    assert.match(out[3]!, /^2\.0 \/ 4\.0 \/ 5\.0 /);
    assert.equal(out[4], "+18.0 / +24.6 / +26.4");
  });

  it("agrees with compare() on real samples", () => {
    const enc = [30, 31, 33, 35, 50];
    const plain = [28, 30, 30, 31, 32];
    const c = compare(enc, plain);
    const r: EncryptionResult = {
      ...ENCRYPTION,
      inbound: { encrypted: c.a, plain: c.b, added: c.added, addedPaired: c.addedPaired },
    };
    const inb = row(table({ meta: {}, encryption: r }), "encrypted portal, platform → Matrix");
    assert.equal(
      inb[4],
      `+3.0 / +${(c.added.p95).toFixed(1)} / +${(c.added.p99).toFixed(1)} (paired p50 +3.0)`,
    );
  });

  it("prints the WebAssembly functions of a profile when there are any", () => {
    const p: ProfileSummary = {
      totalMs: 2000,
      idleMs: 1000,
      busyMs: 1000,
      byOrigin: [{ name: "wasm matrix_sdk_crypto_wasm", ms: 500, share: 0.5 }],
      byCaller: [],
      topSelf: [],
      topInclusive: [],
      topWasmInclusive: [{ name: "<OlmMachine>::receive_sync_changes", ms: 400, share: 0.4 }],
    };
    const text = profileText("profile, x", p);
    assert.match(
      text,
      /WebAssembly functions \(inclusive\):\n\s+40\.0 % {2}<OlmMachine>::receive_sync_changes/,
    );
    assert.ok(!profileText("profile, y", { ...p, topWasmInclusive: [] }).includes("WebAssembly"));
  });
});

describe("bench report, repetitions", () => {
  const rep = (paired: number, cpu: number): LatencyResult => ({
    ...LATENCY,
    inbound: { ...LATENCY.inbound, addedPaired: s(paired, 9, 9) },
    cpuMsPerMessage: cpu,
    postgresCpuMsPerMessage: 1,
  });

  it("shows the median of the repetitions with their range", () => {
    const t = table({ meta: {}, latency: [rep(5, 2), rep(1, 4), rep(3, 3)] });
    const inb = row(t, "platform → Matrix latency");
    assert.match(inb[1]!, /n=30×3/);
    assert.match(inb[4]!, /^added p50 \+3\.0 \(\+1\.0 to \+5\.0\) \(paired\)/);
    const cpu = row(t, "CPU ms per relayed message, bridge + PostgreSQL");
    assert.equal(cpu[2], "4.0 (3.0 to 5.0)");
    assert.match(cpu[4]!, /^bridge alone 3\.0 \(2\.0 to 4\.0\)/);
  });

  it("names the run's commit, cores and load average above the table", () => {
    const h = headline({
      meta: {
        date: "2026-12-07T14:00:00.000Z",
        commit: "abc1234",
        node: "v22.23.3",
        cpus: 2,
        loadavgStart: [1, 2, 3],
        loadavgEnd: [4.5, 2, 3],
        repeat: 3,
        entry: "compiled",
        totalSeconds: 300,
      },
    });
    assert.match(h, /2026-12-07 14:00 UTC: commit abc1234/);
    assert.match(
      h,
      /2 cores, load average 1\.00 2\.00 3\.00 at the start → 4\.50 2\.00 3\.00 at the end, 3 repetitions/,
    );
  });
});

describe("bench readme markers", () => {
  it("replaces only what lies between the markers", () => {
    const text = `# x\n${BEGIN}\nold table\n${END}\nafter\n`;
    const out = replaceBetweenMarkers(text, "new table", "x.md");
    assert.equal(out, `# x\n${BEGIN}\n\nnew table\n\n${END}\nafter\n`);
    assert.equal(replaceBetweenMarkers(out, "new table", "x.md"), out, "a second write changes nothing");
  });

  it("refuses a file without the markers", () => {
    assert.throws(() => replaceBetweenMarkers("# x\n", "t", "x.md"), /x\.md: the markers/);
  });
});
