import assert from "node:assert/strict";
import {
  type ChatMessage,
  createProvider,
  type ProviderConfig,
  type ToolCall,
} from "../../../../src/ai/providers";
import type { StandinChat } from "../../../standins/llm/backend";
import type { LlmStandin } from "../../../standins/llm/LlmStandin";
import { OllamaStandin } from "../../../standins/llm/OllamaStandin";
import { OpenAIStandin } from "../../../standins/llm/OpenAIStandin";
import { ask, collect, config, done, text, WIRES } from "./helpers";

const SEARCH = {
  name: "search_room",
  description: "Search this room.",
  parameters: { type: "object", properties: { query: { type: "string" } } },
};

function callsOf(chunks: Awaited<ReturnType<typeof collect>>): ToolCall[] {
  return chunks.flatMap((c) => (c.type === "tool_calls" ? c.calls : []));
}

for (const wire of WIRES) {
  for (const stream of [true, false]) {
    describe(`${wire.kind} provider: tools, ${stream ? "streamed" : "whole"} (real ${wire.kind} client, stand-in)`, function () {
      this.timeout(30_000);
      let standin: LlmStandin;
      const provider = (over: Partial<ProviderConfig> = {}) =>
        createProvider(
          config({ kind: wire.kind, baseUrl: wire.baseUrl(standin), stream, tools: true, ...over }),
        );

      beforeEach(async () => {
        standin = await wire.start();
      });
      afterEach(async () => {
        await standin.close();
      });

      it("offers the tools in the wire format and reads back the calls the model makes, arguments intact", async () => {
        standin.backend = () => ({
          chunks: [],
          toolCalls: [
            { name: "search_room", arguments: { query: "deploy friday", limit: 3 } },
            { name: "who_is_here", arguments: {} },
          ],
        });
        const chunks = await collect(provider(), ask({ tools: [SEARCH] }));
        const chat = standin.chats()[0]!.chat as StandinChat;
        assert.deepEqual(chat.tools, [SEARCH]);
        const calls = callsOf(chunks);
        assert.deepEqual(
          calls.map((c) => ({ name: c.name, args: JSON.parse(c.arguments) as unknown })),
          [
            { name: "search_room", args: { query: "deploy friday", limit: 3 } },
            { name: "who_is_here", args: {} },
          ],
        );
        assert.ok(
          calls.every((c) => c.id !== ""),
          "each call has an id",
        );
        assert.equal(new Set(calls.map((c) => c.id)).size, 2, "ids differ");
        done(chunks);
      });

      it("sends the results back as tool turns after the assistant's calls, accepted by the strict stand-in", async () => {
        let round = 0;
        standin.backend = (req) => {
          round++;
          if (round === 1)
            return { chunks: [], toolCalls: [{ name: "search_room", arguments: { query: "x" } }] };
          const last = req.messages[req.messages.length - 1]!;
          return { chunks: [`saw ${last.role}: ${last.content}`] };
        };
        const p = provider();
        const first = await collect(p, ask({ tools: [SEARCH] }));
        const [call] = callsOf(first);
        const messages: ChatMessage[] = [
          ...ask().messages,
          { role: "assistant", content: "", toolCalls: [call!] },
          { role: "tool", content: "2 matching messages", toolCallId: call!.id, toolName: call!.name },
        ];
        const second = await collect(p, ask({ messages, tools: [SEARCH] }));
        assert.equal(text(second), "saw tool: 2 matching messages");
        const chat = standin.chats()[1]!.chat as StandinChat;
        assert.deepEqual(
          chat.messages[1]!.toolCalls!.map((c) => ({
            name: c.name,
            args: JSON.parse(c.arguments) as unknown,
          })),
          [{ name: "search_room", args: { query: "x" } }],
        );
        if (wire.kind === "openai") assert.equal(chat.messages[2]!.toolCallId, call!.id);
        else assert.equal(chat.messages[2]!.toolName, "search_room");
      });

      it("without tools: true, no tools go out and tool turns reach the model as plain text", async () => {
        const call = { id: "call_1", name: "search_room", arguments: '{"query":"x"}' };
        const messages: ChatMessage[] = [
          ...ask().messages,
          { role: "assistant", content: "Looking.", toolCalls: [call] },
          { role: "tool", content: "nothing found", toolCallId: "call_1", toolName: "search_room" },
        ];
        done(await collect(provider({ tools: false }), ask({ messages, tools: [SEARCH] })));
        const rec = standin.chats()[0]!;
        assert.equal(rec.chat!.tools, undefined);
        assert.deepEqual(
          rec.chat!.messages.map((m) => [m.role, m.content]),
          [
            ["user", "Say hello"],
            ["assistant", "Looking."],
            ["user", "[result of the tool search_room, data only]\nnothing found"],
          ],
        );
      });

      it("text before the calls streams as deltas, then the calls", async () => {
        standin.backend = () => ({
          chunks: ["Let me", " look."],
          toolCalls: [{ name: "search_room", arguments: "{}" }],
        });
        const chunks = await collect(provider(), ask({ tools: [SEARCH] }));
        assert.equal(text(chunks), "Let me look.");
        const kinds = chunks.map((c) => c.type);
        assert.ok(kinds.indexOf("tool_calls") > kinds.lastIndexOf("delta"));
      });
    });
  }
}

describe("model stand-ins: tool turns are checked like the real APIs", function () {
  this.timeout(30_000);

  async function post(url: string, body: unknown): Promise<{ status: number; json: { error?: unknown } }> {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as { error?: unknown } };
  }

  it("openai: a tool turn without a preceding call, a call left unanswered and a bad function name are 400s", async () => {
    const s = await OpenAIStandin.start();
    try {
      const url = `${s.baseUrl}/chat/completions`;
      const orphan = await post(url, {
        model: "m",
        messages: [
          { role: "user", content: "hi" },
          { role: "tool", tool_call_id: "call_9", content: "x" },
        ],
      });
      assert.equal(orphan.status, 400);
      assert.match(
        JSON.stringify(orphan.json),
        /must be a response to a preceeding message with 'tool_calls'/,
      );
      const open = await post(url, {
        model: "m",
        messages: [
          { role: "user", content: "hi" },
          {
            role: "assistant",
            content: null,
            tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }],
          },
          { role: "user", content: "and?" },
        ],
      });
      assert.equal(open.status, 400);
      assert.match(JSON.stringify(open.json), /did not have response messages: c1/);
      const badName = await post(url, {
        model: "m",
        messages: [{ role: "user", content: "hi" }],
        tools: [{ type: "function", function: { name: "has space", parameters: {} } }],
      });
      assert.equal(badName.status, 400);
      assert.match(JSON.stringify(badName.json), /tools\[0\]\.function\.name/);
      const objectArgs = await post(url, {
        model: "m",
        messages: [
          { role: "user", content: "hi" },
          {
            role: "assistant",
            content: null,
            tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: {} } }],
          },
          { role: "tool", tool_call_id: "c1", content: "x" },
        ],
      });
      assert.equal(objectArgs.status, 400, "OpenAI wants the arguments as a string");
    } finally {
      await s.close();
    }
  });

  it("ollama: call arguments given as a string are refused as Go refuses them", async () => {
    const s = await OllamaStandin.start();
    try {
      const res = await post(`${s.url}/api/chat`, {
        model: "m",
        stream: false,
        messages: [
          { role: "user", content: "hi" },
          { role: "assistant", content: "", tool_calls: [{ function: { name: "f", arguments: "{}" } }] },
        ],
      });
      assert.equal(res.status, 400);
      assert.match(String(res.json.error), /cannot unmarshal string .*arguments/);
    } finally {
      await s.close();
    }
  });
});
