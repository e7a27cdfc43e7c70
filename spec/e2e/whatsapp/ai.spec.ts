import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { WAMessage } from "@whiskeysockets/baileys";
import type { MatrixEvent, MatrixTestClient } from "../../harness/MatrixTestClient";
import { scriptedBackend } from "../../standins/llm/backend";
import { OpenAIStandin } from "../../standins/llm/OpenAIStandin";
import { user } from "../core/coreRig";
import { type SeamRig, startSeamRig } from "./seamRig";
import { waAlias, waGhost } from "./waRig";

const ME = "15550000071";
const HANA = "15552220072";
const GROUP = "120363000000000777@g.us";
const AI = "@ai:localhost";
const WAIT = { timeoutMs: 30_000 };
/** A recorded message as the fixtures hold it (media marked `$MEDIA`, filled in by the test). */
type Recorded = Omit<WAMessage, "message"> & { message: Record<string, unknown> };
const FIXTURES = JSON.parse(
  readFileSync(path.resolve(__dirname, "../../fixtures/whatsapp/seam-events.json"), "utf8"),
) as Record<string, Recorded>;

/** A recorded group message, moved to this suite's group and sender, with a fresh id. */
function message(name: string, over: (m: Recorded) => void): WAMessage {
  const m = structuredClone(FIXTURES[name]!);
  m.key = {
    ...m.key,
    remoteJid: GROUP,
    participant: `${HANA}@s.whatsapp.net`,
    id: `3EB0A7${randomBytes(6).toString("hex").toUpperCase()}`,
  };
  m.messageTimestamp = Math.floor(Date.now() / 1000);
  over(m);
  return m as WAMessage;
}

/**
 * The AI hears WhatsApp voice notes: a voice note from a WhatsApp group (recorded baileys payload,
 * media encrypted on the stand-in media server) is transcribed through `ai.transcription` (the
 * endpoint gets the decrypted bytes), posted as a reply with `!ai transcribe on`, and a question
 * about it from WhatsApp is answered with the transcript in the model's context.
 */
describe("e2e: a WhatsApp voice note transcribed and answered by the AI", function () {
  this.timeout(180_000);
  let core: SeamRig;
  let model: OpenAIStandin;
  let alice: MatrixTestClient;
  let room: string;
  const ev = (pred: (e: MatrixEvent) => boolean) => alice.waitFor((e) => e.room_id === room && pred(e), WAIT);

  before(async () => {
    const apiKey = `sk-${randomBytes(8).toString("hex")}`;
    model = await OpenAIStandin.start({ apiKey });
    model.transcribe = () => "the ferry leaves at seven";
    core = await startSeamRig({
      owner: "@alice:localhost",
      number: ME,
      name: "Alice AI",
      setup: (wa) => wa.group(GROUP, { subject: "Ferry crew", participants: [ME, HANA] }),
      config: {
        ai: {
          auto_join: { default: "none" },
          default_mode: "always",
          providers: {
            primary: {
              kind: "openai",
              base_url: model.baseUrl,
              api_key: apiKey,
              model: "standin-gpt",
              max_retries: 0,
            },
          },
          transcription: { base_url: model.baseUrl, api_key: apiKey },
          limits: { user_per_minute: 0, room_per_minute: 0 },
        },
      },
    });
    alice = await user("alice");
    core.seam.emit("messages.upsert", {
      messages: [message("groupText", (m) => (m.message = { conversation: "hi crew" }))],
      type: "notify",
    });
    const invite = await alice.waitForInvite(
      (i) => i.events.some((e) => e.type === "m.room.canonical_alias" && e.content.alias === waAlias(GROUP)),
      30_000,
    );
    room = await alice.join(invite.roomId);
    await ev((e) => e.content.body === "hi crew");
    await alice.invite(room, AI);
    await ev((e) => e.type === "m.room.member" && e.state_key === AI && e.content.membership === "join");
    await alice.sendText(room, "!ai transcribe on");
    await ev((e) => e.sender === AI && /transcript of every voice message/.test(String(e.content.body)));
  });
  after(async () => {
    await core?.stop();
    await model?.close();
  });

  it("transcribes the voice note from its decrypted bytes, posts the transcript, and answers a question about it", async () => {
    const voice = randomBytes(4000);
    const m = message("groupVoice", () => undefined);
    const inner = (m.message as Record<string, Record<string, unknown>>).audioMessage!;
    delete inner.$MEDIA;
    Object.assign(inner, await core.media.encrypted(voice, "audio"));
    core.seam.emit("messages.upsert", { messages: [m], type: "notify" });
    const note = await ev((e) => e.sender === waGhost(HANA) && e.content.msgtype === "m.audio");
    assert.deepEqual(note.content["org.matrix.msc3245.voice"], {}, "a voice bubble");
    await ev(
      (e) =>
        e.sender === AI &&
        e.content.body === "🎙️ the ferry leaves at seven" &&
        (e.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } })?.["m.in_reply_to"]
          ?.event_id === note.event_id,
    );
    assert.equal(model.transcriptions.length, 1, "transcribed once");
    assert.ok(model.transcriptions[0]!.data.equals(voice), "the endpoint got the decrypted bytes");

    model.backend = scriptedBackend("At seven.");
    core.seam.emit("messages.upsert", {
      messages: [
        message("groupText", (x) => (x.message = { conversation: "AI, when does the ferry leave?" })),
      ],
      type: "notify",
    });
    await ev((e) => e.sender === AI && e.content.msgtype === "m.text" && e.content.body === "At seven.");
    const req = await model.waitFor((q) =>
      (q.chat?.messages ?? []).some((x) => x.content.includes("when does the ferry leave")),
    );
    assert.ok(
      req.chat!.messages.some((x) => x.content.includes("(transcript) the ferry leaves at seven")),
      JSON.stringify(req.chat!.messages.map((x) => x.content)),
    );
    assert.equal(model.transcriptions.length, 1, "the answer reuses the kept transcript");
  });
});
