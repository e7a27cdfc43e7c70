import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import { scriptedBackend } from "../../standins/llm/backend";
import { OpenAIStandin } from "../../standins/llm/OpenAIStandin";
import { ghostId, portalRoomFor, user } from "../core/coreRig";
import { AI, type AiRig, isAnswer, messagesOf, startAiRig } from "./aiRig";

/**
 * `ai.transcription`: a platform user's voice note is transcribed through an OpenAI-compatible
 * `/audio/transcriptions` endpoint (a stand-in of its own, as a local whisper server would be),
 * and the AI answers a question about it with the transcript in its context.
 */
describe("e2e: the AI hears voice notes (ai.transcription)", function () {
  this.timeout(120_000);
  let rig: AiRig;
  let whisper: OpenAIStandin;
  let alice: MatrixTestClient;

  before(async function () {
    this.timeout(180_000);
    alice = await user("alice");
    const apiKey = `sk-${randomBytes(8).toString("hex")}`;
    whisper = await OpenAIStandin.start({ apiKey });
    whisper.transcribe = () => "please water the plants on Friday";
    rig = await startAiRig({
      auto_join: { default: "none" },
      transcription: { base_url: whisper.baseUrl, api_key: apiKey },
    });
  });
  after(async () => {
    await rig?.stop();
    await whisper?.close();
  });

  it("transcribes a platform user's voice note once and answers with it in the context", async () => {
    const { testnet } = rig.core;
    testnet.addChat({ id: "trchat", name: "Voice chat", kind: "group" });
    testnet.addUser({ id: "trvera", name: "Vera" });
    testnet.injectMessage({ chat: "trchat", sender: "trvera", text: "hello" });
    const room = await portalRoomFor(alice, "trchat");
    await alice.invite(room, AI);
    await alice.waitFor(
      (e) => e.type === "m.room.member" && e.state_key === AI && e.content.membership === "join",
      {
        roomId: room,
        timeoutMs: 30_000,
      },
    );
    const voice = randomBytes(4000);
    testnet.addFile("vera-voice", voice, "audio/ogg");
    testnet.injectMessage({ chat: "trchat", sender: "trvera", text: "", files: ["vera-voice"] });
    await alice.waitFor((e) => e.sender === ghostId("trvera") && e.content.msgtype === "m.audio", {
      roomId: room,
      timeoutMs: 30_000,
    });
    rig.openai.backend = scriptedBackend("You asked to water the plants on Friday.");
    testnet.injectMessage({ chat: "trchat", sender: "trvera", text: "AI, what did I just say?" });
    await alice.waitFor((e) => isAnswer(e) && e.content.body === "You asked to water the plants on Friday.", {
      roomId: room,
      timeoutMs: 30_000,
    });
    assert.equal(whisper.transcriptions.length, 1);
    assert.ok(whisper.transcriptions[0]!.data.equals(voice), "the endpoint got the voice note's bytes");
    assert.equal(whisper.transcriptions[0]!.model, "whisper-1");
    const req = await rig.openai.waitFor((q) =>
      messagesOf(q).some((m) => m.content.includes("what did I just say")),
    );
    assert.ok(
      messagesOf(req).some((m) => m.content.includes("(transcript) please water the plants on Friday")),
      JSON.stringify(messagesOf(req)),
    );
    // The next answer reads the history again: the transcript is kept, not made again.
    rig.openai.backend = scriptedBackend("Yes, Friday.");
    testnet.injectMessage({ chat: "trchat", sender: "trvera", text: "AI, which day again?" });
    await alice.waitFor((e) => isAnswer(e) && e.content.body === "Yes, Friday.", {
      roomId: room,
      timeoutMs: 30_000,
    });
    assert.equal(whisper.transcriptions.length, 1, "transcribed once");
  });

  it("`!ai transcribe` as a reply posts the transcript as a reply to the voice note, relayed to the platform; `on` does it for every one", async () => {
    const { testnet } = rig.core;
    testnet.addChat({ id: "trpost", name: "Voice posts", kind: "group" });
    testnet.addUser({ id: "trwill", name: "Will" });
    testnet.injectMessage({ chat: "trpost", sender: "trwill", text: "hi" });
    const room = await portalRoomFor(alice, "trpost");
    await alice.invite(room, AI);
    await alice.waitFor(
      (e) => e.type === "m.room.member" && e.state_key === AI && e.content.membership === "join",
      {
        roomId: room,
        timeoutMs: 30_000,
      },
    );
    const voiceNote = async (id: string): Promise<string> => {
      const seen = new Set(alice.eventsIn(room).map((e) => e.event_id));
      testnet.addFile(id, randomBytes(3000), "audio/ogg");
      testnet.injectMessage({ chat: "trpost", sender: "trwill", text: "", files: [id] });
      const ev = await alice.waitFor(
        (e) => e.sender === ghostId("trwill") && e.content.msgtype === "m.audio" && !seen.has(e.event_id),
        { roomId: room, timeoutMs: 30_000 },
      );
      return ev.event_id!;
    };
    const transcriptOf = (voiceId: string, text: string) =>
      alice.waitFor(
        (e) =>
          e.sender === AI &&
          e.content.msgtype === "m.text" &&
          e.content.body === `🎙️ ${text}` &&
          ((e.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } } | undefined)?.[
            "m.in_reply_to"
          ]?.event_id ?? "") === voiceId,
        { roomId: room, timeoutMs: 30_000 },
      );

    // Not a reply: told how.
    await alice.sendText(room, "!ai transcribe");
    await alice.waitFor(
      (e) => e.sender === AI && /as a reply to a voice message/.test(String(e.content.body)),
      {
        roomId: room,
        timeoutMs: 15_000,
      },
    );

    whisper.transcribe = () => "the van is parked at gate four";
    const first = await voiceNote("will-1");
    await alice.reply(room, first, "!ai transcribe");
    await transcriptOf(first, "the van is parked at gate four");
    const deadline = Date.now() + 30_000;
    while (!testnet.sent("trpost").some((m) => m.text.includes("the van is parked at gate four"))) {
      if (Date.now() > deadline) assert.fail("the transcript did not reach the platform");
      await new Promise((r) => setTimeout(r, 100));
    }

    await alice.sendText(room, "!ai transcribe on");
    await alice.waitFor(
      (e) => e.sender === AI && /transcript of every voice message/.test(String(e.content.body)),
      {
        roomId: room,
        timeoutMs: 15_000,
      },
    );
    whisper.transcribe = () => "bring the spare keys";
    const second = await voiceNote("will-2");
    await transcriptOf(second, "bring the spare keys");

    // After a restart the setting holds; an endpoint failure is said, once, in Matrix.
    await rig.core.restart();
    whisper.failTranscriptions = 1;
    const third = await voiceNote("will-3");
    await alice.waitFor(
      (e) =>
        e.sender === AI &&
        e.content.msgtype === "m.notice" &&
        /Could not transcribe/.test(String(e.content.body)),
      {
        roomId: room,
        timeoutMs: 30_000,
      },
    );
    assert.ok(
      !alice
        .eventsIn(room)
        .some(
          (e) =>
            e.sender === AI &&
            e.content.msgtype === "m.text" &&
            String(e.content.body).startsWith("🎙️") &&
            (e.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } } | undefined)?.[
              "m.in_reply_to"
            ]?.event_id === third,
        ),
    );
    await alice.sendText(room, "!ai transcribe off");
    await alice.waitFor((e) => e.sender === AI && /no longer post transcripts/.test(String(e.content.body)), {
      roomId: room,
      timeoutMs: 15_000,
    });
  });
});
