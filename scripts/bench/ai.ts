/**
 * `npx tsx scripts/bench/ai.ts`: the AI puppet's streaming path on a real Synapse and the real
 * bridge process, against the OpenAI-wire model stand-in. Prints:
 * - first token → first visible event: from the stand-in handing out the answer's first token
 *   to the test client seeing the AI's first message (sync), next to a direct Synapse send
 *   seen by the same client (the floor the bridge path is compared with);
 * - round trip: from the user's send to the AI's first message seen by the same client (trigger,
 *   context read from the homeserver, provider request, first token), the model answering at once;
 * - edit throughput: edits per second with the smallest interval (100 ms), and the gaps;
 * - over a platform: a Telegram user's direct message injected at the Bot API stand-in until
 *   the answer's sendMessage reaches it (the AI joined the DM portal by itself, `ai.auto_join`),
 *   with the time to the model request and from the model's last chunk to that sendMessage.
 * A benchmark, not a test: numbers depend on the machine's load.
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { AI, groupWithAi, isAnswer, isEditOf, startAiRig, waitForShown } from "../../spec/e2e/ai/aiRig";
import { user } from "../../spec/e2e/core/coreRig";
import { stopSharedRig } from "../../spec/harness/synapse";
import type { LlmBackend } from "../../spec/standins/llm/backend";
import { TelegramServer } from "../../spec/standins/telegram/TelegramServer";
import { type Summary, summarize } from "./stats";

/** The AI user's figures, in ms (edit throughput in edits per second). */
export interface AiResult {
  runs: number;
  /** Matrix user's send → first visible AI answer (same client). */
  roundTrip: Summary;
  /** The stand-in handing out the first token → first visible AI event. */
  firstTokenToVisible: Summary;
  /** A direct Synapse send → visible to the same client (the floor of the line above). */
  direct: Summary;
  edits: number;
  editsPerSecond: number;
  editGaps: Summary;
  /** Telegram user's direct message injected → the answer's sendMessage at the stand-in. */
  platform: Summary;
  /** Injected → the model request. */
  platformToModel: Summary;
  /** The model's last chunk → the answer's sendMessage. */
  platformFromModel: Summary;
}

function stats(s: Summary): string {
  return `median ${s.p50.toFixed(1)} ms, p95 ${s.p95.toFixed(1)} ms, min ${s.min.toFixed(1)} ms (n=${s.n})`;
}

/** Runs the AI scenario on its own Synapse (the e2e harness's) and bridge; stops both after. */
export async function runAi(RUNS: number): Promise<AiResult> {
  let firstTokenAt = 0;
  const timed: LlmBackend = () => ({
    chunks: (async function* () {
      firstTokenAt = performance.now();
      yield "Hello";
      for (let i = 0; i < 5; i++) yield ` w${i}`;
    })(),
    delayMs: 30,
  });
  const tg = await TelegramServer.start({
    token: `424242:${randomBytes(24).toString("base64url")}`,
    botUser: { id: 424242, is_bot: true, first_name: "Bridge", username: "ai_bench_bot" },
  });
  tg.addUser({ id: 4201, first_name: "Tina" });
  tg.addChat({ id: 4201, type: "private", first_name: "Tina" });
  const rig = await startAiRig(
    {
      streaming: { edit_interval_ms: 100, max_edits: 500 },
      context: { max_events: 10, token_budget: 500, max_answer_tokens: 4000 },
      auto_join: { default: "none", telegram: "dm" },
    },
    {
      backend: timed,
      platforms: {
        telegram: {
          enabled: true,
          bot_token: tg.token,
          owner: "@alice:localhost",
          api_root: tg.url,
          poll_timeout_seconds: 30,
        },
      },
    },
  );
  const [alice, bob] = await Promise.all([user("alice"), user("bob")]);
  try {
    const room = await groupWithAi(alice, bob, "bench");
    const viaAi: number[] = [];
    const roundTrip: number[] = [];
    const direct: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const sentAt = performance.now();
      const id = await alice.sendText(room, `AI bench ${i}`);
      const seen = await alice.waitFor((e) => isAnswer(e, id), { roomId: room, timeoutMs: 60_000 });
      const seenAt = performance.now();
      viaAi.push(seenAt - firstTokenAt);
      roundTrip.push(seenAt - sentAt);
      await waitForShown(alice, room, seen, "Hello w0 w1 w2 w3 w4", 60_000);
      const t0 = performance.now();
      const d = await bob.sendText(room, `direct ${i}`);
      await alice.waitFor((e) => e.event_id === d, { roomId: room, timeoutMs: 60_000 });
      direct.push(performance.now() - t0);
    }
    // Edit throughput: a long answer at 10 ms per token, edited as often as allowed.
    rig.openai.backend = () => ({ chunks: Array.from({ length: 400 }, (_, i) => ` t${i}`), delayMs: 10 });
    const id = await alice.sendText(room, "AI long bench");
    const first = await alice.waitFor((e) => isAnswer(e, id), { roomId: room, timeoutMs: 60_000 });
    const full = Array.from({ length: 400 }, (_, i) => ` t${i}`)
      .join("")
      .trim();
    await alice.waitFor(
      (e) => isEditOf(e, first.event_id!) && (e.content["m.new_content"] as { body?: string }).body === full,
      { roomId: room, timeoutMs: 120_000 },
    );
    const edits = alice.eventsIn(room).filter((e) => isEditOf(e, first.event_id!));
    const times = [first, ...edits].map((e) => e.origin_server_ts!);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    const span = (times[times.length - 1]! - times[0]!) / 1000;
    // Over a platform: the answer is one chunk, at once, not streamed in pieces.
    rig.openai.backend = () => ({ chunks: ["Hi Tina."] });
    const platform: number[] = [];
    const toModel: number[] = [];
    const fromModel: number[] = [];
    for (let i = 0; i <= RUNS; i++) {
      const n = tg.calls.length;
      const chats = rig.openai.requests.length;
      const t0 = Date.now();
      tg.injectMessage({ chat: 4201, from: 4201, text: `platform bench ${i}` });
      const sent = await tg.waitFor(
        (c) =>
          tg.calls.indexOf(c) >= n &&
          c.method === "sendMessage" &&
          String(c.params.text).includes("Hi Tina."),
        60_000,
      );
      const req = rig.openai.requests.slice(chats).find((r) => r.chat);
      if (i === 0) continue; // the first makes the portal and the AI joins it
      platform.push(sent.time - t0);
      if (req) {
        toModel.push(req.time - t0);
        const last = req.sentAt[req.sentAt.length - 1];
        if (last !== undefined) fromModel.push(sent.time - last);
      }
    }
    return {
      runs: RUNS,
      roundTrip: summarize(roundTrip),
      firstTokenToVisible: summarize(viaAi),
      direct: summarize(direct),
      edits: edits.length,
      editsPerSecond: edits.length / span,
      editGaps: summarize(gaps),
      platform: summarize(platform),
      platformToModel: summarize(toModel),
      platformFromModel: summarize(fromModel),
    };
  } finally {
    alice.stop();
    bob.stop();
    await rig.stop();
    await tg.close();
    await stopSharedRig();
  }
}

async function main(): Promise<void> {
  const r = await runAi(Number(process.env.AI_BENCH_RUNS ?? 10));
  process.stdout.write(
    [
      `user send → first visible AI answer:  ${stats(r.roundTrip)}`,
      `first token → first visible AI event: ${stats(r.firstTokenToVisible)}`,
      `direct Synapse send → visible:        ${stats(r.direct)}`,
      `ratio (median, AI path / direct):     ${(r.firstTokenToVisible.p50 / r.direct.p50).toFixed(2)}`,
      `edit throughput: ${r.edits} edits = ${r.editsPerSecond.toFixed(2)} edits/s (interval 100 ms, cap 10/s)`,
      `edit gaps: ${stats(r.editGaps)} (server timestamps)`,
      `Telegram DM → answer's sendMessage:   ${stats(r.platform)}`,
      `  injected → model request:           ${stats(r.platformToModel)}`,
      `  model's last chunk → sendMessage:   ${stats(r.platformFromModel)}`,
      `AI user: ${AI}`,
    ].join("\n") + "\n",
  );
}

if (require.main === module)
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
