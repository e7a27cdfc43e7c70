import assert from "node:assert/strict";
import fc from "fast-check";
import { clock, parseWhen } from "../../../../src/ai/tools/args";
import { parseArgs, showCall, Toolbox } from "../../../../src/ai/tools/Toolbox";
import { type AiTool, ToolInputError } from "../../../../src/ai/tools/types";
import { fuzzParams } from "../../../harness/fuzz";

const CFG = { enabled: true, builtin: [], max_steps: 4, timeout_ms: 200, max_output_chars: 300 };
const NOW = Date.UTC(2026, 11, 7, 12, 0);
const noRedact = (s: string) => s;

function tool(name: string, run: AiTool["run"]): AiTool {
  return { name, description: name, parameters: { type: "object", properties: {} }, run };
}

const echo = tool("echo", async (args) => ({ text: `echo ${JSON.stringify(args)}`, shown: "ok" }));
const slow = tool(
  "slow",
  (_args, ctx) =>
    new Promise((resolve) =>
      ctx.signal.addEventListener("abort", () => resolve({ text: "late", shown: "late" })),
    ),
);
const picky = tool("picky", async () => {
  throw new ToolInputError("give a city");
});
const broken = tool("broken", async () => {
  throw new Error("socket hang up");
});
const huge = tool("huge", async () => ({ text: "x".repeat(10_000), shown: "big" }));

function box(redact = noRedact): Toolbox {
  return new Toolbox(CFG, [echo, slow, picky, broken, huge], undefined, redact);
}

async function one(name: string, args: string, redact = noRedact) {
  const tb = box(redact);
  const [r] = await tb.run(
    await tb.forRoom("!r:x"),
    [{ id: "c1", name, arguments: args }],
    { roomId: "!r:x", now: NOW },
    new AbortController().signal,
  );
  return r!;
}

describe("Toolbox: the AI's tool calls, bounded and never fatal", () => {
  it("runs a call with its parsed arguments and shows it compactly", async () => {
    const r = await one("echo", '{"query":"deploy","limit":3}');
    assert.equal(r.ok, true);
    assert.equal(r.output, 'echo {"query":"deploy","limit":3}');
    assert.equal(r.shown, 'echo (query: "deploy", limit: 3) → ok');
  });

  it("an unknown tool, bad JSON, a refused argument and a failure go back to the model as errors", async () => {
    const unknown = await one("rm_rf", "{}");
    assert.equal(unknown.ok, false);
    assert.match(unknown.output, /^error: there is no tool named "rm_rf"; use one of: echo, slow/);
    const bad = await one("echo", "{not json");
    assert.match(bad.output, /^error: the arguments are not valid JSON/);
    assert.match((await one("echo", "[1,2]")).output, /must be a JSON object/);
    assert.equal((await one("picky", "{}")).output, "error: give a city");
    const failed = await one("broken", "{}");
    assert.equal(failed.output, "error: the tool failed: socket hang up");
    assert.equal(failed.shown, "broken → failed");
  });

  it("a call that runs past its time is given up with an error; the output is cut to max_output_chars", async () => {
    const t0 = Date.now();
    const r = await one("slow", "{}");
    assert.equal(r.output, "error: the tool failed: no answer within 200 ms");
    assert.ok(Date.now() - t0 < 2000);
    const big = await one("huge", "{}");
    assert.ok(big.output.startsWith("x".repeat(300)));
    assert.match(big.output, /\[… cut: 9700 more characters\]$/);
  });

  it("NUL, lone surrogates and huge arguments: refused or shown on one bounded line, never a throw", async () => {
    const odd = await one("echo", JSON.stringify({ q: "a\u0000b\ud800c", w: "\udfff" }));
    assert.equal(odd.ok, true);
    assert.ok(!odd.shown.includes("\n") && odd.shown.length < 400);
    const huge = await one("echo", JSON.stringify({ q: "x".repeat(70_000) }));
    assert.equal(huge.output, "error: the arguments are too long");
    const wrapped = await one("huge", "{}");
    assert.ok(wrapped.output.length <= CFG.max_output_chars + 60);
  });

  it("the output is redacted like the rest of the context", async () => {
    const r = await one("echo", '{"mail":"bob@example.org"}', (s) => s.replace(/\S+@\S+\.\w+/g, "[email]"));
    assert.doesNotMatch(r.output, /bob@example/);
  });

  it("fuzz: any call the model writes yields one bounded result per call and never throws", async () => {
    const tb = box();
    const tools = await tb.forRoom("!r:x");
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            id: fc.string({ maxLength: 20 }),
            name: fc.oneof(fc.constantFrom("echo", "picky", "broken", "huge"), fc.string({ maxLength: 300 })),
            arguments: fc.oneof(
              fc.json(),
              fc.string({ maxLength: 500 }),
              fc.constant(""),
              fc.constant("null"),
            ),
          }),
          { maxLength: 5 },
        ),
        async (calls) => {
          const out = await tb.run(tools, calls, { roomId: "!r:x", now: NOW }, new AbortController().signal);
          assert.equal(out.length, calls.length);
          for (const r of out) {
            assert.ok(r.output.length <= CFG.max_output_chars + 60, "bounded output");
            assert.ok(r.shown.length < 400, "a short line for the room");
            assert.ok(!r.shown.includes("\n"), "one line");
          }
        },
      ),
      fuzzParams(200),
    );
  });

  it("parseArgs and showCall: objects only; one short line whatever the values", () => {
    assert.deepEqual(parseArgs(""), {});
    assert.throws(() => parseArgs("1"), ToolInputError);
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 50 }), fc.jsonValue()), (args) => {
        const line = showCall("search_room", args);
        assert.ok(line.length < 400 && !line.includes("\n"));
      }),
      fuzzParams(300),
    );
  });
});

describe("parseWhen: times as a model writes them", () => {
  it("durations back, today, yesterday and ISO dates; refuses the rest and more than a year back", () => {
    assert.equal(parseWhen("2h", NOW, "since"), NOW - 2 * 3600_000);
    assert.equal(parseWhen("1d ago", NOW, "since"), NOW - 86_400_000);
    assert.equal(parseWhen("yesterday", NOW, "since"), Date.UTC(2026, 11, 6));
    assert.equal(parseWhen("today", NOW, "since"), Date.UTC(2026, 11, 7));
    assert.equal(parseWhen("2026-12-01", NOW, "since"), Date.UTC(2026, 11, 1));
    assert.equal(parseWhen("2026-12-01T09:30Z", NOW, "since"), Date.UTC(2026, 11, 1, 9, 30));
    assert.equal(parseWhen("2027-01-01", NOW, "until"), NOW, "not after now");
    assert.throws(() => parseWhen("last tuesday", NOW, "since"), /since: give a duration back/);
    assert.throws(() => parseWhen("2020-01-01", NOW, "since"), /at most a year back/);
    assert.equal(clock(NOW), "2026-12-07 12:00");
  });

  it("fuzz: any text is a time within the last year or a ToolInputError", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (text) => {
        try {
          const ts = parseWhen(text, NOW, "since");
          assert.ok(ts <= NOW && ts >= NOW - 367 * 86_400_000);
        } catch (err) {
          assert.ok(err instanceof ToolInputError, String(err));
        }
      }),
      fuzzParams(500),
    );
  });
});
