/** What a model stand-in asks its backend: the chat request, the same for both wire formats. */
export interface StandinChat {
  model: string;
  /**
   * The messages; `content` is the text (an OpenAI content-part array's text parts joined by
   * "\n"), `images` the decoded bytes of the message's images (OpenAI `image_url` data URLs,
   * Ollama `images`), in order, present only when the message had any.
   */
  messages: Array<{
    role: string;
    content: string;
    name?: string;
    images?: Buffer[];
    /** An assistant turn's tool calls (arguments as JSON text in both formats). */
    toolCalls?: StandinToolCall[];
    /** A tool turn: OpenAI's `tool_call_id`, Ollama's `tool_name`. */
    toolCallId?: string;
    toolName?: string;
  }>;
  /** The functions offered (`tools`), in both formats' common shape. */
  tools?: Array<{ name: string; description?: string; parameters?: unknown }>;
  stream: boolean;
  maxTokens?: number;
  temperature?: number;
  /** OpenAI: `stream_options.include_usage` was asked for. */
  includeUsage?: boolean;
  /** Aborted when the client goes away, so a real model stops generating. */
  signal: AbortSignal;
}

/** A call the model makes: OpenAI sends `arguments` as JSON text, Ollama as an object. */
export interface StandinToolCall {
  id?: string;
  name: string;
  arguments: string;
}

/** The backend's answer: text pieces (each one streamed chunk), optionally produced as they come. */
export interface BackendReply {
  chunks: string[] | AsyncIterable<string>;
  /** Pause before each chunk after the first (ms). */
  delayMs?: number;
  promptTokens?: number;
  completionTokens?: number;
  /** "stop" unless given ("length" when cut at maxTokens; OpenAI "tool_calls" with calls). */
  finishReason?: string;
  /** Calls the model asks for after its text (arguments as JSON text, or an object to encode). */
  toolCalls?: Array<{ name: string; arguments: string | Record<string, unknown> }>;
}

/** Produces the reply for one request. Swap it with `standin.backend = …`. */
export type LlmBackend = (req: StandinChat) => BackendReply | Promise<BackendReply>;

export const DEFAULT_REPLY = "Hello from the stand-in model.";

/** Splits text into word chunks that keep their spacing: "a b" → ["a", " b"]. */
export function wordChunks(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [];
}

/** Rough token count for scripted replies: one per word. */
export function countWords(text: string): number {
  return wordChunks(text).length;
}

/** The default backend: a fixed reply, one word per chunk. */
export function scriptedBackend(reply = DEFAULT_REPLY, delayMs = 0): LlmBackend {
  return (req) => {
    const chunks = wordChunks(reply);
    const limited = req.maxTokens !== undefined && req.maxTokens < chunks.length;
    const out = limited ? chunks.slice(0, req.maxTokens) : chunks;
    return {
      chunks: out,
      delayMs,
      promptTokens: req.messages.reduce((n, m) => n + countWords(m.content), 0),
      completionTokens: out.length,
      finishReason: limited ? "length" : "stop",
    };
  };
}

/** A backend that answers with what the last user message said (handy to check what reached the model). */
export function echoBackend(prefix = "echo:"): LlmBackend {
  return (req) => {
    const last = [...req.messages].reverse().find((m) => m.role === "user");
    return scriptedBackend(`${prefix} ${last?.content ?? ""}`.trim())(req);
  };
}
