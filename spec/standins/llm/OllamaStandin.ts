import type { ServerResponse } from "node:http";
import type { StandinChat, StandinToolCall } from "./backend";
import {
  type AnswerInfo,
  type ChatWriter,
  decodeBase64,
  LlmStandin,
  type RecordedRequest,
  type Refusal,
  type StandinOptions,
} from "./LlmStandin";

/** `tools` as Go binds `[]api.Tool`: `{type, function: {name, description, parameters}}`. */
function readOllamaTools(tools: unknown): StandinChat["tools"] | Refusal | undefined {
  if (tools === undefined || tools === null) return undefined;
  if (!Array.isArray(tools))
    return {
      refused: `json: cannot unmarshal ${typeof tools} into Go struct field ChatRequest.tools of type api.Tools`,
    };
  const out: NonNullable<StandinChat["tools"]> = [];
  for (const t of tools as Array<Record<string, unknown>>) {
    const fn = t?.function as { name?: unknown; description?: unknown; parameters?: unknown } | undefined;
    if (!fn || typeof fn !== "object")
      return {
        refused: "json: cannot unmarshal into Go struct field Tool.tools.function of type api.ToolFunction",
      };
    if (typeof fn.name !== "string")
      return {
        refused: `json: cannot unmarshal ${typeof fn.name} into Go struct field ToolFunction.tools.function.name of type string`,
      };
    out.push({
      name: fn.name,
      description: typeof fn.description === "string" ? fn.description : undefined,
      parameters: fn.parameters,
    });
  }
  return out;
}

/** An assistant turn's `tool_calls`: arguments must be a JSON object (Go's map), not a string. */
function readOllamaCalls(calls: unknown): StandinToolCall[] | Refusal {
  if (!Array.isArray(calls))
    return {
      refused: `json: cannot unmarshal ${typeof calls} into Go struct field Message.messages.tool_calls of type []api.ToolCall`,
    };
  const out: StandinToolCall[] = [];
  for (const c of calls as Array<Record<string, unknown>>) {
    const fn = c?.function as { name?: unknown; arguments?: unknown } | undefined;
    if (typeof fn?.name !== "string")
      return {
        refused:
          "json: cannot unmarshal into Go struct field ToolCall.messages.tool_calls.function of type api.ToolCallFunction",
      };
    if (fn.arguments === null || typeof fn.arguments !== "object" || Array.isArray(fn.arguments))
      return {
        refused: `json: cannot unmarshal ${Array.isArray(fn.arguments) ? "array" : typeof fn.arguments} into Go struct field ToolCallFunction.messages.tool_calls.function.arguments of type api.ToolCallFunctionArguments`,
      };
    out.push({ name: fn.name, arguments: JSON.stringify(fn.arguments) });
  }
  return out;
}

/**
 * Ollama's wire format on 127.0.0.1: `POST /api/chat` (NDJSON lines, the last with `done: true`,
 * `done_reason` and `prompt_eval_count`/`eval_count`; or one JSON answer with `stream: false`),
 * `GET /api/tags`, `GET /api/version`. Point the `ollama` client's `host` at `url`.
 */
export class OllamaStandin extends LlmStandin {
  protected readonly label = "ollama";

  private constructor(opts: StandinOptions) {
    super(opts);
  }

  static async start(opts: StandinOptions = {}): Promise<OllamaStandin> {
    const s = new OllamaStandin(opts);
    await s.listen();
    return s;
  }

  protected isChat(r: RecordedRequest): boolean {
    return r.method === "POST" && r.path === "/api/chat";
  }

  protected route(r: RecordedRequest, res: ServerResponse): boolean {
    if (r.method === "GET" && r.path === "/api/tags") {
      const names = this.opts.models ?? ["standin-model:latest"];
      const models = names.map((name) => ({
        name,
        model: name,
        modified_at: new Date(0).toISOString(),
        size: 0,
        digest: "0".repeat(64),
        details: { format: "gguf", family: "standin", parameter_size: "0", quantization_level: "Q4" },
      }));
      this.json(res, r, 200, { models });
      return true;
    }
    if (r.method === "GET" && r.path === "/api/version") {
      this.json(res, r, 200, { version: "0.0.0-standin" });
      return true;
    }
    return false;
  }

  protected parseChat(body: unknown): Omit<StandinChat, "signal"> | string | Refusal {
    const b = body as Record<string, unknown> | undefined;
    if (!b || typeof b.model !== "string" || b.model === "") return "model is required";
    if (!Array.isArray(b.messages)) return "messages must be an array";
    const messages: StandinChat["messages"] = [];
    for (const m of b.messages as Array<Record<string, unknown>>) {
      if (typeof m?.role !== "string") return "each message needs a role";
      const content = typeof m.content === "string" ? m.content : "";
      if (m.tool_calls !== undefined && m.tool_calls !== null) {
        const calls = readOllamaCalls(m.tool_calls);
        if (!Array.isArray(calls)) return calls;
        messages.push({ role: m.role, content, toolCalls: calls });
        continue;
      }
      if (m.role === "tool") {
        messages.push({
          role: "tool",
          content,
          ...(typeof m.tool_name === "string" ? { toolName: m.tool_name } : {}),
        });
        continue;
      }
      if (m.images === undefined || m.images === null) {
        messages.push({ role: m.role, content });
        continue;
      }
      // Go decodes `images` ([]ImageData, []byte each) as standard base64 while binding the JSON.
      if (!Array.isArray(m.images))
        return {
          refused: `json: cannot unmarshal ${typeof m.images} into Go struct field Message.messages.images of type []api.ImageData`,
        };
      const images: Buffer[] = [];
      for (const img of m.images as unknown[]) {
        if (typeof img !== "string")
          return {
            refused: `json: cannot unmarshal ${typeof img} into Go struct field Message.messages.images of type api.ImageData`,
          };
        const data = decodeBase64(img);
        if (!Buffer.isBuffer(data)) return { refused: `illegal base64 data at input byte ${data.badAt}` };
        images.push(data);
      }
      messages.push(images.length > 0 ? { role: m.role, content, images } : { role: m.role, content });
    }
    const options = (b.options ?? {}) as Record<string, unknown>;
    const tools = readOllamaTools(b.tools);
    if (tools && "refused" in tools) return tools;
    return {
      ...(tools ? { tools } : {}),
      model: b.model,
      messages,
      // Ollama streams unless told not to.
      stream: b.stream !== false,
      maxTokens: typeof options.num_predict === "number" ? options.num_predict : undefined,
      temperature: typeof options.temperature === "number" ? options.temperature : undefined,
    };
  }

  protected errorBody(_status: number, message: string): unknown {
    return { error: message };
  }

  protected writer(chat: Omit<StandinChat, "signal">): ChatWriter {
    const started = process.hrtime.bigint();
    const line = (res: ServerResponse, obj: unknown): void => {
      if (!res.destroyed) res.write(`${JSON.stringify(obj)}\n`);
    };
    const stamp = (): string => new Date().toISOString();
    const calls = (info: AnswerInfo) =>
      info.toolCalls.length
        ? {
            tool_calls: info.toolCalls.map((c) => ({
              function: { name: c.name, arguments: JSON.parse(c.arguments || "{}") as unknown },
            })),
          }
        : {};
    const final = (content: string, info: AnswerInfo, withCalls: boolean) => {
      const total = Number(process.hrtime.bigint() - started);
      return {
        model: chat.model,
        created_at: stamp(),
        message: { role: "assistant", content, ...(withCalls ? calls(info) : {}) },
        done_reason: info.finishReason,
        done: true,
        total_duration: total,
        load_duration: 0,
        prompt_eval_count: info.promptTokens,
        prompt_eval_duration: 0,
        eval_count: info.completionTokens,
        eval_duration: total,
      };
    };
    return {
      start: (res) => {
        res.writeHead(200, { "content-type": "application/x-ndjson" });
        res.flushHeaders();
      },
      chunk: (res, text) => {
        line(res, {
          model: chat.model,
          created_at: stamp(),
          message: { role: "assistant", content: text },
          done: false,
        });
      },
      end: (res, info) => {
        // Ollama streams a call whole, in a line of its own before the last one.
        if (info.toolCalls.length)
          line(res, {
            model: chat.model,
            created_at: stamp(),
            message: { role: "assistant", content: "", ...calls(info) },
            done: false,
          });
        line(res, final("", info, false));
        res.end();
      },
      whole: (res, text, info) => {
        if (!res.headersSent) res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(final(text, info, true)));
      },
    };
  }
}
