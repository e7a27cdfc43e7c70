import assert from "node:assert/strict";
import {
  type ChatChunk,
  type ChatProvider,
  type ChatRequest,
  type ProviderConfig,
  ProviderError,
} from "../../../../src/ai/providers";
import type { LlmStandin, StandinOptions } from "../../../standins/llm/LlmStandin";
import { OllamaStandin } from "../../../standins/llm/OllamaStandin";
import { OpenAIStandin } from "../../../standins/llm/OpenAIStandin";

/** A user turn and defaults, so tests only state what they vary. */
export function ask(over: Partial<ChatRequest> = {}): ChatRequest {
  return { model: "", messages: [{ role: "user", content: "Say hello", name: "Alice" }], ...over };
}

export function config(
  over: Partial<ProviderConfig> & Pick<ProviderConfig, "kind" | "baseUrl">,
): ProviderConfig {
  return { name: over.kind, model: "standin-model", stream: true, timeoutMs: 10_000, maxRetries: 0, ...over };
}

export async function collect(p: ChatProvider, req: ChatRequest): Promise<ChatChunk[]> {
  const out: ChatChunk[] = [];
  for await (const c of p.stream(req)) out.push(c);
  return out;
}

export function text(chunks: ChatChunk[]): string {
  return chunks.map((c) => (c.type === "delta" ? c.text : "")).join("");
}

export function deltas(chunks: ChatChunk[]): string[] {
  return chunks.flatMap((c) => (c.type === "delta" ? [c.text] : []));
}

export function done(chunks: ChatChunk[]): Extract<ChatChunk, { type: "done" }> {
  const last = chunks[chunks.length - 1];
  assert.equal(last?.type, "done", "the stream ends with done");
  return last as Extract<ChatChunk, { type: "done" }>;
}

/** Runs the stream to its end and returns the ProviderError it threw, plus what came before. */
export async function failure(
  p: ChatProvider,
  req: ChatRequest,
  onChunk?: (c: ChatChunk) => void,
): Promise<{ error: ProviderError; before: ChatChunk[]; ms: number }> {
  const before: ChatChunk[] = [];
  const t0 = Date.now();
  try {
    for await (const c of p.stream(req)) {
      before.push(c);
      onChunk?.(c);
    }
  } catch (err) {
    assert.ok(err instanceof ProviderError, `expected a ProviderError, got ${String(err)}`);
    return { error: err, before, ms: Date.now() - t0 };
  }
  assert.fail(`the stream ended without an error: ${JSON.stringify(before)}`);
}

/** The two wire formats, each with its stand-in: every provider test runs over both. */
export interface Wire {
  kind: ProviderConfig["kind"];
  start(opts?: StandinOptions): Promise<LlmStandin>;
  baseUrl(s: LlmStandin): string;
}

export const WIRES: Wire[] = [
  { kind: "openai", start: (o) => OpenAIStandin.start(o), baseUrl: (s) => (s as OpenAIStandin).baseUrl },
  { kind: "ollama", start: (o) => OllamaStandin.start(o), baseUrl: (s) => s.url },
];
