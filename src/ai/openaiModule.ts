/**
 * The `openai` package, loaded on first use. It takes 100–150 ms to load on a loaded 2-core
 * machine, a good part of the bridge's start, and a bridge without an OpenAI-compatible
 * provider or transcription endpoint never needs it.
 */
type OpenAIModule = typeof import("openai");

let loaded: OpenAIModule | undefined;

export function openaiModule(): OpenAIModule {
  loaded ??= require("openai") as OpenAIModule;
  return loaded;
}
