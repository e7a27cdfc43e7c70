import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import type { MatrixTestClient } from "../../harness/MatrixTestClient";
import type { LlmBackend, StandinChat } from "../../standins/llm/backend";
import { McpHttpStandin } from "../../standins/mcp/McpStandin";
import { TelegramServer } from "../../standins/telegram/TelegramServer";
import { BOT, user } from "../core/coreRig";
import {
  type AiRig,
  inviteAi,
  isAnswer,
  isNoticeFromAi,
  sleep,
  startAiRig,
  telegramSection,
  twoPlatformRoom,
  waitForShown,
} from "./aiRig";

const TG_GROUP = -1001777000202;
/** A real 1×1 PNG. */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  "base64",
);
const MCP_TOKEN = `mcp-${randomBytes(8).toString("hex")}`;

type Msg = StandinChat["messages"][number];

/** The tool turns of the latest round, or undefined when the model has not called any yet. */
function lastToolTurns(req: StandinChat): Msg[] | undefined {
  const last = req.messages[req.messages.length - 1];
  if (last?.role !== "tool") return undefined;
  const turns: Msg[] = [];
  for (let i = req.messages.length - 1; i >= 0 && req.messages[i]!.role === "tool"; i--)
    turns.unshift(req.messages[i]!);
  return turns;
}

/** A model that calls `calls` first, then answers with `answer(tool results)`. */
function toolModel(
  calls: Array<{ name: string; arguments: Record<string, unknown> | string }>,
  answer: (results: string[]) => string,
): LlmBackend {
  return (req) => {
    const turns = lastToolTurns(req);
    if (!turns) return { chunks: [], toolCalls: calls };
    return { chunks: [answer(turns.map((t) => t.content))] };
  };
}

/**
 * The AI's tools in a room bridged to Telegram and testnet: the built-in room search and
 * member list read every platform's messages and people, an admin's MCP server is called where
 * its allow list says, each call is a short notice in Matrix (never relayed), what a tool returns
 * never runs as a command, and a model that keeps calling tools is stopped after max_steps.
 */
describe("e2e: the AI's tools (room search, members, MCP) in a bridged room", function () {
  this.timeout(180_000);
  let rig: AiRig;
  let tg: TelegramServer;
  let mcp: McpHttpStandin;
  let alice: MatrixTestClient;
  let room: string;

  async function ask(text: string): Promise<string> {
    return alice.sendText(room, text);
  }

  before(async function () {
    this.timeout(240_000);
    alice = await user("alice");
    mcp = await McpHttpStandin.start(
      {
        forecast: {
          description: "Weather forecast for a city",
          args: ["city"],
          answer: (a) => `${a.city}: sleet, 2°C`,
        },
        advice: {
          description: "Advice from the ops handbook",
          args: [],
          answer: () => "!cb unlink telegram",
        },
      },
      { token: MCP_TOKEN },
    );
    tg = await TelegramServer.start({
      token: `777202:${randomBytes(24).toString("base64url")}`,
      botUser: { id: 777202, is_bot: true, first_name: "Bridge", username: "tools_bot" },
    });
    tg.addChat({ id: TG_GROUP, type: "supergroup", title: "Ops desk" });
    tg.addUser({ id: 7772, first_name: "Tess" });
    rig = await startAiRig(
      { auto_join: { default: "none" }, default_mode: "always", tools: { max_steps: 2, timeout_ms: 10_000 } },
      { tools: ["primary"], vision: ["primary"], platforms: { telegram: telegramSection(tg) } },
    );
    room = await twoPlatformRoom(rig, alice, {
      chat: "toolchat",
      name: "Ops desk",
      user: { id: "toolnora", name: "Nora" },
      first: "lunch is at noon",
      tgGroup: TG_GROUP,
    });
    // The MCP servers: one for this room, one for another room only.
    await rig.reconfigure({
      mcp_servers: {
        weather: { url: mcp.url, headers: { Authorization: `Bearer ${MCP_TOKEN}` }, rooms: [room] },
        elsewhere: {
          url: mcp.url,
          headers: { Authorization: `Bearer ${MCP_TOKEN}` },
          rooms: ["!another:localhost"],
        },
      },
    });
    rig.openai.backend = () => ({ chunks: ["hello"] });
    tg.injectMessage({ chat: TG_GROUP, from: 7772, text: "the deploy window is Friday 15:00 UTC" });
    await alice.waitFor((e) => e.content.body === "the deploy window is Friday 15:00 UTC", {
      roomId: room,
      timeoutMs: 30_000,
    });
    rig.core.testnet.injectMessage({
      chat: "toolchat",
      sender: "toolnora",
      text: "coffee machine is broken again",
    });
    await alice.waitFor((e) => e.content.body === "coffee machine is broken again", {
      roomId: room,
      timeoutMs: 30_000,
    });
    await inviteAi(alice, room);
  });
  after(async () => {
    await rig?.stop();
    await tg?.close();
    await mcp?.close();
  });

  it("answers through the room-search tool with the right message from Telegram; the call is a notice that stays in Matrix", async () => {
    rig.openai.backend = toolModel([{ name: "search_room", arguments: { query: "deploy window" } }], (r) =>
      /\] Tess \(Telegram\): the deploy window is Friday 15:00 UTC/.test(r[0] ?? "")
        ? "The deploy window is Friday at 15:00 UTC."
        : `not found: ${r[0]}`,
    );
    const asked = await ask("when is the deploy window?");
    const answer = await alice.waitFor((e) => isAnswer(e, asked), { roomId: room, timeoutMs: 30_000 });
    await waitForShown(alice, room, answer, "The deploy window is Friday at 15:00 UTC.");
    const first = rig.openai
      .chats()
      .find((q) => q.chat?.messages.at(-1)?.content.includes("when is the deploy window?"))!;
    assert.deepEqual(
      first.chat!.tools!.map((t) => t.name).sort(),
      ["search_room", "read_span", "weather__advice", "weather__forecast", "who_is_here"].sort(),
      "built-in tools and this room's MCP server, not the other room's",
    );
    const notice = await alice.waitFor(
      (e) => isNoticeFromAi(e, /^🔧 search_room \(query: "deploy window"\) → 1 found$/),
      {
        roomId: room,
        timeoutMs: 10_000,
      },
    );
    assert.ok(notice);
    const deadline = Date.now() + 30_000;
    while (!tg.sent(TG_GROUP).some((m) => String(m.text).includes("Friday at 15:00"))) {
      if (Date.now() > deadline) assert.fail("the answer did not reach Telegram");
      await sleep(100);
    }
    assert.ok(!tg.sent(TG_GROUP).some((m) => String(m.text).includes("🔧")), "tool notices stay in Matrix");
    assert.ok(!rig.core.testnet.sent("toolchat").some((m) => m.text.includes("🔧")));
  });

  it("a photo sent on Telegram reaches the model as its exact bytes, and the answer about it reaches Telegram", async () => {
    rig.openai.backend = (req) => {
      const withImage = req.messages.filter((m) => m.images?.length);
      const last = withImage.at(-1);
      return { chunks: [last?.images?.[0]?.equals(PNG) ? "A tiny one-pixel picture." : "I see no picture."] };
    };
    tg.injectMessage({ chat: TG_GROUP, from: 7772, photo: PNG });
    await alice.waitFor((e) => e.sender === "@_telegram_7772:localhost" && e.content.msgtype === "m.image", {
      roomId: room,
      timeoutMs: 30_000,
    });
    tg.injectMessage({ chat: TG_GROUP, from: 7772, text: "AI, what is in my photo?" });
    await alice.waitFor((e) => isAnswer(e) && e.content.body === "A tiny one-pixel picture.", {
      roomId: room,
      timeoutMs: 30_000,
    });
    const req = rig.openai
      .chats()
      .find((q) => q.chat?.messages.at(-1)?.content.includes("what is in my photo?"))!;
    const images = req.chat!.messages.flatMap((m) => m.images ?? []);
    assert.ok(
      images.some((i) => i.equals(PNG)),
      "the model got the photo's bytes",
    );
    const deadline = Date.now() + 30_000;
    while (!tg.sent(TG_GROUP).some((m) => String(m.text).includes("one-pixel picture"))) {
      if (Date.now() > deadline) assert.fail("the answer did not reach Telegram");
      await sleep(100);
    }
  });

  it("who_is_here names each member's platform", async () => {
    let listed = "";
    rig.openai.backend = toolModel([{ name: "who_is_here", arguments: {} }], (r) => {
      listed = r[0] ?? "";
      return "Tess, Nora and Alice are here.";
    });
    const asked = await ask("who is in this room?");
    const answer = await alice.waitFor((e) => isAnswer(e, asked), { roomId: room, timeoutMs: 30_000 });
    await waitForShown(alice, room, answer, "Tess, Nora and Alice are here.");
    assert.match(listed, /Tess[^\n]* — telegram \(@/);
    assert.match(listed, /Nora[^\n]* — testnet \(@/);
    assert.match(listed, / — matrix \(@alice:localhost\)/);
    assert.match(listed, /you \(the AI\) — matrix/);
  });

  it("calls the MCP server's tool and uses its result", async () => {
    const before = mcp.calls.length;
    rig.openai.backend = toolModel(
      [{ name: "weather__forecast", arguments: { city: "Oslo" } }],
      (r) => `Forecast: ${r[0]}`,
    );
    const asked = await ask("what is the weather in Oslo?");
    const answer = await alice.waitFor((e) => isAnswer(e, asked), { roomId: room, timeoutMs: 30_000 });
    await waitForShown(alice, room, answer, "Forecast: Oslo: sleet, 2°C");
    assert.deepEqual(
      mcp.calls.slice(before).map((c) => [c.tool, c.args]),
      [["forecast", { city: "Oslo" }]],
    );
    await alice.waitFor((e) => isNoticeFromAi(e, /^🔧 weather__forecast \(city: "Oslo"\) → done$/), {
      roomId: room,
      timeoutMs: 10_000,
    });
  });

  it("what a tool returns is data: a command in it, echoed by the model, runs nothing", async () => {
    rig.openai.backend = toolModel([{ name: "weather__advice", arguments: {} }], (r) => r[0] ?? "");
    const asked = await ask("what does the handbook advise?");
    const answer = await alice.waitFor((e) => isAnswer(e, asked), { roomId: room, timeoutMs: 30_000 });
    await waitForShown(alice, room, answer, "!cb unlink telegram");
    await sleep(1500);
    const events = alice.eventsIn(room);
    const after = events.slice(events.findIndex((e) => e.event_id === answer.event_id));
    assert.deepEqual(
      after.filter((e) => e.sender === BOT && e.type === "m.room.message").map((e) => e.content.body),
      [],
      "the bridge bot neither ran nor refused the AI's words as a command",
    );
    tg.injectMessage({ chat: TG_GROUP, from: 7772, text: "still linked?" });
    await alice.waitFor((e) => e.content.body === "still linked?", { roomId: room, timeoutMs: 30_000 });
  });

  it("bad calls come back to the model as errors, and a model that keeps calling tools is stopped after max_steps", async () => {
    const before = rig.openai.chats().length;
    const seen: string[] = [];
    rig.openai.backend = (req) => {
      const turns = lastToolTurns(req);
      if (turns) seen.push(...turns.map((t) => t.content));
      // Never satisfied: asks again whenever tools are offered; answers only when none are.
      if (req.tools?.length)
        return {
          chunks: [],
          toolCalls: [
            { name: "format_disk", arguments: {} },
            { name: "search_room", arguments: "{oops" },
          ],
        };
      return { chunks: ["I could not find it."] };
    };
    const asked = await ask("find the thing");
    const answer = await alice.waitFor((e) => isAnswer(e, asked), { roomId: room, timeoutMs: 30_000 });
    await waitForShown(alice, room, answer, "I could not find it.");
    const rounds = rig.openai
      .chats()
      .slice(before)
      .filter((q) => q.chat?.messages.some((m) => m.content.includes("find the thing")));
    assert.equal(rounds.length, 3, "max_steps (2) rounds with tools, then one without");
    assert.equal(rounds[2]!.chat!.tools, undefined, "the last round offers no tools");
    assert.ok(seen.some((s) => /^error: there is no tool named "format_disk"/.test(s)));
    assert.ok(seen.some((s) => /^error: the arguments are not valid JSON/.test(s)));
  });
});
