import { pathToFileURL } from "node:url";
import type { BackendReply, LlmBackend, StandinChat } from "./backend";
import { llamaRuntimeEntry, requireSmolLM2 } from "./model";

// node-llama-cpp is an ES module loaded with import() from where scripts/fetch-model.sh installs
// it (see model.ts for why it is not a project dependency). These are the parts of its API used.
type ChatHistoryItem =
  | { type: "system"; text: string }
  | { type: "user"; text: string }
  | { type: "model"; response: string[] };
interface LlamaChat {
  generateResponse(
    history: ChatHistoryItem[],
    opts: {
      maxTokens: number;
      temperature: number;
      signal: AbortSignal;
      stopOnAbortSignal: boolean;
      onToken: (tokens: readonly unknown[]) => void;
      onTextChunk: (text: string) => void;
    },
  ): Promise<{ metadata: { stopReason: string } }>;
  readonly chatWrapper: {
    generateContextState(o: { chatHistory: ChatHistoryItem[] }): {
      contextText: { tokenize(tokenizer: unknown): readonly unknown[] };
    };
  };
  dispose(): void;
}
interface LlamaContext {
  getSequence(): unknown;
  dispose(): Promise<void>;
}
interface LlamaModel {
  readonly tokenizer: unknown;
  createContext(o: { contextSize: number; threads: number }): Promise<LlamaContext>;
  dispose(): Promise<void>;
}
interface Llama {
  loadModel(o: { modelPath: string }): Promise<LlamaModel>;
  dispose(): Promise<void>;
}
interface NodeLlamaCpp {
  getLlama(o: { gpu: false; build: "never"; progressLogs: boolean; logLevel: unknown }): Promise<Llama>;
  readonly LlamaLogLevel: { readonly error: unknown };
  readonly LlamaChat: new (o: { contextSequence: unknown }) => LlamaChat;
}

export interface LlamaBackendOptions {
  /** GGUF file; default: SmolLM2-135M-Instruct from the cache (scripts/fetch-model.sh). */
  modelPath?: string;
  contextSize?: number;
  /**
   * CPU threads (default 1). Measured on a busy 2-core machine: 1 thread ran 64 tokens in
   * 0.6-1.0 s every time, 2 threads from 0.8 s to 17 s (llama.cpp's threads wait on each other
   * while other processes hold a core).
   */
  threads?: number;
  /** Used when a request has no max tokens (default 64). */
  defaultMaxTokens?: number;
}

/** Timings of the last answer, for the measurements in reports. */
export interface LlamaStats {
  loadMs: number;
  lastFirstTokenMs?: number;
  lastTokens?: number;
  lastGenerateMs?: number;
}

/** A queue of text pieces: the model pushes as it generates, the stand-in reads as they come. */
class Pieces implements AsyncIterable<string> {
  private readonly items: string[] = [];
  private ended = false;
  private failure: unknown;
  private wake?: () => void;

  push(text: string): void {
    this.items.push(text);
    this.wake?.();
  }

  end(err?: unknown): void {
    this.ended = true;
    this.failure = err;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<string> {
    while (true) {
      if (this.items.length > 0) {
        yield this.items.shift()!;
        continue;
      }
      if (this.ended) {
        if (this.failure) throw this.failure;
        return;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }
}

/**
 * A real model behind the stand-ins: node-llama-cpp (its prebuilt CPU binary, never a build or a
 * download) loads a GGUF file, applies the model's own chat template and streams tokens as they
 * are generated. One context sequence: requests are answered one after the other.
 */
export class LlamaBackend {
  readonly stats: LlamaStats;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly llama: Llama,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly chat: LlamaChat,
    private readonly opts: LlamaBackendOptions,
    loadMs: number,
  ) {
    this.stats = { loadMs };
  }

  static async load(opts: LlamaBackendOptions = {}): Promise<LlamaBackend> {
    const modelPath = opts.modelPath ?? requireSmolLM2();
    const t0 = Date.now();
    const lib = (await import(pathToFileURL(llamaRuntimeEntry()).href)) as NodeLlamaCpp;
    const llama = await lib.getLlama({
      gpu: false,
      build: "never",
      progressLogs: false,
      logLevel: lib.LlamaLogLevel.error,
    });
    const model = await llama.loadModel({ modelPath });
    const context = await model.createContext({
      contextSize: opts.contextSize ?? 2048,
      threads: opts.threads ?? 1,
    });
    const chat = new lib.LlamaChat({ contextSequence: context.getSequence() });
    return new LlamaBackend(llama, model, context, chat, opts, Date.now() - t0);
  }

  /** The stand-in backend function: `standin.backend = llama.backend`. */
  readonly backend: LlmBackend = (req) => this.reply(req);

  async dispose(): Promise<void> {
    await this.queue.catch(() => undefined);
    this.chat.dispose();
    await this.context.dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }

  private reply(req: StandinChat): BackendReply {
    const pieces = new Pieces();
    const reply: BackendReply = { chunks: pieces };
    const history = toHistory(req.messages);
    const run = async (): Promise<void> => {
      if (req.signal.aborted) return pieces.end();
      const started = Date.now();
      let tokens = 0;
      let first: number | undefined;
      const res = await this.chat.generateResponse(history, {
        maxTokens: req.maxTokens ?? this.opts.defaultMaxTokens ?? 64,
        temperature: req.temperature ?? 0,
        signal: req.signal,
        stopOnAbortSignal: true,
        onToken: (t) => {
          tokens += t.length;
        },
        onTextChunk: (text) => {
          first ??= Date.now() - started;
          if (text) pieces.push(text);
        },
      });
      const prompt = this.chat.chatWrapper.generateContextState({ chatHistory: history }).contextText;
      reply.promptTokens = prompt.tokenize(this.model.tokenizer).length;
      reply.completionTokens = tokens;
      reply.finishReason = res.metadata.stopReason === "maxTokens" ? "length" : "stop";
      Object.assign(this.stats, {
        lastFirstTokenMs: first,
        lastTokens: tokens,
        lastGenerateMs: Date.now() - started,
      });
      pieces.end();
    };
    const turn = this.queue.then(run, run);
    this.queue = turn.catch((err: unknown) => pieces.end(err));
    return reply;
  }
}

function toHistory(messages: StandinChat["messages"]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = messages.map((m): ChatHistoryItem => {
    if (m.role === "system") return { type: "system", text: m.content };
    if (m.role === "assistant") return { type: "model", response: [m.content] };
    return { type: "user", text: m.name ? `${m.name}: ${m.content}` : m.content };
  });
  history.push({ type: "model", response: [] });
  return history;
}
