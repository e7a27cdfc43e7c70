import type { ServerResponse } from "node:http";
import type { StandinChat } from "./backend";
import {
  type ChatWriter,
  decodeBase64,
  LlmStandin,
  type RecordedRequest,
  type Refusal,
  type StandinOptions,
} from "./LlmStandin";

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
    return {
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
    const final = (
      content: string,
      info: { promptTokens: number; completionTokens: number; finishReason: string },
    ) => {
      const total = Number(process.hrtime.bigint() - started);
      return {
        model: chat.model,
        created_at: stamp(),
        message: { role: "assistant", content },
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
        line(res, final("", info));
        res.end();
      },
      whole: (res, text, info) => {
        if (!res.headersSent) res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(final(text, info)));
      },
    };
  }
}
