import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";
import { isUpload, parseMultipart } from "../telegram/wire";
import type { StandinChat, StandinToolCall } from "./backend";
import {
  type ChatWriter,
  decodeBase64,
  LlmStandin,
  type RecordedRequest,
  type Refusal,
  type StandinOptions,
} from "./LlmStandin";

const IMAGE_MIMES = ["image/png", "image/jpeg", "image/gif", "image/webp"];
const PART_TYPES = "'text', 'image_url', 'input_audio', 'refusal', 'audio', and 'file'";

/** One message's `content`: a string, or content parts (text and, in user turns, images as data URLs). */
function readContent(
  content: unknown,
  role: string,
  at: string,
): { content: string; images?: Buffer[] } | string | Refusal {
  if (content === undefined || content === null || typeof content === "string")
    return { content: content ?? "" };
  if (!Array.isArray(content)) return `${at}.content: expected a string or an array of content parts`;
  const texts: string[] = [];
  const images: Buffer[] = [];
  for (const [j, part] of (content as Array<Record<string, unknown>>).entries()) {
    const where = `${at}.content[${j}]`;
    if (part?.type === "text") {
      if (typeof part.text !== "string")
        return {
          refused: `Missing required parameter: '${where}.text'.`,
          param: `${where}.text`,
          code: "missing_required_parameter",
        };
      texts.push(part.text);
      continue;
    }
    if (part?.type !== "image_url")
      return {
        refused: `Invalid value: '${String(part?.type)}'. Supported values are: ${PART_TYPES}.`,
        param: `${where}.type`,
        code: "invalid_value",
      };
    if (role !== "user")
      return {
        refused: `Invalid 'messages': image_url content parts are only allowed for messages with role 'user', but found in a message with role '${role}'.`,
        param: `${where}.type`,
        code: "invalid_value",
      };
    const url = (part.image_url as { url?: unknown } | undefined)?.url;
    const param = `${where}.image_url.url`;
    const bad = (got: string): Refusal => ({
      refused: `Invalid image URL: '${param}'. Expected a base64-encoded data URL with an image MIME type (e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got ${got}.`,
      param,
      code: "invalid_value",
    });
    if (typeof url !== "string")
      return {
        refused: `Missing required parameter: '${param}'.`,
        param,
        code: "missing_required_parameter",
      };
    // The stand-in never fetches: a remote URL is refused like a malformed one.
    if (!url.startsWith("data:")) return bad("a value without the 'data:' prefix");
    const m = /^data:([^;,]*)((?:;[^;,]*)*),(.*)$/s.exec(url);
    if (!m || !/;base64$/.test(m[2]!)) return bad("an invalid base64-encoded value");
    if (!IMAGE_MIMES.includes(m[1]!.toLowerCase())) return bad(`unsupported MIME type '${m[1]}'`);
    if (m[3] === "") return bad("empty base64-encoded bytes");
    const data = decodeBase64(m[3]!);
    if (!Buffer.isBuffer(data)) return bad("an invalid base64-encoded value");
    images.push(data);
  }
  return images.length > 0 ? { content: texts.join("\n"), images } : { content: texts.join("\n") };
}

const FUNCTION_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

function unanswered(open: string[], i: number): Refusal {
  return {
    refused: `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${open.join(", ")}`,
    param: `messages.[${i}].role`,
  };
}

/** `tools`: function definitions with a valid name; undefined when absent. */
function readTools(tools: unknown): StandinChat["tools"] | Refusal | undefined {
  if (tools === undefined || tools === null) return undefined;
  if (!Array.isArray(tools) || tools.length === 0)
    return {
      refused: "Invalid 'tools': empty array. Expected an array with minimum length 1.",
      param: "tools",
    };
  const out: NonNullable<StandinChat["tools"]> = [];
  for (const [i, t] of (tools as Array<Record<string, unknown>>).entries()) {
    const fn = t?.function as { name?: unknown; description?: unknown; parameters?: unknown } | undefined;
    if (t?.type !== "function" || !fn)
      return {
        refused: `Missing required parameter: 'tools[${i}].function'.`,
        param: `tools[${i}].function`,
      };
    if (typeof fn.name !== "string" || !FUNCTION_NAME.test(fn.name))
      return {
        refused: `Invalid 'tools[${i}].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.`,
        param: `tools[${i}].function.name`,
        code: "invalid_value",
      };
    if (fn.parameters !== undefined && (typeof fn.parameters !== "object" || fn.parameters === null))
      return {
        refused: `Invalid type for 'tools[${i}].function.parameters': expected an object.`,
        param: `tools[${i}].function.parameters`,
      };
    out.push({
      name: fn.name,
      description: typeof fn.description === "string" ? fn.description : undefined,
      parameters: fn.parameters,
    });
  }
  return out;
}

/** An assistant turn's `tool_calls`: id, type function, name and arguments as a string. */
function readToolCalls(calls: unknown, i: number): StandinToolCall[] | Refusal | undefined {
  if (calls === undefined || calls === null) return undefined;
  if (!Array.isArray(calls))
    return { refused: `Invalid type for 'messages[${i}].tool_calls': expected an array.` };
  const out: StandinToolCall[] = [];
  for (const [j, c] of (calls as Array<Record<string, unknown>>).entries()) {
    const at = `messages[${i}].tool_calls[${j}]`;
    const fn = c?.function as { name?: unknown; arguments?: unknown } | undefined;
    if (typeof c?.id !== "string")
      return { refused: `Missing required parameter: '${at}.id'.`, param: `${at}.id` };
    if (c.type !== "function")
      return { refused: `Missing required parameter: '${at}.type'.`, param: `${at}.type` };
    if (typeof fn?.name !== "string")
      return { refused: `Missing required parameter: '${at}.function.name'.` };
    if (typeof fn.arguments !== "string")
      return {
        refused: `Invalid type for '${at}.function.arguments': expected a string.`,
        param: `${at}.function.arguments`,
      };
    out.push({ id: c.id, name: fn.name, arguments: fn.arguments });
  }
  return out;
}

const ERROR_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "invalid_request_error",
  404: "invalid_request_error",
  429: "rate_limit_error",
};

/**
 * OpenAI's chat completions wire format on 127.0.0.1: `POST /v1/chat/completions` (SSE
 * `data: {chunk}` lines, a usage chunk when `stream_options.include_usage`, `data: [DONE]`; or
 * one JSON completion) and `GET /v1/models`. Point the `openai` client's `baseURL` at `baseUrl`.
 */
export class OpenAIStandin extends LlmStandin {
  protected readonly label = "openai";
  protected override readonly toolFinish = "tool_calls";

  private constructor(opts: StandinOptions) {
    super(opts);
  }

  static async start(opts: StandinOptions = {}): Promise<OpenAIStandin> {
    const s = new OpenAIStandin(opts);
    await s.listen();
    return s;
  }

  /** The `/v1` root, as the openai client's `baseURL`. */
  get baseUrl(): string {
    return `${this.url}/v1`;
  }

  protected isChat(r: RecordedRequest): boolean {
    return r.method === "POST" && r.path === "/v1/chat/completions";
  }

  /** Audio the transcription endpoint received, in order. */
  readonly transcriptions: Array<{ model: string; name: string; data: Buffer }> = [];
  /** The next this many transcription requests get a 500. */
  failTranscriptions = 0;
  /** What the transcription endpoint answers for an upload. */
  transcribe: (data: Buffer, name: string) => string = (data, name) =>
    `transcript of ${name} (${data.length} bytes)`;

  protected route(r: RecordedRequest, res: ServerResponse): boolean {
    if (r.method === "POST" && r.path === "/v1/audio/transcriptions") {
      // multipart/form-data with `file` and `model`, as OpenAI takes it.
      const boundary = /boundary="?([^";]+)"?/i.exec(String(r.headers["content-type"] ?? ""))?.[1];
      const form = boundary ? parseMultipart(r.bytes, boundary) : {};
      const file = form.file;
      if (!isUpload(file) || file.data.length === 0) {
        this.json(res, r, 400, this.errorBody(400, "you must provide a file", undefined, "file"));
        return true;
      }
      if (typeof form.model !== "string" || !form.model) {
        this.json(res, r, 400, this.errorBody(400, "you must provide a model parameter", undefined, "model"));
        return true;
      }
      if (this.failTranscriptions > 0) {
        this.failTranscriptions--;
        this.json(res, r, 500, this.errorBody(500, "The server had an error while processing your request."));
        return true;
      }
      this.transcriptions.push({ model: form.model, name: file.name, data: file.data });
      this.json(res, r, 200, { text: this.transcribe(file.data, file.name) });
      return true;
    }
    if (r.method === "GET" && r.path === "/v1/models") {
      const ids = this.opts.models ?? ["standin-model"];
      const data = ids.map((id) => ({ id, object: "model", created: 1_700_000_000, owned_by: "standin" }));
      this.json(res, r, 200, { object: "list", data });
      return true;
    }
    return false;
  }

  protected parseChat(body: unknown): Omit<StandinChat, "signal"> | string | Refusal {
    const b = body as Record<string, unknown> | undefined;
    if (!b || typeof b.model !== "string") return "you must provide a model parameter";
    if (!Array.isArray(b.messages) || b.messages.length === 0) return "messages must be a non-empty array";
    const messages: StandinChat["messages"] = [];
    /** Calls of the latest assistant turn still waiting for their tool message. */
    let open: string[] = [];
    for (const [i, m] of (b.messages as Array<Record<string, unknown>>).entries()) {
      if (typeof m?.role !== "string") return "each message needs a role";
      if (m.role !== "tool" && open.length) return unanswered(open, i);
      if (m.role === "tool") {
        if (typeof m.tool_call_id !== "string")
          return {
            refused: `Missing required parameter: 'messages[${i}].tool_call_id'.`,
            param: `messages[${i}].tool_call_id`,
            code: "missing_required_parameter",
          };
        if (!open.includes(m.tool_call_id))
          return {
            refused:
              "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
            param: `messages.[${i}].role`,
          };
        open = open.filter((id) => id !== m.tool_call_id);
        if (typeof m.content !== "string") return `messages[${i}].content: expected a string`;
        messages.push({ role: "tool", content: m.content, toolCallId: m.tool_call_id });
        continue;
      }
      const read = readContent(m.content, m.role, `messages[${i}]`);
      if (typeof read === "string" || "refused" in read) return read;
      const calls = m.role === "assistant" ? readToolCalls(m.tool_calls, i) : undefined;
      if (calls && "refused" in calls) return calls;
      if (calls?.length) open = calls.map((c) => c.id!);
      const msg: StandinChat["messages"][number] = { role: m.role, ...read };
      if (typeof m.name === "string") msg.name = m.name;
      if (calls?.length) msg.toolCalls = calls;
      messages.push(msg);
    }
    if (open.length) return unanswered(open, messages.length);
    const tools = readTools(b.tools);
    if (tools && "refused" in tools) return tools;
    const max = b.max_completion_tokens ?? b.max_tokens;
    return {
      model: b.model,
      messages,
      stream: b.stream === true,
      maxTokens: typeof max === "number" ? max : undefined,
      temperature: typeof b.temperature === "number" ? b.temperature : undefined,
      includeUsage: (b.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true,
      ...(tools ? { tools } : {}),
    };
  }

  protected errorBody(status: number, message: string, code?: string, param?: string): unknown {
    return {
      error: {
        message,
        type: ERROR_TYPES[status] ?? "server_error",
        param: param ?? null,
        code: code ?? null,
      },
    };
  }

  protected writer(chat: Omit<StandinChat, "signal">): ChatWriter {
    const id = `chatcmpl-${randomBytes(8).toString("hex")}`;
    const created = Math.floor(Date.now() / 1000);
    const includeUsage = chat.includeUsage === true;
    const base = {
      id,
      object: "chat.completion.chunk",
      created,
      model: chat.model,
      system_fingerprint: null,
    };
    const send = (res: ServerResponse, obj: unknown): void => {
      if (!res.destroyed) res.write(`data: ${JSON.stringify(obj)}\n\n`);
    };
    let first = true;
    return {
      start: (res) => {
        res.writeHead(200, {
          "content-type": "text/event-stream",
          "cache-control": "no-cache",
          connection: "keep-alive",
        });
        res.flushHeaders();
      },
      chunk: (res, text) => {
        const delta = first ? { role: "assistant", content: text } : { content: text };
        first = false;
        send(res, { ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: null }] });
      },
      end: (res, info) => {
        for (const [index, c] of info.toolCalls.entries()) {
          // As OpenAI streams a call: id and name first, then the arguments in pieces.
          const half = Math.ceil(c.arguments.length / 2);
          const pieces = [
            { index, id: c.id, type: "function", function: { name: c.name, arguments: "" } },
            { index, function: { arguments: c.arguments.slice(0, half) } },
            { index, function: { arguments: c.arguments.slice(half) } },
          ];
          for (const piece of pieces) {
            const delta = first
              ? { role: "assistant", content: null, tool_calls: [piece] }
              : { tool_calls: [piece] };
            first = false;
            send(res, { ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: null }] });
          }
        }
        send(res, {
          ...base,
          choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: info.finishReason }],
        });
        if (includeUsage) send(res, { ...base, choices: [], usage: usageOf(info) });
        if (!res.destroyed) res.end("data: [DONE]\n\n");
      },
      whole: (res, text, info) => {
        if (!res.headersSent) res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            id,
            object: "chat.completion",
            created,
            model: chat.model,
            choices: [
              {
                index: 0,
                message: {
                  role: "assistant",
                  content: text || (info.toolCalls.length ? null : ""),
                  refusal: null,
                  ...(info.toolCalls.length
                    ? {
                        tool_calls: info.toolCalls.map((c) => ({
                          id: c.id,
                          type: "function",
                          function: { name: c.name, arguments: c.arguments },
                        })),
                      }
                    : {}),
                },
                logprobs: null,
                finish_reason: info.finishReason,
              },
            ],
            usage: usageOf(info),
          }),
        );
      },
    };
  }
}

function usageOf(info: { promptTokens: number; completionTokens: number }): Record<string, number> {
  return {
    prompt_tokens: info.promptTokens,
    completion_tokens: info.completionTokens,
    total_tokens: info.promptTokens + info.completionTokens,
  };
}
