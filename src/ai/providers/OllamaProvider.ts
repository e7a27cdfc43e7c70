import { type ChatResponse, type Message, Ollama, type Tool } from "ollama";
import { Logger } from "../../log/Logger";
import { type Watch, watchIdle, withDeadline } from "./deadline";
import { abortedError, badResponse, brokenStream, httpError, isBrokenStream, networkError } from "./errors";
import { retryDelayMs, sleep } from "./retry";
import { toolResultText } from "./toolText";
import type { ChatChunk, ChatProvider, ChatRequest, ProviderConfig, ToolCall } from "./types";
import { ProviderError } from "./types";

/** Ollama takes a call's arguments as an object: the model's JSON text parsed, `{}` when it is not an object. */
function parseArguments(text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** What the custom fetch saw of the last HTTP answer (the client keeps no headers on errors). */
interface Exchange {
  retryAfter?: string | null;
}

/**
 * An Ollama server's `/api/chat` (NDJSON streaming or one JSON answer) through the `ollama`
 * client. That client has no timeouts, retries or per-request signal, so this class adds them:
 * a fetch that carries the request's abort signal, a deadline for the first token and between
 * tokens, and `maxRetries` retries of retryable failures before any output.
 */
export class OllamaProvider implements ChatProvider {
  readonly kind = "ollama" as const;
  readonly name: string;
  readonly defaultModel: string;
  readonly tools: boolean;
  private readonly log: Logger;

  constructor(private readonly cfg: ProviderConfig) {
    this.name = cfg.name;
    this.defaultModel = cfg.model;
    this.tools = cfg.tools === true;
    this.log = new Logger("OllamaProvider", { provider: cfg.name });
  }

  async *stream(req: ChatRequest): AsyncGenerator<ChatChunk> {
    const model = req.model || this.defaultModel;
    for (let attempt = 0; ; attempt++) {
      const exchange: Exchange = {};
      let yielded = false;
      try {
        for await (const chunk of this.attempt(req, model, exchange)) {
          yielded = true;
          yield chunk;
        }
        return;
      } catch (err) {
        if (!(err instanceof ProviderError)) throw badResponse(this.name, String(err), err);
        if (yielded || !err.retryable || attempt >= this.cfg.maxRetries || req.signal?.aborted) throw err;
        const wait = retryDelayMs(attempt, exchange.retryAfter);
        this.log.info("retrying", {
          model,
          attempt: attempt + 1,
          of: this.cfg.maxRetries,
          waitMs: Math.round(wait),
          why: err.message,
        });
        await sleep(wait, req.signal).catch((e: unknown) => {
          throw abortedError(this.name, e);
        });
      }
    }
  }

  async listModels(signal?: AbortSignal): Promise<string[]> {
    const watch: Watch = {
      provider: this.name,
      timeoutMs: this.cfg.timeoutMs,
      controller: new AbortController(),
      signal,
    };
    try {
      const res = await withDeadline(this.client(watch, {}).list(), watch, true);
      return res.models.map((m) => m.name);
    } catch (err) {
      throw this.explain(err, "", watch);
    }
  }

  /** A client whose every request carries the watch's abort signal and reports Retry-After. */
  private client(watch: Watch, exchange: Exchange): Ollama {
    return new Ollama({
      host: this.cfg.baseUrl,
      headers: this.cfg.apiKey ? { Authorization: `Bearer ${this.cfg.apiKey}` } : undefined,
      fetch: async (input, init) => {
        const signal = init?.signal
          ? AbortSignal.any([init.signal, watch.controller.signal])
          : watch.controller.signal;
        const res = await fetch(input, { ...init, signal });
        exchange.retryAfter = res.headers.get("retry-after");
        return res;
      },
    });
  }

  private async *attempt(req: ChatRequest, model: string, exchange: Exchange): AsyncGenerator<ChatChunk> {
    const watch: Watch = {
      provider: this.name,
      timeoutMs: this.cfg.timeoutMs,
      controller: new AbortController(),
      signal: req.signal,
    };
    const client = this.client(watch, exchange);
    const options = {
      ...(req.maxTokens !== undefined ? { num_predict: req.maxTokens } : {}),
      ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
    };
    const tools = this.cfg.tools === true;
    // Fresh arrays: the client replaces `images` in place with their base64 text.
    const messages: Message[] = req.messages.map((m) => {
      if (this.cfg.vision && m.role === "user" && m.images?.length)
        return { role: m.role, content: m.content, images: m.images.map((i) => new Uint8Array(i.data)) };
      if (m.role === "tool")
        return tools
          ? { role: "tool", content: m.content, tool_name: m.toolName }
          : { role: "user", content: toolResultText(m) };
      if (m.role === "assistant" && tools && m.toolCalls?.length)
        return {
          role: "assistant",
          content: m.content,
          tool_calls: m.toolCalls.map((c) => ({
            function: { name: c.name, arguments: parseArguments(c.arguments) },
          })),
        };
      return { role: m.role, content: m.content };
    });
    const offered: Tool[] | undefined =
      tools && req.tools?.length
        ? req.tools.map((t) => ({
            type: "function",
            function: {
              name: t.name,
              description: t.description,
              parameters: t.parameters as Tool["function"]["parameters"],
            },
          }))
        : undefined;
    const asked: ToolCall[] = [];
    let callNo = 0;
    const callsOf = (msg: Message | undefined): ToolCall[] =>
      (msg?.tool_calls ?? []).flatMap((c) =>
        typeof c?.function?.name === "string" && c.function.name
          ? [
              {
                id: `call_${callNo++}`,
                name: c.function.name,
                arguments: JSON.stringify(c.function.arguments ?? {}),
              },
            ]
          : [],
      );
    try {
      if (!this.cfg.stream) {
        const res = await withDeadline(
          client.chat({ model, messages, options, tools: offered, stream: false }),
          watch,
          true,
        );
        if (!res?.message) throw badResponse(this.name, "no message in the answer");
        if (res.message.content) yield { type: "delta", text: res.message.content };
        asked.push(...callsOf(res.message));
        if (asked.length) yield { type: "tool_calls", calls: asked };
        yield this.done(res, model);
        return;
      }
      const parts = await withDeadline(
        client.chat({ model, messages, options, tools: offered, stream: true }),
        watch,
        true,
      );
      for await (const part of watchIdle(parts, watch)) {
        if (part.message?.content) yield { type: "delta", text: part.message.content };
        // Ollama sends a call whole, in the message of one line.
        for (const c of callsOf(part.message)) asked.push(c);
        if (part.done) {
          if (asked.length) yield { type: "tool_calls", calls: asked };
          yield this.done(part, model);
          return;
        }
      }
      throw badResponse(this.name, "the stream ended without done");
    } catch (err) {
      throw this.explain(err, model, watch);
    }
  }

  private done(res: ChatResponse, model: string): ChatChunk {
    const counted = typeof res.prompt_eval_count === "number" || typeof res.eval_count === "number";
    return {
      type: "done",
      usage: counted
        ? { promptTokens: res.prompt_eval_count ?? 0, completionTokens: res.eval_count ?? 0 }
        : undefined,
      finishReason: res.done_reason || undefined,
      provider: this.name,
      model: res.model || model,
    };
  }

  private explain(err: unknown, model: string, watch: Watch): ProviderError {
    if (err instanceof ProviderError) return err;
    if (watch.signal?.aborted) return abortedError(this.name, err);
    const reason: unknown = watch.controller.signal.reason;
    if (watch.controller.signal.aborted && reason instanceof ProviderError) return reason;
    const e = err as { name?: unknown; status_code?: unknown; error?: unknown; message?: unknown };
    if (e?.name === "ResponseError" && typeof e.status_code === "number") {
      return httpError(
        this.name,
        e.status_code,
        typeof e.error === "string" ? e.error : undefined,
        model,
        err,
      );
    }
    if (err instanceof TypeError && /fetch failed/i.test(err.message)) {
      return networkError(this.name, this.cfg.baseUrl, err);
    }
    if (isBrokenStream(err)) return brokenStream(this.name, err);
    if (err instanceof Error && /Did not receive done/i.test(err.message)) {
      return badResponse(this.name, "the stream ended without done", err);
    }
    if (err instanceof Error) {
      // An {"error": …} line in the stream: the server failed mid-answer.
      return new ProviderError(
        `${this.name}: the server failed while answering`,
        this.name,
        undefined,
        false,
        {
          cause: err,
          code: "server",
        },
      );
    }
    return badResponse(this.name, String(err), err);
  }
}
