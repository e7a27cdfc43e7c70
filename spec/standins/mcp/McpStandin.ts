import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";

/** One tool the stand-in serves: string arguments, a text answer (or an error, or a wait). */
export interface StandinTool {
  description: string;
  /** Names of its string arguments (all required). */
  args: string[];
  answer(args: Record<string, string>): string | Promise<string>;
  /** Answered as a tool error (`isError: true`) instead of a result. */
  fails?: boolean;
}

export interface McpCall {
  tool: string;
  args: Record<string, string>;
  headers: IncomingMessage["headers"];
}

/** A real MCP server (the SDK's McpServer) with the given tools, on a transport of the caller's choice. */
export function mcpServer(
  tools: Record<string, StandinTool>,
  onCall?: (tool: string, args: Record<string, string>) => void,
): McpServer {
  const server = new McpServer({ name: "standin-mcp", version: "1.0.0" });
  for (const [name, t] of Object.entries(tools)) {
    const shape = Object.fromEntries(t.args.map((a) => [a, z.string().describe(`the ${a}`)]));
    server.registerTool(
      name,
      { description: t.description, inputSchema: shape },
      async (args: Record<string, string>) => {
        onCall?.(name, args);
        const text = await t.answer(args);
        return { content: [{ type: "text" as const, text }], ...(t.fails ? { isError: true } : {}) };
      },
    );
  }
  return server;
}

/**
 * An MCP server over Streamable HTTP on 127.0.0.1 (stateless: a fresh server per request, as
 * the SDK's stateless example does), recording every tool call and the headers it came with.
 * A request without the expected `Authorization` (when `token` is set) gets 401.
 */
export class McpHttpStandin {
  readonly calls: McpCall[] = [];
  url = "";
  private server?: Server;

  private constructor(
    private readonly tools: Record<string, StandinTool>,
    private readonly token?: string,
  ) {}

  static async start(
    tools: Record<string, StandinTool>,
    opts: { token?: string } = {},
  ): Promise<McpHttpStandin> {
    const s = new McpHttpStandin(tools, opts.token);
    s.server = createServer((req, res) => {
      if (s.token && req.headers.authorization !== `Bearer ${s.token}`) {
        res.writeHead(401, { "content-type": "application/json" }).end('{"error":"unauthorized"}');
        return;
      }
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const raw = Buffer.concat(chunks).toString();
        let body: unknown;
        try {
          body = raw ? JSON.parse(raw) : undefined;
        } catch {
          res.writeHead(400).end();
          return;
        }
        const server = mcpServer(s.tools, (tool, args) => s.calls.push({ tool, args, headers: req.headers }));
        const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
        res.on("close", () => {
          void transport.close();
          void server.close();
        });
        void server
          .connect(transport)
          .then(() => transport.handleRequest(req, res, body))
          .catch(() => {
            if (!res.headersSent) res.writeHead(500).end();
          });
      });
    });
    await new Promise<void>((resolve) => s.server!.listen(0, "127.0.0.1", resolve));
    s.url = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}/mcp`;
    return s;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

/** Serves `tools` over this process's stdio (for a child process started by the bridge's stdio transport). */
export async function serveStdio(tools: Record<string, StandinTool>): Promise<void> {
  await mcpServer(tools).connect(new StdioServerTransport());
}
