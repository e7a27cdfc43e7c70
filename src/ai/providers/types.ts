/** The contract between the AI puppet and the model providers (OpenAI-compatible, Ollama). */

export type ChatRole = "system" | "user" | "assistant" | "tool";

/** A function the model may call: name, what it does, and its arguments as a JSON Schema object. */
export interface ChatTool {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

/** A call the model asked for: `arguments` is its JSON text as the model wrote it (may be malformed). */
export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** An image the message shows, for vision-capable providers (others send `content` alone). */
export interface ChatImage {
  /** image/png, image/jpeg, image/gif or image/webp (sniffed from the bytes, not trusted from the event). */
  mime: string;
  data: Buffer;
}

export interface ChatMessage {
  role: ChatRole;
  /** The text; an image message keeps its short stand-in (`[image: name]`) here for providers without vision. */
  content: string;
  /** speaker's display name, for user turns */
  name?: string;
  /** Images of a user turn; sent only by providers with `vision`. */
  images?: ChatImage[];
  /** An assistant turn's tool calls. */
  toolCalls?: ToolCall[];
  /** A tool turn: the call it answers (its id and the tool's name). */
  toolCallId?: string;
  toolName?: string;
}

export interface ChatRequest {
  /** Model name; empty means the provider's `defaultModel`. */
  model: string;
  messages: ChatMessage[];
  maxTokens?: number;
  temperature?: number;
  /** Functions the model may call (only providers with `tools`). */
  tools?: ChatTool[];
  /** Cancels the request; the stream then throws a ProviderError with code "aborted". */
  signal?: AbortSignal;
}

export interface ChatUsage {
  promptTokens: number;
  completionTokens: number;
}

export type ChatChunk =
  | { type: "delta"; text: string }
  /** The model asks for these calls (sent once, complete, before `done`). */
  | { type: "tool_calls"; calls: ToolCall[] }
  | {
      type: "done";
      usage?: ChatUsage;
      finishReason?: string;
      /** Name of the provider that answered (the one that succeeded, behind a failover list). */
      provider?: string;
      /** Model that answered. */
      model?: string;
    };

export interface ProviderConfig {
  /** Unique name, used in logs, commands and the usage log. */
  name: string;
  kind: "openai" | "ollama";
  /** OpenAI: the API root including `/v1`; Ollama: the server root (`http://host:11434`). */
  baseUrl: string;
  apiKey?: string;
  /** Default model for this provider. */
  model: string;
  /** false: ask for the whole answer at once (for servers that do not stream). */
  stream: boolean;
  /** Longest wait for the response, for the first token and between two tokens. */
  timeoutMs: number;
  /** Retries of retryable failures (429, 5xx, connection errors, timeouts) before any output. */
  maxRetries: number;
  /** OpenAI only: the request field for `maxTokens` (newer OpenAI models want "max_completion_tokens"). */
  maxTokensField?: "max_tokens" | "max_completion_tokens";
  /** The model reads images: user turns' `images` go out as image parts (default false: text only). */
  vision?: boolean;
  /** The model calls functions: requests carry `tools` (default false: never offered). */
  tools?: boolean;
}

export interface ChatProvider {
  readonly name: string;
  readonly kind: "openai" | "ollama";
  readonly defaultModel: string;
  /** The model calls functions (`tools: true` in its config). */
  readonly tools?: boolean;
  /** Streams the reply (a non-streaming provider yields one delta, then done). Throws ProviderError. */
  stream(req: ChatRequest): AsyncIterable<ChatChunk>;
  /** The server's model names (`GET /v1/models`, `GET /api/tags`), e.g. to check `!ai model <name>`. Throws ProviderError. */
  listModels?(signal?: AbortSignal): Promise<string[]>;
}

/** What went wrong, for callers that pick a notice or decide on failover. */
export type ProviderErrorCode =
  | "auth"
  | "model_not_found"
  | "rate_limited"
  | "timeout"
  | "server"
  | "network"
  | "bad_request"
  | "bad_response"
  | "aborted"
  | "all_failed";

/** A provider failure: `message` is short human text (never a key); the library error is the `cause`. */
export class ProviderError extends Error {
  readonly code: ProviderErrorCode;

  constructor(
    message: string,
    readonly provider: string,
    readonly status: number | undefined,
    readonly retryable: boolean,
    options?: { cause?: unknown; code?: ProviderErrorCode },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ProviderError";
    this.code = options?.code ?? (retryable ? "server" : "bad_request");
  }
}
