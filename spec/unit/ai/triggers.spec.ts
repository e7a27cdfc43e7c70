import { strict as assert } from "node:assert";
import { ProviderError } from "../../../src/ai/providers/types";
import { failureText } from "../../../src/ai/Responder";
import {
  isAnswerable,
  mentionsAi,
  replyTarget,
  shouldAnswer,
  stripReplyFallback,
  type TriggerInput,
  threadRoot,
} from "../../../src/ai/triggers";
import type { RoomEvent } from "../../../src/matrix/MatrixApi";

const AI = "@ai:localhost";

function input(content: Record<string, unknown>, over: Partial<TriggerInput> = {}): TriggerInput {
  return { content, aiUserId: AI, aiName: "AI", mode: "mention", modeSetInRoom: false, isDm: false, ...over };
}

function ev(content: Record<string, unknown>, type = "m.room.message"): RoomEvent {
  return { event_id: "$e", type, sender: "@a:localhost", room_id: "!r", content, origin_server_ts: 1 };
}

describe("ai: trigger rules", () => {
  it("a display-name mention counts, as a word and in any case, not inside another word", () => {
    assert.equal(mentionsAi({ body: "hey AI, what time is it?" }, AI, "AI"), true);
    assert.equal(mentionsAi({ body: "ai: help" }, AI, "AI"), true);
    assert.equal(mentionsAi({ body: "said the tail" }, AI, "AI"), false);
    assert.equal(mentionsAi({ body: "ask Claw Bot" }, AI, "Claw Bot"), true);
  });

  it("a pill (matrix.to link, also percent-encoded) and m.mentions count", () => {
    const pill = {
      body: "Robot: hi",
      formatted_body: '<a href="https://matrix.to/#/%40ai%3Alocalhost">Robot</a> hi',
    };
    assert.equal(mentionsAi(pill, AI, "Robot2"), true);
    assert.equal(mentionsAi({ body: "hi", "m.mentions": { user_ids: [AI] } }, AI, "Robot2"), true);
    assert.equal(
      mentionsAi({ body: "hi", "m.mentions": { user_ids: ["@b:localhost"] } }, AI, "Robot2"),
      false,
    );
  });

  it("the quoted fallback of a reply is not a mention", () => {
    const body = "> <@ai:localhost> I am AI\n\nthanks";
    assert.equal(stripReplyFallback(body), "thanks");
    assert.equal(mentionsAi({ body }, AI, "AI"), false);
    const formatted_body =
      '<mx-reply><blockquote><a href="https://matrix.to/#/@ai:localhost">Robot</a> I am AI</blockquote></mx-reply>thanks';
    assert.equal(mentionsAi({ body: "thanks", formatted_body }, AI, "Robot2"), false);
  });

  it("a malformed % escape in a pill is no mention and no error", () => {
    const formatted_body =
      '<a href="https://matrix.to/#/@ai%:localhost">x</a> 100% <a href="https://matrix.to/#/%">y</a>';
    assert.equal(mentionsAi({ body: "x 100% y", formatted_body }, AI, "Robot2"), false);
  });

  it("mention mode answers mentions and replies to the AI only", () => {
    assert.equal(shouldAnswer(input({ body: "hello all" })), false);
    assert.equal(shouldAnswer(input({ body: "hello AI" })), true);
    assert.equal(shouldAnswer(input({ body: "yes" }, { replyToSender: AI })), true);
    assert.equal(shouldAnswer(input({ body: "yes" }, { replyToSender: "@b:localhost" })), false);
  });

  it("always and off, and DMs always unless the room switched the AI off", () => {
    assert.equal(shouldAnswer(input({ body: "hello" }, { mode: "always" })), true);
    assert.equal(shouldAnswer(input({ body: "hello AI" }, { mode: "off", modeSetInRoom: true })), false);
    assert.equal(shouldAnswer(input({ body: "hello" }, { isDm: true })), true);
    assert.equal(shouldAnswer(input({ body: "hello" }, { isDm: true, mode: "off" })), true);
    assert.equal(
      shouldAnswer(input({ body: "hello" }, { isDm: true, mode: "off", modeSetInRoom: true })),
      false,
    );
  });

  it("only text and emotes with a body are answerable; edits, notices and media are not", () => {
    assert.equal(isAnswerable(ev({ msgtype: "m.text", body: "hi" })), true);
    assert.equal(isAnswerable(ev({ msgtype: "m.emote", body: "waves" })), true);
    assert.equal(isAnswerable(ev({ msgtype: "m.notice", body: "bot says" })), false);
    assert.equal(isAnswerable(ev({ msgtype: "m.image", body: "a.png" })), false);
    assert.equal(isAnswerable(ev({ msgtype: "m.text", body: "  " })), false);
    assert.equal(isAnswerable(ev({ msgtype: "m.text", body: "hi" }, "m.sticker")), false);
    const edit = {
      msgtype: "m.text",
      body: "* AI hi",
      "m.relates_to": { rel_type: "m.replace", event_id: "$x" },
    };
    assert.equal(isAnswerable(ev(edit)), false);
  });

  it("reads reply targets and thread roots", () => {
    const c = {
      "m.relates_to": { rel_type: "m.thread", event_id: "$root", "m.in_reply_to": { event_id: "$p" } },
    };
    assert.equal(threadRoot(c), "$root");
    assert.equal(replyTarget(c), "$p");
    assert.equal(threadRoot({ body: "x" }), undefined);
    assert.equal(replyTarget({ "m.relates_to": "nonsense" }), undefined);
  });
});

describe("ai: failure notices", () => {
  it("say what happened in a few words, never the whole error chain", () => {
    const all = new ProviderError(
      `no provider answered: a: server error (HTTP 500); b: ${"x".repeat(400)}`,
      "a>b",
      500,
      true,
      {
        code: "all_failed",
      },
    );
    const text = failureText(all);
    assert.match(text, /^no model provider answered \(a: server error \(HTTP 500\); b: x+…\)$/);
    assert.ok(text.length < 200);
    assert.match(
      failureText(new ProviderError("slow", "a", undefined, true, { code: "timeout" })),
      /did not answer in time/,
    );
    assert.match(
      failureText(new ProviderError("429", "a", 429, true, { code: "rate_limited" })),
      /rate limiting/,
    );
    assert.equal(
      failureText(new Error("internal detail")),
      "something went wrong while generating the answer",
    );
  });
});
