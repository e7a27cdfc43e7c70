import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { AiMcpServerConfig } from "../../config/types";
import { Logger } from "../../log/Logger";
import { VERSION } from "../../version";
import { type AiTool, ToolInputError, type ToolOutput } from "./types";

const log = new Logger("McpTools");

/** The MCP SDK's client side, loaded when a server is first used (it takes ~100 ms to load). */
function sdk() {
  return {
    ...(require("@modelcontextprotocol/sdk/client/index.js") as typeof import("@modelcontextprotocol/sdk/client/index.js")),
    ...(require("@modelcontextprotocol/sdk/client/stdio.js") as typeof import("@modelcontextprotocol/sdk/client/stdio.js")),
    ...(require("@modelcontextprotocol/sdk/client/streamableHttp.js") as typeof import("@modelcontextprotocol/sdk/client/streamableHttp.js")),
  };
}

/** After a failed connection, the next try waits this long. */
const RETRY_AFTER_MS = 30_000;
/** The tool list of a connected server is asked again after this long. */
const TOOLS_FRESH_MS = 5 * 60_000;
/** Most tools one server may offer. */
const MAX_TOOLS = 64;
/** Longest tool description passed to the model. */
const MAX_DESCRIPTION = 1024;

interface Listed {
  name: string;
  description?: string;
  inputSchema: Record<string, unknown>;
}

/** A name the model APIs accept (`^[A-Za-z0-9_-]{1,64}$`): `<server>__<tool>`. */
export function mcpToolName(server: string, tool: string): string {
  return `${server}__${tool.replace(/[^A-Za-z0-9_-]/g, "_")}`.slice(0, 64);
}

/** A tool result's content as text: text parts as they are, other parts named. */
export function resultText(content: unknown): string {
  if (!Array.isArray(content)) return "";
  return content
    .map((part: { type?: unknown; text?: unknown; resource?: { uri?: unknown; text?: unknown } }) => {
      if (part?.type === "text" && typeof part.text === "string") return part.text;
      if (part?.type === "resource" && typeof part.resource?.text === "string") return part.resource.text;
      if (part?.type === "resource_link" || part?.type === "resource")
        return `[resource: ${String(part.resource?.uri ?? (part as { uri?: unknown }).uri ?? "")}]`;
      return `[${typeof part?.type === "string" ? part.type : "unknown"} content]`;
    })
    .join("\n");
}

/** One configured MCP server: connected on first use, reconnected after a failure. */
class McpServerLink {
  private client?: Client;
  private connecting?: Promise<Client>;
  private failedAt = 0;
  private tools?: { at: number; list: Listed[] };
  private readonly log: Logger;

  constructor(
    readonly name: string,
    private readonly cfg: AiMcpServerConfig,
  ) {
    this.log = new Logger("McpServer", { server: name });
  }

  private transport(): Transport {
    const { StreamableHTTPClientTransport, StdioClientTransport, getDefaultEnvironment } = sdk();
    if (this.cfg.url)
      return new StreamableHTTPClientTransport(new URL(this.cfg.url), {
        requestInit: { headers: this.cfg.headers },
      });
    const stdio = new StdioClientTransport({
      command: this.cfg.command!,
      args: this.cfg.args,
      env: { ...getDefaultEnvironment(), ...this.cfg.env },
      cwd: this.cfg.cwd,
      stderr: "pipe",
    });
    stdio.stderr?.on("data", (d: Buffer) =>
      this.log.debug("server said", { stderr: d.toString().slice(0, 500) }),
    );
    return stdio;
  }

  private async connect(): Promise<Client> {
    if (this.client) return this.client;
    if (this.connecting) return this.connecting;
    if (Date.now() - this.failedAt < RETRY_AFTER_MS) throw new Error("not reachable (retried shortly)");
    this.connecting = (async () => {
      const client = new (sdk().Client)({ name: "clawbridge", version: VERSION });
      const transport = this.transport();
      client.onclose = () => {
        if (this.client === client) this.client = undefined;
        this.tools = undefined;
      };
      try {
        await client.connect(transport, { timeout: this.cfg.timeout_ms });
      } catch (err) {
        await client.close().catch(() => undefined);
        throw err;
      }
      this.client = client;
      this.log.info("connected");
      return client;
    })();
    try {
      return await this.connecting;
    } catch (err) {
      this.failedAt = Date.now();
      this.log.warn("could not connect", { err: String(err) });
      throw err;
    } finally {
      this.connecting = undefined;
    }
  }

  /** The server's tools (those allowed by `tools`), listed again after a while. */
  async list(): Promise<Listed[]> {
    if (this.tools && Date.now() - this.tools.at < TOOLS_FRESH_MS) return this.tools.list;
    const client = await this.connect();
    const res = await client.listTools(undefined, { timeout: this.cfg.timeout_ms });
    const list = (res.tools as Listed[])
      .filter(
        (t) => typeof t?.name === "string" && (!this.cfg.tools.length || this.cfg.tools.includes(t.name)),
      )
      .slice(0, MAX_TOOLS);
    this.tools = { at: Date.now(), list };
    return list;
  }

  async call(tool: string, args: Record<string, unknown>, signal: AbortSignal): Promise<ToolOutput> {
    const client = await this.connect();
    const res = await client.callTool({ name: tool, arguments: args }, undefined, {
      timeout: this.cfg.timeout_ms,
      signal,
    });
    const text =
      resultText(res.content) || (res.structuredContent ? JSON.stringify(res.structuredContent) : "");
    if (res.isError) throw new ToolInputError(text || "the tool failed");
    return { text, shown: "done" };
  }

  get timeoutMs(): number {
    return this.cfg.timeout_ms;
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.close().catch(() => undefined);
  }
}

/** The admin's MCP servers (`ai.mcp_servers`), their tools offered in the rooms each allows. */
export class McpTools {
  private readonly links: Array<{ link: McpServerLink; rooms: string[] }>;

  constructor(
    servers: Record<string, AiMcpServerConfig>,
    /** The room id of an alias (undefined when it resolves to none). */
    private readonly resolveAlias: (alias: string) => Promise<string | undefined>,
  ) {
    this.links = Object.entries(servers).map(([name, cfg]) => ({
      link: new McpServerLink(name, cfg),
      rooms: cfg.rooms,
    }));
  }

  get size(): number {
    return this.links.length;
  }

  private async allows(rooms: string[], roomId: string): Promise<boolean> {
    for (const r of rooms) {
      if (r === "*" || r === roomId) return true;
      if (r.startsWith("#") && (await this.resolveAlias(r).catch(() => undefined)) === roomId) return true;
    }
    return false;
  }

  /** The tools of every server that allows `roomId` and answers now; one that does not is left out. */
  async forRoom(roomId: string): Promise<AiTool[]> {
    const out: AiTool[] = [];
    await Promise.all(
      this.links.map(async ({ link, rooms }) => {
        if (!(await this.allows(rooms, roomId))) return;
        const listed = await link.list().catch((err: unknown) => {
          log.warn("MCP server's tools not offered", { server: link.name, err: String(err) });
          return [] as Listed[];
        });
        for (const t of listed)
          out.push({
            name: mcpToolName(link.name, t.name),
            description: `${(t.description ?? t.name).slice(0, MAX_DESCRIPTION)} (from ${link.name})`,
            parameters:
              t.inputSchema && typeof t.inputSchema === "object"
                ? t.inputSchema
                : { type: "object", properties: {} },
            timeoutMs: link.timeoutMs,
            run: (args, ctx) => link.call(t.name, args, ctx.signal),
          });
      }),
    );
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.links.map(({ link }) => link.close()));
  }
}
