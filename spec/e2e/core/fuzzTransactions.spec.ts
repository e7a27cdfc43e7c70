import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { fuzzParams, fuzzRuns } from "../../harness/fuzz";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import { RIG_DOMAIN } from "../../harness/synapse";
import { type CoreRig, portalRoomFor, startCoreRig, user } from "./coreRig";
import { nestedArrays, nestedObjects, pushRaw, rssKiB } from "./hostileKit";

/**
 * Transactions per run in `npm test`. Measured on a shared 2-core machine: 3,000 pushed in
 * 12.8 s (about 4 ms each, generation included), so 10,000 take about 45 s; `FUZZ_RUNS=N` runs
 * more (the timeouts scale with it).
 */
const DEFAULT_RUNS = 10_000;
/**
 * RSS the bridge may grow by over its settled size while fuzzed (sampled every 100
 * transactions and after the drain). Measured: 114 MiB settled, 150 MiB peak over 3,000.
 */
const RSS_GROWTH_LIMIT_KIB = 256 * 1024;

/** A piece of JSON text put in as it is (deep nesting JSON.stringify would recurse through). */
class Raw {
  constructor(readonly json: string) {}
}

/** JSON text of a generated value; recursion only over the shallow generated structure. */
function toJson(v: unknown): string {
  if (v instanceof Raw) return v.json;
  if (Array.isArray(v)) return `[${v.map(toJson).join(",")}]`;
  if (typeof v === "object" && v !== null) {
    return `{${Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`)
      .join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

const NASTY = [
  "\u0000",
  "\ud800",
  "\udfff",
  "\udc00x",
  "x\ud83d",
  "\ufffe",
  "\u202e",
  "",
  "$",
  "!cb",
  "@",
  ":",
  "\\",
  '"',
];

/** Strings with NUL, lone surrogates and other awkward characters; rarely a huge one. */
const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 300, arbitrary: fc.string({ unit: "binary", maxLength: 24 }) },
  {
    weight: 300,
    arbitrary: fc
      .array(fc.oneof(fc.constantFrom(...NASTY), fc.string({ maxLength: 6 })), { maxLength: 6 })
      .map((a) => a.join("")),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 5_000, max: 80_000 }).map((n) => `${"h".repeat(n)}\u0000\ud800`),
  },
);

const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", maxDepth: 4 },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double(),
    nastyString,
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(nastyString, tie("value"), { maxKeys: 4 }),
  ),
}));

/** Nesting far past what Synapse takes (125 levels below a content key). */
const deep = fc
  .tuple(fc.integer({ min: 120, max: 20_000 }), fc.boolean())
  .map(([n, arrays]) => new Raw(arrays ? nestedArrays(n) : nestedObjects(n)));

/** `a` one time in `1 + absent`, else undefined (the key is left out). */
const sometimes = <T>(a: fc.Arbitrary<T>, absent = 3): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: absent, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: a });

describe("fuzzed appservice transactions against the running bridge (fast-check)", function () {
  const runs = fuzzRuns(DEFAULT_RUNS);
  this.timeout(120_000 + runs * 15);
  let core: CoreRig;
  let alice: MatrixTestClient;
  let room: string;

  before(async () => {
    core = await startCoreRig();
    alice = await user("alice");
    core.testnet.addChat({ id: "fuzz", name: "Fuzz", kind: "group" });
    core.testnet.injectMessage({ chat: "fuzz", sender: "z1", text: "fuzz warm-up" });
    room = await portalRoomFor(alice, "fuzz");
    await alice.waitFor((e) => e.room_id === room && e.content.body === "fuzz warm-up", {
      timeoutMs: 30_000,
    });
  });
  after(async () => core?.stop());

  it(`never answers 5xx, stays up and bounded, and delivers each well-formed message exactly once (${runs} transactions)`, async () => {
    const pid = core.bridge.pid;
    assert.ok(pid, "the bridge child has a pid");
    // Settle, then measure the size the bridge runs at.
    await alice.sendText(room, "fuzz baseline");
    await core.testnet.waitFor(
      (c) => (c.body as { text?: string } | undefined)?.text === "fuzz baseline",
      30_000,
    );
    const baseline = rssKiB(pid);
    let peak = baseline;

    const ghost = `@_testnet_fz:${RIG_DOMAIN}`;
    const people = [alice.userId, `@mallory:${RIG_DOMAIN}`, ghost, `@clawbridge:${RIG_DOMAIN}`];
    const relation = fc.record(
      {
        rel_type: fc.oneof(fc.constantFrom("m.replace", "m.thread", "m.annotation", "m.reference"), value),
        event_id: fc.oneof(nastyString, value),
        key: fc.oneof(nastyString, value),
        "m.in_reply_to": value,
        is_falling_back: value,
      },
      { requiredKeys: [] },
    );
    const content = fc.record(
      {
        msgtype: fc.oneof(fc.constantFrom("m.text", "m.notice", "m.emote", "m.image", "m.file"), value),
        body: fc.oneof(nastyString, value),
        format: fc.oneof(fc.constant("org.matrix.custom.html"), value),
        formatted_body: fc.oneof(nastyString, value),
        "m.relates_to": fc.oneof(relation, value),
        "m.new_content": value,
        membership: fc.oneof(fc.constantFrom("join", "leave", "ban", "invite"), value),
        url: fc.oneof(nastyString, value),
        info: value,
        deep: sometimes(deep, 15),
        extra: sometimes(fc.dictionary(nastyString, value, { maxKeys: 3 })),
      },
      { requiredKeys: [] },
    );
    const event = fc.record(
      {
        type: fc.oneof(
          {
            weight: 4,
            arbitrary: fc.constantFrom(
              "m.room.message",
              "m.sticker",
              "m.reaction",
              "m.room.redaction",
              "m.room.member",
              "m.room.name",
            ),
          },
          { weight: 1, arbitrary: fc.oneof(nastyString, value) },
        ),
        room_id: fc.oneof(fc.constant(room), fc.constant(`!nowhere:${RIG_DOMAIN}`), nastyString, value),
        sender: fc.oneof(fc.constantFrom(...people), nastyString, value),
        event_id: fc.oneof(
          { weight: 4, arbitrary: fc.uuid().map((u) => `$fz${u}`) },
          { weight: 1, arbitrary: fc.oneof(nastyString, value) },
        ),
        state_key: fc.oneof(fc.constantFrom(...people), nastyString),
        redacts: fc.oneof(nastyString, value),
        origin_server_ts: fc.oneof(fc.integer(), value),
        content: fc.oneof(
          { weight: 20, arbitrary: content },
          { weight: 2, arbitrary: value },
          { weight: 1, arbitrary: deep },
        ),
        unsigned: value,
      },
      { requiredKeys: [] },
    );
    const transaction = fc.record({
      /** What happens to the envelope: mostly well-formed, sometimes broken as a whole. */
      shape: fc.constantFrom(
        "ok",
        "ok",
        "ok",
        "ok",
        "ok",
        "events-not-array",
        "ephemeral-not-array",
        "no-events",
      ),
      events: fc.array(fc.oneof({ weight: 5, arbitrary: event }, { weight: 1, arbitrary: value }), {
        maxLength: 5,
      }),
      ephemeral: sometimes(fc.array(value, { maxLength: 3 })),
      /** The stable key or MSC2409's unstable one. */
      ephemeralKey: fc.constantFrom("ephemeral", "de.sorunome.msc2409.ephemeral"),
      /** MSC2409/MSC3202 fields the crypto layer reads, with anything in them. */
      crypto: sometimes(
        fc.record(
          {
            "de.sorunome.msc2409.to_device": value,
            "org.matrix.msc3202.device_one_time_keys_count": value,
            "org.matrix.msc3202.device_unused_fallback_key_types": value,
            "org.matrix.msc3202.device_lists": value,
          },
          { requiredKeys: [] },
        ),
        4,
      ),
      unknown: fc.dictionary(nastyString, value, { maxKeys: 2 }),
      notArray: value.filter((v) => !Array.isArray(v)),
      /** A well-formed message from a permitted user in the portal, at this position (if any). */
      message: sometimes(fc.nat()),
      txn: fc.constantFrom("fresh", "fresh", "fresh", "fresh", "fresh", "reuse-id", "exact-repeat"),
      pick: fc.nat(),
    });

    const expected: string[] = [];
    const accepted: Array<{ txnId: string; raw: string }> = [];
    const statuses = new Map<number, number>();
    let sequence = 0;
    const started = Date.now();

    await fc.assert(
      fc.asyncProperty(transaction, async (t) => {
        sequence++;
        if (t.txn === "exact-repeat" && accepted.length) {
          const again = accepted[t.pick % accepted.length]!;
          const status = await pushRaw(core, again.txnId, again.raw);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          assert.ok(status < 500, `an exact repeat was answered ${status}`);
          return;
        }
        const txnId =
          t.txn === "reuse-id" && accepted.length
            ? accepted[t.pick % accepted.length]!.txnId
            : `fz-${sequence}-${randomBytes(3).toString("hex")}`;
        const events: unknown[] = [...t.events];
        let body: string | undefined;
        const envelopeOk = t.shape === "ok";
        if (t.message !== undefined && envelopeOk) {
          body = `fuzz-ok ${sequence}`;
          const ok = {
            type: "m.room.message",
            room_id: room,
            sender: alice.userId,
            event_id: `$ok${sequence}-${randomBytes(6).toString("base64url")}`,
            origin_server_ts: Date.now(),
            content: { msgtype: "m.text", body },
          };
          events.splice(t.message % (events.length + 1), 0, ok);
        }
        const txn: Record<string, unknown> = { ...t.unknown, ...t.crypto };
        if (t.shape !== "no-events") txn.events = t.shape === "events-not-array" ? t.notArray : events;
        if (t.shape === "ephemeral-not-array") txn[t.ephemeralKey] = t.notArray;
        else if (t.ephemeral) txn[t.ephemeralKey] = t.ephemeral;
        const raw = toJson(txn);
        const status = await pushRaw(core, txnId, raw);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        assert.ok(status < 500, `transaction ${txnId} was answered ${status}: ${raw.slice(0, 300)}`);
        if (body !== undefined) {
          assert.equal(status, 200, `a transaction with a well-formed message was answered ${status}`);
          expected.push(body);
        }
        if (status === 200) accepted.push({ txnId, raw });
        if (sequence % 100 === 0) {
          assert.ok(core.bridge.running, `the bridge exited after ${sequence} transactions`);
          peak = Math.max(peak, rssKiB(pid));
        }
      }),
      fuzzParams(runs, { endOnFailure: true }),
    );
    const pushedMs = Date.now() - started;

    // Everything queued is delivered before the barrier (one lane per room, in order).
    await alice.sendText(room, "fuzz barrier");
    await core.testnet.waitFor(
      (c) => (c.body as { text?: string } | undefined)?.text === "fuzz barrier",
      60_000 + runs * 5,
    );
    const drainedMs = Date.now() - started;
    assert.ok(core.bridge.running, "the bridge is still running");
    const health = await fetch(`http://127.0.0.1:${core.rig.bridgePort}/health`);
    assert.equal(health.status, 200);
    const settled = rssKiB(pid);
    peak = Math.max(peak, settled);

    const got = core.testnet
      .sent("fuzz")
      .map((m) => m.text)
      .filter((text) => text.startsWith("fuzz-ok "));
    const counts = new Map<string, number>();
    for (const text of got) counts.set(text, (counts.get(text) ?? 0) + 1);
    const lost = expected.filter((b) => !counts.has(b));
    const doubled = [...counts].filter(([, n]) => n > 1).map(([b]) => b);
    process.stderr.write(
      `[fuzz] ${runs} transactions pushed in ${(pushedMs / 1000).toFixed(1)} s, drained in ${(drainedMs / 1000).toFixed(1)} s; ` +
        `statuses ${JSON.stringify(Object.fromEntries(statuses))}; ${expected.length} well-formed messages; ` +
        `RSS baseline ${Math.round(baseline / 1024)} MiB, peak ${Math.round(peak / 1024)} MiB, settled ${Math.round(settled / 1024)} MiB\n`,
    );
    assert.deepEqual(lost, [], `${lost.length} of ${expected.length} well-formed messages were lost`);
    assert.deepEqual(doubled, [], `${doubled.length} well-formed messages were delivered more than once`);
    assert.deepEqual(got, expected, "well-formed messages arrive in the order they were pushed");
    assert.ok(
      peak - baseline < RSS_GROWTH_LIMIT_KIB,
      `RSS grew from ${baseline} KiB to ${peak} KiB (limit +${RSS_GROWTH_LIMIT_KIB} KiB)`,
    );
  });
});
