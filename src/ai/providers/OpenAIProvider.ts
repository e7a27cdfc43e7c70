import type OpenAI from "openai";
import type {
  ChatCompletion,
  ChatCompletionCreateParamsBase,
  ChatCompletionMessageParam,
  ChatCompletionUserMessageParam,
} from "openai/resources/chat/completions";
import { Logger } from "../../log/Logger";
import { openaiModule } from "../openaiModule";
import { type Watch, watchIdle, withDeadline } from "./deadline";
import {
  abortedError,
  badResponse,
  brokenStream,
  httpError,
  isBrokenStream,
  networkError,
  timeoutError,
} from "./errors";
import { toolResultText } from "./toolText";
import {
  type ChatChunk,
  type ChatMessage,
  type ChatProvider,
  type ChatRequest,
  type ChatUsage,
  type ProviderConfig,
  ProviderError,
} from "./types";

/** OpenAI's `name` field only takes these characters; compatible servers mostly ignore it. */
function wireName(name: string | undefined): string | undefined {
  if (!name) return undefined;
  const clean = name.replace(/[^A-Za-z0-9_-]+/g, "_").slice(0, 64);
  return /[A-Za-z0-9]/.test(clean) ? clean : undefined;
}

/** A user turn's content: the text, plus its images as data URLs when the model reads images. */
function userContent(m: ChatMessage, vision: boolean): ChatCompletionUserMessageParam["content"] {
  if (!vision || !m.images?.length) return m.content;
  return [
    { type: "text", text: m.content },
    ...m.images.map((img) => ({
      type: "image_url" as const,
      image_url: { url: `data:${img.mime};base64,${img.data.toString("base64")}` },
    })),
  ];
}

function toWire(m: ChatMessage, vision: boolean, tools: boolean): ChatCompletionMessageParam {
  if (m.role === "user") {
    const name = wireName(m.name);
    const content = userContent(m, vision);
    return name ? { role: "user", content, name } : { role: "user", content };
  }
  if (m.role === "tool") {
    if (tools) return { role: "tool", tool_call_id: m.toolCallId ?? "", content: m.content };
    // A provider without tools behind a failover list reads the result as text.
    return { role: "user", content: toolResultText(m) };
  }
  if (m.role === "assistant" && m.toolCalls?.length && tools)
    return {
      role: "assistant",
      content: m.content || null,
      tool_calls: m.toolCalls.map((c) => ({
        id: c.id,
        type: "function" as const,
        function: { name: c.name, arguments: c.arguments },
      })),
    };
  return { role: m.role, content: m.content };
}

/** A call's streamed pieces, put together by index. */
interface PartialCall {
  id: string;
  name: string;
  arguments: string;
}

/**
 * Any OpenAI-compatible `/v1/chat/completions` (OpenAI, vLLM, LM Studio, llama.cpp, OpenRouter)
 * through the `openai` client. The client retries 429/5xx/connection failures itself
 * (`maxRetries`, honouring Retry-After) and bounds the wait for response headers (`timeoutMs`);
 * this class bounds the wait for the first token and between tokens.
 */
export class OpenAIProvider implements ChatProvider {
  readonly kind = "openai" as const;
  readonly name: string;
  readonly defaultModel: string;
  readonly tools: boolean;
  private readonly client: OpenAI;
  private readonly log: Logger;

  constructor(private readonly cfg: ProviderConfig) {
    this.name = cfg.name;
    this.defaultModel = cfg.model;
    this.tools = cfg.tools === true;
    this.log = new Logger("OpenAIProvider", { provider: cfg.name });
    this.client = new (openaiModule().OpenAI)({
      // Local servers need no key, but the client insists on one.
      apiKey: cfg.apiKey || "no-key",
      baseURL: cfg.baseUrl,
      organization: null,
      project: null,
      maxRetries: cfg.maxRetries,
      timeout: cfg.timeoutMs,
    });
  }

  async *stream(req: ChatRequest): AsyncGenerator<ChatChunk> {
    const model = req.model || this.defaultModel;
    const watch: Watch = {
      provider: this.name,
      timeoutMs: this.cfg.timeoutMs,
      controller: new AbortController(),
      signal: req.signal,
    };
    const tools = this.cfg.tools === true && (req.tools?.length ?? 0) > 0;
    const params: ChatCompletionCreateParamsBase = {
      model,
      messages: req.messages.map((m) => toWire(m, this.cfg.vision === true, this.cfg.tools === true)),
      ...(tools
        ? {
            tools: req.tools!.map((t) => ({
              type: "function" as const,
              function: { name: t.name, description: t.description, parameters: t.parameters },
            })),
          }
        : {}),
      ...(req.maxTokens !== undefined ? { [this.cfg.maxTokensField ?? "max_tokens"]: req.maxTokens } : {}),
      ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
    };
    const opts = { signal: watch.controller.signal };
    const started = Date.now();
    try {
      if (!this.cfg.stream) {
        // The client's timeout and retries cover the wait for headers; the deadline, reading the body.
        const open = this.client.chat.completions.create({ ...params, stream: false }, opts);
        const response = await withDeadline(open.asResponse(), { ...watch, timeoutMs: undefined }, true);
        yield* this.whole((await withDeadline(response.json(), watch, true)) as ChatCompletion, model);
        return;
      }
      const open = this.client.chat.completions.create(
        { ...params, stream: true, stream_options: { include_usage: true } },
        opts,
      );
      const { data: chunks, response } = await withDeadline(
        open.withResponse(),
        { ...watch, timeoutMs: undefined },
        true,
      );
      const type = response.headers.get("content-type") ?? "";
      if (!type.includes("text/event-stream") && type.includes("json")) {
        // A server that ignores `stream: true` answers the whole completion: read it as such
        // (the stream reads the body lazily, so it is still unread here).
        this.log.info("the server does not stream; set stream: false for this provider", { model });
        const whole = (await withDeadline(response.json(), watch, true)) as ChatCompletion;
        yield* this.whole(whole, model);
        return;
      }
      let usage: ChatUsage | undefined;
      let finishReason: string | undefined;
      let answeredModel = model;
      const calls: PartialCall[] = [];
      for await (const chunk of watchIdle(chunks, watch)) {
        if (chunk.model) answeredModel = chunk.model;
        if (chunk.usage) usage = usageOf(chunk.usage);
        const choice = chunk.choices?.[0];
        if (choice?.finish_reason) finishReason = choice.finish_reason;
        const text = choice?.delta?.content;
        if (text) yield { type: "delta", text };
        for (const piece of choice?.delta?.tool_calls ?? []) {
          // The first piece of a call has its id and name; later ones add to its arguments.
          const at =
            typeof piece.index === "number" && piece.index >= 0 && piece.index < 64 ? piece.index : 0;
          const call = calls[at] ?? { id: "", name: "", arguments: "" };
          calls[at] = call;
          if (piece.id) call.id = piece.id;
          if (piece.function?.name) call.name += piece.function.name;
          if (piece.function?.arguments) call.arguments += piece.function.arguments;
        }
      }
      const asked = calls.filter((c): c is PartialCall => c !== undefined && c.name !== "");
      if (asked.length)
        yield { type: "tool_calls", calls: asked.map((c, i) => ({ ...c, id: c.id || `call_${i}` })) };
      this.log.debug("answer complete", { model: answeredModel, ms: Date.now() - started });
      yield { type: "done", usage, finishReason, provider: this.name, model: answeredModel };
    } catch (err) {
      throw this.explain(err, model, watch);
    }
  }

  private *whole(res: ChatCompletion, model: string): Generator<ChatChunk> {
    const choice = res.choices?.[0];
    if (!choice) throw badResponse(this.name, "no choices in the answer");
    const text = choice.message?.content ?? "";
    if (text) yield { type: "delta", text };
    const calls = (choice.message?.tool_calls ?? []).flatMap((c, i) =>
      c.type === "function" && c.function?.name
        ? [{ id: c.id || `call_${i}`, name: c.function.name, arguments: c.function.arguments ?? "" }]
        : [],
    );
    if (calls.length) yield { type: "tool_calls", calls };
    yield {
      type: "done",
      usage: usageOf(res.usage),
      finishReason: choice.finish_reason ?? undefined,
      provider: this.name,
      model: res.model || model,
    };
  }

  async listModels(signal?: AbortSignal): Promise<string[]> {
    const watch: Watch = { provider: this.name, controller: new AbortController(), signal };
    try {
      const ids: string[] = [];
      for await (const m of this.client.models.list({ signal })) ids.push(m.id);
      return ids;
    } catch (err) {
      throw this.explain(err, "", watch);
    }
  }

  private explain(err: unknown, model: string, watch: Watch): ProviderError {
    if (err instanceof ProviderError) return err;
    if (watch.signal?.aborted) return abortedError(this.name, err);
    const { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } = openaiModule();
    if (err instanceof APIUserAbortError) {
      const reason: unknown = watch.controller.signal.reason;
      return reason instanceof ProviderError ? reason : abortedError(this.name, err);
    }
    if (err instanceof APIConnectionTimeoutError) return timeoutError(this.name, this.cfg.timeoutMs, true);
    if (err instanceof APIConnectionError) return networkError(this.name, this.cfg.baseUrl, err.cause ?? err);
    if (err instanceof APIError && err.status !== undefined) {
      const body = err.error as { message?: unknown } | undefined;
      const said = typeof body?.message === "string" ? body.message : undefined;
      return httpError(this.name, err.status, said, model, err);
    }
    if (err instanceof APIError) {
      // An `error` object inside the SSE stream (the server failed mid-answer).
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
    if (isBrokenStream(err)) return brokenStream(this.name, err);
    return badResponse(this.name, err instanceof Error ? err.message : String(err), err);
  }
}

function usageOf(
  u: { prompt_tokens?: number; completion_tokens?: number } | null | undefined,
): ChatUsage | undefined {
  if (!u) return undefined;
  return { promptTokens: u.prompt_tokens ?? 0, completionTokens: u.completion_tokens ?? 0 };
}
