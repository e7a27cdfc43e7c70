import { randomBytes } from "node:crypto";
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import {
  type BackendReply,
  type LlmBackend,
  type StandinChat,
  type StandinToolCall,
  scriptedBackend,
} from "./backend";

/** One HTTP request a model stand-in received, with what became of it. */
export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body (undefined when empty or not JSON). */
  body: unknown;
  raw: string;
  /** The body's bytes (multipart uploads). */
  bytes: Buffer;
  time: number;
  /** pending → answered | failed (injected or refused) | hung | broken (breakNext) | aborted (client went away). */
  outcome: "pending" | "answered" | "failed" | "hung" | "broken" | "aborted";
  /** HTTP status sent (undefined while pending or hung). */
  status?: number;
  /** The chat request handed to the backend (chat endpoints only). */
  chat?: Omit<StandinChat, "signal">;
  /** Text chunks written to the client. */
  sent: string[];
  /** When each chunk was written (ms since epoch), for latency measurements. */
  sentAt: number[];
}

/** An injected failure: `status` with `body` (the wire format's error shape by default). */
export interface Failure {
  status: number;
  body?: unknown;
  /** Retry-After in seconds (429 default: 1). */
  retryAfter?: number;
}

export interface StandinOptions {
  /** Required `Authorization: Bearer <apiKey>`; a wrong or missing key gets 401. */
  apiKey?: string;
  /** Known models; a chat for another model gets 404. Default: any model is served. */
  models?: string[];
  backend?: LlmBackend;
  /** Answer every chat as one JSON document, even when asked to stream (a server that does not stream). */
  neverStreams?: boolean;
  /** Port on 127.0.0.1; 0 or absent picks a free one (tests). The dev stack uses a fixed one. */
  port?: number;
}

/** A request the real API refuses with 400, with the fields its error names. */
export interface Refusal {
  refused: string;
  code?: string;
  /** OpenAI: the offending field, e.g. `messages[1].content[1].image_url.url`. */
  param?: string;
}

/**
 * Strict standard base64 (with padding; CR and LF ignored, as Go's decoder does): the decoded
 * bytes, or the offset of the first byte that makes it invalid.
 */
export function decodeBase64(text: string): Buffer | { badAt: number } {
  const clean = text.replace(/[\r\n]/g, "");
  const bad = clean.search(/[^A-Za-z0-9+/=]/);
  if (bad >= 0) return { badAt: bad };
  const pad = clean.indexOf("=");
  if (pad >= 0 && (pad < clean.length - 2 || !/^=*$/.test(clean.slice(pad)))) return { badAt: pad };
  if (clean.length % 4 !== 0) return { badAt: clean.length - (clean.length % 4) };
  return Buffer.from(clean, "base64");
}

/** How an answer ended, and the calls it asks for. */
export interface AnswerInfo {
  promptTokens: number;
  completionTokens: number;
  finishReason: string;
  toolCalls: StandinToolCall[];
}

/** Writes one chat answer in a wire format (SSE for OpenAI, NDJSON for Ollama). */
export interface ChatWriter {
  /** Status 200 and headers, sent before the first token. */
  start(res: ServerResponse): void;
  chunk(res: ServerResponse, text: string): void;
  /** The calls (if any), the end and usage. */
  end(res: ServerResponse, info: AnswerInfo): void;
  /** The whole answer as one JSON document. */
  whole(res: ServerResponse, text: string, info: AnswerInfo): void;
}

/**
 * The HTTP server, request log and fault injection shared by the model stand-ins. Subclasses
 * route paths and write their wire format. Faults apply to chat requests only, in this order:
 * `failNext`, then `hangNext`, then `breakNext` (streamed answers); `delayFirstToken` holds every
 * answer's first token.
 */
export abstract class LlmStandin {
  readonly requests: RecordedRequest[] = [];
  backend: LlmBackend;
  url = "";
  private server?: Server;
  private readonly waiters = new Set<() => void>();
  private readonly failures: Failure[] = [];
  private hangs = 0;
  private readonly breaks: number[] = [];
  private firstTokenDelayMs = 0;
  private readonly open = new Set<ServerResponse>();

  protected constructor(protected readonly opts: StandinOptions) {
    this.backend = opts.backend ?? scriptedBackend();
  }

  /** The finish reason of an answer that calls tools. */
  protected readonly toolFinish: string = "stop";
  /** The stand-in's name in messages ("openai" / "ollama"). */
  protected abstract readonly label: string;
  /** Answers a non-chat path (model list…); returns false for an unknown path. */
  protected abstract route(req: RecordedRequest, res: ServerResponse): boolean;
  /** True for the chat endpoint of this wire format. */
  protected abstract isChat(req: RecordedRequest): boolean;
  /** Reads the wire request into the common shape, or returns why it is refused (a 400). */
  protected abstract parseChat(body: unknown): Omit<StandinChat, "signal"> | string | Refusal;
  protected abstract errorBody(status: number, message: string, code?: string, param?: string): unknown;
  protected abstract writer(chat: Omit<StandinChat, "signal">): ChatWriter;

  protected async listen(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.port ?? 0, "127.0.0.1", resolve);
    });
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** The next `n` chat requests fail with `status` (429 carries Retry-After). */
  failNext(n: number, status: number, body?: unknown, opts: { retryAfter?: number } = {}): void {
    for (let i = 0; i < n; i++) this.failures.push({ status, body, retryAfter: opts.retryAfter });
  }

  /** The next `n` chat requests are read and never answered (the socket stays open). */
  hangNext(n: number): void {
    this.hangs += n;
  }

  /** The next `n` streamed answers send `afterChunks` chunks, then drop the connection. */
  breakNext(n: number, afterChunks = 1): void {
    for (let i = 0; i < n; i++) this.breaks.push(afterChunks);
  }

  /** Every following answer sends its headers at once and its first token after `ms` (0 resets). */
  delayFirstToken(ms: number): void {
    this.firstTokenDelayMs = ms;
  }

  /** Chat requests only (the ones that reached the chat endpoint). */
  chats(): RecordedRequest[] {
    return this.requests.filter((r) => this.isChat(r));
  }

  /** Resolves with the first request (past or future) matching `predicate`, re-checked on every change. */
  waitFor(predicate: (r: RecordedRequest) => boolean, timeoutMs = 15_000): Promise<RecordedRequest> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = this.requests.find(predicate);
        if (!hit) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`${this.label} stand-in waitFor: no matching request within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** Drops every connection (hung ones too) and stops listening. */
  async close(): Promise<void> {
    if (!this.server) return;
    for (const res of this.open) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }

  protected changed(): void {
    for (const w of [...this.waiters]) w();
  }

  protected json(
    res: ServerResponse,
    rec: RecordedRequest,
    status: number,
    body: unknown,
    headers = {},
  ): void {
    if (res.destroyed) return;
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(body));
    rec.status = status;
    rec.outcome = status < 400 ? "answered" : "failed";
    this.changed();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    try {
      for await (const c of req) chunks.push(c as Buffer);
    } catch {
      // The client went away while sending its body: nothing to answer or record.
      return;
    }
    const bytes = Buffer.concat(chunks);
    const raw = bytes.toString("utf8");
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = undefined;
    }
    const url = new URL(req.url ?? "/", "http://standin");
    const rec: RecordedRequest = {
      method: req.method ?? "GET",
      path: url.pathname,
      headers: req.headers,
      body,
      raw,
      bytes,
      time: Date.now(),
      outcome: "pending",
      sent: [],
      sentAt: [],
    };
    this.requests.push(rec);
    this.open.add(res);
    res.on("close", () => {
      this.open.delete(res);
      if (rec.outcome === "pending" || rec.outcome === "hung") {
        rec.outcome = "aborted";
        this.changed();
      }
    });
    this.changed();
    try {
      if (this.opts.apiKey !== undefined && req.headers.authorization !== `Bearer ${this.opts.apiKey}`) {
        return this.json(res, rec, 401, this.errorBody(401, "Incorrect API key provided", "invalid_api_key"));
      }
      if (!this.isChat(rec)) {
        if (!this.route(rec, res))
          this.json(res, rec, 404, this.errorBody(404, `no route ${rec.method} ${rec.path}`));
        return;
      }
      await this.chat(rec, res);
    } catch (err) {
      if (!res.headersSent) this.json(res, rec, 500, this.errorBody(500, `stand-in failure: ${String(err)}`));
      else res.destroy();
    }
  }

  private async chat(rec: RecordedRequest, res: ServerResponse): Promise<void> {
    const failure = this.failures.shift();
    if (failure) {
      const headers = failure.status === 429 ? { "retry-after": String(failure.retryAfter ?? 1) } : {};
      const body = failure.body ?? this.errorBody(failure.status, `injected failure ${failure.status}`);
      return this.json(res, rec, failure.status, body, headers);
    }
    if (this.hangs > 0) {
      this.hangs--;
      rec.outcome = "hung";
      this.changed();
      return;
    }
    const parsed = this.parseChat(rec.body);
    if (typeof parsed === "string") return this.json(res, rec, 400, this.errorBody(400, parsed));
    if ("refused" in parsed)
      return this.json(res, rec, 400, this.errorBody(400, parsed.refused, parsed.code, parsed.param));
    rec.chat = parsed;
    if (this.opts.models && !this.opts.models.includes(parsed.model)) {
      const text = `model "${parsed.model}" not found`;
      return this.json(res, rec, 404, this.errorBody(404, text, "model_not_found"));
    }
    const gone = new AbortController();
    res.on("close", () => gone.abort());
    const breakAfter = parsed.stream ? this.breaks.shift() : undefined;
    const reply = await this.backend({ ...parsed, signal: gone.signal });
    await this.answer(rec, res, parsed, reply, gone.signal, breakAfter);
  }

  private async answer(
    rec: RecordedRequest,
    res: ServerResponse,
    chat: Omit<StandinChat, "signal">,
    reply: BackendReply,
    gone: AbortSignal,
    breakAfter?: number,
  ): Promise<void> {
    const w = this.writer(chat);
    if (this.opts.neverStreams) chat = { ...chat, stream: false };
    if (chat.stream) {
      w.start(res);
      rec.status = 200;
    }
    if (this.firstTokenDelayMs > 0) {
      // Headers at once, the answer later: the client's wait for headers is over, its wait for the body is not.
      if (!chat.stream) {
        res.writeHead(200, { "content-type": "application/json" });
        res.flushHeaders();
      }
      await pause(this.firstTokenDelayMs, gone);
    }
    let text = "";
    for await (const piece of reply.chunks) {
      if (gone.aborted) return;
      if (breakAfter !== undefined && rec.sent.length >= breakAfter) {
        rec.outcome = "broken";
        // end(), not destroy(): the chunks already written must reach the client before the cut.
        res.socket?.end();
        this.changed();
        return;
      }
      if (rec.sent.length > 0 && reply.delayMs) await pause(reply.delayMs, gone);
      if (gone.aborted) return;
      rec.sent.push(piece);
      text += piece;
      if (chat.stream) w.chunk(res, piece);
      rec.sentAt.push(Date.now());
      this.changed();
    }
    if (gone.aborted) return;
    const toolCalls = (reply.toolCalls ?? []).map((c, i) => ({
      id: `call_${randomBytes(6).toString("hex")}${i}`,
      name: c.name,
      arguments: typeof c.arguments === "string" ? c.arguments : JSON.stringify(c.arguments),
    }));
    const info: AnswerInfo = {
      promptTokens: reply.promptTokens ?? 0,
      completionTokens: reply.completionTokens ?? rec.sent.length,
      finishReason: reply.finishReason ?? (toolCalls.length ? this.toolFinish : "stop"),
      toolCalls,
    };
    if (chat.stream) w.end(res, info);
    else w.whole(res, text, info);
    rec.status = 200;
    rec.outcome = "answered";
    this.changed();
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
