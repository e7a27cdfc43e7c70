import assert from "node:assert/strict";
import path from "node:path";
import { McpTools } from "../../../../src/ai/tools/mcp";
import type { AiMcpServerConfig } from "../../../../src/config/types";
import { McpHttpStandin } from "../../../standins/mcp/McpStandin";

const STDIO_SERVER = path.resolve(__dirname, "../../../fixtures/mcp/stdioServer.ts");
const ROOM = "!tools:localhost";

function server(over: Partial<AiMcpServerConfig>): AiMcpServerConfig {
  return { args: [], env: {}, headers: {}, rooms: ["*"], tools: [], timeout_ms: 10_000, ...over };
}

function ctx() {
  return { roomId: ROOM, now: Date.now(), signal: new AbortController().signal };
}

describe("McpTools: the admin's MCP servers through @modelcontextprotocol/sdk", function () {
  this.timeout(60_000);
  let http: McpHttpStandin;
  const open: McpTools[] = [];
  const tools = (servers: Record<string, AiMcpServerConfig>, aliases: Record<string, string> = {}) => {
    const t = new McpTools(servers, async (a) => aliases[a]);
    open.push(t);
    return t;
  };

  before(async () => {
    http = await McpHttpStandin.start(
      {
        forecast: {
          description: "Weather for a city",
          args: ["city"],
          answer: (a) => `${a.city}: 4°C, sleet`,
        },
        delete_all: { description: "Dangerous", args: [], answer: () => "deleted" },
      },
      { token: "mcp-secret-token" },
    );
  });
  after(async () => {
    await Promise.all(open.map((t) => t.close()));
    await http.close();
  });

  it("Streamable HTTP: lists the allowed tools with their schemas and calls one with the configured headers", async () => {
    const mcp = tools({
      weather: server({
        url: http.url,
        headers: { Authorization: "Bearer mcp-secret-token" },
        tools: ["forecast"],
      }),
    });
    const offered = await mcp.forRoom(ROOM);
    assert.deepEqual(
      offered.map((t) => t.name),
      ["weather__forecast"],
      "only the tools the config allows",
    );
    const schema = offered[0]!.parameters as { properties: Record<string, unknown>; required: string[] };
    assert.deepEqual(Object.keys(schema.properties), ["city"]);
    assert.deepEqual(schema.required, ["city"]);
    const out = await offered[0]!.run({ city: "Oslo" }, ctx());
    assert.equal(out.text, "Oslo: 4°C, sleet");
    const call = http.calls.at(-1)!;
    assert.deepEqual([call.tool, call.args], ["forecast", { city: "Oslo" }]);
    assert.equal(call.headers.authorization, "Bearer mcp-secret-token");
  });

  it("per-room allow lists: by room id, by alias, and none for other rooms", async () => {
    const mcp = tools(
      {
        byId: server({ url: http.url, headers: { Authorization: "Bearer mcp-secret-token" }, rooms: [ROOM] }),
        byAlias: server({
          url: http.url,
          headers: { Authorization: "Bearer mcp-secret-token" },
          rooms: ["#ops:localhost"],
        }),
      },
      { "#ops:localhost": "!ops:localhost" },
    );
    const names = async (room: string) => (await mcp.forRoom(room)).map((t) => t.name).sort();
    assert.deepEqual(await names(ROOM), ["byId__delete_all", "byId__forecast"]);
    assert.deepEqual(await names("!ops:localhost"), ["byAlias__delete_all", "byAlias__forecast"]);
    assert.deepEqual(await names("!elsewhere:localhost"), []);
  });

  it("a server that refuses (401) or is down offers no tools, and the others still do", async () => {
    const mcp = tools({
      wrongKey: server({ url: http.url, headers: { Authorization: "Bearer nope" } }),
      down: server({ url: "http://127.0.0.1:9/mcp", timeout_ms: 2000 }),
      good: server({
        url: http.url,
        headers: { Authorization: "Bearer mcp-secret-token" },
        tools: ["forecast"],
      }),
    });
    assert.deepEqual(
      (await mcp.forRoom(ROOM)).map((t) => t.name),
      ["good__forecast"],
    );
  });

  it("stdio: starts the program with its arguments and environment, calls its tools, and a tool error is an error", async () => {
    const mcp = tools({
      local: server({
        command: process.execPath,
        args: ["--require", require.resolve("tsx/cjs"), STDIO_SERVER],
        env: { MCP_GREETING: "hello from env" },
      }),
    });
    const offered = await mcp.forRoom(ROOM);
    assert.deepEqual(offered.map((t) => t.name).sort(), ["local__boom", "local__echo"]);
    const echo = offered.find((t) => t.name === "local__echo")!;
    assert.equal((await echo.run({ text: "ping" }, ctx())).text, "hello from env: ping");
    const boom = offered.find((t) => t.name === "local__boom")!;
    await assert.rejects(boom.run({}, ctx()), /the boom tool broke/);
  });
});
