import { strict as assert } from "node:assert";
import { assembleContext, type ContextInput, estimateTokens } from "../../../src/ai/context";
import { makeRedactor } from "../../../src/ai/redact";
import type { RoomEvent } from "../../../src/matrix/MatrixApi";

const AI = "@ai:localhost";
let ts = 1000;

function msg(sender: string, body: string, extra: Record<string, unknown> = {}, id?: string): RoomEvent {
  ts += 1;
  return {
    event_id: id ?? `$${ts}`,
    type: "m.room.message",
    sender,
    room_id: "!r",
    origin_server_ts: ts,
    content: { msgtype: "m.text", body, ...extra },
  };
}

function base(events: RoomEvent[], over: Partial<ContextInput> = {}): ContextInput {
  return {
    events,
    trigger: events[events.length - 1]!,
    aiUserId: AI,
    skipSenders: new Set(["@clawbridge:localhost"]),
    names: new Map([
      ["@alice:localhost", "Alice"],
      ["@_testnet_u1:localhost", "Ghost Gina"],
    ]),
    systemPrompt: "Be brief.",
    tokenBudget: 1000,
    commandPrefixes: ["!ai", "!cb"],
    redact: (t) => t,
    ...over,
  };
}

describe("ai: context assembly", () => {
  it("names senders (ghosts too), marks the AI's answers as assistant and keeps the order", () => {
    const events = [
      msg("@alice:localhost", "hello"),
      msg("@_testnet_u1:localhost", "hi from the platform"),
      msg(AI, "Hello both"),
      msg("@bob:localhost", "AI what is 2+2?"),
    ];
    assert.deepEqual(assembleContext(base(events)), [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Alice: hello" },
      { role: "user", content: "Ghost Gina: hi from the platform" },
      { role: "assistant", content: "Hello both" },
      { role: "user", content: "bob: AI what is 2+2?" },
    ]);
  });

  it("applies edits (only the sender's own, the newest), drops redactions, notices, commands and the bridge bot", () => {
    const orig = msg("@alice:localhost", "typo", {}, "$orig");
    const events = [
      orig,
      msg("@alice:localhost", "* fixed", {
        "m.new_content": { msgtype: "m.text", body: "fixed" },
        "m.relates_to": { rel_type: "m.replace", event_id: "$orig" },
      }),
      msg("@mallory:localhost", "* hijack", {
        "m.new_content": { msgtype: "m.text", body: "hijack" },
        "m.relates_to": { rel_type: "m.replace", event_id: "$orig" },
      }),
      {
        ...msg("@alice:localhost", "gone"),
        content: {},
        unsigned: { redacted_because: { type: "m.room.redaction" } },
      },
      { ...msg("@alice:localhost", "x"), type: "m.room.redaction", content: { redacts: "$y" } },
      msg("@clawbridge:localhost", "bridge notice"),
      msg(AI, "⚠️ The AI could not answer", { msgtype: "m.notice" }),
      msg("@alice:localhost", "!ai mode always"),
      msg("@alice:localhost", "!cb status"),
      msg("@_testnet_u1:localhost", "!cb help"),
      msg("@alice:localhost", "AI?"),
    ];
    assert.deepEqual(
      assembleContext(base(events)).map((m) => m.content),
      ["Be brief.", "Alice: fixed", "Alice: AI?"],
    );
  });

  it("uses an edit bundled by the homeserver and strips reply fallbacks", () => {
    const events = [
      {
        ...msg("@alice:localhost", "old", {}, "$b"),
        unsigned: {
          "m.relations": {
            "m.replace": {
              event_id: "$e2",
              sender: "@alice:localhost",
              origin_server_ts: ts + 5,
              type: "m.room.message",
              content: { "m.new_content": { msgtype: "m.text", body: "new" } },
            },
          },
        },
      },
      msg("@bob:localhost", "> <@alice:localhost> new\n\nAI do you agree?", {
        "m.relates_to": { "m.in_reply_to": { event_id: "$b" } },
      }),
    ];
    assert.deepEqual(
      assembleContext(base(events)).map((m) => m.content),
      ["Be brief.", "Alice: new", "bob: AI do you agree?"],
    );
  });

  it("trims the oldest messages to the token budget, keeping the trigger", () => {
    const events = Array.from({ length: 20 }, (_, i) =>
      msg("@alice:localhost", `message number ${String(i).padStart(2, "0")} ${"x".repeat(40)}`),
    );
    const one = estimateTokens(`Alice: ${events[0]!.content.body}`);
    const budget = estimateTokens("Be brief.") + one * 5;
    const out = assembleContext(base(events, { tokenBudget: budget }));
    assert.equal(out.length, 6);
    assert.match(out[1]!.content, /message number 15 /);
    assert.match(out[5]!.content, /message number 19 /);
    const tiny = assembleContext(base(events, { tokenBudget: 1 }));
    assert.equal(tiny.length, 2, "the trigger stays even past the budget");
  });

  it("forgets everything up to the forget marker (by event, or by time when the event is out of range)", () => {
    const events = [
      msg("@alice:localhost", "secret plan"),
      msg("@alice:localhost", "!ai forget", {}, "$f"),
      msg("@alice:localhost", "AI hi"),
    ];
    assert.deepEqual(
      assembleContext(base(events, { forgetEventId: "$f" })).map((m) => m.content),
      ["Be brief.", "Alice: AI hi"],
    );
    const later = events.slice(2);
    assert.deepEqual(
      assembleContext(base(later, { forgetEventId: "$gone", forgetTs: events[1]!.origin_server_ts })).map(
        (m) => m.content,
      ),
      ["Be brief.", "Alice: AI hi"],
    );
  });

  it("adds the trigger when the homeserver did not return it yet and redacts patterns", () => {
    const trigger = msg("@alice:localhost", "AI mail me at alice@example.org or +44 20 7946 0958");
    const out = assembleContext(
      base([msg("@alice:localhost", "earlier")], {
        trigger,
        redact: makeRedactor({ email: true, phone: true, patterns: [] }),
      }),
    );
    assert.deepEqual(
      out.map((m) => m.content),
      ["Be brief.", "Alice: earlier", "Alice: AI mail me at [email] or [phone]"],
    );
  });

  it("leaves out the unfinished answer that a resumed generation replaces, with its edits", () => {
    const trigger = msg("@alice:localhost", "AI explain");
    const half = msg(AI, "It is", {}, "$half");
    const edit = msg(AI, "* It is because", {
      "m.new_content": { msgtype: "m.text", body: "It is because" },
      "m.relates_to": { rel_type: "m.replace", event_id: "$half" },
    });
    const later = msg("@alice:localhost", "take your time");
    const events = [msg(AI, "Earlier answer"), trigger, half, edit, later];
    assert.deepEqual(
      assembleContext(base(events, { trigger, skipEventIds: new Set(["$half"]) })).map((m) => m.content),
      ["Be brief.", "Earlier answer", "Alice: AI explain", "Alice: take your time"],
    );
  });
});
