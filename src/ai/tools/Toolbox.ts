import type { AiConfig } from "../../config/types";
import { Logger } from "../../log/Logger";
import type { ToolCall } from "../providers/types";
import type { Redactor } from "../redact";
import type { McpTools } from "./mcp";
import { type AiTool, type ToolContext, ToolInputError } from "./types";

const log = new Logger("Toolbox");

/** One call done: what the model gets back and the line shown in the room. */
export interface ToolResult {
  call: ToolCall;
  /** Text for the model (a tool turn): data, never instructions to the bridge. */
  output: string;
  ok: boolean;
  /** `search_room (query: "deploy") → 2 found`. */
  shown: string;
}

/** Arguments as written by the model: a JSON object, or refused. */
export function parseArgs(text: string): Record<string, unknown> {
  if (!text.trim()) return {};
  if (text.length > 64_000) throw new ToolInputError("the arguments are too long");
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ToolInputError("the arguments are not valid JSON; give a JSON object");
  }
  if (!v || typeof v !== "object" || Array.isArray(v))
    throw new ToolInputError("the arguments must be a JSON object");
  return v as Record<string, unknown>;
}

/** `name (a: "x", b: 2)`: a call as the room sees it, short and on one line. */
export function showCall(name: string, args: Record<string, unknown>): string {
  const parts = Object.entries(args)
    .slice(0, 4)
    .map(([k, v]) => {
      const s =
        typeof v === "string" ? JSON.stringify(v.length > 40 ? `${v.slice(0, 39)}…` : v) : JSON.stringify(v);
      return `${k.slice(0, 24)}: ${(s ?? "null").slice(0, 48)}`;
    });
  return parts.length ? `${name} (${parts.join(", ")})` : name;
}

/** Cut to `max` characters, said so. */
function bounded(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}\n[… cut: ${text.length - max} more characters]`;
}

/**
 * The AI's tools in one place: the built-in ones and the admin's MCP servers, offered per room,
 * each call bounded in time and output, failures given back to the model as text.
 */
export class Toolbox {
  constructor(
    private readonly cfg: AiConfig["tools"],
    private readonly builtin: AiTool[],
    private readonly mcp: McpTools | undefined,
    private readonly redact: Redactor,
  ) {}

  /** The tools offered in `roomId`. */
  async forRoom(roomId: string): Promise<AiTool[]> {
    if (!this.cfg.enabled) return [];
    const fromMcp = this.mcp ? await this.mcp.forRoom(roomId) : [];
    const names = new Set(this.builtin.map((t) => t.name));
    return [...this.builtin, ...fromMcp.filter((t) => !names.has(t.name))];
  }

  /** Runs the calls one after another (they may depend on order); never throws. */
  async run(
    tools: AiTool[],
    calls: ToolCall[],
    ctx: Omit<ToolContext, "signal">,
    signal: AbortSignal,
  ): Promise<ToolResult[]> {
    const results: ToolResult[] = [];
    for (const call of calls) {
      const tool = tools.find((t) => t.name === call.name);
      let args: Record<string, unknown> = {};
      let shownName = call.name.slice(0, 64);
      try {
        if (!tool)
          throw new ToolInputError(
            `there is no tool named ${JSON.stringify(shownName)}; use one of: ${tools.map((t) => t.name).join(", ")}`,
          );
        args = parseArgs(call.arguments);
        shownName = showCall(tool.name, args);
        const limitMs = tool.timeoutMs ?? this.cfg.timeout_ms;
        const timeout = AbortSignal.timeout(limitMs);
        const callSignal = AbortSignal.any([signal, timeout]);
        // Listening before the tool runs: a tool that gives in to the abort does not win the race.
        const givenUp = new Promise<never>((_, reject) =>
          callSignal.addEventListener(
            "abort",
            () => reject(new Error(timeout.aborted ? `no answer within ${limitMs} ms` : "cancelled")),
            { once: true },
          ),
        );
        givenUp.catch(() => undefined);
        const out = await Promise.race([givenUp, tool.run(args, { ...ctx, signal: callSignal })]);
        results.push({
          call,
          ok: true,
          output: bounded(this.redact(out.text), this.cfg.max_output_chars),
          shown: `${shownName} → ${out.shown}`,
        });
      } catch (err) {
        if (signal.aborted) throw err;
        const why =
          err instanceof ToolInputError
            ? err.message
            : `the tool failed: ${err instanceof Error ? err.message : String(err)}`;
        if (!(err instanceof ToolInputError))
          log.warn("tool call failed", { tool: call.name.slice(0, 64), room: ctx.roomId, err: String(err) });
        results.push({
          call,
          ok: false,
          output: `error: ${bounded(this.redact(why), 1000)}`,
          shown: `${shownName} → failed`,
        });
      }
    }
    return results;
  }

  async close(): Promise<void> {
    await this.mcp?.close();
  }
}
