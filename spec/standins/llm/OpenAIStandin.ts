import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";
import { isUpload, parseMultipart } from "../telegram/wire";
import type { StandinChat } from "./backend";
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
    for (const [i, m] of (b.messages as Array<Record<string, unknown>>).entries()) {
      if (typeof m?.role !== "string") return "each message needs a role";
      const read = readContent(m.content, m.role, `messages[${i}]`);
      if (typeof read === "string" || "refused" in read) return read;
      messages.push(
        typeof m.name === "string" ? { role: m.role, ...read, name: m.name } : { role: m.role, ...read },
      );
    }
    const max = b.max_completion_tokens ?? b.max_tokens;
    return {
      model: b.model,
      messages,
      stream: b.stream === true,
      maxTokens: typeof max === "number" ? max : undefined,
      temperature: typeof b.temperature === "number" ? b.temperature : undefined,
      includeUsage: (b.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true,
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
                message: { role: "assistant", content: text, refusal: null },
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
